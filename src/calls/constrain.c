/* constrain.c — constrained decoding of tool calls (see constrain.h).
 *
 * The grammar is a byte-level state machine: cst_state is everything it remembers (a phase,
 * the tool, the arguments given, a node of a word trie, counters, a stack of open
 * arrays/objects), small enough to copy at every trie node. step() advances it by one byte or
 * says the byte does not fit. The design rule that makes masks safe: every state step() can
 * reach has a way out (a string can always close, an integer prefix is only accepted when a
 * completion fits its bounds, ',' only when an argument is left, ')' only when every required
 * one is given), so the sampler never meets a state where no token fits.
 *
 * Masks: the vocabulary's pieces sit in a byte trie (mllm_vocab_trie, built once); a mask is a
 * depth-first walk from the current state that stops at the first byte that does not fit, so a
 * subtree of thousands of tokens that all start with a wrong byte costs one step. Inside a
 * string, where almost everything fits, plain tokens are accepted by a precomputed flag and
 * only the few others (quotes, backslashes, byte tokens) are stepped. Outside a call only
 * tokens holding the opening tag's last byte can change anything, and only those are stepped.
 */
#define _POSIX_C_SOURCE 200809L
#include "constrain.h"
#include "base/grow.h"
#include "mobilellm_calls.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NONE ((size_t)-1)
#define INT_LIMIT 999999999999999999LL /* the largest MLLM_CST_MAX_INT_DIGITS-digit integer */

static mllm_status fail(char *err, size_t errlen, mllm_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static mllm_status fail(char *err, size_t errlen, mllm_status st, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ UTF-8 */

/* For a lead byte: the character's length (2..4) and the range of its first continuation
 * byte (which rules out overlong forms and surrogates); 0 for a byte that cannot lead. */
static int utf8_lead(unsigned char b, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b == 0xE0) { *lo = 0xA0; return 3; }
    if (b >= 0xE1 && b <= 0xEC) return 3;
    if (b == 0xED) { *hi = 0x9F; return 3; }
    if (b == 0xEE || b == 0xEF) return 3;
    if (b == 0xF0) { *lo = 0x90; return 4; }
    if (b >= 0xF1 && b <= 0xF3) return 4;
    if (b == 0xF4) { *hi = 0x8F; return 4; }
    return 0;
}

/* Non-empty, whole UTF-8 characters, no '"', '\\' or control byte: string content as it is. */
static bool is_plain(const unsigned char *p, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n;) {
        unsigned char b = p[i], lo, hi;
        if (b == '"' || b == '\\' || b < 0x20) return false;
        if (b < 0x80) { i++; continue; }
        int k = utf8_lead(b, &lo, &hi);
        if (k == 0 || i + (size_t)k > n) return false;
        if (p[i + 1] < lo || p[i + 1] > hi) return false;
        for (int j = 2; j < k; j++)
            if (p[i + j] < 0x80 || p[i + j] > 0xBF) return false;
        i += (size_t)k;
    }
    return true;
}

/* ------------------------------------------------------------ vocab trie */

typedef struct trie_node {
    int32_t child;      /* first child (children in byte order), -1: none */
    int32_t sibling;    /* next sibling, -1: none */
    int32_t tok;        /* tokens ending here: order[tok .. tok + n_tok) */
    int32_t n_tok;
    uint8_t byte;       /* the byte on the edge from the parent */
} trie_node;

struct mllm_vocab_trie {
    int n_vocab;
    unsigned char *bytes;   /* every piece, concatenated */
    size_t *off;            /* (n_vocab + 1) piece i = bytes[off[i] .. off[i + 1]) */
    int32_t *order;         /* (n_vocab) ids sorted by their bytes */
    trie_node *nodes;       /* node 0 is the root (the empty prefix) */
    size_t n_nodes;
    uint8_t *plain;         /* (n_vocab) is_plain() of each piece */
    int32_t *special;       /* non-empty pieces that are not plain */
    size_t n_special;
};

int mllm_vocab_trie_size(const mllm_vocab_trie *v) { return v->n_vocab; }
size_t mllm_vocab_trie_nodes(const mllm_vocab_trie *v) { return v->n_nodes; }

void mllm_vocab_trie_free(mllm_vocab_trie *v)
{
    if (!v) return;
    free(v->bytes);
    free(v->off);
    free(v->order);
    free(v->nodes);
    free(v->plain);
    free(v->special);
    free(v);
}

typedef struct sort_item {
    const unsigned char *p;
    size_t len;
    int32_t id;
} sort_item;

static int cmp_items(const void *a, const void *b)
{
    const sort_item *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = n ? memcmp(x->p, y->p, n) : 0;
    if (r) return r;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

mllm_status mllm_vocab_trie_new(const char *bytes, const size_t *offsets, int n_vocab,
                                mllm_vocab_trie **out, char *err, size_t errlen)
{
    *out = NULL;
    if (n_vocab < 1 || n_vocab > MLLM_MAX_VOCAB)
        return fail(err, errlen, MLLM_ERR_ARG, "vocabulary size %d outside [1, MLLM_MAX_VOCAB = %d]",
                    n_vocab, MLLM_MAX_VOCAB);
    if (!offsets || (!bytes && offsets[n_vocab] > offsets[0]))
        return fail(err, errlen, MLLM_ERR_ARG, "no pieces given");
    size_t max_len = 0;
    for (int i = 0; i < n_vocab; i++) {
        if (offsets[i + 1] < offsets[i])
            return fail(err, errlen, MLLM_ERR_ARG, "piece offsets decrease at token %d", i);
        if (offsets[i + 1] - offsets[i] > max_len) max_len = offsets[i + 1] - offsets[i];
    }
    size_t total = offsets[n_vocab] - offsets[0];
    mllm_vocab_trie *v = calloc(1, sizeof *v);
    sort_item *items = NULL;
    int32_t *last = NULL, *path = NULL;
    if (!v) goto nomem;
    v->n_vocab = n_vocab;
    v->bytes = malloc(total ? total : 1);
    v->off = malloc(((size_t)n_vocab + 1) * sizeof *v->off);
    v->order = malloc((size_t)n_vocab * sizeof *v->order);
    v->nodes = malloc((total + 1) * sizeof *v->nodes);
    v->plain = calloc((size_t)n_vocab, 1);
    v->special = malloc((size_t)n_vocab * sizeof *v->special);
    items = malloc((size_t)n_vocab * sizeof *items);
    last = malloc((total + 1) * sizeof *last);
    path = malloc((max_len + 1) * sizeof *path);
    if (!v->bytes || !v->off || !v->order || !v->nodes || !v->plain || !v->special || !items ||
        !last || !path)
        goto nomem;
    if (total) memcpy(v->bytes, bytes + offsets[0], total);
    for (int i = 0; i <= n_vocab; i++) v->off[i] = offsets[i] - offsets[0];
    for (int i = 0; i < n_vocab; i++) {
        const unsigned char *p = v->bytes + v->off[i];
        size_t n = v->off[i + 1] - v->off[i];
        items[i] = (sort_item){ p, n, i };
        v->plain[i] = is_plain(p, n);
        if (n && !v->plain[i]) v->special[v->n_special++] = i;
    }
    qsort(items, (size_t)n_vocab, sizeof *items, cmp_items);

    /* Sorted pieces make the trie in one pass: a piece shares its longest common prefix with
     * the previous one, and every byte after it is a new node, appended as its parent's last
     * child (so children stay in byte order). Equal pieces end at the same node. */
    v->nodes[0] = (trie_node){ -1, -1, 0, 0, 0 };
    last[0] = -1;
    v->n_nodes = 1;
    path[0] = 0;
    const sort_item *prev = NULL;
    for (int i = 0; i < n_vocab; i++) {
        const sort_item *it = &items[i];
        size_t lcp = 0;
        if (prev) {
            size_t n = prev->len < it->len ? prev->len : it->len;
            while (lcp < n && prev->p[lcp] == it->p[lcp]) lcp++;
        }
        for (size_t d = lcp; d < it->len; d++) {
            int32_t n = (int32_t)v->n_nodes++, parent = path[d];
            v->nodes[n] = (trie_node){ -1, -1, 0, 0, it->p[d] };
            last[n] = -1;
            if (last[parent] < 0) v->nodes[parent].child = n;
            else v->nodes[last[parent]].sibling = n;
            last[parent] = n;
            path[d + 1] = n;
        }
        trie_node *end = &v->nodes[path[it->len]];
        if (end->n_tok == 0) end->tok = i;
        end->n_tok++;
        v->order[i] = it->id;
        prev = it;
    }
    free(items);
    free(last);
    free(path);
    *out = v;
    return MLLM_OK;
nomem:
    free(items);
    free(last);
    free(path);
    mllm_vocab_trie_free(v);
    return fail(err, errlen, MLLM_ERR_NOMEM, "out of memory building the vocabulary trie");
}

mllm_status mllm_vocab_trie_from_tokenizer(const mllm_tokenizer *t, int n_vocab,
                                           mllm_vocab_trie **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!t) return fail(err, errlen, MLLM_ERR_ARG, "no tokenizer");
    if (n_vocab <= 0) n_vocab = mllm_tokenizer_vocab_size(t);
    if (n_vocab > MLLM_MAX_VOCAB)
        return fail(err, errlen, MLLM_ERR_ARG, "vocabulary size %d over MLLM_MAX_VOCAB (%d)",
                    n_vocab, MLLM_MAX_VOCAB);
    int n_tok = mllm_tokenizer_vocab_size(t);
    size_t *off = malloc(((size_t)n_vocab + 1) * sizeof *off);
    char *bytes = NULL;
    size_t cap = 0, len = 0;
    if (!off) return fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_vocab; i++) {
        off[i] = len;
        if (i >= n_tok) continue;
        char buf[256];
        int n = mllm_tokenizer_piece(t, i, buf, sizeof buf);
        if (n <= 0) continue;
        if (!mllm_grow((void **)&bytes, &cap, len + (size_t)n, 1)) goto nomem;
        if ((size_t)n <= sizeof buf) memcpy(bytes + len, buf, (size_t)n);
        else mllm_tokenizer_piece(t, i, bytes + len, (size_t)n);
        len += (size_t)n;
    }
    off[n_vocab] = len;
    mllm_status st = mllm_vocab_trie_new(bytes, off, n_vocab, out, err, errlen);
    free(bytes);
    free(off);
    return st;
