/*
 * calls_internal.h - what the files of the call parser share (not installed).
 *
 *   calls.c      errors, the arena, the scratch stack, the parser's helpers, the whole-text
 *                parse and its result
 *   values.c     the values both call syntaxes write: strings, numbers, lists, objects, literals
 *   pyargs.c     the python-like call syntax: name(arg, key=value)
 *   json_args.c  the JSON call syntax: {"name": ..., "arguments": ...}
 *   scanner.c    the engine that finds calls in text, and the stream API over it
 */
#ifndef MLLM_CALLS_INTERNAL_H
#define MLLM_CALLS_INTERNAL_H

#include "mobilellm_calls.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __GNUC__
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* ---- bytes --------------------------------------------------------------------------------- */

/* Locale-independent classes. A "word" byte may not precede a bare call's name. */
static inline int is_digit(int c) { return c >= '0' && c <= '9'; }
static inline int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline int is_name_start(int c) { return is_alpha(c) || c == '_'; }
static inline int is_name_char(int c) { return is_alpha(c) || is_digit(c) || c == '_'; }
static inline int is_word(int c) { return is_name_char(c) || c == '.' || c >= 0x80; }
static inline int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static inline int is_quote(int c) { return c == '"' || c == '\''; }
static inline unsigned char byte_at(const char *d, size_t i) { return (unsigned char)d[i]; }

/* Index after the identifier [A-Za-z_][A-Za-z0-9_]* at d[i], or i when there is none. */
static inline size_t scan_ident(const char *d, size_t i, size_t end)
{
    if (i >= end || !is_name_start(byte_at(d, i)))
        return i;
    for (i++; i < end && is_name_char(byte_at(d, i)); i++) {}
    return i;
}

/* Index after the call name ident(.ident)* at d[i], or i when there is none. */
static inline size_t scan_name(const char *d, size_t i, size_t end)
{
    size_t j = scan_ident(d, i, end), k;
    while (j > i && j + 1 < end && d[j] == '.' && (k = scan_ident(d, j + 1, end)) > j + 1)
        j = k;
    return j;
}

/* For messages: s[0..n) cut to 32 bytes (+ "...") without splitting UTF-8; controls as '?'. */
const char *calls_snip(char out[48], const char *s, size_t n);

/* The status a failure of this kind returns: SYNTAX and LIMIT are MLLM_ERR_FORMAT. */
mllm_status calls_kind_status(mllm_calls_error_kind kind);

/* Fills err (when not NULL) with kind, position and message; returns the kind's status. */
mllm_status calls_set_error(mllm_calls_error *err, mllm_calls_error_kind kind, size_t pos,
                            const char *fmt, ...) PRINTF_LIKE(4, 5);

/* ---- arena --------------------------------------------------------------------------------- */

typedef struct arena_block arena_block;

typedef struct mem_arena {
    arena_block *head;                    /* the block being filled; older blocks follow */
    size_t next_cap;
} mem_arena;

void *calls_arena_alloc(mem_arena *a, size_t n);
char *calls_arena_strdup(mem_arena *a, const char *s, size_t n);
void calls_arena_free(mem_arena *a);

/* ---- scratch stack of list items, object members and call arguments ----------------------- */

typedef struct item {
    const char *key;                      /* NULL for list items and positional arguments */
    size_t key_len, key_pos;              /* key_pos: index in the parser's input, for errors */
    mllm_value value;
} item;

typedef struct item_stack {
    item *v;
    size_t n, cap;
} item_stack;

mllm_status calls_items_push(item_stack *s, const item *it);

/* The items from index mark on (NULL when the stack was never grown: NULL + 0 is undefined). */
static inline item *items_from(const item_stack *s, size_t mark)
{
    return s->v ? s->v + mark : NULL;
}

/* ---- the parser ---------------------------------------------------------------------------- */

typedef struct parser {
    const char *d;                        /* input; the parser reads d[pos..end) */
    size_t pos, end;
    size_t base;                          /* offset of d[0] in the whole text, for errors */
    int depth;                            /* brackets open now */
    mem_arena *arena;
    item_stack *items;
    mllm_calls_error *err;
} parser;

