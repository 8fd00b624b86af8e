/*
 * calls.c - find and parse the function calls a model writes (include/mobilellm_calls.h): the
 * parts every file of the parser shares, and the whole-text parse.
 *
 * When a call's region is complete (or the input ends) it is parsed once, by a recursive-descent
 * parser whose recursion is bounded by MLLM_CALLS_MAX_DEPTH: pyargs.c reads the python-like
 * syntax, json_args.c the JSON one, values.c the values both write. Values live in an arena
 * that the result (or the stream's event batch) owns, so freeing is one walk over a few blocks
 * and no error path has anything else to free. Arrays and objects are gathered on a scratch
 * stack and copied into the arena when they close, so nothing is ever reallocated twice.
 *
 * A whole parse is a stream (scanner.c) in "collect" mode that reads the caller's text in
 * place, fed once and finished: the same code decides both, so they cannot disagree.
 */
#include "calls_internal.h"
#include "base/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16                          /* arena allocation alignment */
#define ARENA_FIRST_BLOCK 4096
#define ARENA_MAX_BLOCK (64 * 1024)

/* ---- bytes --------------------------------------------------------------------------------- */

/* For messages: s[0..n) cut to 32 bytes (+ "...") without splitting UTF-8; controls as '?'. */
const char *calls_snip(char out[48], const char *s, size_t n)
{
    size_t k = n, i;
    if (n > 32)
        for (k = 32; k > 0 && (byte_at(s, k) & 0xC0) == 0x80; k--) {}
    for (i = 0; i < k; i++) {
        unsigned char c = byte_at(s, i);
        out[i] = (char)((c < 0x20 || c == 0x7f) ? '?' : c);
    }
    if (k < n)
        memcpy(out + k, "...", 4);
    else
        out[k] = '\0';
    return out;
}

/* ---- errors -------------------------------------------------------------------------------- */

mllm_status calls_kind_status(mllm_calls_error_kind kind)
{
    switch (kind) {
    case MLLM_CALLS_KIND_NONE: return MLLM_OK;
    case MLLM_CALLS_KIND_NOMEM: return MLLM_ERR_NOMEM;
    case MLLM_CALLS_KIND_ARG: return MLLM_ERR_ARG;
    default: return MLLM_ERR_FORMAT;      /* SYNTAX, LIMIT: the text is bad input */
    }
}

mllm_status calls_set_error(mllm_calls_error *err, mllm_calls_error_kind kind, size_t pos,
                            const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->kind = kind;
        err->position = pos;
    }
    return calls_kind_status(kind);
}

/* ---- arena --------------------------------------------------------------------------------- */

typedef struct arena_block arena_block;
struct arena_block {
    arena_block *next;
    size_t used, cap;                     /* bytes of data after the (aligned) header */
};
#define BLOCK_HEADER ((sizeof(arena_block) + ALIGN - 1) / ALIGN * ALIGN)

void *calls_arena_alloc(mem_arena *a, size_t n)
{
    arena_block *b = a->head;
    if (n > (size_t)-1 - ALIGN - BLOCK_HEADER)
        return NULL;
    n = (n + ALIGN - 1) / ALIGN * ALIGN;
    if (!b || b->cap - b->used < n) {
        size_t cap = a->next_cap ? a->next_cap : ARENA_FIRST_BLOCK;
        int big = n > cap / 4;            /* big ones get their own block, behind the head */
        if (big)
            cap = n;
        b = (arena_block *)mllm_malloc(BLOCK_HEADER + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        if (big && a->head) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
            if (!big && a->next_cap < ARENA_MAX_BLOCK)
                a->next_cap = cap * 2;
        }
    }
    b->used += n;
    return (char *)b + BLOCK_HEADER + b->used - n;
}

char *calls_arena_strdup(mem_arena *a, const char *s, size_t n)
{
    char *p = (char *)calls_arena_alloc(a, n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void calls_arena_free(mem_arena *a)
{
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        mllm_free(b);
        b = next;
    }
    a->head = NULL;
    a->next_cap = 0;
}

/* ---- scratch stack of list items, object members and call arguments ----------------------- */

mllm_status calls_items_push(item_stack *s, const item *it)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        item *v;
        if (cap > (size_t)-1 / sizeof *v)
            return MLLM_ERR_NOMEM;
        v = (item *)mllm_realloc(s->v, cap * sizeof *v);
        if (!v)
            return MLLM_ERR_NOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = *it;
    return MLLM_OK;
}