nomem:
    free(bytes);
    free(off);
    return fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
}

/* ------------------------------------------------------------ grammar data */

/* A node of a word trie (tool names, parameter names, enum values). */
typedef struct word_node {
    int32_t child, sibling;
    int32_t word;       /* the word that ends here, -1: none */
    uint64_t mask;      /* words 0..63 ending in this subtree (parameters: which ones) */
    uint8_t byte;
} word_node;

typedef struct cst_type {
    uint8_t kind;       /* mllm_param_type */
    bool has_min, has_max;
    int64_t min, max;   /* INTEGER */
    int32_t enum_root;  /* ENUM: word trie of the values */
    uint16_t items;     /* ARRAY: type of the items */
} cst_type;

enum { T_ANY = 0, T_ANY_ARRAY = 1, T_ANY_OBJECT = 2 };

typedef struct cst_tool {
    char *name;
    int32_t arg_root;   /* word trie of the parameter names */
    uint64_t required;  /* parameters that must be given */
    uint64_t all;       /* every parameter */
    size_t first;       /* its parameters: param_types/param_names[first .. first + n) */
    size_t n;
} cst_tool;

/* Phases of the parse. */
enum {
    P_OUT,          /* free text; node = bytes of the opening tag matched (KMP) */
    P_OPEN,         /* REQUIRED: the opening tag; node = bytes matched */
    P_NAME,         /* the tool name; node = word-trie node */
    P_ARG_FIRST,    /* after '(': a parameter name or ')' */
    P_ARG_NEXT,     /* after ',': a parameter name */
    P_ARG_NAME,     /* in a parameter name; node = word-trie node */
    P_ARG_AFTER,    /* after a value: ',' or ')' */
    P_CLOSE,        /* the closing tag; node = bytes matched */
    P_VALUE,        /* the first byte of a value of `type` */
    P_STR,          /* in a string; sub = 1 for an object key; len = bytes written */
    P_STR_ESC,      /* after a backslash */
    P_ENUM,         /* in an enum value; node = word-trie node */
    P_INT,          /* an integer of `type`; sub = negative; len = digits; val = magnitude */
    P_NUM,          /* a number; sub = N_*; len = integer digits; val = fraction/exponent digits */
    P_LIT,          /* true/false/null; sub = which; node = bytes matched */
    P_ARR_FIRST,    /* after '[': a value or ']' */
    P_ARR_AFTER,    /* after an item: ',' or ']' */
    P_OBJ_FIRST,    /* after '{': a key or '}' */
    P_OBJ_KEY,      /* after ',': a key */
    P_OBJ_COLON,    /* after a key: ':' */
    P_OBJ_AFTER,    /* after a member: ',' or '}' */
    P_COUNT
};

