/* What the C peers of tmgc-bench share with the Rust programs: the
 * SplitMix64 generator (bench/src/rng.rs) and libgc's set-up. */
#ifndef TMGC_BENCH_COMMON_H
#define TMGC_BENCH_COMMON_H
#define GC_THREADS 1 /* marker threads need a thread-aware libgc build and program */
#include <gc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct { uint64_t s; } splitmix;

static inline uint64_t sm_next(splitmix *g) {
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t sm_below(splitmix *g, uint64_t n) { return sm_next(g) % n; }

/* Start libgc with its marker threads (GC_MARKERS, set by the runner)
 * and report whether it really marks in parallel. libgc starts its
 * marker threads lazily, at the first thread the client creates; these
 * one-thread programs ask for them. */
static void boehm_start(void) {
    GC_INIT();
    GC_start_mark_threads();
    printf("#boehm {\"parallel\": %d, \"version\": \"%u.%u.%u\"}\n", GC_get_parallel(), GC_VERSION_MAJOR,
           GC_VERSION_MINOR, GC_VERSION_MICRO);
}

static void boehm_end(void) {
    printf("#boehm-heap {\"heap_bytes\": %lu, \"collections\": %lu, \"parallel_at_end\": %d}\n",
           (unsigned long)GC_get_heap_size(), (unsigned long)GC_get_gc_no(), GC_get_parallel());
}
#endif
