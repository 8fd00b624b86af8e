/*
 * pyargs.c - the python-like call syntax: name(arg, key=value, ...), the name ident(.ident)*,
 * positional arguments before or among keyword ones, each keyword given once.
 */
#include "calls_internal.h"

#include <string.h>

/* name(arg, key=value, ...) at p->pos, which holds a name start. */
mllm_status calls_parse_python_call(parser *p, mllm_call *call)
{
    size_t start = p->pos, end = scan_name(p->d, p->pos, p->end), mark = p->items->n;
    size_t n_positional = 0;
    char buf[48];
    int r;

    if (end - start > MLLM_CALLS_MAX_NAME)
        return calls_fail(p, MLLM_CALLS_KIND_LIMIT, start,
                          "call name longer than MLLM_CALLS_MAX_NAME (%d bytes)", MLLM_CALLS_MAX_NAME);
    if (!(call->name = calls_arena_strdup(p->arena, p->d + start, end - start)))
        return calls_nomem(p);
    p->pos = end;
    skip_space(p);
    if (peek(p) != '(')
        return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos, "expected '(' after call name '%s'",
                          call->name);
    if ((r = calls_enter(p)) != 0)
        return r;
    p->pos++;
    for (;;) {
        size_t arg, ident, after;
        item it;
        memset(&it, 0, sizeof it);
        skip_space(p);
        if (peek(p) == ')')
            break;
        arg = p->pos;
        ident = scan_ident(p->d, arg, p->end);
        for (after = ident; after < p->end && is_space(byte_at(p->d, after)); after++) {}
        if (ident > arg && after < p->end && p->d[after] == '=') {
            it.key_pos = arg;
            it.key_len = ident - arg;
            if (!(it.key = calls_arena_strdup(p->arena, p->d + arg, it.key_len)))
                return calls_nomem(p);
            p->pos = after + 1;
            skip_space(p);
            r = calls_parse_value(p, &it.value);
            if (r == NOVALUE)
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos,
                                  "expected a value for argument '%s'", it.key);
        } else {
            r = calls_parse_value(p, &it.value);
            if (r == NOVALUE && ident > arg)
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, after,
                                  "expected '=' after argument name '%s'",
                            calls_snip(buf, p->d + arg, ident - arg));
            if (r == NOVALUE)
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos, "expected an argument or ')'");
            n_positional++;
        }
        if (r)
            return r;
        if (calls_items_push(p->items, &it))
            return calls_nomem(p);
        skip_space(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ')')
            break;
        if (it.key)
            return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos,
                              "expected ',' or ')' after argument '%s'", it.key);
        return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos,
                          "expected ',' or ')' after positional argument %zu", n_positional);
    }
    p->pos++;
    p->depth--;
    r = calls_check_unique(p, items_from(p->items, mark), p->items->n - mark, 1);
    if (!r)
        r = calls_build(p, mark, 1, &call->args);
    if (!r)
        r = calls_build(p, mark, 0, &call->positional);
    p->items->n = mark;
    return r;
}
