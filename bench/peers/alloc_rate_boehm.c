/* The allocation-rate program on Boehm GC, printing the same line as
 * bench/src/alloc_rate (see its module docs): 32-byte objects (a link
 * and three words) from GC_MALLOC, one in 100 kept in a list. */
#include "common.h"

typedef struct Obj {
    struct Obj *next;
    uint64_t w[3];
} Obj;

static Obj *obj(Obj *next, uint64_t i) {
    Obj *o = GC_MALLOC(sizeof(Obj));
    o->next = next;
    o->w[0] = i;
    o->w[1] = i ^ 0x55555555ULL;
    o->w[2] = i * 3;
    return o;
}

int main(int argc, char **argv) {
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 18;
    const uint64_t full = 100000000ULL, batch = 100;
    uint64_t total = n >= 21 ? full << (n - 21 > 8 ? 8 : n - 21) : full >> (21 - n > 20 ? 20 : 21 - n);
    total = (total / batch ? total / batch : 1) * batch;
    boehm_start();
    Obj *head = NULL;
    for (uint64_t b = 0; b < total / batch; b++) {
        head = obj(head, b * batch);
        for (uint64_t i = b * batch + 1; i < (b + 1) * batch; i++) {
            Obj *volatile dead = obj(NULL, i);
            (void)dead;
        }
    }
    uint64_t kept = 0, check = 0;
    for (Obj *o = head; o; o = o->next) {
        kept++;
        check += o->w[0] + o->w[1] + o->w[2];
    }
    printf("%llu objects of 32 bytes\t kept: %llu\t check: %llu\n", (unsigned long long)total,
           (unsigned long long)kept, (unsigned long long)check);
    boehm_end();
    return 0;
}