/* calls_parse_value: no value starts here, nothing consumed, no error set. Negative, so never
   an mllm_status: the parser's functions return an mllm_status, calls_parse_value this too. */
#define NOVALUE (-1)

/* Sets the parser's error (kind, index `at` of its input, message); returns the kind's status. */
mllm_status calls_fail(parser *p, mllm_calls_error_kind kind, size_t at, const char *fmt, ...)
    PRINTF_LIKE(4, 5);
mllm_status calls_nomem(parser *p);
/* One more bracket open: a LIMIT failure past MLLM_CALLS_MAX_DEPTH. */
mllm_status calls_enter(parser *p);

static inline int peek(const parser *p) { return p->pos < p->end ? byte_at(p->d, p->pos) : -1; }

static inline void skip_space(parser *p)
{
    while (p->pos < p->end && is_space(byte_at(p->d, p->pos)))
        p->pos++;
}

/* values.c */
int calls_parse_value(parser *p, mllm_value *out);            /* an mllm_status or NOVALUE */
mllm_status calls_parse_string(parser *p, const char **out, size_t *out_len);
mllm_status calls_parse_member(parser *p, item *it, const char *what);
mllm_status calls_check_unique(parser *p, const item *v, size_t n, int is_args);
mllm_status calls_build(parser *p, size_t mark, int keyed, mllm_value *out);

/* One call at p->pos, in either syntax (calls.c), and each syntax (pyargs.c, json_args.c). */
mllm_status calls_parse_call(parser *p, mllm_call *call);
mllm_status calls_parse_python_call(parser *p, mllm_call *call);
mllm_status calls_parse_json_call(parser *p, mllm_call *call);

/* ---- the engine (scanner.c) ---------------------------------------------------------------- */

enum { ST_TEXT, ST_TAGGED, ST_BARE, ST_FAILED, ST_FINISHED };

struct mllm_calls_stream {
    char open[MLLM_CALLS_MAX_TAG + 1], close[MLLM_CALLS_MAX_TAG + 1];
    size_t open_len, close_len;
    int bare;
    int collect;                          /* whole parse: gather calls and text, no events */

    char *buf;                            /* stream: the pending input, owned */
    size_t cap;
    const char *d;                        /* the input: buf, or the caller's text */
    size_t head, len;                     /* pending input is d[head..len) */
    size_t base;                          /* offset of d[0] in everything fed */
    int state;
    int prev_word;                        /* the byte before d[head] is a word byte */

    size_t region;                        /* TAGGED/BARE: index of the call's first byte */
    size_t content;                       /* index after the opening tag (BARE: == region) */
    size_t scan;                          /* next index the lexer looks at */
    char quote, escape;                   /* lexer: inside a string? after a backslash? */
    int depth;                            /* BARE lexer: brackets open */
    char stack[MLLM_CALLS_MAX_DEPTH + 1];

    size_t n_calls;
    size_t n_skipped;                     /* calls found after the MLLM_CALLS_MAX_CALLS-th */
    size_t first_skipped;                 /* offset of the first of them */
    mllm_status code;                     /* FAILED: the status feed and finish return */
    mllm_calls_error error;

    mem_arena arena;                      /* values, names, event texts */
    item_stack items;                     /* parser scratch */

    mllm_calls_event *events;             /* stream: the queue */
    size_t n_events, cap_events, next_event;
    mllm_call *calls;                     /* collect: the calls */
    size_t cap_calls;
    char *text;                           /* collect: the text outside calls */
    size_t text_len, text_cap;
};

mllm_status calls_stream_init(mllm_calls_stream *s, const mllm_calls_opts *opts,
                              mllm_calls_error *err);
/* Runs the engine over the pending input; final: the input ends there. */
mllm_status calls_process(mllm_calls_stream *s, int final);
/* The end was processed without error: fails with the error that counts the skipped calls. */
mllm_status calls_report_skipped(mllm_calls_stream *s);
void calls_stream_release(mllm_calls_stream *s);

#endif
