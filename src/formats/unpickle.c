/* unpickle.c — a restricted unpickler for torch.save'd state dicts.
 *
 * A pickle is a program for a stack machine; Python's unpickler runs it and
 * may call any importable function (GLOBAL + REDUCE), which is how a pickle
 * runs code. This one interprets a fixed set of opcodes over plain C values
 * and knows the handful of callables a state dict uses; everything else is
 * refused with its name. No value is ever "called": REDUCE on a known global
 * builds a C value (a dict, a tuple, a tensor description).
 *
 * Memory: every value is malloc'd and recorded in u->objs, and all of them
 * are freed at the end, so shared references and cycles (a list appended to
 * itself through the memo) need no reference counts and nothing recurses.
 * MLLM_MAX_PICKLE_OBJECTS bounds objects plus container slots, so memory is
 * linear in the budget whatever the input does. */
#define _POSIX_C_SOURCE 200809L
#include "unpickle_vm.h"
#include "base/status.h"
#include "text/utf8.h"
#include "base/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- reading */

static bool need(unpickler *u, size_t n, const char *op)
{
    if ((size_t)(u->end - u->p) < n) {
        pk_fail(u, "%s runs past the end of the pickle (truncated?)", op);
        return false;
    }
    return true;
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static mllm_status op_binunicode(unpickler *u)
{
    if (!need(u, 4, "BINUNICODE")) return u->status;
    uint64_t len = le(u->p, 4);
    u->p += 4;
    if (len > MLLM_MAX_PICKLE_STRING)
        return pk_fail(u, "a string of %llu bytes exceeds the limit of %d (MLLM_MAX_PICKLE_STRING)",
                    (unsigned long long)len, MLLM_MAX_PICKLE_STRING);
    if (!need(u, (size_t)len, "BINUNICODE")) return u->status;
    const char *s = (const char *)u->p;
    if (memchr(s, '\0', (size_t)len)) return pk_fail(u, "a string holds a NUL byte");
    size_t bad = mllm_utf8_check(s, (size_t)len);
    if (bad != len) return pk_fail(u, "a string is not valid UTF-8 (its byte %zu)", bad);
    pv *v = pk_new_value(u, PV_STR);
    if (!v) return u->status;
    v->u.str.s = mllm_malloc((size_t)len + 1);
    if (!v->u.str.s) return pk_nomem(u);
    memcpy(v->u.str.s, s, (size_t)len);
    v->u.str.s[len] = '\0';
    v->u.str.len = (size_t)len;
    u->p += len;
    return pk_push(u, v);
}

static mllm_status push_int(unpickler *u, int64_t i)
{
    pv *v = pk_new_value(u, PV_INT);
    if (!v) return u->status;
    v->u.i = i;
    return pk_push(u, v);
}

/* LONG1: n bytes of little-endian two's complement; up to 8 fit an int64. */
static mllm_status op_long1(unpickler *u)
{
    if (!need(u, 1, "LONG1")) return u->status;
    unsigned n = *u->p++;
    if (n > 8) return pk_fail(u, "LONG1 of %u bytes does not fit 64 bits", n);
    if (!need(u, n, "LONG1")) return u->status;
    uint64_t v = n ? le(u->p, (int)n) : 0;
    if (n && n < 8 && (u->p[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);  /* sign-extend */
    u->p += n;
    int64_t i;
    memcpy(&i, &v, sizeof i);
    return push_int(u, i);
}

/* GLOBAL "module\nname\n": only the whitelist resolves. */
static mllm_status op_global(unpickler *u)
{
    const unsigned char *lines[2];
    size_t lens[2];
    for (int k = 0; k < 2; k++) {
        const unsigned char *nl = memchr(u->p, '\n', (size_t)(u->end - u->p));
        if (!nl) return pk_fail(u, "GLOBAL runs past the end of the pickle (truncated?)");
        lines[k] = u->p;
        lens[k] = (size_t)(nl - u->p);
        u->p = nl + 1;
    }
    for (size_t g = 0; g < N_GLOBALS; g++)
        if (lens[0] == strlen(pk_globals[g].module) && lens[1] == strlen(pk_globals[g].name) &&
            memcmp(lines[0], pk_globals[g].module, lens[0]) == 0 && memcmp(lines[1], pk_globals[g].name, lens[1]) == 0) {
            pv *v = pk_new_value(u, PV_GLOBAL);
            if (!v) return u->status;
            v->u.global = (pk_global)g;
            return pk_push(u, v);
        }
    char mod[96], name[96];
    return pk_fail(u, "the pickle imports %s.%s, which a weights file never needs; refused (allowed: "
                   "collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.Size, "
                   "torch.FloatStorage, torch.HalfStorage, torch.BFloat16Storage)",
                pk_printable(mod, sizeof mod, (const char *)lines[0], lens[0]),
                pk_printable(name, sizeof name, (const char *)lines[1], lens[1]));
}

/* TUPLE (from the last MARK) and TUPLE1/2/3 (from the top n values). */
static mllm_status make_tuple(unpickler *u, size_t from)
{
    pv *t = pk_new_value(u, PV_TUPLE);
    if (!t) return u->status;
    for (size_t i = from; i < u->sp; i++)
        if (pk_seq_push(u, t, u->stack[i])) return u->status;
    u->sp = from;
    return pk_push(u, t);
}

static mllm_status op_tuple_n(unpickler *u, size_t n, const char *op)
{
    if (u->sp - pk_floor(u) < n) return pk_fail(u, "%s needs %zu values on the stack", op, n);
    return make_tuple(u, u->sp - n);
}

/* BINPERSID: ('storage', <storage type>, key, location, numel) → a storage. */
static mllm_status op_binpersid(unpickler *u)
{
    pv *pid = pk_pop(u, "BINPERSID");
    if (!pid) return u->status;
    if (pid->kind != PV_TUPLE || pid->u.seq.n != 5)
        return pk_fail(u, "a persistent id must be a 5-tuple ('storage', type, key, location, numel)");
    pv **a = pid->u.seq.item;
    if (a[0]->kind != PV_STR || strcmp(a[0]->u.str.s, "storage") != 0)
        return pk_fail(u, "a persistent id must start with 'storage'");
    if (a[1]->kind != PV_GLOBAL || a[1]->u.global < G_FLOAT_STORAGE) {
        char g[96];
        return pk_fail(u, "a persistent id names %s where a storage type belongs",
                    a[1]->kind == PV_GLOBAL ? pk_global_name(g, sizeof g, a[1]->u.global) : pk_kind_names[a[1]->kind]);
    }
    if (a[2]->kind != PV_STR || a[2]->u.str.len == 0 || a[2]->u.str.len > 255)
        return pk_fail(u, "a storage key must be a string of 1 to 255 bytes");
    if (a[3]->kind != PV_STR) return pk_fail(u, "a storage location must be a string");
    if (a[4]->kind != PV_INT || a[4]->u.i < 0)
        return pk_fail(u, "a storage size must be a non-negative integer");
    pv *s = pk_new_value(u, PV_STORAGE);
    if (!s) return u->status;
    s->u.storage.dtype = a[1]->u.global == G_FLOAT_STORAGE ? MLLM_F32
                       : a[1]->u.global == G_HALF_STORAGE ? MLLM_F16 : MLLM_BF16;
    s->u.storage.key = a[2];
    s->u.storage.numel = (uint64_t)a[4]->u.i;
    return pk_push(u, s);
}

static bool int_tuple(const pv *t, int max, int64_t *out, int *n)
{
    if (t->kind != PV_TUPLE || t->u.seq.n > (size_t)max) return false;
    for (size_t i = 0; i < t->u.seq.n; i++) {
        if (t->u.seq.item[i]->kind != PV_INT) return false;
        out[i] = t->u.seq.item[i]->u.i;
    }
    *n = (int)t->u.seq.n;
    return true;
}

static bool empty_dict_or_none(const pv *v, bool none_ok)
{
    return (v->kind == PV_DICT && v->u.seq.n == 0) || (none_ok && v->kind == PV_NONE);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
 * backward_hooks[, metadata]): the arguments are checked for type here; the
 * layout (contiguous, inside the storage) when the tensor gets its name. */
static mllm_status rebuild_tensor(unpickler *u, const pv *args)
{
    size_t n = args->u.seq.n;
    pv **a = args->u.seq.item;
    if (n != 6 && n != 7)
        return pk_fail(u, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", n);
    if (a[0]->kind != PV_STORAGE)
        return pk_fail(u, "_rebuild_tensor_v2 needs a storage, got %s", pk_kind_names[a[0]->kind]);
    if (a[1]->kind != PV_INT || a[1]->u.i < 0)
        return pk_fail(u, "_rebuild_tensor_v2 needs a non-negative storage offset");
    pv *t = pk_new_value(u, PV_TENSOR);
    if (!t) return u->status;
    if (!(t->u.tensor = mllm_calloc(1, sizeof *t->u.tensor))) return pk_nomem(u);
    int ns = 0;
    if (!int_tuple(a[2], ST_MAX_DIMS, t->u.tensor->shape, &t->u.tensor->ndim))
        return pk_fail(u, "a tensor size must be a tuple of at most %d integers", ST_MAX_DIMS);
    if (!int_tuple(a[3], ST_MAX_DIMS, t->u.tensor->stride, &ns) || ns != t->u.tensor->ndim)
        return pk_fail(u, "a tensor stride must be a tuple of integers as long as its size");
    if (a[4]->kind != PV_BOOL) return pk_fail(u, "requires_grad must be a bool");
    if (!empty_dict_or_none(a[5], false))
        return pk_fail(u, "a tensor's backward hooks must be an empty OrderedDict");
    if (n == 7 && !empty_dict_or_none(a[6], true))
        return pk_fail(u, "tensor metadata must be empty");
    t->u.tensor->storage = a[0];
    t->u.tensor->offset = (uint64_t)a[1]->u.i;
    return pk_push(u, t);
}

static void format_dims(char *out, size_t cap, const int64_t *v, int n)
{
    out[0] = '\0';
    for (int k = 0; k < n; k++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%lld", k ? ", " : "", (long long)v[k]);
}

/* A tensor must be a contiguous row-major run inside its storage:
 * stride[d] = prod(size[d+1:]) wherever size[d] != 1 (a dimension of one
 * element may carry any stride, as torch's is_contiguous allows), and
 * offset + numel <= the storage's elements, all without overflow. */
static mllm_status check_layout(unpickler *u, const char *name, const pv *v)
{
    int nd = v->u.tensor->ndim;
    const int64_t *size = v->u.tensor->shape, *stride = v->u.tensor->stride;
    uint64_t numel = 1;
    for (int d = 0; d < nd; d++) {
        if (size[d] < 0) return pk_fail(u, "tensor '%s' has a negative size (%lld)", name, (long long)size[d]);
        if (size[d] && numel > (UINT64_MAX >> 2) / (uint64_t)size[d])
            return pk_fail(u, "tensor '%s': its size overflows", name);
        numel *= (uint64_t)size[d];
    }
    if (numel > 0) {
        int64_t want[ST_MAX_DIMS];
        uint64_t e = 1;
        for (int d = nd - 1; d >= 0; d--) { want[d] = (int64_t)e; e *= (uint64_t)size[d]; }
        for (int d = 0; d < nd; d++)
            if (size[d] != 1 && stride[d] != want[d]) {
                char got[160], exp[160];
                format_dims(got, sizeof got, stride, nd);
                format_dims(exp, sizeof exp, want, nd);
                return pk_fail(u, "tensor '%s' is not contiguous (stride (%s); a contiguous one is (%s))", name,
                            got, exp);
            }
    }
    const pv *s = v->u.tensor->storage;
    uint64_t off = v->u.tensor->offset, have = s->u.storage.numel;
    if (off > have || numel > have - off) {
        char key[96];
        return pk_fail(u, "tensor '%s' (%llu elements at offset %llu) reaches past its storage '%s' of %llu elements",
                    name, (unsigned long long)numel, (unsigned long long)off,
                    pk_printable(key, sizeof key, s->u.storage.key->u.str.s, s->u.storage.key->u.str.len),
                    (unsigned long long)have);
    }
    return MLLM_OK;
}

static mllm_status op_reduce(unpickler *u)
{
    pv *args = pk_pop(u, "REDUCE"), *fn = args ? pk_pop(u, "REDUCE") : NULL;
    if (!fn) return u->status;
    if (fn->kind != PV_GLOBAL) return pk_fail(u, "REDUCE calls %s, not a known global", pk_kind_names[fn->kind]);
    if (args->kind != PV_TUPLE) return pk_fail(u, "REDUCE arguments must be a tuple");
    char g[96];
    switch (fn->u.global) {
    case G_ORDERED_DICT:
        if (args->u.seq.n != 0) return pk_fail(u, "collections.OrderedDict must be called with no arguments");
        return pk_push(u, pk_new_value(u, PV_DICT));
    case G_REBUILD_TENSOR:
        return rebuild_tensor(u, args);
    case G_SIZE:  /* torch.Size((d0, d1, ...)) is that tuple */
        if (args->u.seq.n != 1 || args->u.seq.item[0]->kind != PV_TUPLE)
            return pk_fail(u, "torch.Size takes one tuple");
        return pk_push(u, args->u.seq.item[0]);
    default:
        return pk_fail(u, "%s may only appear in a persistent id, not be called",
                    pk_global_name(g, sizeof g, fn->u.global));
    }
}

/* SETITEM / SETITEMS: pairs from position from onward go into the dict below them. */
static mllm_status set_items(unpickler *u, size_t from, const char *op)
{
    if (from == 0 || from - 1 < pk_floor(u)) return pk_fail(u, "%s without a dict below its items", op);
    pv *d = u->stack[from - 1];
    if (d->kind != PV_DICT) return pk_fail(u, "%s on %s", op, pk_kind_names[d->kind]);
    if ((u->sp - from) % 2) return pk_fail(u, "%s with an odd number of values", op);
    for (size_t i = from; i < u->sp; i++)
        if (pk_seq_push(u, d, u->stack[i])) return u->status;
    u->sp = from;
    return MLLM_OK;
}

static mllm_status append_items(unpickler *u, size_t from, const char *op)
{
    if (from == 0 || from - 1 < pk_floor(u)) return pk_fail(u, "%s without a list below its items", op);
    pv *l = u->stack[from - 1];
    if (l->kind != PV_LIST) return pk_fail(u, "%s on %s", op, pk_kind_names[l->kind]);
    for (size_t i = from; i < u->sp; i++)
        if (pk_seq_push(u, l, u->stack[i])) return u->status;
    u->sp = from;
    return MLLM_OK;
}

/* BUILD on a dict: OrderedDict's state ({'_metadata': ...}) is attributes the
 * loader does not need; it is checked to be a dict and dropped. */
static mllm_status op_build(unpickler *u)
{
    pv *state = pk_pop(u, "BUILD");
    pv *obj = state ? pk_top(u, "BUILD") : NULL;
    if (!obj) return u->status;
    if (obj->kind != PV_DICT) return pk_fail(u, "BUILD on %s", pk_kind_names[obj->kind]);
    if (state->kind != PV_DICT && state->kind != PV_NONE) return pk_fail(u, "BUILD with %s as its state", pk_kind_names[state->kind]);
    return MLLM_OK;
}

/* Runs the pickle to STOP; *result is the value it leaves. */
static mllm_status run(unpickler *u, pv **result)
{
    mllm_status st = MLLM_OK;
    while (st == MLLM_OK) {
        if (u->p >= u->end) {
            u->op_at = (size_t)(u->end - u->start);
            return pk_fail(u, "the pickle ends without STOP (truncated?)");
        }
        u->op_at = (size_t)(u->p - u->start);
        unsigned char op = *u->p++;
        size_t at = 0;
        switch (op) {
        case 0x80: /* PROTO */
            if (!need(u, 1, "PROTO")) return u->status;
            if (*u->p < 2 || *u->p > 5) return pk_fail(u, "pickle protocol %u is not supported", *u->p);
            u->p++;
            break;
        case '.': /* STOP */
            if (!(*result = pk_pop(u, "STOP"))) return u->status;
            if (u->p != u->end) return pk_fail(u, "%zu bytes follow STOP", (size_t)(u->end - u->p));
            return MLLM_OK;
        case '(': /* MARK */
            if (u->n_marks == u->marks_cap) {
                if (u->n_marks >= MLLM_MAX_PICKLE_STACK)
                    return pk_fail(u, "more than %d open MARKs (MLLM_MAX_PICKLE_STACK)", MLLM_MAX_PICKLE_STACK);
                size_t cap = u->marks_cap ? 2 * u->marks_cap : 16;
                size_t *nm = mllm_realloc(u->marks, cap * sizeof *nm);
                if (!nm) return pk_nomem(u);
                u->marks = nm;
                u->marks_cap = cap;
            }
            u->marks[u->n_marks++] = u->sp;
            break;
        case '}': st = pk_push(u, pk_new_value(u, PV_DICT)); break;
        case ']': st = pk_push(u, pk_new_value(u, PV_LIST)); break;
        case ')': st = pk_push(u, pk_new_value(u, PV_TUPLE)); break;
        case 'N': st = pk_push(u, u->none); break;
        case 0x88: st = pk_push(u, u->t); break;
        case 0x89: st = pk_push(u, u->f); break;
        case 'X': st = op_binunicode(u); break;
        case 'J': /* BININT: 4-byte signed */
            if (!need(u, 4, "BININT")) return u->status;
            st = push_int(u, (int64_t)(int32_t)(uint32_t)le(u->p, 4));
            u->p += 4;
            break;
        case 'K': /* BININT1 */
            if (!need(u, 1, "BININT1")) return u->status;
            st = push_int(u, *u->p++);
            break;
        case 'M': /* BININT2 */
            if (!need(u, 2, "BININT2")) return u->status;
            st = push_int(u, (int64_t)le(u->p, 2));
            u->p += 2;
            break;
        case 0x8a: st = op_long1(u); break;
        case 't':
            if ((st = pk_pop_mark(u, "TUPLE", &at))) return st;
            st = make_tuple(u, at);
            break;
        case 0x85: st = op_tuple_n(u, 1, "TUPLE1"); break;
        case 0x86: st = op_tuple_n(u, 2, "TUPLE2"); break;
        case 0x87: st = op_tuple_n(u, 3, "TUPLE3"); break;
        case 'Q': st = op_binpersid(u); break;
        case 'c': st = op_global(u); break;
        case 'R': st = op_reduce(u); break;
        case 'b': st = op_build(u); break;
        case 's': /* SETITEM */
            if (u->sp < 2 || u->sp - 2 < pk_floor(u)) return pk_fail(u, "SETITEM needs a key and a value");
            st = set_items(u, u->sp - 2, "SETITEM");
            break;
        case 'u':
            if ((st = pk_pop_mark(u, "SETITEMS", &at))) return st;
            st = set_items(u, at, "SETITEMS");
            break;
        case 'a': /* APPEND */
            if (u->sp < 1 || u->sp - 1 < pk_floor(u)) return pk_fail(u, "APPEND needs a value");
            st = append_items(u, u->sp - 1, "APPEND");
            break;
        case 'e':
            if ((st = pk_pop_mark(u, "APPENDS", &at))) return st;
            st = append_items(u, at, "APPENDS");
            break;
        case 'q': /* BINPUT */
            if (!need(u, 1, "BINPUT")) return u->status;
            st = pk_memo_put(u, *u->p++);
            break;
        case 'r': /* LONG_BINPUT */
            if (!need(u, 4, "LONG_BINPUT")) return u->status;
            st = pk_memo_put(u, le(u->p, 4));
            u->p += 4;
            break;
        case 'h': /* BINGET */
            if (!need(u, 1, "BINGET")) return u->status;
            st = pk_memo_get(u, *u->p++);
            break;
        case 'j': /* LONG_BINGET */
            if (!need(u, 4, "LONG_BINGET")) return u->status;
            st = pk_memo_get(u, le(u->p, 4));
            u->p += 4;
            break;
        default: {
            const char *name = pk_opcode_name(op);
            if (name) return pk_fail(u, "pickle opcode %s (0x%02x) is not allowed in a weights file", name, op);
            return pk_fail(u, "unknown pickle opcode 0x%02x", op);
        }
        }
    }
    return st;
}

/* ------------------------------------------------------------- results */

void pk_state_dict_free(pk_state_dict *sd)
{
    if (!sd) return;
    for (size_t i = 0; i < sd->n; i++) {
        mllm_free(sd->tensors[i].name);
        mllm_free(sd->tensors[i].storage_key);
    }
    mllm_free(sd->tensors);
    sd->tensors = NULL;
    sd->n = 0;
}

static mllm_status to_state_dict(unpickler *u, const pv *d, pk_state_dict *out)
{
    u->op_at = SIZE_MAX;
    if (d->kind != PV_DICT) return pk_fail(u, "the pickle holds %s, not a state dict", pk_kind_names[d->kind]);
    size_t n = d->u.seq.n / 2;
    out->tensors = n ? mllm_calloc(n, sizeof *out->tensors) : NULL;
    if (n && !out->tensors) return pk_nomem(u);
    for (size_t i = 0; i < n; i++) {
        const pv *k = d->u.seq.item[2 * i], *v = d->u.seq.item[2 * i + 1];
        if (k->kind != PV_STR) return pk_fail(u, "a state dict key is %s, not a name", pk_kind_names[k->kind]);
        char nm[96];
        pk_printable(nm, sizeof nm, k->u.str.s, k->u.str.len);
        if (v->kind != PV_TENSOR)
            return pk_fail(u, "state dict entry '%s' is %s, not a tensor", nm, pk_kind_names[v->kind]);
        mllm_status st = check_layout(u, nm, v);
        if (st) return st;
        pk_tensor *t = &out->tensors[i];
        out->n = i + 1;
        const pv *s = v->u.tensor->storage;
        t->name = mllm_strdup(k->u.str.s);
        t->storage_key = mllm_strdup(s->u.storage.key->u.str.s);
        if (!t->name || !t->storage_key)
            return pk_nomem(u);
        t->dtype = s->u.storage.dtype;
        t->storage_numel = s->u.storage.numel;
        t->offset = v->u.tensor->offset;
        t->ndim = v->u.tensor->ndim;
        memcpy(t->shape, v->u.tensor->shape, sizeof t->shape);
    }
    return MLLM_OK;
}

mllm_status pk_load_state_dict(const void *data, size_t len, const char *what, pk_state_dict *out,
                               char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = '\0';
    unpickler u = { .p = data, .start = data, .end = (const unsigned char *)data + len, .what = what,
                    .err = err, .errlen = errlen, .budget = MLLM_MAX_PICKLE_OBJECTS };
    mllm_status st;
    if (len > MLLM_MAX_PICKLE) {
        st = pk_fail(&u, "a pickle of %zu bytes exceeds the limit of %u (MLLM_MAX_PICKLE)", len,
                  (unsigned)MLLM_MAX_PICKLE);
        goto done;
    }
    u.none = pk_new_value(&u, PV_NONE);
    u.t = pk_new_value(&u, PV_BOOL);
    u.f = pk_new_value(&u, PV_BOOL);
    if (!u.none || !u.t || !u.f) { st = u.status; goto done; }
    u.t->u.i = 1;
    pv *result = NULL;
    if ((st = run(&u, &result)) == MLLM_OK) st = to_state_dict(&u, result, out);
done:
    for (size_t i = 0; i < u.n_objs; i++) pk_free_value(u.objs[i]);
    mllm_free(u.objs);
    mllm_free(u.stack);
    mllm_free(u.marks);
    mllm_free(u.memo);
    if (st != MLLM_OK) pk_state_dict_free(out);
    return st;
}
