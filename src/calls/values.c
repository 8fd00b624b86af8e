/*
 * values.c - the values of a call's arguments, as both call syntaxes write them: strings in
 * "..." or '...' (JSON and Python escapes), numbers (int64 or double), [lists], {objects} with
 * string keys, true/false/null and Python's True/False/None.
 */
#include "calls_internal.h"
#include "base/alloc.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- strings ---- */

static int hex_digits(const char *s, int n, unsigned long *out)
{
    unsigned long v = 0;
    int i;
    for (i = 0; i < n; i++) {
        int c = (unsigned char)s[i], x;
        if (is_digit(c))
            x = c - '0';
        else if ((c | 32) >= 'a' && (c | 32) <= 'f')
            x = (c | 32) - 'a' + 10;
        else
            return 0;
        v = v * 16 + (unsigned long)x;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string in "..." or '...' at p->pos, decoded into the arena (NUL-terminated). Decoding never
   grows a string: every escape is at least as long as the UTF-8 it stands for. */
mllm_status calls_parse_string(parser *p, const char **out, size_t *out_len)
{
    const char *d = p->d;
    size_t start = p->pos, stop = start + 1, i, n = 0;
    char q = d[start], *o;

    while (stop < p->end && d[stop] != q)
        stop += d[stop] == '\\' ? 2 : 1;
    if (stop >= p->end)
        return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, start, "unterminated string");
    o = (char *)calls_arena_alloc(p->arena, stop - start);
    if (!o)
        return calls_nomem(p);
    for (i = start + 1; i < stop;) {
        unsigned long cp, lo;
        char e;
        if (d[i] != '\\') {
            o[n++] = d[i++];
            continue;
        }
        e = d[i + 1];                     /* i + 1 < stop: the scan above skipped pairs */
        switch (e) {
        case 'n': o[n++] = '\n'; i += 2; continue;
        case 't': o[n++] = '\t'; i += 2; continue;
        case 'r': o[n++] = '\r'; i += 2; continue;
        case 'b': o[n++] = '\b'; i += 2; continue;
        case 'f': o[n++] = '\f'; i += 2; continue;
        case '0': o[n++] = '\0'; i += 2; continue;
        case '/': case '\\': case '"': case '\'': o[n++] = e; i += 2; continue;
        case 'u':
            if (stop - i < 6 || !hex_digits(d + i + 2, 4, &cp))
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, i,
                                  "invalid \\u escape: expected 4 hex digits");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (stop - i < 12 || d[i + 6] != '\\' || d[i + 7] != 'u'
                    || !hex_digits(d + i + 8, 4, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, i,
                                      "invalid \\u escape: high surrogate without a low surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF)
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, i,
                                  "invalid \\u escape: low surrogate without a high surrogate");
            n += put_utf8(o + n, cp);
            i += 6;
            continue;
        case 'U':
            if (stop - i < 10 || !hex_digits(d + i + 2, 8, &cp) || cp > 0x10FFFF
                || (cp >= 0xD800 && cp <= 0xDFFF))
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, i,
                                  "invalid \\U escape: expected 8 hex digits of a code point");
            n += put_utf8(o + n, cp);
            i += 10;
            continue;
        default:
            if (e > 0x20 && e < 0x7f)
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, i, "invalid escape '\\%c' in string", e);
            return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, i,
                              "invalid escape in string (byte 0x%02X after '\\')", (unsigned char)e);
        }
    }
    o[n] = '\0';
    *out = o;
    *out_len = n;
    p->pos = stop + 1;
    return MLLM_OK;
}

/* ---- numbers ---- */

