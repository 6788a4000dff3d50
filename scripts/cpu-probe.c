/* Two figures of the machine that docs/PERFORMANCE.md quotes beside its
 * tables: the core's clock, from a loop of one dependent `add` per
 * iteration (one iteration a cycle), and the cost of a locked
 * compare-and-swap (dependent, alone and followed by a release store).
 *
 *   cc -O2 -o target/cpu-probe scripts/cpu-probe.c && target/cpu-probe
 *
 * x86-64 only (inline assembly for the add). */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
    long n = 2000000000L;
    long x = 0;
    double a = now();
    for (long i = 0; i < n; i++) {
        __asm__ volatile("add $1, %0" : "+r"(x));
    }
    double s = now() - a;
    printf("dependent add: %.2f G iterations/s (about the clock in GHz)\n", n / s / 1e9);

    volatile uint64_t w = 0;
    long m = 200000000L;
    a = now();
    for (long i = 0; i < m; i++) {
        uint64_t e = w;
        __atomic_compare_exchange_n(&w, &e, e + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    }
    printf("lock cmpxchg, dependent: %.2f ns\n", (now() - a) / m * 1e9);
    a = now();
    for (long i = 0; i < m; i++) {
        uint64_t e = w;
        __atomic_compare_exchange_n(&w, &e, e + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
        __atomic_store_n(&w, e + 2, __ATOMIC_RELEASE);
    }
    printf("lock cmpxchg then a release store: %.2f ns\n", (now() - a) / m * 1e9);
    return x == 0;
}