enum { N_SIGN, N_INT0, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

static const char *const LITERALS[] = { "true", "false", "null" };

#define CMASK_WORDS (MLLM_CST_MAX_SOURCE / 64 + 1)

typedef struct cst_state {
    uint8_t phase;
    uint8_t space_ok;   /* one optional space may come now */
    uint8_t depth;      /* open arrays/objects */
    uint8_t need;       /* P_STR: continuation bytes still due */
    uint8_t lo, hi;     /* P_STR: range of the next continuation byte */
    uint8_t sub;
    uint16_t type;      /* the value's type (P_VALUE, P_INT) */
    int32_t tool;
    int32_t node;
    uint32_t len;
    int64_t val;
    uint64_t used;      /* parameters given so far */
    uint8_t copy;       /* P_STR: the value must be a substring of the source */
    uint32_t calls;     /* calls opened so far */
    uint64_t cmask[MLLM_CST_MAX_SOURCE / 64 + 1]; /* copy: see copy_step */
    uint16_t frames[MLLM_CST_MAX_DEPTH]; /* type of each open array/object */
} cst_state;

struct mllm_constraint {
    const mllm_vocab_trie *v;
    char open[MLLM_CALLS_MAX_TAG + 1], close[MLLM_CALLS_MAX_TAG + 1];
    size_t open_len, close_len;
    int32_t open_fail[MLLM_CALLS_MAX_TAG + 1]; /* KMP: border of open[0..k) */
    mllm_constraint_mode mode;
    size_t max_string;
    size_t max_calls;       /* 0 = any number */
    cst_type *types;
    size_t n_types, cap_types;
    word_node *words;
    size_t n_words, cap_words;
    int32_t name_root;
    cst_tool *tools;
    size_t n_tools;
    uint16_t *param_types;
    char **param_names;
    size_t n_params, cap_params;
    int32_t *out_check;     /* ids whose piece holds the opening tag's last byte */
    size_t n_out_check;
    uint8_t *allowed;       /* (n_vocab) scratch */
    /* the text seen last and the state after it */
    unsigned char source[MLLM_CST_MAX_SOURCE]; /* copy constraint; source_len 0 = none */
    size_t source_len;
    int32_t source_tok[MLLM_CST_MAX_SOURCE];   /* pointer: prompt position of each source byte's token */
    float pointer_weight;                      /* 0 = no pointer */
    const mllm_session *bound;                 /* the session being generated on, for its probe */
    char *cache;
    size_t cache_len, cache_cap;
    size_t cache_bad;       /* offset of the first byte that did not fit, or NONE */
    cst_state cache_state;
    bool cached;
    mllm_constraint_stats stats;
};

const mllm_vocab_trie *mllm_constraint_vocab(const mllm_constraint *c) { return c->v; }
size_t mllm_constraint_n_tools(const mllm_constraint *c) { return c->n_tools; }
const mllm_constraint_stats *mllm_constraint_get_stats(const mllm_constraint *c) { return &c->stats; }
void mllm_constraint_reset_stats(mllm_constraint *c) { memset(&c->stats, 0, sizeof c->stats); }

/* ------------------------------------------------------------ the grammar */

static int32_t word_child(const mllm_constraint *c, int32_t node, unsigned char b)
{
    for (int32_t ch = c->words[node].child; ch >= 0; ch = c->words[ch].sibling)
        if (c->words[ch].byte == b) return ch;
    return -1;
}

static bool push_frame(cst_state *s, uint16_t type)
{
    if (s->depth >= MLLM_CST_MAX_DEPTH) return false;
    s->frames[s->depth++] = type;
    return true;
}

/* A value just ended: where the parse goes next. */
static void value_end(const mllm_constraint *c, cst_state *s, bool was_key)
{
    s->copy = 0;  /* a later string (an object key, an array item) copies nothing */
    if (was_key) s->phase = P_OBJ_COLON;
    else if (s->depth == 0) s->phase = P_ARG_AFTER;
    else if (c->types[s->frames[s->depth - 1]].kind == MLLM_PARAM_ARRAY) s->phase = P_ARR_AFTER;
    else s->phase = P_OBJ_AFTER;
}

static void pop_frame(const mllm_constraint *c, cst_state *s)
{
    s->depth--;
    value_end(c, s, false);
}

/* Is there an integer in the type's bounds whose decimal form starts with this prefix
 * (sign, nd digits with magnitude v), using at most MLLM_CST_MAX_INT_DIGITS digits? */
static bool int_feasible(const cst_type *t, bool neg, int nd, int64_t v)
{
    int64_t lo = t->has_min ? t->min : -INT_LIMIT, hi = t->has_max ? t->max : INT_LIMIT;
    if (nd == 0) return lo <= -1 && hi >= -INT_LIMIT; /* just '-' */
    if (v == 0) return !neg && lo <= 0 && hi >= 0;      /* "0" takes no more digits */
    int64_t p = 1;
    for (int k = 0; nd + k <= MLLM_CST_MAX_INT_DIGITS; k++, p *= 10) {
        int64_t a = v * p, b = a + (p - 1);              /* magnitudes with k more digits */
        int64_t x = neg ? -b : a, y = neg ? -a : b;
        if (x <= hi && y >= lo) return true;
        if (nd + k == MLLM_CST_MAX_INT_DIGITS) break;
    }
    return false;
}

static bool int_in_range(const cst_type *t, int64_t value)
{
    return (!t->has_min || value >= t->min) && (!t->has_max || value <= t->max);
}

static bool is_digit(unsigned char b) { return b >= '0' && b <= '9'; }

static bool int_digit(const mllm_constraint *c, cst_state *s, unsigned char b)
{
    int d = b - '0';
    if (s->len >= 1 && s->val == 0) return false;           /* no leading zero */
    if (s->len == 0 && d == 0 && s->sub) return false;      /* no "-0" */
    if (s->len >= MLLM_CST_MAX_INT_DIGITS) return false;
    int64_t nv = s->val * 10 + d;
    if (!int_feasible(&c->types[s->type], s->sub, (int)s->len + 1, nv)) return false;
    s->val = nv;
    s->len++;
    return true;
}

static void copy_start(const mllm_constraint *c, cst_state *s);  /* below, with the copy steps */

/* The first byte of a value of type t. */
static bool value_first(const mllm_constraint *c, cst_state *s, uint16_t t, unsigned char b)
{
    const cst_type *ty = &c->types[t];
    switch (ty->kind) {
    case MLLM_PARAM_ANY:
        if (b == '"') break;
        if (b == '-' || is_digit(b)) goto number;
        if (b == 't' || b == 'f' || b == 'n') {
            s->phase = P_LIT;
            s->sub = b == 't' ? 0 : b == 'f' ? 1 : 2;
            s->node = 1;
            return true;
        }
        if (b == '[') {
            if (!push_frame(s, T_ANY_ARRAY)) return false;
            s->phase = P_ARR_FIRST;
            return true;
        }
        if (b == '{') {
            if (!push_frame(s, T_ANY_OBJECT)) return false;
            s->phase = P_OBJ_FIRST;
            return true;
        }
        return false;
    case MLLM_PARAM_STRING:
        if (b != '"') return false;
        break;
    case MLLM_PARAM_ENUM:
        if (b != '"') return false;
        s->phase = P_ENUM;
        s->node = ty->enum_root;
        return true;
    case MLLM_PARAM_INTEGER:
        s->phase = P_INT;
        s->type = t;
        s->len = 0;
        s->val = 0;
        s->sub = b == '-';
        if (b == '-') return int_feasible(ty, true, 0, 0);
        return is_digit(b) && int_digit(c, s, b);
    case MLLM_PARAM_NUMBER:
        goto number;
    case MLLM_PARAM_BOOLEAN:
        if (b != 't' && b != 'f') return false;
        s->phase = P_LIT;
        s->sub = b == 't' ? 0 : 1;
        s->node = 1;
        return true;
    case MLLM_PARAM_ARRAY:
        if (b != '[' || !push_frame(s, t)) return false;
        s->phase = P_ARR_FIRST;
        return true;
    case MLLM_PARAM_OBJECT:
        if (b != '{' || !push_frame(s, t)) return false;
        s->phase = P_OBJ_FIRST;
        return true;
    default:
        return false;
    }
    /* a string */
    s->phase = P_STR;
    s->sub = 0;
    s->len = 0;
    s->need = 0;
    /* a parameter's own string (not inside an array or object) copies the source */
    s->copy = c->source_len > 0 && s->depth == 0;
    if (s->copy) copy_start(c, s);
    return true;
number:
    s->phase = P_NUM;
    s->val = 0;
    if (b == '-') {
        s->sub = N_SIGN;
        s->len = 0;
    } else {
        if (!is_digit(b)) return false;
        s->sub = b == '0' ? N_INT0 : N_INT;
        s->len = 1;
    }
    return true;
}

/* Copy constraint: bit p of cmask means the value so far equals the source
 * bytes just before position p (p = source_len: it reached the end). Byte b
 * keeps the positions where the source goes on with b; false when none is
 * left, i.e. the value would no longer be a substring of the source.
 *
 * Values are runs of whole words: they start where a word starts and close
 * only where one ends ("Bal" is not a copy of "Baltimore"). A model that
 * cannot spell an unseen word otherwise stops inside it; held to word ends,
 * the only way on is the rest of the word. */
static bool copy_step(const mllm_constraint *c, cst_state *s, unsigned char b)
{
    uint64_t next[CMASK_WORDS] = { 0 };
    bool any = false;
    for (size_t w = 0; w < CMASK_WORDS; w++)
        for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
            size_t p = w * 64 + (size_t)__builtin_ctzll(m);
            if (p < c->source_len && c->source[p] == b) {
                next[(p + 1) / 64] |= 1ull << ((p + 1) % 64);
                any = true;
            }
        }
    memcpy(s->cmask, next, sizeof next);
    return any;
}