static mllm_status parse_number(parser *p, mllm_value *out)
{
    const char *d = p->d;
    size_t start = p->pos, i = start, digits = 0;
    int neg = 0, is_float = 0;

    if (d[i] == '-' || d[i] == '+')
        neg = d[i++] == '-';
    for (; i < p->end && is_digit(byte_at(d, i)); i++)
        digits++;
    if (i < p->end && d[i] == '.')
        for (is_float = 1, i++; i < p->end && is_digit(byte_at(d, i)); i++)
            digits++;
    if (digits && i < p->end && (d[i] == 'e' || d[i] == 'E')) {
        is_float = 1;
        i++;
        if (i < p->end && (d[i] == '-' || d[i] == '+'))
            i++;
        if (i >= p->end || !is_digit(byte_at(d, i)))
            digits = 0;
        while (i < p->end && is_digit(byte_at(d, i)))
            i++;
    }
    if (!digits || (i < p->end && is_word(byte_at(d, i))))
        return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, start, "invalid number");
    if (i - start > MLLM_CALLS_MAX_NUMBER)
        return calls_fail(p, MLLM_CALLS_KIND_LIMIT, start,
                          "number longer than MLLM_CALLS_MAX_NUMBER (%d bytes)", MLLM_CALLS_MAX_NUMBER);
    if (!is_float) {
        /* accumulate the magnitude; -9223372036854775808 is the one value with no positive twin */
        uint64_t acc = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        size_t k;
        for (k = start + (d[start] == '-' || d[start] == '+'); k < i; k++) {
            unsigned dg = (unsigned)(d[k] - '0');
            if (acc > (limit - dg) / 10)
                return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, start, "integer out of range (int64)");
            acc = acc * 10 + dg;
        }
        out->type = MLLM_VALUE_INT;
        out->u.integer = !neg ? (int64_t)acc
                         : acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
    } else {
        /* strtod follows LC_NUMERIC: hand it the locale's decimal point */
        char buf[MLLM_CALLS_MAX_NUMBER + 1], *endp, *dot;
        double v;
        memcpy(buf, d + start, i - start);
        buf[i - start] = '\0';
        if ((dot = strchr(buf, '.')) != NULL)
            *dot = localeconv()->decimal_point[0];
        errno = 0;
        v = strtod(buf, &endp);
        if (*endp != '\0')
            return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, start, "invalid number");
        if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL))
            return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, start, "number out of range (double)");
        out->type = MLLM_VALUE_DOUBLE;
        out->u.number = v;
    }
    p->pos = i;
    return MLLM_OK;
}

/* ---- lists, objects ---- */

static uint64_t hash_key(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u;    /* FNV-1a */
    while (n--)
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return h;
}

static int same_key(const item *a, const item *b)
{
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* The keyed items v[0..n) must have unique keys: linear with a hash table, or quadratic when
   there are few of them. The error points at the second occurrence. */
mllm_status calls_check_unique(parser *p, const item *v, size_t n, int is_args)
{
    const item *dup = NULL;
    char buf[48];
    size_t i, j;

    if (n <= 16) {
        for (j = 1; j < n && !dup; j++)
            for (i = 0; i < j; i++)
                if (v[i].key && v[j].key && same_key(&v[i], &v[j])) {
                    dup = &v[j];
                    break;
                }
    } else {
        size_t size = 32, mask, *slot;    /* slot: index + 1, or 0 when empty */
        while (size < 2 * n)
            size *= 2;
        if (size > (size_t)-1 / sizeof *slot)
            return calls_nomem(p);
        slot = (size_t *)mllm_calloc(size, sizeof *slot);
        if (!slot)
            return calls_nomem(p);
        mask = size - 1;
        for (j = 0; j < n && !dup; j++) {
            size_t h;
            if (!v[j].key)
                continue;
            for (h = (size_t)hash_key(v[j].key, v[j].key_len) & mask; slot[h]; h = (h + 1) & mask)
                if (same_key(&v[slot[h] - 1], &v[j])) {
                    dup = &v[j];
                    break;
                }
            slot[h] = j + 1;
        }
        mllm_free(slot);
    }
    if (!dup)
        return MLLM_OK;
    calls_snip(buf, dup->key, dup->key_len);
    if (is_args)
        return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, dup->key_pos, "duplicate argument '%s'", buf);
    return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, dup->key_pos, "duplicate key '%s' in object", buf);
}

/* Copies the items above `mark` that have keys (keyed) or not (!keyed) into an OBJECT or an
   ARRAY in the arena. Does not pop them. */
mllm_status calls_build(parser *p, size_t mark, int keyed, mllm_value *out)
{
    const item *v = items_from(p->items, mark);
    size_t n = p->items->n - mark, i, k = 0, count = 0;

    for (i = 0; i < n; i++)
        count += (v[i].key != NULL) == keyed;
    if (keyed) {
        mllm_value_member *m = NULL;
        if (count && !(m = (mllm_value_member *)calls_arena_alloc(p->arena, count * sizeof *m)))
            return calls_nomem(p);
        for (i = 0; i < n; i++)
            if (v[i].key) {
                m[k].key = v[i].key;
                m[k].key_len = v[i].key_len;
                m[k++].value = v[i].value;
            }
        out->type = MLLM_VALUE_OBJECT;
        out->u.object.members = m;
        out->u.object.n = count;
    } else {
        mllm_value *a = NULL;
        if (count && !(a = (mllm_value *)calls_arena_alloc(p->arena, count * sizeof *a)))
            return calls_nomem(p);
        for (i = 0; i < n; i++)
            if (!v[i].key)
                a[k++] = v[i].value;
        out->type = MLLM_VALUE_ARRAY;
        out->u.array.items = a;
        out->u.array.n = count;
    }
    return MLLM_OK;
}

