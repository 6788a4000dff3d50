/* The mutation-heavy graph on Boehm GC, printing the same line as
 * bench/src/graph (see its module docs; one thread): nodes from
 * GC_MALLOC, the table from GC_MALLOC; the random numbers are drawn in
 * the same order as the Rust programs draw them. */
#include "common.h"

#define EDGES 4

typedef struct Node {
    uint64_t value;
    struct Node *edges[EDGES];
} Node;

static Node *node(uint64_t value) {
    Node *n = GC_MALLOC(sizeof(Node));
    n->value = value;
    for (int k = 0; k < EDGES; k++) n->edges[k] = NULL;
    return n;
}

int main(int argc, char **argv) {
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 18;
    if (n < 8) n = 8;
    if (n > 30) n = 30;
    uint64_t v = 1ULL << (n - 3), total = 1ULL << (n + 3);
    boehm_start();
    Node **table = GC_MALLOC(v * sizeof(Node *));
    for (uint64_t u = 0; u < v; u++) table[u] = node(u);
    splitmix init = {0x6772617068ULL};
    for (uint64_t u = 0; u < v; u++)
        for (int k = 0; k < EDGES; k++) table[u]->edges[k] = table[sm_below(&init, v)];
    splitmix g = {0x5eed0000ULL};
    uint64_t acc = 0;
    for (uint64_t s = 0; s < total; s++) {
        uint64_t u = sm_below(&g, v);
        uint64_t edge = sm_below(&g, EDGES);
        uint64_t r = sm_next(&g);
        Node *x;
        if ((r & 1) == 0) {
            x = table[sm_below(&g, v)];
        } else {
            x = node(r >> 40);
            for (int k = 0; k < EDGES; k++) x->edges[k] = table[sm_below(&g, v)];
        }
        for (int k = 0; k < EDGES; k++) acc += table[u]->edges[k]->value;
        table[u]->edges[edge] = x;
    }
    uint64_t check = 0;
    for (uint64_t u = 0; u < v; u++)
        for (int j = 0; j < EDGES; j++) {
            Node *x = table[u]->edges[j];
            uint64_t s = 0;
            for (int k = 0; k < EDGES; k++) s += x->edges[k] ? x->edges[k]->value : 0;
            check += x->value * (uint64_t)(j + 1) + s;
        }
    volatile uint64_t sink = acc; /* the reads are part of the work */
    (void)sink;
    printf("%llu nodes, %llu rewirings\t check: %llu\n", (unsigned long long)v, (unsigned long long)total,
           (unsigned long long)check);
    boehm_end();
    return 0;
}
