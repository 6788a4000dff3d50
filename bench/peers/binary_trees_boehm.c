/* binary-trees on Boehm GC (GC_MALLOC), by the Benchmarks Game's rules,
 * printing the same lines as the Rust programs of tmgc-bench. Markers:
 * the GC_MARKERS environment variable (the runner sets 1 or 2); the
 * program reports whether the library really marks in parallel. */
#include "common.h"

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
    boehm_start();
    printf("stretch tree of depth %u\t check: %lu\n", max + 1, check(build(max + 1)));
    Node *kept = build(max);
    for (unsigned d = min; d <= max; d += 2) {
        unsigned long count = 1UL << (max - d + min), sum = 0;
        for (unsigned long i = 0; i < count; i++)
            sum += check(build(d));
        printf("%lu\t trees of depth %u\t check: %lu\n", count, d, sum);
    }
    printf("long lived tree of depth %u\t check: %lu\n", max, check(kept));
    boehm_end();
    return 0;
}