static mllm_status parse_list(parser *p, mllm_value *out)
{
    size_t mark = p->items->n;
    int r;

    if ((r = calls_enter(p)) != 0)
        return r;
    p->pos++;                             /* '[' */
    for (;;) {
        item it;
        memset(&it, 0, sizeof it);
        skip_space(p);
        if (peek(p) == ']')
            break;
        r = calls_parse_value(p, &it.value);
        if (r == NOVALUE)
            return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos, "expected a value or ']' in list");
        if (r)
            return r;
        if (calls_items_push(p->items, &it))
            return calls_nomem(p);
        skip_space(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ']')
            break;
        return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos, "expected ',' or ']' in list");
    }
    p->pos++;
    p->depth--;
    r = calls_build(p, mark, 0, out);
    p->items->n = mark;
    return r;
}

/* "key": value, with the key at p->pos; `what` names the container in messages. */
mllm_status calls_parse_member(parser *p, item *it, const char *what)
{
    char buf[48];
    int r;

    it->key_pos = p->pos;
    if ((r = calls_parse_string(p, &it->key, &it->key_len)) != 0)
        return r;
    skip_space(p);
    if (peek(p) != ':')
        return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos, "expected ':' after key '%s' in %s",
                          calls_snip(buf, it->key, it->key_len), what);
    p->pos++;
    skip_space(p);
    return MLLM_OK;
}

static mllm_status parse_object(parser *p, mllm_value *out)
{
    size_t mark = p->items->n;
    char buf[48];
    int r;

    if ((r = calls_enter(p)) != 0)
        return r;
    p->pos++;                             /* '{' */
    for (;;) {
        item it;
        memset(&it, 0, sizeof it);
        skip_space(p);
        if (peek(p) == '}')
            break;
        if (!is_quote(peek(p)))
            return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos,
                              "expected a string key or '}' in object");
        if ((r = calls_parse_member(p, &it, "object")) != 0)
            return r;
        r = calls_parse_value(p, &it.value);
        if (r == NOVALUE)
            return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos, "expected a value for key '%s'",
                              calls_snip(buf, it.key, it.key_len));
        if (r)
            return r;
        if (calls_items_push(p->items, &it))
            return calls_nomem(p);
        skip_space(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == '}')
            break;
        return calls_fail(p, MLLM_CALLS_KIND_SYNTAX, p->pos, "expected ',' or '}' in object");
    }
    p->pos++;
    p->depth--;
    r = calls_check_unique(p, items_from(p->items, mark), p->items->n - mark, 0);
    if (!r)
        r = calls_build(p, mark, 1, out);
    p->items->n = mark;
    return r;
}

/* Any value at p->pos. Returns NOVALUE (nothing consumed, no error set) when none starts here,
   so that the caller can say what it expected. */
int calls_parse_value(parser *p, mllm_value *out)
{
    static const struct { const char *word; mllm_value_type type; int b; } literals[] = {
        { "true", MLLM_VALUE_BOOL, 1 }, { "True", MLLM_VALUE_BOOL, 1 },
        { "false", MLLM_VALUE_BOOL, 0 }, { "False", MLLM_VALUE_BOOL, 0 },
        { "null", MLLM_VALUE_NULL, 0 }, { "None", MLLM_VALUE_NULL, 0 },
    };
    int c = peek(p);
    size_t j, k;

    memset(out, 0, sizeof *out);
    if (is_quote(c)) {
        out->type = MLLM_VALUE_STRING;
        return calls_parse_string(p, &out->u.string.ptr, &out->u.string.len);
    }
    if (c == '[')
        return parse_list(p, out);
    if (c == '{')
        return parse_object(p, out);
    if (is_digit(c) || c == '-' || c == '+' || c == '.')
        return parse_number(p, out);
    j = scan_ident(p->d, p->pos, p->end);
    for (k = 0; k < sizeof literals / sizeof literals[0]; k++)
        if (j - p->pos == strlen(literals[k].word)
            && memcmp(p->d + p->pos, literals[k].word, j - p->pos) == 0) {
            out->type = literals[k].type;
            out->u.boolean = literals[k].b;
            p->pos = j;
            return MLLM_OK;
        }
    return NOVALUE;
}