/* Letters, digits and UTF-8 bytes make words. */
static bool word_byte(unsigned char b)
{
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80;
}

/* Whether the period at source byte p ends a title before a name ("Dr. Megan", "mr. young"):
 * the title is the whole word before it and a word follows after one space. */
static bool title_period(const mllm_constraint *c, size_t p)
{
    static const char *const titles[] = { "mr", "mrs", "ms", "mx", "dr", "prof" };
    const unsigned char *s = c->source;
    if (s[p] != '.' || p + 2 >= c->source_len || s[p + 1] != ' ' || !word_byte(s[p + 2])) return false;
    size_t q = p;
    while (q > 0 && word_byte(s[q - 1])) q--;
    for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++) {
        size_t n = strlen(titles[i]), k = 0;
        if (p - q != n) continue;
        while (k < n && (s[q + k] | 0x20) == (unsigned char)titles[i][k]) k++;
        if (k == n) return true;
    }
    return false;
}

/* Whether source byte p is inside a word: a word byte, an ASCII apostrophe between two
 * ("how's" and "Nina's" are one word each, as they already are with U+2019 for an apostrophe),
 * so that no value starts at "s the" of "how's the" or stops at "Nina" of "Nina's house", or
 * the period of a title before a name, so that no value stops at "Dr" of "Dr. Megan". */
static bool in_word(const mllm_constraint *c, size_t p)
{
    const unsigned char *s = c->source;
    if (p >= c->source_len) return false;
    if (word_byte(s[p])) return true;
    if (s[p] == '.') return title_period(c, p);
    return s[p] == '\'' && p > 0 && p + 1 < c->source_len && word_byte(s[p - 1]) && word_byte(s[p + 1]);
}

/* The positions a copied value may start at: word starts (any position when the
 * source has no word). */
static void copy_start(const mllm_constraint *c, cst_state *s)
{
    memset(s->cmask, 0, sizeof s->cmask);
    bool any = false;
    for (size_t p = 0; p < c->source_len; p++) {
        if (in_word(c, p) && (p == 0 || !in_word(c, p - 1))) {
            s->cmask[p / 64] |= 1ull << (p % 64);
            any = true;
        }
    }
    if (!any)
        for (size_t p = 0; p < c->source_len; p++) s->cmask[p / 64] |= 1ull << (p % 64);
}

/* Whether the value may close here: some match ends at a word end and not on
 * a space, or the word it is inside could not be finished within max_string. */
static bool copy_can_close(const mllm_constraint *c, const cst_state *s)
{
    for (size_t w = 0; w < CMASK_WORDS; w++)
        for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
            size_t p = w * 64 + (size_t)__builtin_ctzll(m), q = p;
            unsigned char last = c->source[p - 1];  /* p > 0: the value is not empty */
            if (last == ' ' || last == '\t' || last == '\n') {
                if (s->len + 1 > c->max_string) return true;  /* it cannot go on to a word */
                continue;
            }
            if (!in_word(c, p)) return true;
            while (in_word(c, q)) q++;
            if (s->len + (q - p) > c->max_string) return true;
        }
    return false;
}

int mllm_constraint_set_source(mllm_constraint *c, const char *text, size_t len)
{
    c->cached = false;  /* the cached state was computed under the old source */
    c->source_len = 0;
    c->pointer_weight = 0.0f;
    if (!text || len == 0) return 0;
    if (len > MLLM_CST_MAX_SOURCE) return -1;
    memcpy(c->source, text, len);
    c->source_len = len;
    return 0;
}

int mllm_constraint_set_source_tokens(mllm_constraint *c, const int32_t *token_pos, size_t n, float weight)
{
    if (n != c->source_len || !(weight >= 0.0f) || !isfinite(weight)) return -1;
    for (size_t i = 0; i < n; i++)
        if (token_pos[i] < -1) return -1;
    memcpy(c->source_tok, token_pos, n * sizeof *token_pos);
    c->pointer_weight = n ? weight : 0.0f;
    return 0;
}

void mllm_constraint_bind(mllm_constraint *c, const mllm_session *s) { c->bound = s; }

/* At a copied value's first token: each allowed token's logit += weight * log(probe weight of
 * the source word it starts), the best when it starts several. (Doing the same where a value
 * may close or go on, against a fixed weight for the closing quote, lost 0.3-1.7 points of
 * dev EM_structure.) See mllm_constraint_set_source_tokens. */
static void point(const mllm_constraint *c, const cst_state *s, float *logits, int n_vocab)
{
    int n_pos;
    const float *a = mllm_session_probe(c->bound, &n_pos);
    if (!a) return;
    float mass[MLLM_CST_MAX_SOURCE + 1];
    for (size_t w = 0; w < CMASK_WORDS; w++)
        for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
            size_t p = w * 64 + (size_t)__builtin_ctzll(m), q = p;
            if (p >= c->source_len) continue;
            while (in_word(c, q)) q++;
            double sum = 0.0;
            for (size_t b = p, last = (size_t)-1; b < q; b++) {
                int32_t t = c->source_tok[b];
                if (t >= 0 && t < n_pos && (size_t)t != last) sum += a[t];
                last = (size_t)t;
            }
            mass[p] = (float)sum;
        }
    const mllm_vocab_trie *v = c->v;
    for (int i = 0; i < n_vocab; i++) {
        if (!c->allowed[i]) continue;
        const unsigned char *pb = v->bytes + v->off[i];
        size_t n = v->off[i + 1] - v->off[i], k = 0;
        while (k < n && pb[k] != '"' && pb[k] != '\\') k++;  /* the value's bytes in the piece */
        if (k == 0) continue;
        float best = -1.0f;
        for (size_t w = 0; w < CMASK_WORDS; w++)
            for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
                size_t p = w * 64 + (size_t)__builtin_ctzll(m);
                if (p + k <= c->source_len && memcmp(c->source + p, pb, k) == 0 && mass[p] > best) best = mass[p];
            }
        if (best >= 0.0f) logits[i] += c->pointer_weight * logf(best + 1e-9f);
    }
}

static bool close_call(const mllm_constraint *c, cst_state *s)
{
    if (c->tools[s->tool].required & ~s->used) return false;
    s->phase = P_CLOSE;
    s->node = 0;
    return true;
}

static void enter_call(const mllm_constraint *c, cst_state *s)
{
    s->calls++;
    s->phase = P_NAME;
    s->node = c->name_root;
}

