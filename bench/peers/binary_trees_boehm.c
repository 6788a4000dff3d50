/* binary-trees on Boehm GC (GC_MALLOC), by the Benchmarks Game's rules,
 * printing the same lines as the Rust programs of tmgc-bench. Markers:
 * the GC_MARKERS environment variable (the runner sets 1 or 2); the
 * program reports whether the library really marks in parallel. */
#define GC_THREADS 1 /* marker threads need a thread-aware libgc build and program */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct Node {
    struct Node *left, *right;
} Node;

static Node *build(unsigned d) {
    Node *n = GC_MALLOC(sizeof(Node));
    if (d > 0) {
        n->left = build(d - 1);
        n->right = build(d - 1);
    } else {
        n->left = n->right = NULL;
    }
    return n;
}

static unsigned long check(const Node *n) {
    return 1 + (n->left ? check(n->left) + check(n->right) : 0);
}

int main(int argc, char **argv) {
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 10;
    const unsigned min = 4;
    unsigned max = n < min + 2 ? min + 2 : n;
    GC_INIT();
    /* libgc starts its marker threads lazily (at the first thread the
     * client creates); this single-threaded program asks for them. */
    GC_start_mark_threads();
    printf("#boehm {\"parallel\": %d, \"version\": \"%u.%u.%u\"}\n", GC_get_parallel(),
           GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_MICRO);
    printf("stretch tree of depth %u\t check: %lu\n", max + 1, check(build(max + 1)));
    Node *kept = build(max);
    for (unsigned d = min; d <= max; d += 2) {
        unsigned long count = 1UL << (max - d + min), sum = 0;
        for (unsigned long i = 0; i < count; i++)
            sum += check(build(d));
        printf("%lu\t trees of depth %u\t check: %lu\n", count, d, sum);
    }
    printf("long lived tree of depth %u\t check: %lu\n", max, check(kept));
    printf("#boehm-heap {\"heap_bytes\": %lu, \"collections\": %lu, \"parallel_at_end\": %d}\n",
           (unsigned long)GC_get_heap_size(), (unsigned long)GC_get_gc_no(), GC_get_parallel());
    return 0;
}
