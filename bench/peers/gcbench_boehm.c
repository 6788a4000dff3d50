/* GCBench on Boehm GC, after Hans Boehm's GCBench.c, printing the same
 * lines as bench/src/gcbench (n is the stretch depth; see its module
 * docs). Nodes come from GC_MALLOC, the array of doubles from
 * GC_MALLOC_ATOMIC (it holds no pointers). */
#include "common.h"

typedef struct Node {
    struct Node *left, *right;
    int i, j;
} Node;

static Node *node(Node *l, Node *r) {
    Node *n = GC_MALLOC(sizeof(Node));
    n->left = l;
    n->right = r;
    n->i = n->j = 0;
    return n;
}

static void populate(unsigned d, Node *n) {
    if (d == 0) return;
    n->left = node(NULL, NULL);
    n->right = node(NULL, NULL);
    populate(d - 1, n->left);
    populate(d - 1, n->right);
}

static Node *make_tree(unsigned d) {
    if (d == 0) return node(NULL, NULL);
    Node *l = make_tree(d - 1);
    Node *r = make_tree(d - 1);
    return node(l, r);
}

static unsigned long count(const Node *n) {
    return 1 + (n->left ? count(n->left) : 0) + (n->right ? count(n->right) : 0);
}

static unsigned long tree_size(unsigned d) { return (1UL << (d + 1)) - 1; }

int main(int argc, char **argv) {
    unsigned stretch = argc > 1 ? (unsigned)atoi(argv[1]) : 18;
    const unsigned min = 4;
    const unsigned long len = 500000;
    if (stretch < min + 4) stretch = min + 4;
    unsigned max = stretch - 2;
    boehm_start();
    printf("stretch tree of depth %u\t check: %lu\n", stretch, count(make_tree(stretch)));
    Node *kept = node(NULL, NULL);
    populate(max, kept);
    double *array = GC_MALLOC_ATOMIC(len * sizeof(double));
    for (unsigned long i = 0; i < len; i++) array[i] = 0.0;
    for (unsigned long i = 1; i < len / 2; i++) array[i] = 1.0 / (double)i;
    for (unsigned d = min; d <= max; d += 2) {
        unsigned long k = 2 * tree_size(stretch) / tree_size(d), td = 0, bu = 0;
        for (unsigned long i = 0; i < k; i++) {
            Node *t = node(NULL, NULL);
            populate(d, t);
            if (i + 1 == k) td = count(t);
        }
        for (unsigned long i = 0; i < k; i++) {
            Node *t = make_tree(d);
            if (i + 1 == k) bu = count(t);
        }
        printf("%lu\t trees of depth %u\t top-down check: %lu\t bottom-up check: %lu\n", k, d, td, bu);
    }
    double sum = 0.0;
    for (unsigned long i = 0; i < len; i++) sum += array[i];
    printf("long lived tree of depth %u\t check: %lu\n", max, count(kept));
    printf("long lived array of %lu doubles\t a[1000]: %.9f\t sum: %.6f\n", len, array[1000], sum);
    boehm_end();
    return 0;
}