/* Advances s by byte b; false when b cannot come next (s is then unspecified). */
static bool step(const mllm_constraint *c, cst_state *s, unsigned char b)
{
    if (s->space_ok) {
        s->space_ok = 0;
        if (b == ' ') return true;
    }
    for (;;) {
        switch (s->phase) {
        case P_OUT: {
            int32_t k = s->node;
            while (k > 0 && (unsigned char)c->open[k] != b) k = c->open_fail[k];
            if ((unsigned char)c->open[k] == b) k++;
            if ((size_t)k < c->open_len) {
                s->node = k;
                return true;
            }
            if (c->n_tools == 0) return false; /* a call that could not be completed */
            if (c->max_calls && s->calls >= c->max_calls) return false;
            enter_call(c, s);
            return true;
        }
        case P_OPEN:
            if ((unsigned char)c->open[s->node] != b) return false;
            if ((size_t)++s->node == c->open_len) enter_call(c, s);
            return true;
        case P_NAME: {
            if (b == '(' && c->words[s->node].word >= 0) {
                s->tool = c->words[s->node].word;
                s->used = 0;
                s->phase = P_ARG_FIRST;
                return true;
            }
            int32_t ch = word_child(c, s->node, b);
            if (ch < 0) return false;
            s->node = ch;
            return true;
        }
        case P_ARG_FIRST:
        case P_ARG_NEXT: {
            if (b == ')' && s->phase == P_ARG_FIRST) return close_call(c, s);
            int32_t ch = word_child(c, c->tools[s->tool].arg_root, b);
            if (ch < 0 || !(c->words[ch].mask & ~s->used)) return false;
            s->node = ch;
            s->phase = P_ARG_NAME;
            return true;
        }
        case P_ARG_NAME: {
            const cst_tool *t = &c->tools[s->tool];
            int32_t w = c->words[s->node].word;
            if (b == '=') {
                if (w < 0 || (s->used >> w & 1)) return false;
                s->used |= (uint64_t)1 << w;
                s->phase = P_VALUE;
                s->type = c->param_types[t->first + (size_t)w];
                return true;
            }
            int32_t ch = word_child(c, s->node, b);
            if (ch < 0 || !(c->words[ch].mask & ~s->used)) return false;
            s->node = ch;
            return true;
        }
        case P_ARG_AFTER:
            if (b == ',') {
                if (!(c->tools[s->tool].all & ~s->used)) return false;
                s->phase = P_ARG_NEXT;
                s->space_ok = 1;
                return true;
            }
            return b == ')' && close_call(c, s);
        case P_CLOSE:
            if ((unsigned char)c->close[s->node] != b) return false;
            if ((size_t)++s->node == c->close_len) {
                s->phase = P_OUT;
                s->node = 0;
            }
            return true;
        case P_VALUE:
            return value_first(c, s, s->type, b);
        case P_STR: {
            if (s->need) {
                if (b < s->lo || b > s->hi) return false;
                if (s->copy && !copy_step(c, s, b)) return false;
                s->need--;
                s->lo = 0x80;
                s->hi = 0xBF;
                return true;
            }
            if (b == '"') {
                if (s->copy && (s->len == 0 || !copy_can_close(c, s))) return false;  /* not empty, whole words */
                value_end(c, s, s->sub);
                return true;
            }
            if (b == '\\') {
                if (s->len + 2 > c->max_string) return false;
                if (s->copy) {  /* only when some escaped character can be copied next */
                    bool any = false;
                    for (const char *e = "\"\\/\n\r\t"; *e && !any; e++) {
                        cst_state t = *s;
                        any = copy_step(c, &t, (unsigned char)*e);
                    }
                    if (!any) return false;
                }
                s->len += 2;
                s->phase = P_STR_ESC;
                return true;
            }
            if (b < 0x20) return false;
            if (s->copy && !copy_step(c, s, b)) return false;
            if (b < 0x80) {
                if (s->len + 1 > c->max_string) return false;
                s->len++;
                return true;
            }
            int n = utf8_lead(b, &s->lo, &s->hi);
            if (n == 0 || s->len + (size_t)n > c->max_string) return false;
            s->len += (uint32_t)n;
            s->need = (uint8_t)(n - 1);
            return true;
        }
        case P_STR_ESC:
            if (!strchr("\"\\/nrt", b) || b == 0) return false;
            /* a copied value matches the character the escape stands for */
            if (s->copy && !copy_step(c, s, b == 'n' ? '\n' : b == 'r' ? '\r' : b == 't' ? '\t' : b)) return false;
            s->phase = P_STR;
            return true;
        case P_ENUM: {
            if (b == '"') {
                if (c->words[s->node].word < 0) return false;
                value_end(c, s, false);
                return true;
            }
            int32_t ch = word_child(c, s->node, b);
            if (ch < 0) return false;
            s->node = ch;
            return true;
        }
        case P_INT:
            if (is_digit(b)) return int_digit(c, s, b);
            if (s->len == 0 || !int_in_range(&c->types[s->type], s->sub ? -s->val : s->val))
                return false;
            value_end(c, s, false);
            continue; /* b belongs to what follows the integer */
        case P_NUM: {
            bool digit = is_digit(b);
            switch (s->sub) {
            case N_SIGN:
                if (!digit) return false;
                s->sub = b == '0' ? N_INT0 : N_INT;
                s->len = 1;
                return true;
            case N_INT0:
            case N_INT:
                if (digit) {
                    if (s->sub == N_INT0 || s->len >= MLLM_CST_MAX_INT_DIGITS) return false;
                    s->len++;
                    return true;
                }
                if (b == '.') { s->sub = N_DOT; s->val = 0; return true; }
                if (b == 'e' || b == 'E') { s->sub = N_E; s->val = 0; return true; }
                break;
            case N_DOT:
                if (!digit) return false;
                s->sub = N_FRAC;
                s->val = 1;
                return true;
            case N_FRAC:
                if (digit) {
                    if (s->val >= MLLM_CST_MAX_FRAC_DIGITS) return false;
                    s->val++;
                    return true;
                }
                if (b == 'e' || b == 'E') { s->sub = N_E; s->val = 0; return true; }
                break;
            case N_E:
                if (b == '+' || b == '-') { s->sub = N_ESIGN; return true; }
                /* fallthrough */
            case N_ESIGN:
                if (!digit) return false;
                s->sub = N_EXP;
                s->val = 1;
                return true;
            case N_EXP:
                if (digit) {
                    if (s->val >= MLLM_CST_MAX_EXP_DIGITS) return false;
                    s->val++;
                    return true;
                }
                break;
            }
            value_end(c, s, false); /* a terminal sub-state met a non-digit */
            continue;
        }
        case P_LIT: {
            const char *lit = LITERALS[s->sub];
            if ((unsigned char)lit[s->node] != b) return false;
            if (lit[++s->node] == '\0') value_end(c, s, false);
            return true;
        }
        case P_ARR_FIRST:
            if (b == ']') {
                pop_frame(c, s);
                return true;
            }
            return value_first(c, s, c->types[s->frames[s->depth - 1]].items, b);
        case P_ARR_AFTER:
            if (b == ']') {
                pop_frame(c, s);
                return true;
            }
            if (b != ',') return false;
            s->phase = P_VALUE;
            s->type = c->types[s->frames[s->depth - 1]].items;
            s->space_ok = 1;
            return true;
        case P_OBJ_FIRST:
            if (b == '}') {
                pop_frame(c, s);
                return true;
            }
            /* fallthrough */
        case P_OBJ_KEY:
            if (b != '"') return false;
            s->phase = P_STR;
            s->sub = 1;
            s->len = 0;
            s->need = 0;
            return true;
        case P_OBJ_COLON:
            if (b != ':') return false;
            s->phase = P_VALUE;
            s->type = T_ANY;
            s->space_ok = 1;
            return true;
        case P_OBJ_AFTER:
            if (b == '}') {
                pop_frame(c, s);
                return true;
            }
            if (b != ',') return false;
            s->phase = P_OBJ_KEY;
            s->space_ok = 1;
            return true;
        default:
            return false;
        }
    }
}

static void initial_state(const mllm_constraint *c, cst_state *s)
{
    memset(s, 0, sizeof *s);
    s->phase = c->mode == MLLM_CONSTRAIN_REQUIRED ? P_OPEN : P_OUT;
    s->tool = -1;
}

/* ------------------------------------------------------------ building */