/* ---- the parser ---------------------------------------------------------------------------- */

mllm_status calls_fail(parser *p, mllm_calls_error_kind kind, size_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
    va_end(ap);
    p->err->kind = kind;
    p->err->position = p->base + at;
    return calls_kind_status(kind);
}

mllm_status calls_nomem(parser *p)
{
    return calls_fail(p, MLLM_CALLS_KIND_NOMEM, p->pos, "not enough memory");
}

mllm_status calls_enter(parser *p)
{
    if (++p->depth > MLLM_CALLS_MAX_DEPTH)
        return calls_fail(p, MLLM_CALLS_KIND_LIMIT, p->pos,
                          "nesting deeper than MLLM_CALLS_MAX_DEPTH (%d)", MLLM_CALLS_MAX_DEPTH);
    return MLLM_OK;
}

/* ---- calls ---- */

mllm_status calls_parse_call(parser *p, mllm_call *call)
{
    int c = peek(p);
    if (c == '{')
        return calls_parse_json_call(p, call);
    if (c >= 0 && is_name_start(c))
        return calls_parse_python_call(p, call);
    return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos, "expected a call name or '{'");
}

/* ---- public API ---------------------------------------------------------------------------- */

mllm_calls_opts mllm_calls_default_opts(void)
{
    mllm_calls_opts o;
    o.open = "<tool_call>";
    o.close = "</tool_call>";
    o.bare = 0;
    return o;
}

const mllm_value *mllm_value_get(const mllm_value *object, const char *key)
{
    size_t i, n;
    if (!object || !key || object->type != MLLM_VALUE_OBJECT)
        return NULL;
    n = strlen(key);
    for (i = 0; i < object->u.object.n; i++) {
        const mllm_value_member *m = &object->u.object.members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return &m->value;
    }
    return NULL;
}

typedef struct result_impl {
    mllm_calls_result pub;                /* first: a result pointer is an impl pointer */
    mem_arena arena;
    mllm_call *calls;
    char *text;
} result_impl;

mllm_status mllm_calls_parse(const char *text, size_t len, const mllm_calls_opts *opts,
                             mllm_calls_result **out, mllm_calls_error *err)
{
    mllm_calls_stream s;
    result_impl *res = NULL;
    mllm_status r;
    int partial;

    if (out)
        *out = NULL;
    if (!out || (!text && len))
        return calls_set_error(err, MLLM_CALLS_KIND_ARG, 0, "%s is NULL", out ? "text" : "out");
    if ((r = calls_stream_init(&s, opts, err)) != 0)
        return r;
    s.collect = 1;
    s.d = text ? text : "";
    s.len = len;
    r = calls_process(&s, 1);
    partial = !r && s.n_skipped;          /* too many calls: a result and an error */
    if (!r)
        r = calls_report_skipped(&s);
    if ((!r || partial) && !(res = (result_impl *)mllm_malloc(sizeof *res)))
        r = calls_set_error(&s.error, MLLM_CALLS_KIND_NOMEM, 0, "not enough memory");
    if (r && err)
        *err = s.error;
    if (!res) {
        calls_stream_release(&s);
        return r;
    }
    res->pub.calls = s.calls;
    res->pub.n_calls = s.n_calls;
    res->pub.n_skipped = s.n_skipped;
    res->pub.text = s.text ? s.text : "";
    res->pub.text_len = s.text_len;
    res->arena = s.arena;
    res->calls = s.calls;
    res->text = s.text;
    s.arena.head = NULL;
    s.calls = NULL;
    s.text = NULL;
    calls_stream_release(&s);
    *out = &res->pub;
    return r;
}

void mllm_calls_result_free(mllm_calls_result *result)
{
    result_impl *res = (result_impl *)result;
    if (!res)
        return;
    calls_arena_free(&res->arena);
    mllm_free(res->calls);
    mllm_free(res->text);
    mllm_free(res);
}
