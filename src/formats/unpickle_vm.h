/* unpickle_vm.h — the unpickler's machine (unpickle_vm.c): its values, its
 * stack and memo, and its messages; unpickle.c runs the opcodes over them.
 * Internal to the two files. */
#ifndef MLLM_UNPICKLE_VM_H
#define MLLM_UNPICKLE_VM_H

#include "unpickle.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    PV_NONE, PV_BOOL, PV_INT, PV_STR, PV_TUPLE, PV_LIST, PV_DICT, PV_GLOBAL, PV_STORAGE, PV_TENSOR
} pv_kind;

extern const char *const pk_kind_names[];  /* with their article, for messages */

/* The globals a state dict may name, and what REDUCE does with each. */
typedef enum { G_ORDERED_DICT, G_REBUILD_TENSOR, G_SIZE, G_FLOAT_STORAGE, G_HALF_STORAGE, G_BF16_STORAGE } pk_global;

extern const struct pk_global_name { const char *module, *name; } pk_globals[];
#define N_GLOBALS ((size_t)G_BF16_STORAGE + 1)

typedef struct pv pv;

/* A tensor's arguments, kept apart so that every other value stays small. */
typedef struct pv_tensor {
    const pv *storage;
    uint64_t offset;
    int ndim;
    int64_t shape[ST_MAX_DIMS], stride[ST_MAX_DIMS];
} pv_tensor;

struct pv {
    pv_kind kind;
    union {
        int64_t i;                                  /* BOOL, INT */
        struct { char *s; size_t len; } str;        /* NUL-terminated, no NUL inside */
        struct { pv **item; size_t n, cap; } seq;   /* TUPLE, LIST; DICT: key, value pairs */
        pk_global global;
        struct { mllm_dtype dtype; const pv *key; uint64_t numel; } storage;
        pv_tensor *tensor;
    } u;
};

typedef struct unpickler {
    const unsigned char *p, *end, *start;
    const char *what;
    char *err;
    size_t errlen;
    size_t op_at;             /* offset of the opcode being run, for messages */
    pv **stack;
    size_t sp, stack_cap;
    size_t *marks;            /* stack heights at each open MARK */
    size_t n_marks, marks_cap;
    pv **memo;
    size_t memo_cap;
    pv **objs;                /* every value made, freed at the end */
    size_t n_objs, objs_cap;
    size_t budget;            /* objects and slots left */
    mllm_status status;       /* of the last failure, for callers that got NULL */
    pv *none, *t, *f;
} unpickler;

/* Fails with a message naming the source and the opcode's byte (pk_fail),
 * or out of memory (pk_nomem); both record the status in u. */
mllm_status pk_fail(unpickler *u, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
mllm_status pk_nomem(unpickler *u);
const char *pk_printable(char *out, size_t cap, const char *s, size_t len);
const char *pk_opcode_name(unsigned char op);
const char *pk_global_name(char *out, size_t cap, pk_global g);
mllm_status pk_charge(unpickler *u, size_t n);
pv *pk_new_value(unpickler *u, pv_kind kind);
void pk_free_value(pv *v);
mllm_status pk_seq_push(unpickler *u, pv *s, pv *item);
mllm_status pk_push(unpickler *u, pv *v);
size_t pk_floor(const unpickler *u);
pv *pk_pop(unpickler *u, const char *op);
pv *pk_top(unpickler *u, const char *op);
mllm_status pk_pop_mark(unpickler *u, const char *op, size_t *at);
mllm_status pk_memo_put(unpickler *u, uint64_t idx);
mllm_status pk_memo_get(unpickler *u, uint64_t idx);

#endif