static int32_t word_new(mllm_constraint *c, unsigned char b)
{
    if (!mllm_grow((void **)&c->words, &c->cap_words, c->n_words + 1, sizeof *c->words)) return -1;
    c->words[c->n_words] = (word_node){ -1, -1, -1, 0, b };
    return (int32_t)c->n_words++;
}

/* Adds word id to the trie at root. 0, -1 out of memory, -2 duplicate. */
static int word_insert(mllm_constraint *c, int32_t root, const char *w, int32_t id)
{
    int32_t node = root;
    uint64_t bit = id < 64 ? (uint64_t)1 << id : 0;
    c->words[node].mask |= bit;
    for (const unsigned char *p = (const unsigned char *)w; *p; p++) {
        int32_t ch = word_child(c, node, *p);
        if (ch < 0) {
            if ((ch = word_new(c, *p)) < 0) return -1;
            /* keep the children in insertion order: append */
            int32_t *link = &c->words[node].child;
            while (*link >= 0) link = &c->words[*link].sibling;
            *link = ch;
        }
        node = ch;
        c->words[node].mask |= bit;
    }
    if (c->words[node].word >= 0) return -2;
    c->words[node].word = id;
    return 0;
}

static bool is_ident_start(unsigned char b) { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_'; }
static bool is_ident_char(unsigned char b) { return is_ident_start(b) || is_digit(b); }

/* [A-Za-z_][A-Za-z0-9_]* , or with dots: ident(.ident)* */
static bool valid_name(const char *s, bool dots)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!p || !is_ident_start(*p)) return false;
    for (p++; *p; p++) {
        if (is_ident_char(*p)) continue;
        if (dots && *p == '.' && is_ident_start(p[1])) { p++; continue; }
        return false;
    }
    return true;
}

static int add_type(mllm_constraint *c, const mllm_param_schema *ps, int depth, const char *tool,
                    const char *param, char *err, size_t errlen, uint16_t *out)
{
    if (depth > MLLM_CST_MAX_DEPTH)
        return fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': arrays nested deeper than MLLM_CST_MAX_DEPTH (%d)",
                    tool, param, MLLM_CST_MAX_DEPTH);
    if (ps->type == MLLM_PARAM_ANY) { *out = T_ANY; return MLLM_OK; }
    if ((int)ps->type < 0 || ps->type > MLLM_PARAM_OBJECT)
        return fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': unknown type %d", tool, param, (int)ps->type);
    if (ps->type == MLLM_PARAM_OBJECT) { *out = T_ANY_OBJECT; return MLLM_OK; }
    if (c->n_types >= 65535)
        return fail(err, errlen, MLLM_ERR_ARG, "more than 65535 parameter types");
    cst_type t = { (uint8_t)ps->type, false, false, 0, 0, -1, T_ANY };
    if (ps->type == MLLM_PARAM_INTEGER) {
        t.has_min = ps->has_min;
        t.has_max = ps->has_max;
        t.min = ps->min;
        t.max = ps->max;
        int64_t lo = t.has_min ? t.min : -INT_LIMIT, hi = t.has_max ? t.max : INT_LIMIT;
        if (lo > hi)
            return fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': min %lld > max %lld", tool, param,
                        (long long)lo, (long long)hi);
        if (lo > INT_LIMIT || hi < -INT_LIMIT)
            return fail(err, errlen, MLLM_ERR_ARG,
                        "tool '%s', parameter '%s': bounds outside the %d-digit integers (MLLM_CST_MAX_INT_DIGITS)",
                        tool, param, MLLM_CST_MAX_INT_DIGITS);
    } else if (ps->type == MLLM_PARAM_ENUM) {
        if (ps->n_values == 0 || !ps->values)
            return fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': an enum needs values", tool, param);
        if (ps->n_values > MLLM_CST_MAX_VALUES)
            return fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': %zu enum values (MLLM_CST_MAX_VALUES is %d)",
                        tool, param, ps->n_values, MLLM_CST_MAX_VALUES);
        if ((t.enum_root = word_new(c, 0)) < 0) return fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < ps->n_values; i++) {
            const char *v = ps->values[i];
            if (!v || !is_plain((const unsigned char *)v, strlen(v)))
                return fail(err, errlen, MLLM_ERR_ARG,
                            "tool '%s', parameter '%s': enum value %zu must be non-empty UTF-8 without quotes, backslashes or control characters",
                            tool, param, i + 1);
            int r = word_insert(c, t.enum_root, v, (int32_t)i);
            if (r == -1) return fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
            if (r == -2)
                return fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': duplicate enum value '%s'", tool, param, v);
        }
    } else if (ps->type == MLLM_PARAM_ARRAY) {
        if (ps->items) {
            mllm_status st = add_type(c, ps->items, depth + 1, tool, param, err, errlen, &t.items);
            if (st) return st;
        } else {
            t.items = T_ANY;
        }
    }
    if (!mllm_grow((void **)&c->types, &c->cap_types, c->n_types + 1, sizeof *c->types))
        return fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    c->types[c->n_types] = t;
    *out = (uint16_t)c->n_types++;
    return MLLM_OK;
}

mllm_constraint_params mllm_constraint_default_params(void)
{
    mllm_constraint_params p;
    memset(&p, 0, sizeof p);
    p.mode = MLLM_CONSTRAIN_AUTO;
    return p;
}

void mllm_constraint_free(mllm_constraint *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n_tools; i++) free(c->tools[i].name);
    for (size_t i = 0; i < c->n_params; i++) free(c->param_names[i]);
    free(c->tools);
    free(c->param_types);
    free(c->param_names);
    free(c->types);
    free(c->words);
    free(c->out_check);
    free(c->allowed);
    free(c->cache);
    free(c);
}

static mllm_status set_tag(char *dst, size_t *len, const char *src, const char *def, const char *what,
                           char *err, size_t errlen)
{
    if (!src) src = def;
    size_t n = strlen(src);
    if (n == 0 || n > MLLM_CALLS_MAX_TAG)
        return fail(err, errlen, MLLM_ERR_ARG, "the %s tag must have 1 to MLLM_CALLS_MAX_TAG (%d) bytes", what,
                    MLLM_CALLS_MAX_TAG);
    memcpy(dst, src, n + 1);
    *len = n;
    return MLLM_OK;
}

