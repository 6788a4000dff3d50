/* The Boehm GC peer of `cargo bench -p tmgc --bench mark`: the same heap
 * shapes, marked by GC_gcollect. Built by scripts/bench-setup.sh:
 *   gcc -O2 -o target/boehm_mark gc/benches/peer/boehm_mark.c -lgc
 * Usage: boehm_mark trees|graph|list MiB
 * Prints one line: shape objects bytes best_collect_ms markers
 * (GC_MARKERS in the environment sets the number of marker threads.) */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct T { struct T *l, *r; } T;          /* 16 B, like tmgc's 16 B payload */
typedef struct G { struct G *e[4]; } G;           /* 32 B */

static T *tree(int d) {
    T *t = GC_MALLOC(sizeof(T));
    if (d > 0) { t->l = tree(d - 1); t->r = tree(d - 1); }
    return t;
}

static double now_ms(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static unsigned long long next(void) { rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27; return rng * 0x2545F4914F6CDD1Dull; }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: boehm_mark trees|graph|list MiB\n"); return 2; }
    GC_INIT();
    GC_disable();
    long mib = atol(argv[2]);
    long objects = 0, bytes = 0;
    void **roots = GC_MALLOC(sizeof(void *) * 4096);
    if (!strcmp(argv[1], "trees")) {
        long per = (1L << 21) - 1; /* depth 20 */
        long n = (mib << 20) / (per * 32);
        for (long i = 0; i < n; i++) roots[i] = tree(20);
        objects = n * per; bytes = objects * 32;
    } else if (!strcmp(argv[1], "graph")) {
        long batch = 1000000, n = (mib << 20) / (batch * 48);
        G **b = malloc(sizeof(G *) * batch);
        for (long i = 0; i < n; i++) {
            for (long k = 0; k < batch; k++) b[k] = GC_MALLOC(sizeof(G));
            for (long k = 0; k < batch; k++) {
                b[k]->e[0] = k + 1 < batch ? b[k + 1] : NULL;
                for (int j = 1; j < 4; j++) b[k]->e[j] = b[next() % batch];
            }
            roots[i] = b[0];
        }
        free(b);
        objects = n * batch; bytes = objects * 48;
    } else {
        long n = 10000000; T *head = NULL; /* 10 million nodes, as tmgc's list */
        for (long i = 0; i < n; i++) { T *t = GC_MALLOC(sizeof(T)); t->l = head; head = t; }
        roots[0] = head; objects = n; bytes = n * 32;
    }
    GC_enable();
    double best = 1e18;
    for (int i = 0; i < 3; i++) { double t0 = now_ms(); GC_gcollect(); double t = now_ms() - t0; if (t < best) best = t; }
    const char *mk = getenv("GC_MARKERS");
    printf("%s %ld %ld %.3f %s\n", argv[1], objects, bytes, best, mk ? mk : "default");
    return roots[0] == NULL;
}
