/*
 * json_args.c - the JSON call syntax: {"name": "...", "arguments": {...}}, with "parameters"
 * for "arguments", the arguments also as a string holding the object, other keys ignored.
 */
#include "calls_internal.h"

#include <string.h>

static void empty_array(mllm_value *v)
{
    memset(v, 0, sizeof *v);
    v->type = MLLM_VALUE_ARRAY;
}

/* "arguments": "{...}" - the decoded string s[0..n) parsed as an object; errors point at the
   string (at `at`) and say where inside it. "" and whitespace mean no arguments. */
static mllm_status parse_arguments_string(parser *p, const char *s, size_t n, size_t at,
                                          const char *key, mllm_value *out)
{
    mllm_calls_error err;
    parser sub = *p;
    int r;

    err.kind = MLLM_CALLS_KIND_SYNTAX;
    sub.d = s;
    sub.pos = 0;
    sub.end = n;
    sub.base = 0;
    sub.err = &err;
    skip_space(&sub);
    if (sub.pos == n) {
        memset(out, 0, sizeof *out);
        out->type = MLLM_VALUE_OBJECT;
        return MLLM_OK;
    }
    if (peek(&sub) != '{')
        r = calls_fail(&sub, MLLM_CALLS_KIND_SYNTAX, sub.pos, "expected '{'");
    else if ((r = calls_parse_value(&sub, out)) == 0) {
        skip_space(&sub);
        if (sub.pos != n)
            r = calls_fail(&sub, MLLM_CALLS_KIND_SYNTAX, sub.pos, "expected the end after the object");
    }
    if (r == MLLM_ERR_NOMEM)
        return calls_nomem(p);
    if (r)
        return calls_fail(p, err.kind, at, "in the '%s' string at offset %zu: %s", key, err.position,
                          err.message);
    return MLLM_OK;
}

static int key_is(const item *it, const char *word)
{
    return it->key_len == strlen(word) && memcmp(it->key, word, it->key_len) == 0;
}

/* {"name": "...", "arguments": {...} or "{...}"} at p->pos, which holds '{'. */
mllm_status calls_parse_json_call(parser *p, mllm_call *call)
{
    int have_name = 0, have_args = 0, r;
    char buf[48];

    if ((r = calls_enter(p)) != 0)
        return r;
    p->pos++;
    for (;;) {
        item it;
        size_t at;
        memset(&it, 0, sizeof it);
        skip_space(p);
        if (peek(p) == '}')
            break;
        if (!is_quote(peek(p)))
            return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos,
                              "expected a string key or '}' in call object");
        if ((r = calls_parse_member(p, &it, "call object")) != 0)
            return r;
        at = p->pos;
        calls_snip(buf, it.key, it.key_len);
        if (key_is(&it, "name")) {
            const char *s;
            size_t n;
            if (have_name)
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, it.key_pos,
                                  "duplicate key 'name' in call object");
            if (!is_quote(peek(p)))
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, at, "expected a string for 'name'");
            if ((r = calls_parse_string(p, &s, &n)) != 0)
                return r;
            if (n == 0 || memchr(s, '\0', n))
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, at,
                                  "expected a call name without NUL bytes for 'name'");
            if (n > MLLM_CALLS_MAX_NAME)
                return calls_fail(p, MLLM_CALLS_KIND_LIMIT, at,
                                  "call name longer than MLLM_CALLS_MAX_NAME (%d bytes)",
                            MLLM_CALLS_MAX_NAME);
            call->name = s;
            have_name = 1;
        } else if (key_is(&it, "arguments") || key_is(&it, "parameters")) {
            if (have_args)
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, it.key_pos,
                                  "duplicate key '%s' in call object", buf);
            if (peek(p) == '{')
                r = calls_parse_value(p, &call->args);
            else if (is_quote(peek(p))) {
                const char *s;
                size_t n;
                r = calls_parse_string(p, &s, &n);
                if (!r)
                    r = parse_arguments_string(p, s, n, at, buf, &call->args);
            } else
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, at,
                                  "expected an object or a string for '%s'", buf);
            if (r)
                return r;
            have_args = 1;
        } else {
            mllm_value ignored;
            r = calls_parse_value(p, &ignored);
            if (r == NOVALUE)
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos, "expected a value for key '%s'",
                                  buf);
            if (r)
                return r;
        }
        skip_space(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == '}')
            break;
        return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos, "expected ',' or '}' in call object");
    }
    if (!have_name)
        return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos, "expected key 'name' in call object");
    if (!have_args)
        return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos,
                          "expected key 'arguments' (or 'parameters') in call object");
    p->pos++;
    p->depth--;
    empty_array(&call->positional);
    return MLLM_OK;
}