mllm_status mllm_constraint_new(const mllm_tool_schema *tools, size_t n_tools,
                                const mllm_vocab_trie *vocab, const mllm_constraint_params *p,
                                mllm_constraint **out, char *err, size_t errlen)
{
    *out = NULL;
    mllm_constraint_params dp = mllm_constraint_default_params();
    if (!p) p = &dp;
    if (n_tools > MLLM_CST_MAX_TOOLS)
        return fail(err, errlen, MLLM_ERR_ARG, "%zu tools (MLLM_CST_MAX_TOOLS is %d)", n_tools, MLLM_CST_MAX_TOOLS);
    if (n_tools && !tools) return fail(err, errlen, MLLM_ERR_ARG, "no tools given");
    if (p->mode != MLLM_CONSTRAIN_AUTO && p->mode != MLLM_CONSTRAIN_REQUIRED)
        return fail(err, errlen, MLLM_ERR_ARG, "unknown constraint mode %d", (int)p->mode);
    if (p->mode == MLLM_CONSTRAIN_REQUIRED && n_tools == 0)
        return fail(err, errlen, MLLM_ERR_ARG, "a required call needs at least one tool");
    mllm_constraint *c = calloc(1, sizeof *c);
    if (!c) return fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    mllm_status st;
    if ((st = set_tag(c->open, &c->open_len, p->open, "<tool_call>", "opening", err, errlen)) ||
        (st = set_tag(c->close, &c->close_len, p->close, "</tool_call>", "closing", err, errlen)))
        goto fail;
    c->open_fail[0] = c->open_fail[1] = 0;
    for (size_t k = 1, b = 0; k < c->open_len; k++) {
        while (b > 0 && c->open[k] != c->open[b]) b = (size_t)c->open_fail[b];
        if (c->open[k] == c->open[b]) b++;
        c->open_fail[k + 1] = (int32_t)b;
    }
    c->v = vocab;
    c->mode = p->mode;
    c->max_string = p->max_string ? p->max_string : MLLM_CST_DEFAULT_MAX_STRING;
    c->max_calls = p->max_calls;
    if (c->max_string < 4) c->max_string = 4; /* room for any one character */
    c->cache_bad = NONE;

    /* the three built-in types: any value, array of any, object of any */
    if (!mllm_grow((void **)&c->types, &c->cap_types, 3, sizeof *c->types)) goto nomem;
    c->types[T_ANY] = (cst_type){ MLLM_PARAM_ANY, false, false, 0, 0, -1, T_ANY };
    c->types[T_ANY_ARRAY] = (cst_type){ MLLM_PARAM_ARRAY, false, false, 0, 0, -1, T_ANY };
    c->types[T_ANY_OBJECT] = (cst_type){ MLLM_PARAM_OBJECT, false, false, 0, 0, -1, T_ANY };
    c->n_types = 3;

    if ((c->name_root = word_new(c, 0)) < 0) goto nomem;
    if (!(c->tools = calloc(n_tools ? n_tools : 1, sizeof *c->tools))) goto nomem;
    for (size_t i = 0; i < n_tools; i++) {
        const mllm_tool_schema *ts = &tools[i];
        cst_tool *t = &c->tools[i];
        if (!valid_name(ts->name, true) || strlen(ts->name) > MLLM_CALLS_MAX_NAME) {
            st = fail(err, errlen, MLLM_ERR_ARG,
                      "tool %zu: the name '%s' is not an identifier (ident or ident.ident, at most %d bytes)", i + 1,
                      ts->name ? ts->name : "(null)", MLLM_CALLS_MAX_NAME);
            goto fail;
        }
        if (!(t->name = strdup(ts->name))) goto nomem;
        c->n_tools = i + 1;
        int r = word_insert(c, c->name_root, ts->name, (int32_t)i);
        if (r == -1) goto nomem;
        if (r == -2) {
            st = fail(err, errlen, MLLM_ERR_ARG, "duplicate tool name '%s'", ts->name);
            goto fail;
        }
        if (ts->n_params > MLLM_CST_MAX_PARAMS) {
            st = fail(err, errlen, MLLM_ERR_ARG, "tool '%s': %zu parameters (MLLM_CST_MAX_PARAMS is %d)", ts->name,
                      ts->n_params, MLLM_CST_MAX_PARAMS);
            goto fail;
        }
        if ((t->arg_root = word_new(c, 0)) < 0) goto nomem;
        t->first = c->n_params;
        t->n = ts->n_params;
        if (!mllm_grow((void **)&c->param_types, &c->cap_params, c->n_params + ts->n_params + 1, sizeof *c->param_types))
            goto nomem;
        char **names = realloc(c->param_names, c->cap_params * sizeof *names);
        if (!names) goto nomem;
        c->param_names = names;
        for (size_t j = 0; j < ts->n_params; j++) {
            const mllm_tool_param *pp = &ts->params[j];
            if (!valid_name(pp->name, false)) {
                st = fail(err, errlen, MLLM_ERR_ARG, "tool '%s': parameter %zu: the name '%s' is not an identifier",
                          ts->name, j + 1, pp->name ? pp->name : "(null)");
                goto fail;
            }
            if (!(c->param_names[c->n_params] = strdup(pp->name))) goto nomem;
            c->n_params++;
            r = word_insert(c, t->arg_root, pp->name, (int32_t)j);
            if (r == -1) goto nomem;
            if (r == -2) {
                st = fail(err, errlen, MLLM_ERR_ARG, "tool '%s': duplicate parameter '%s'", ts->name, pp->name);
                goto fail;
            }
            if ((st = add_type(c, &pp->schema, 1, ts->name, pp->name, err, errlen, &c->param_types[t->first + j])))
                goto fail;
            t->all |= (uint64_t)1 << j;
            if (pp->required) t->required |= (uint64_t)1 << j;
        }
    }

    if (vocab) {
        int n = vocab->n_vocab;
        unsigned char last = (unsigned char)c->open[c->open_len - 1];
        if (!(c->allowed = malloc((size_t)n)) || !(c->out_check = malloc((size_t)n * sizeof *c->out_check)))
            goto nomem;
        for (int i = 0; i < n; i++)
            if (memchr(vocab->bytes + vocab->off[i], last, vocab->off[i + 1] - vocab->off[i]))
                c->out_check[c->n_out_check++] = i;
    }
    *out = c;
    return MLLM_OK;
nomem:
    st = fail(err, errlen, MLLM_ERR_NOMEM, "out of memory building the constraint");
fail:
    mllm_constraint_free(c);
    return st;
}

/* ------------------------------------------------------------ checking */

/* The state after text, from the cache when text extends the text seen last. Returns the
 * offset of the first byte that does not fit, or NONE. */
static size_t sync(mllm_constraint *c, const char *text, size_t len, cst_state *s)
{
    size_t from = 0, bad = NONE;
    if (c->cached && len >= c->cache_len && (c->cache_len == 0 || memcmp(text, c->cache, c->cache_len) == 0)) {
        *s = c->cache_state;
        from = c->cache_len;
        bad = c->cache_bad;
    } else {
        initial_state(c, s);
        c->cache_len = 0;
        c->cached = true;
    }
    for (size_t i = from; i < len && bad == NONE; i++)
        if (!step(c, s, (unsigned char)text[i])) bad = i;
    if (mllm_grow((void **)&c->cache, &c->cache_cap, len + 1, 1)) {
        memcpy(c->cache + c->cache_len, text + c->cache_len, len - c->cache_len);
        c->cache_len = len;
        c->cache_state = *s;
        c->cache_bad = bad;
    } else {
        c->cached = false; /* no memory for the cache: next time starts over */
    }
    return bad;
}

