/* constrain_internal.h — what the files of the constraint share (not installed).
 *
 *   vocab_index.c       the vocabulary's byte trie (mllm_vocab_trie)
 *   constrain_schema.c  the tools' schemas read into the grammar's tables (mllm_constraint_new)
 *   constrain.c         the step machine: the grammar one byte at a time, checking a text
 *   constrain_mask.c    the tokens that may follow a text, and the logits hook
 *   copy_rule.c         the copy rule, its titles (data a model directory ships) and its pointer bias
 *   reply_rule.c        the reply rule: words outside calls from the replies' words or the source
 */
#ifndef MLLM_CONSTRAIN_INTERNAL_H
#define MLLM_CONSTRAIN_INTERNAL_H

#include "constrain.h"
#include "text/utf8.h"
#include "mobilellm_calls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NONE ((size_t)-1)
#define INT_LIMIT 999999999999999999LL /* the largest MLLM_CST_MAX_INT_DIGITS-digit integer */

/* ------------------------------------------------------------------ UTF-8 */

/* utf8_lead: the engine's one UTF-8 table (text/utf8.h). */
static inline int utf8_lead(unsigned char b, unsigned char *lo, unsigned char *hi)
{
    return mllm_utf8_lead(b, lo, hi);
}

/* Non-empty, whole UTF-8 characters, no '"', '\\' or control byte: string content as it is. */
bool cst_is_plain(const unsigned char *p, size_t n);

static inline bool is_digit(unsigned char b) { return b >= '0' && b <= '9'; }

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

#define CMASK_WORDS (MLLM_CST_MAX_SOURCE / 64 + 1)

typedef struct cst_reply_words cst_reply_words;
#define RNEXT_WORDS (MLLM_CST_REPLY_TRACKED_WORDS / 64 + 1)

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
    uint8_t rin;        /* P_OUT, reply rule: inside a word */
    uint8_t rcopy;      /* P_OUT, reply rule: a copy of the source under way (cmask its matches) */
    uint8_t rvalues;    /* reply rule: the text has copied values (vstart, vend) */
    uint64_t rused[MLLM_CST_REPLY_TRACKED_WORDS / 64]; /* reply rule: the words said already */
    uint64_t rnext[RNEXT_WORDS]; /* reply rule: the words (and, bit MLLM_CST_REPLY_TRACKED_WORDS, a
                           copied value; the next bit, the end) that may come next */
    int32_t rctx[4];    /* reply rule: the readings of the two items before the next (-1: unused) */
    uint64_t vstart[CMASK_WORDS], vend[CMASK_WORDS]; /* reply rule: where the copied values of the
                           calls so far start and end in the source (a bit each) */
    int32_t rnode;      /* P_OUT, reply rule: the trie node of that word, or between words of the
                           gap so far (0: none) */
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
    char titles[MLLM_CST_MAX_TITLES][MLLM_CST_MAX_TITLE_BYTES + 1]; /* lower case, see set_titles */
    size_t n_titles;                           /* 0 = no title rule */
    const mllm_session *bound;                 /* the session being generated on, for its probe */
    cst_reply_words *reply;                    /* the reply rule's words; NULL: none (reply_rule.c) */
    char *prefix;                              /* text written before the generation's own (set_prefix) */
    size_t prefix_len, prefix_cap;
    char *joined;                              /* the hook's prefix + text */
    size_t joined_cap;
    char *cache;
    size_t cache_len, cache_cap;
    size_t cache_bad;       /* offset of the first byte that did not fit, or NONE */
    cst_state cache_state;
    bool cached;
    mllm_constraint_stats stats;
};

/* ------------------------------------------------------------ shared steps */

static inline int32_t word_child(const mllm_constraint *c, int32_t node, unsigned char b)
{
    for (int32_t ch = c->words[node].child; ch >= 0; ch = c->words[ch].sibling)
        if (c->words[ch].byte == b) return ch;
    return -1;
}

/* constrain.c: advances s by byte b (false when b cannot come next; s is then unspecified); the
 * state before any text; the state after text (the offset of its first bad byte, or NONE). */
bool cst_step(const mllm_constraint *c, cst_state *s, unsigned char b);
void cst_initial_state(const mllm_constraint *c, cst_state *s);
size_t cst_sync(mllm_constraint *c, const char *text, size_t len, cst_state *s);

/* copy_rule.c: a copied string value's steps, and the pointer's bias at its first token. */
bool cst_copy_step(const mllm_constraint *c, cst_state *s, unsigned char b);
void cst_copy_start(const mllm_constraint *c, cst_state *s);
bool cst_copy_can_close(const mllm_constraint *c, const cst_state *s);
void cst_point(const mllm_constraint *c, const cst_state *s, float *logits, int n_vocab);

/* copy_rule.c: whether source byte p is inside a word (letters, digits, UTF-8 bytes, an
 * apostrophe between two, a title's period before a name). */
bool cst_in_word(const mllm_constraint *c, size_t p);

/* reply_rule.c: whether the rule holds (reply words and a source); the reply rule's part of
 * cst_step outside a call (false: b cannot come); whether the text may end here (not inside a
 * word that is neither a reply word nor a source word); the state where a reply begins (the
 * text's start, the end of a call); freeing the words. */
bool cst_reply_active(const mllm_constraint *c);
bool cst_reply_step(const mllm_constraint *c, cst_state *s, unsigned char b);
bool cst_reply_can_end(const mllm_constraint *c, const cst_state *s);
void cst_reply_start(const mllm_constraint *c, cst_state *s);
void cst_reply_note_value(const mllm_constraint *c, cst_state *s);
void cst_reply_free(cst_reply_words *r);

#endif
