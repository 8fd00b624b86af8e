/* unpickle_vm.c — the unpickler's machine (unpickle_vm.h): its values (each
 * malloc'd, recorded and charged against MLLM_MAX_PICKLE_OBJECTS), its stack,
 * marks and memo, and its messages. */
#define _POSIX_C_SOURCE 200809L
#include "unpickle_vm.h"
#include "base/status.h"
#include "base/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const pk_kind_names[] = {
    "None", "a bool", "an int", "a str", "a tuple", "a list", "a dict", "a global", "a storage", "a tensor"
};
const struct pk_global_name pk_globals[] = {
    [G_ORDERED_DICT] = { "collections", "OrderedDict" },
    [G_REBUILD_TENSOR] = { "torch._utils", "_rebuild_tensor_v2" },
    [G_SIZE] = { "torch", "Size" },
    [G_FLOAT_STORAGE] = { "torch", "FloatStorage" },
    [G_HALF_STORAGE] = { "torch", "HalfStorage" },
    [G_BF16_STORAGE] = { "torch", "BFloat16Storage" },
};

/* ------------------------------------------------------------ messages */

mllm_status pk_fail(unpickler *u, const char *fmt, ...)
{
    char msg[MLLM_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (u->op_at == SIZE_MAX)  /* after the run: the message names the tensor */
        return u->status = mllm_fail(u->err, u->errlen, MLLM_ERR_FORMAT, "%s: %s", u->what, msg);
    return u->status = mllm_fail(u->err, u->errlen, MLLM_ERR_FORMAT, "%s: byte %zu: %s", u->what, u->op_at, msg);
}

mllm_status pk_nomem(unpickler *u)
{
    return u->status = mllm_fail(u->err, u->errlen, MLLM_ERR_NOMEM, "%s: out of memory", u->what);
}

/* Copies untrusted bytes for a message: printable ASCII stays, the rest
 * becomes \xNN; long text is cut with "...". */
const char *pk_printable(char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= cap) {
            memcpy(out + o, "...", 4);
            return out;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\') out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

const char *pk_opcode_name(unsigned char op)
{
    switch (op) {
    case '(': return "MARK";            case '.': return "STOP";
    case '0': return "POP";             case '1': return "POP_MARK";
    case '2': return "DUP";             case 'F': return "FLOAT";
    case 'I': return "INT";             case 'J': return "BININT";
    case 'K': return "BININT1";         case 'L': return "LONG";
    case 'M': return "BININT2";         case 'N': return "NONE";
    case 'P': return "PERSID";          case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";          case 'S': return "STRING";
    case 'T': return "BINSTRING";       case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";         case 'X': return "BINUNICODE";
    case 'a': return "APPEND";          case 'b': return "BUILD";
    case 'c': return "GLOBAL";          case 'd': return "DICT";
    case '}': return "EMPTY_DICT";      case 'e': return "APPENDS";
    case 'g': return "GET";             case 'h': return "BINGET";
    case 'i': return "INST";            case 'j': return "LONG_BINGET";
    case 'l': return "LIST";            case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";             case 'p': return "PUT";
    case 'q': return "BINPUT";          case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";         case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";     case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";        case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";          case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";           case 0x83: return "EXT2";
    case 0x84: return "EXT4";           case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";         case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";        case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";          case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";      case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";       case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";      case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";        case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";     case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    }
    return NULL;
}

const char *pk_global_name(char *out, size_t cap, pk_global g)
{
    snprintf(out, cap, "%s.%s", pk_globals[g].module, pk_globals[g].name);
    return out;
}

/* ------------------------------------------------------------- values */

mllm_status pk_charge(unpickler *u, size_t n)
{
    if (n > u->budget)
        return pk_fail(u, "the pickle makes more than %u objects (MLLM_MAX_PICKLE_OBJECTS)",
                    (unsigned)MLLM_MAX_PICKLE_OBJECTS);
    u->budget -= n;
    return MLLM_OK;
}

pv *pk_new_value(unpickler *u, pv_kind kind)
{
    if (pk_charge(u, 1)) return NULL;
    if (u->n_objs == u->objs_cap) {
        size_t cap = u->objs_cap ? 2 * u->objs_cap : 256;
        pv **no = mllm_realloc(u->objs, cap * sizeof *no);
        if (!no) { pk_nomem(u); return NULL; }
        u->objs = no;
        u->objs_cap = cap;
    }
    pv *v = mllm_calloc(1, sizeof *v);
    if (!v) { pk_nomem(u); return NULL; }
    v->kind = kind;
    u->objs[u->n_objs++] = v;
    return v;
}

void pk_free_value(pv *v)
{
    if (v->kind == PV_STR) mllm_free(v->u.str.s);
    if (v->kind == PV_TUPLE || v->kind == PV_LIST || v->kind == PV_DICT) mllm_free(v->u.seq.item);
    if (v->kind == PV_TENSOR) mllm_free(v->u.tensor);
    mllm_free(v);
}

/* Appends to a tuple, list or dict (a dict takes key and value as two slots). */
mllm_status pk_seq_push(unpickler *u, pv *s, pv *item)
{
    if (pk_charge(u, 1)) return u->status;
    if (s->u.seq.n == s->u.seq.cap) {
        size_t cap = s->u.seq.cap ? 2 * s->u.seq.cap : 4;
        pv **ni = mllm_realloc(s->u.seq.item, cap * sizeof *ni);
        if (!ni) return pk_nomem(u);
        s->u.seq.item = ni;
        s->u.seq.cap = cap;
    }
    s->u.seq.item[s->u.seq.n++] = item;
    return MLLM_OK;
}

/* ------------------------------------------------------- stack, memo */

mllm_status pk_push(unpickler *u, pv *v)
{
    if (!v) return u->status;  /* the value could not be made */
    if (u->sp == u->stack_cap) {
        if (u->sp >= MLLM_MAX_PICKLE_STACK)
            return pk_fail(u, "the pickle stack is deeper than %d (MLLM_MAX_PICKLE_STACK)", MLLM_MAX_PICKLE_STACK);
        size_t cap = u->stack_cap ? 2 * u->stack_cap : 64;
        if (cap > MLLM_MAX_PICKLE_STACK) cap = MLLM_MAX_PICKLE_STACK;
        pv **ns = mllm_realloc(u->stack, cap * sizeof *ns);
        if (!ns) return pk_nomem(u);
        u->stack = ns;
        u->stack_cap = cap;
    }
    u->stack[u->sp++] = v;
    return MLLM_OK;
}

/* The bottom of the usable stack: values below the last MARK belong to an
 * outer construction and may not be popped by a plain opcode. */
size_t pk_floor(const unpickler *u)
{
    return u->n_marks ? u->marks[u->n_marks - 1] : 0;
}

pv *pk_pop(unpickler *u, const char *op)
{
    if (u->sp <= pk_floor(u)) {
        pk_fail(u, "%s on an empty stack", op);
        return NULL;
    }
    return u->stack[--u->sp];
}

pv *pk_top(unpickler *u, const char *op)
{
    if (u->sp <= pk_floor(u)) {
        pk_fail(u, "%s on an empty stack", op);
        return NULL;
    }
    return u->stack[u->sp - 1];
}

/* Pops the last MARK; *at is the stack height it recorded. */
mllm_status pk_pop_mark(unpickler *u, const char *op, size_t *at)
{
    if (!u->n_marks) return pk_fail(u, "%s without a MARK", op);
    *at = u->marks[--u->n_marks];
    return MLLM_OK;
}

mllm_status pk_memo_put(unpickler *u, uint64_t idx)
{
    if (idx >= MLLM_MAX_PICKLE_MEMO)
        return pk_fail(u, "memo index %llu exceeds the limit of %u (MLLM_MAX_PICKLE_MEMO)",
                    (unsigned long long)idx, (unsigned)MLLM_MAX_PICKLE_MEMO);
    pv *v = pk_top(u, "BINPUT");
    if (!v) return u->status;
    if (idx >= u->memo_cap) {
        size_t cap = u->memo_cap ? u->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        if (cap > MLLM_MAX_PICKLE_MEMO) cap = MLLM_MAX_PICKLE_MEMO;
        /* the memo costs budget like any container, so sparse indices cannot
         * allocate more than the object limit allows */
        if (pk_charge(u, cap - u->memo_cap)) return u->status;
        pv **nm = mllm_realloc(u->memo, cap * sizeof *nm);
        if (!nm) return pk_nomem(u);
        memset(nm + u->memo_cap, 0, (cap - u->memo_cap) * sizeof *nm);
        u->memo = nm;
        u->memo_cap = cap;
    }
    u->memo[idx] = v;
    return MLLM_OK;
}

mllm_status pk_memo_get(unpickler *u, uint64_t idx)
{
    if (idx >= u->memo_cap || !u->memo[idx])
        return pk_fail(u, "BINGET of memo entry %llu, which was never stored", (unsigned long long)idx);
    return pk_push(u, u->memo[idx]);
}