static const char *expected(const mllm_constraint *c, const cst_state *s, char *buf, size_t n)
{
    switch (s->phase) {
    case P_OUT:
        if (c->max_calls && s->calls >= c->max_calls) {
            snprintf(buf, n, "text without another call (at most %zu)", c->max_calls);
            return buf;
        }
        return "text";
    case P_OPEN: snprintf(buf, n, "the opening tag '%s'", c->open); return buf;
    case P_NAME: return "a tool name and '('";
    case P_ARG_FIRST:
    case P_ARG_NEXT:
    case P_ARG_AFTER: {
        const cst_tool *t = &c->tools[s->tool];
        uint64_t missing = t->required & ~s->used;
        if (missing) {
            size_t j = 0;
            while (!(missing >> j & 1)) j++;
            snprintf(buf, n, "%s (the required argument '%s' of %s is missing)",
                     s->phase == P_ARG_AFTER ? "','" : "an argument name", c->param_names[t->first + j], t->name);
            return buf;
        }
        if (s->phase == P_ARG_FIRST) return "an argument name or ')'";
        if (s->phase == P_ARG_NEXT) return "an argument name";
        return (t->all & ~s->used) ? "',' or ')'" : "')'";
    }
    case P_ARG_NAME: return "an argument name of the tool, then '='";
    case P_CLOSE: snprintf(buf, n, "the closing tag '%s'", c->close); return buf;
    case P_VALUE: {
        static const char *const names[] = { "any value", "a string", "an integer", "a number", "true or false",
                                             "one of the enum values", "an array", "an object" };
        const cst_type *t = &c->types[s->type];
        if (t->kind == MLLM_PARAM_INTEGER && (t->has_min || t->has_max)) {
            snprintf(buf, n, "an integer in [%lld, %lld]", (long long)(t->has_min ? t->min : -INT_LIMIT),
                     (long long)(t->has_max ? t->max : INT_LIMIT));
            return buf;
        }
        if (t->kind == MLLM_PARAM_ENUM) return "'\"' and one of the enum values";
        return names[t->kind];
    }
    case P_STR: return s->need ? "the rest of a UTF-8 character" : "string content (no control bytes) or '\"'";
    case P_STR_ESC: return "an escape: \\\" \\\\ \\/ \\n \\r \\t";
    case P_ENUM: return "one of the enum values and '\"'";
    case P_INT: return "a digit (within the bounds) or the end of the integer";
    case P_NUM: return "a number";
    case P_LIT: return LITERALS[s->sub];
    case P_ARR_FIRST: return "a value or ']'";
    case P_ARR_AFTER: return "',' or ']'";
    case P_OBJ_FIRST: return "'\"' (a key) or '}'";
    case P_OBJ_KEY: return "'\"' (a key)";
    case P_OBJ_COLON: return "':'";
    case P_OBJ_AFTER: return "',' or '}'";
    default: return "?";
    }
}

mllm_constraint_where mllm_constraint_check(mllm_constraint *c, const char *text, size_t len,
                                            size_t *bad, char *msg, size_t msglen)
{
    cst_state s;
    size_t at = sync(c, text, len, &s);
    if (at != NONE) {
        if (bad) *bad = at;
        if (msg && msglen) {
            /* replay to the bad byte to say what was expected there */
            cst_state r;
            initial_state(c, &r);
            for (size_t i = 0; i < at; i++) step(c, &r, (unsigned char)text[i]);
            char buf[200];
            unsigned char b = (unsigned char)text[at];
            char shown[8];
            if (b >= 0x20 && b < 0x7f) snprintf(shown, sizeof shown, "'%c'", b);
            else snprintf(shown, sizeof shown, "0x%02X", b);
            snprintf(msg, msglen, "unexpected %s at byte %zu: expected %s", shown, at + 1, expected(c, &r, buf, sizeof buf));
        }
        return MLLM_CST_INVALID;
    }
    return s.phase == P_OUT ? MLLM_CST_FREE : MLLM_CST_IN_CALL;
}

/* ------------------------------------------------------------ masks */

typedef struct walk {
    const mllm_constraint *c;
    const trie_node *nodes;
    const int32_t *order;
    uint8_t *allowed;
    int count;
} walk;

static void mark(walk *w, const trie_node *n)
{
    for (int32_t i = 0; i < n->n_tok; i++) w->allowed[w->order[n->tok + i]] = 1;
    w->count += n->n_tok;
}

static void dfs(walk *w, int32_t node, const cst_state *st)
{
    for (int32_t ch = w->nodes[node].child; ch >= 0; ch = w->nodes[ch].sibling) {
        cst_state s = *st;
        if (!step(w->c, &s, w->nodes[ch].byte)) continue;
        if (w->nodes[ch].n_tok) mark(w, &w->nodes[ch]);
        if (w->nodes[ch].child >= 0) dfs(w, ch, &s);
    }
}

/* Can the token's piece follow state st? drop_space: the generator drops the leading space of
 * the first piece it hands out, so at the very start " <" is really "<". */
static bool token_fits(const mllm_constraint *c, const cst_state *st, int32_t id, bool drop_space)
{
    const mllm_vocab_trie *v = c->v;
    const unsigned char *p = v->bytes + v->off[id];
    size_t n = v->off[id + 1] - v->off[id];
    if (drop_space && n && p[0] == ' ') { p++; n--; }
    if (n == 0) return st->phase == P_OUT;
    cst_state s = *st;
    for (size_t i = 0; i < n; i++)
        if (!step(c, &s, p[i])) return false;
    return true;
}

/* Inside a call: fills c->allowed, returns the count. */
static int mask_in_call(mllm_constraint *c, const cst_state *s, bool drop_space)
{
    const mllm_vocab_trie *v = c->v;
    memset(c->allowed, 0, (size_t)v->n_vocab);
    walk w = { c, v->nodes, v->order, c->allowed, 0 };
    if (s->phase == P_STR && s->need == 0 && !s->space_ok && !drop_space && !s->copy) {
        /* in a string: plain pieces fit while they fit the length; step the others */
        size_t room = c->max_string - s->len;
        for (int i = 0; i < v->n_vocab; i++)
            if (v->plain[i] && v->off[i + 1] - v->off[i] <= room) {
                c->allowed[i] = 1;
                w.count++;
            }
        for (size_t k = 0; k < v->n_special; k++)
            if (token_fits(c, s, v->special[k], false)) {
                c->allowed[v->special[k]] = 1;
                w.count++;
            }
        return w.count;
    }
    if (drop_space) {
        for (int32_t ch = v->nodes[0].child; ch >= 0; ch = v->nodes[ch].sibling) {
            if (v->nodes[ch].byte == ' ') { /* the space vanishes: its subtree continues from s */
                dfs(&w, ch, s);
                continue;
            }
            cst_state t = *s;
            if (!step(c, &t, v->nodes[ch].byte)) continue;
            if (v->nodes[ch].n_tok) mark(&w, &v->nodes[ch]);
            if (v->nodes[ch].child >= 0) dfs(&w, ch, &t);
        }
        return w.count;
    }
    dfs(&w, 0, s);
    return w.count;
}

int mllm_constraint_allowed(mllm_constraint *c, const char *text, size_t len, uint8_t *allowed)
{
    if (!c->v) return -1;
    cst_state s;
    if (sync(c, text, len, &s) != NONE) return -1;
    int n = c->v->n_vocab;
    if (s.phase == P_OUT) {
        int count = n;
        memset(allowed, 1, (size_t)n);
        for (size_t k = 0; k < c->n_out_check; k++)
            if (!token_fits(c, &s, c->out_check[k], len == 0)) {
                allowed[c->out_check[k]] = 0;
                count--;
            }
        return count;
    }
    int count = mask_in_call(c, &s, len == 0);
    memcpy(allowed, c->allowed, (size_t)n);
    return count;
}

void mllm_constraint_hook(void *ud, float *logits, int n_vocab, const char *text, size_t len)
{
    mllm_constraint *c = ud;
    if (!c || !c->v || n_vocab != c->v->n_vocab) return;
    double t0 = now_seconds();
    cst_state s;
    if (sync(c, text, len, &s) != NONE) {
        c->stats.invalid++;
    } else if (s.phase == P_OUT) {
        for (size_t k = 0; k < c->n_out_check; k++)
            if (!token_fits(c, &s, c->out_check[k], len == 0)) logits[c->out_check[k]] = -INFINITY;
        c->stats.free++;
    } else if (mask_in_call(c, &s, len == 0) == 0) {
        c->stats.dead_ends++;
    } else {
        for (int i = 0; i < n_vocab; i++)
            if (!c->allowed[i]) logits[i] = -INFINITY;
        if (c->pointer_weight > 0.0f && c->bound && s.phase == P_STR && s.copy && s.len == 0 && s.need == 0)
            point(c, &s, logits, n_vocab);
        c->stats.masks++;
    }
    c->stats.seconds += now_seconds() - t0;
}
