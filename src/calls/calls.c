/*
 * calls.c - find and parse the function calls a model writes (include/mobilellm_calls.h).
 *
 * One engine serves both the whole-text parse and the stream, reading its input once, left to
 * right, in one of three states:
 *
 *   TEXT    look for the opening tag (bare mode: also `name(` and `{"name":`); text before it
 *           is emitted, only a possible start (at most MLLM_CALLS_LOOKAHEAD bytes) is held back.
 *   TAGGED  a lexer that knows strings looks for the closing tag outside strings.
 *   BARE    a lexer that knows strings and brackets looks for the bracket closing the call.
 *
 * When a call's region is complete (or the input ends) it is parsed once, by a recursive-descent
 * parser whose recursion is bounded by MLLM_CALLS_MAX_DEPTH. Values live in an arena that the
 * result (or the stream's event batch) owns, so freeing is one walk over a few blocks and no
 * error path has anything else to free. Arrays and objects are gathered on a scratch stack and
 * copied into the arena when they close, so nothing is ever reallocated twice.
 *
 * A whole parse is a stream in "collect" mode that reads the caller's text in place, fed once
 * and finished: the same code decides both, so they cannot disagree.
 */
#include "mobilellm_calls.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16                          /* arena allocation alignment */
#define ARENA_FIRST_BLOCK 4096
#define ARENA_MAX_BLOCK (64 * 1024)

#ifdef __GNUC__
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* ---- bytes --------------------------------------------------------------------------------- */

/* Locale-independent classes. A "word" byte may not precede a bare call's name. */
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_name_start(int c) { return is_alpha(c) || c == '_'; }
static int is_name_char(int c) { return is_alpha(c) || is_digit(c) || c == '_'; }
static int is_word(int c) { return is_name_char(c) || c == '.' || c >= 0x80; }
static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static int is_quote(int c) { return c == '"' || c == '\''; }
static unsigned char byte_at(const char *d, size_t i) { return (unsigned char)d[i]; }

/* Index after the identifier [A-Za-z_][A-Za-z0-9_]* at d[i], or i when there is none. */
static size_t scan_ident(const char *d, size_t i, size_t end)
{
    if (i >= end || !is_name_start(byte_at(d, i)))
        return i;
    for (i++; i < end && is_name_char(byte_at(d, i)); i++) {}
    return i;
}

/* Index after the call name ident(.ident)* at d[i], or i when there is none. */
static size_t scan_name(const char *d, size_t i, size_t end)
{
    size_t j = scan_ident(d, i, end), k;
    while (j > i && j + 1 < end && d[j] == '.' && (k = scan_ident(d, j + 1, end)) > j + 1)
        j = k;
    return j;
}

/* For messages: s[0..n) cut to 32 bytes (+ "...") without splitting UTF-8; controls as '?'. */
static const char *snip(char out[48], const char *s, size_t n)
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

/* Length of s, stopping at max + 1 (so too-long strings are cheap to reject). */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n])
        n++;
    return n;
}

/* ---- errors -------------------------------------------------------------------------------- */

static int set_error(mllm_calls_error *err, int code, size_t pos, const char *fmt, ...)
    PRINTF_LIKE(4, 5);

static int set_error(mllm_calls_error *err, int code, size_t pos, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->position = pos;
    }
    return code;
}

const char *mllm_calls_strerror(int code)
{
    switch (code) {
    case MLLM_CALLS_OK: return "success";
    case MLLM_CALLS_ERR_SYNTAX: return "malformed call";
    case MLLM_CALLS_ERR_LIMIT: return "limit exceeded";
    case MLLM_CALLS_ERR_NOMEM: return "not enough memory";
    case MLLM_CALLS_ERR_ARG: return "invalid argument";
    case MLLM_CALLS_ERR_STATE: return "stream already finished";
    default: return "unknown error";
    }
}

/* ---- arena --------------------------------------------------------------------------------- */

typedef struct arena_block arena_block;
struct arena_block {
    arena_block *next;
    size_t used, cap;                     /* bytes of data after the (aligned) header */
};
#define BLOCK_HEADER ((sizeof(arena_block) + ALIGN - 1) / ALIGN * ALIGN)

typedef struct mem_arena {
    arena_block *head;                    /* the block being filled; older blocks follow */
    size_t next_cap;
} mem_arena;

static void *arena_alloc(mem_arena *a, size_t n)
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
        b = (arena_block *)malloc(BLOCK_HEADER + cap);
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

static char *arena_strdup(mem_arena *a, const char *s, size_t n)
{
    char *p = (char *)arena_alloc(a, n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void arena_free(mem_arena *a)
{
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->next_cap = 0;
}

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

static int items_push(item_stack *s, const item *it)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        item *v;
        if (cap > (size_t)-1 / sizeof *v)
            return MLLM_CALLS_ERR_NOMEM;
        v = (item *)realloc(s->v, cap * sizeof *v);
        if (!v)
            return MLLM_CALLS_ERR_NOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = *it;
    return MLLM_CALLS_OK;
}

/* The items from index mark on (NULL when the stack was never grown: NULL + 0 is undefined). */
static item *items_from(const item_stack *s, size_t mark)
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

#define NOVALUE 1                         /* parse_value: no value starts here; nothing consumed */

static int fail(parser *p, int code, size_t at, const char *fmt, ...) PRINTF_LIKE(4, 5);

static int fail(parser *p, int code, size_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
    va_end(ap);
    p->err->position = p->base + at;
    return code;
}

static int nomem(parser *p)
{
    return fail(p, MLLM_CALLS_ERR_NOMEM, p->pos, "not enough memory");
}

static int peek(const parser *p) { return p->pos < p->end ? byte_at(p->d, p->pos) : -1; }

static void skip_space(parser *p)
{
    while (p->pos < p->end && is_space(byte_at(p->d, p->pos)))
        p->pos++;
}

static int enter(parser *p)
{
    if (++p->depth > MLLM_CALLS_MAX_DEPTH)
        return fail(p, MLLM_CALLS_ERR_LIMIT, p->pos,
                    "nesting deeper than MLLM_CALLS_MAX_DEPTH (%d)", MLLM_CALLS_MAX_DEPTH);
    return MLLM_CALLS_OK;
}

static int parse_value(parser *p, mllm_value *out);

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
static int parse_string(parser *p, const char **out, size_t *out_len)
{
    const char *d = p->d;
    size_t start = p->pos, stop = start + 1, i, n = 0;
    char q = d[start], *o;

    while (stop < p->end && d[stop] != q)
        stop += d[stop] == '\\' ? 2 : 1;
    if (stop >= p->end)
        return fail(p, MLLM_CALLS_ERR_SYNTAX, start, "unterminated string");
    o = (char *)arena_alloc(p->arena, stop - start);
    if (!o)
        return nomem(p);
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
                return fail(p, MLLM_CALLS_ERR_SYNTAX, i,
                            "invalid \\u escape: expected 4 hex digits");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (stop - i < 12 || d[i + 6] != '\\' || d[i + 7] != 'u'
                    || !hex_digits(d + i + 8, 4, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return fail(p, MLLM_CALLS_ERR_SYNTAX, i,
                                "invalid \\u escape: high surrogate without a low surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail(p, MLLM_CALLS_ERR_SYNTAX, i,
                            "invalid \\u escape: low surrogate without a high surrogate");
            n += put_utf8(o + n, cp);
            i += 6;
            continue;
        case 'U':
            if (stop - i < 10 || !hex_digits(d + i + 2, 8, &cp) || cp > 0x10FFFF
                || (cp >= 0xD800 && cp <= 0xDFFF))
                return fail(p, MLLM_CALLS_ERR_SYNTAX, i,
                            "invalid \\U escape: expected 8 hex digits of a code point");
            n += put_utf8(o + n, cp);
            i += 10;
            continue;
        default:
            if (e > 0x20 && e < 0x7f)
                return fail(p, MLLM_CALLS_ERR_SYNTAX, i, "invalid escape '\\%c' in string", e);
            return fail(p, MLLM_CALLS_ERR_SYNTAX, i,
                        "invalid escape in string (byte 0x%02X after '\\')", (unsigned char)e);
        }
    }
    o[n] = '\0';
    *out = o;
    *out_len = n;
    p->pos = stop + 1;
    return MLLM_CALLS_OK;
}

/* ---- numbers ---- */

static int parse_number(parser *p, mllm_value *out)
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
        return fail(p, MLLM_CALLS_ERR_SYNTAX, start, "invalid number");
    if (i - start > MLLM_CALLS_MAX_NUMBER)
        return fail(p, MLLM_CALLS_ERR_LIMIT, start,
                    "number longer than MLLM_CALLS_MAX_NUMBER (%d bytes)", MLLM_CALLS_MAX_NUMBER);
    if (!is_float) {
        /* accumulate the magnitude; -9223372036854775808 is the one value with no positive twin */
        uint64_t acc = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        size_t k;
        for (k = start + (d[start] == '-' || d[start] == '+'); k < i; k++) {
            unsigned dg = (unsigned)(d[k] - '0');
            if (acc > (limit - dg) / 10)
                return fail(p, MLLM_CALLS_ERR_SYNTAX, start, "integer out of range (int64)");
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
            return fail(p, MLLM_CALLS_ERR_SYNTAX, start, "invalid number");
        if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL))
            return fail(p, MLLM_CALLS_ERR_SYNTAX, start, "number out of range (double)");
        out->type = MLLM_VALUE_DOUBLE;
        out->u.number = v;
    }
    p->pos = i;
    return MLLM_CALLS_OK;
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
static int check_unique(parser *p, const item *v, size_t n, int is_args)
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
            return nomem(p);
        slot = (size_t *)calloc(size, sizeof *slot);
        if (!slot)
            return nomem(p);
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
        free(slot);
    }
    if (!dup)
        return MLLM_CALLS_OK;
    snip(buf, dup->key, dup->key_len);
    if (is_args)
        return fail(p, MLLM_CALLS_ERR_SYNTAX, dup->key_pos, "duplicate argument '%s'", buf);
    return fail(p, MLLM_CALLS_ERR_SYNTAX, dup->key_pos, "duplicate key '%s' in object", buf);
}

/* Copies the items above `mark` that have keys (keyed) or not (!keyed) into an OBJECT or an
   ARRAY in the arena. Does not pop them. */
static int build(parser *p, size_t mark, int keyed, mllm_value *out)
{
    const item *v = items_from(p->items, mark);
    size_t n = p->items->n - mark, i, k = 0, count = 0;

    for (i = 0; i < n; i++)
        count += (v[i].key != NULL) == keyed;
    if (keyed) {
        mllm_value_member *m = NULL;
        if (count && !(m = (mllm_value_member *)arena_alloc(p->arena, count * sizeof *m)))
            return nomem(p);
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
        if (count && !(a = (mllm_value *)arena_alloc(p->arena, count * sizeof *a)))
            return nomem(p);
        for (i = 0; i < n; i++)
            if (!v[i].key)
                a[k++] = v[i].value;
        out->type = MLLM_VALUE_ARRAY;
        out->u.array.items = a;
        out->u.array.n = count;
    }
    return MLLM_CALLS_OK;
}

static int parse_list(parser *p, mllm_value *out)
{
    size_t mark = p->items->n;
    int r;

    if ((r = enter(p)) != 0)
        return r;
    p->pos++;                             /* '[' */
    for (;;) {
        item it;
        memset(&it, 0, sizeof it);
        skip_space(p);
        if (peek(p) == ']')
            break;
        r = parse_value(p, &it.value);
        if (r == NOVALUE)
            return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos, "expected a value or ']' in list");
        if (r)
            return r;
        if (items_push(p->items, &it))
            return nomem(p);
        skip_space(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ']')
            break;
        return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos, "expected ',' or ']' in list");
    }
    p->pos++;
    p->depth--;
    r = build(p, mark, 0, out);
    p->items->n = mark;
    return r;
}

/* "key": value, with the key at p->pos; `what` names the container in messages. */
static int parse_member(parser *p, item *it, const char *what)
{
    char buf[48];
    int r;

    it->key_pos = p->pos;
    if ((r = parse_string(p, &it->key, &it->key_len)) != 0)
        return r;
    skip_space(p);
    if (peek(p) != ':')
        return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos, "expected ':' after key '%s' in %s",
                    snip(buf, it->key, it->key_len), what);
    p->pos++;
    skip_space(p);
    return MLLM_CALLS_OK;
}

static int parse_object(parser *p, mllm_value *out)
{
    size_t mark = p->items->n;
    char buf[48];
    int r;

    if ((r = enter(p)) != 0)
        return r;
    p->pos++;                             /* '{' */
    for (;;) {
        item it;
        memset(&it, 0, sizeof it);
        skip_space(p);
        if (peek(p) == '}')
            break;
        if (!is_quote(peek(p)))
            return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos,
                        "expected a string key or '}' in object");
        if ((r = parse_member(p, &it, "object")) != 0)
            return r;
        r = parse_value(p, &it.value);
        if (r == NOVALUE)
            return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos, "expected a value for key '%s'",
                        snip(buf, it.key, it.key_len));
        if (r)
            return r;
        if (items_push(p->items, &it))
            return nomem(p);
        skip_space(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == '}')
            break;
        return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos, "expected ',' or '}' in object");
    }
    p->pos++;
    p->depth--;
    r = check_unique(p, items_from(p->items, mark), p->items->n - mark, 0);
    if (!r)
        r = build(p, mark, 1, out);
    p->items->n = mark;
    return r;
}

/* Any value at p->pos. Returns NOVALUE (nothing consumed, no error set) when none starts here,
   so that the caller can say what it expected. */
static int parse_value(parser *p, mllm_value *out)
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
        return parse_string(p, &out->u.string.ptr, &out->u.string.len);
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
            return MLLM_CALLS_OK;
        }
    return NOVALUE;
}

/* ---- calls ---- */

static void empty_array(mllm_value *v)
{
    memset(v, 0, sizeof *v);
    v->type = MLLM_VALUE_ARRAY;
}

/* name(arg, key=value, ...) at p->pos, which holds a name start. */
static int parse_python_call(parser *p, mllm_call *call)
{
    size_t start = p->pos, end = scan_name(p->d, p->pos, p->end), mark = p->items->n;
    size_t n_positional = 0;
    char buf[48];
    int r;

    if (end - start > MLLM_CALLS_MAX_NAME)
        return fail(p, MLLM_CALLS_ERR_LIMIT, start,
                    "call name longer than MLLM_CALLS_MAX_NAME (%d bytes)", MLLM_CALLS_MAX_NAME);
    if (!(call->name = arena_strdup(p->arena, p->d + start, end - start)))
        return nomem(p);
    p->pos = end;
    skip_space(p);
    if (peek(p) != '(')
        return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos, "expected '(' after call name '%s'",
                    call->name);
    if ((r = enter(p)) != 0)
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
            if (!(it.key = arena_strdup(p->arena, p->d + arg, it.key_len)))
                return nomem(p);
            p->pos = after + 1;
            skip_space(p);
            r = parse_value(p, &it.value);
            if (r == NOVALUE)
                return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos,
                            "expected a value for argument '%s'", it.key);
        } else {
            r = parse_value(p, &it.value);
            if (r == NOVALUE && ident > arg)
                return fail(p, MLLM_CALLS_ERR_SYNTAX, after,
                            "expected '=' after argument name '%s'",
                            snip(buf, p->d + arg, ident - arg));
            if (r == NOVALUE)
                return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos, "expected an argument or ')'");
            n_positional++;
        }
        if (r)
            return r;
        if (items_push(p->items, &it))
            return nomem(p);
        skip_space(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ')')
            break;
        if (it.key)
            return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos,
                        "expected ',' or ')' after argument '%s'", it.key);
        return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos,
                    "expected ',' or ')' after positional argument %zu", n_positional);
    }
    p->pos++;
    p->depth--;
    r = check_unique(p, items_from(p->items, mark), p->items->n - mark, 1);
    if (!r)
        r = build(p, mark, 1, &call->args);
    if (!r)
        r = build(p, mark, 0, &call->positional);
    p->items->n = mark;
    return r;
}

/* "arguments": "{...}" - the decoded string s[0..n) parsed as an object; errors point at the
   string (at `at`) and say where inside it. "" and whitespace mean no arguments. */
static int parse_arguments_string(parser *p, const char *s, size_t n, size_t at,
                                  const char *key, mllm_value *out)
{
    mllm_calls_error err;
    parser sub = *p;
    int r;

    sub.d = s;
    sub.pos = 0;
    sub.end = n;
    sub.base = 0;
    sub.err = &err;
    skip_space(&sub);
    if (sub.pos == n) {
        memset(out, 0, sizeof *out);
        out->type = MLLM_VALUE_OBJECT;
        return MLLM_CALLS_OK;
    }
    if (peek(&sub) != '{')
        r = fail(&sub, MLLM_CALLS_ERR_SYNTAX, sub.pos, "expected '{'");
    else if ((r = parse_value(&sub, out)) == 0) {
        skip_space(&sub);
        if (sub.pos != n)
            r = fail(&sub, MLLM_CALLS_ERR_SYNTAX, sub.pos, "expected the end after the object");
    }
    if (r == MLLM_CALLS_ERR_NOMEM)
        return nomem(p);
    if (r)
        return fail(p, r, at, "in the '%s' string at offset %zu: %s", key, err.position,
                    err.message);
    return MLLM_CALLS_OK;
}

static int key_is(const item *it, const char *word)
{
    return it->key_len == strlen(word) && memcmp(it->key, word, it->key_len) == 0;
}

/* {"name": "...", "arguments": {...} or "{...}"} at p->pos, which holds '{'. */
static int parse_json_call(parser *p, mllm_call *call)
{
    int have_name = 0, have_args = 0, r;
    char buf[48];

    if ((r = enter(p)) != 0)
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
            return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos,
                        "expected a string key or '}' in call object");
        if ((r = parse_member(p, &it, "call object")) != 0)
            return r;
        at = p->pos;
        snip(buf, it.key, it.key_len);
        if (key_is(&it, "name")) {
            const char *s;
            size_t n;
            if (have_name)
                return fail(p, MLLM_CALLS_ERR_SYNTAX, it.key_pos,
                            "duplicate key 'name' in call object");
            if (!is_quote(peek(p)))
                return fail(p, MLLM_CALLS_ERR_SYNTAX, at, "expected a string for 'name'");
            if ((r = parse_string(p, &s, &n)) != 0)
                return r;
            if (n == 0 || memchr(s, '\0', n))
                return fail(p, MLLM_CALLS_ERR_SYNTAX, at,
                            "expected a call name without NUL bytes for 'name'");
            if (n > MLLM_CALLS_MAX_NAME)
                return fail(p, MLLM_CALLS_ERR_LIMIT, at,
                            "call name longer than MLLM_CALLS_MAX_NAME (%d bytes)",
                            MLLM_CALLS_MAX_NAME);
            call->name = s;
            have_name = 1;
        } else if (key_is(&it, "arguments") || key_is(&it, "parameters")) {
            if (have_args)
                return fail(p, MLLM_CALLS_ERR_SYNTAX, it.key_pos,
                            "duplicate key '%s' in call object", buf);
            if (peek(p) == '{')
                r = parse_value(p, &call->args);
            else if (is_quote(peek(p))) {
                const char *s;
                size_t n;
                r = parse_string(p, &s, &n);
                if (!r)
                    r = parse_arguments_string(p, s, n, at, buf, &call->args);
            } else
                return fail(p, MLLM_CALLS_ERR_SYNTAX, at,
                            "expected an object or a string for '%s'", buf);
            if (r)
                return r;
            have_args = 1;
        } else {
            mllm_value ignored;
            r = parse_value(p, &ignored);
            if (r == NOVALUE)
                return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos, "expected a value for key '%s'",
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
        return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos, "expected ',' or '}' in call object");
    }
    if (!have_name)
        return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos, "expected key 'name' in call object");
    if (!have_args)
        return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos,
                    "expected key 'arguments' (or 'parameters') in call object");
    p->pos++;
    p->depth--;
    empty_array(&call->positional);
    return MLLM_CALLS_OK;
}

static int parse_call(parser *p, mllm_call *call)
{
    int c = peek(p);
    if (c == '{')
        return parse_json_call(p, call);
    if (c >= 0 && is_name_start(c))
        return parse_python_call(p, call);
    return fail(p, MLLM_CALLS_ERR_SYNTAX, p->pos, "expected a call name or '{'");
}

/* ---- the engine ---------------------------------------------------------------------------- */

enum { ST_TEXT, ST_TAGGED, ST_BARE, ST_FAILED, ST_FINISHED };
enum { STEP_WAIT = 0, STEP_GO = 1 };      /* step results; negative: a return code */

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
    int code;                             /* FAILED: the return code */
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

/* v (maybe moved) with room for `need` elements of `size` bytes, or NULL with v untouched. */
static void *grow(void *v, size_t *cap, size_t need, size_t size)
{
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > (size_t)-1 / 2)
            return NULL;
        c *= 2;
    }
    if (c == *cap)
        return v;
    if (c > (size_t)-1 / size || !(v = realloc(v, c * size)))
        return NULL;
    *cap = c;
    return v;
}

static int push_event(mllm_calls_stream *s, mllm_calls_event_type type, const char *text,
                      size_t text_len, const mllm_call *call)
{
    mllm_calls_event *ev = (mllm_calls_event *)grow(s->events, &s->cap_events,
                                                    s->n_events + 1, sizeof *ev);
    if (!ev)
        return MLLM_CALLS_ERR_NOMEM;
    s->events = ev;
    ev = &s->events[s->n_events++];
    ev->type = type;
    ev->text = text;
    ev->text_len = text_len;
    ev->call = call;
    ev->error = type == MLLM_CALLS_EVENT_ERROR ? &s->error : NULL;
    return MLLM_CALLS_OK;
}

static int out_text(mllm_calls_stream *s, const char *t, size_t n)
{
    char *copy;
    if (s->collect) {
        if (n >= (size_t)-1 - s->text_len
            || !(copy = (char *)grow(s->text, &s->text_cap, s->text_len + n + 1, 1)))
            return MLLM_CALLS_ERR_NOMEM;
        s->text = copy;
        memcpy(s->text + s->text_len, t, n);
        s->text_len += n;
        s->text[s->text_len] = '\0';
        return MLLM_CALLS_OK;
    }
    if (!(copy = arena_strdup(&s->arena, t, n)))
        return MLLM_CALLS_ERR_NOMEM;
    return push_event(s, MLLM_CALLS_EVENT_TEXT, copy, n, NULL);
}

static int out_call(mllm_calls_stream *s, const mllm_call *call)
{
    mllm_call *c;
    char *raw;
    size_t n = call->last - call->first + 1;

    if (s->collect) {
        if (!(c = (mllm_call *)grow(s->calls, &s->cap_calls, s->n_calls + 1, sizeof *c)))
            return MLLM_CALLS_ERR_NOMEM;
        s->calls = c;
        s->calls[s->n_calls++] = *call;
        return MLLM_CALLS_OK;
    }
    c = (mllm_call *)arena_alloc(&s->arena, sizeof *c);
    raw = arena_strdup(&s->arena, s->d + (call->first - s->base), n);
    if (!c || !raw)
        return MLLM_CALLS_ERR_NOMEM;
    *c = *call;
    s->n_calls++;
    return push_event(s, MLLM_CALLS_EVENT_CALL, raw, n, c);
}

/* Index up to which d[from..e) can be emitted without cutting a UTF-8 sequence at its end. */
static size_t utf8_safe_end(const char *d, size_t from, size_t e)
{
    size_t k;
    for (k = 1; k <= 3 && e - from >= k; k++) {
        unsigned char b = byte_at(d, e - k);
        size_t need;
        if ((b & 0xC0) == 0x80)
            continue;                     /* a continuation byte: look further back */
        need = b >= 0xF8 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        return k < need ? e - k : e;
    }
    return e;
}

/* Emits d[head..e) as text (when hold_utf8: minus an incomplete UTF-8 sequence at its end). */
static int emit_text(mllm_calls_stream *s, size_t e, int hold_utf8)
{
    int r;
    if (hold_utf8)
        e = utf8_safe_end(s->d, s->head, e);
    if (e <= s->head)
        return MLLM_CALLS_OK;
    if ((r = out_text(s, s->d + s->head, e - s->head)) != 0)
        return r;
    s->prev_word = is_word(byte_at(s->d, e - 1));
    s->head = e;
    return MLLM_CALLS_OK;
}

static int start_call(mllm_calls_stream *s, size_t region, size_t content, int state)
{
    int r = emit_text(s, region, 0);
    if (r)
        return r;
    s->region = region;
    s->content = s->scan = content;
    s->quote = s->escape = 0;
    s->depth = 0;
    s->state = state;
    return STEP_GO;
}

/* Bare mode: does '{' at p start a JSON call, i.e. '{' ws "name" ws ':' within the lookahead?
   1 yes, 0 no, -1 cannot tell yet (the input ends before). */
static int json_start(const char *p, size_t avail, int final)
{
    size_t k = 1, lim = avail < MLLM_CALLS_LOOKAHEAD ? avail : MLLM_CALLS_LOOKAHEAD;
    const char *w = "name";
    char q;

    while (k < lim && is_space(byte_at(p, k)))
        k++;
    if (k < lim && !is_quote(byte_at(p, k)))
        return 0;
    q = k < lim ? p[k++] : 0;
    while (k < lim && *w && p[k] == *w)
        k++, w++;
    if (k < lim && *w)
        return 0;
    if (k < lim && p[k++] != q)
        return 0;
    while (k < lim && is_space(byte_at(p, k)))
        k++;
    if (k < lim)
        return p[k] == ':';
    return final || lim == MLLM_CALLS_LOOKAHEAD ? 0 : -1;
}

static int step_text(mllm_calls_stream *s, int final)
{
    const char *d = s->d;
    size_t i = s->head, n = s->len;
    int r;

    while (i < n) {
        unsigned char c = byte_at(d, i);
        if (c == (unsigned char)s->open[0]) {
            size_t avail = n - i;
            if (avail >= s->open_len) {
                if (memcmp(d + i, s->open, s->open_len) == 0)
                    return start_call(s, i, i + s->open_len, ST_TAGGED);
            } else if (!final && memcmp(d + i, s->open, avail) == 0)
                return emit_text(s, i, 0);                /* hold back a possible tag */
        }
        if (s->bare && is_name_start(c) && !(i > s->head ? is_word(byte_at(d, i - 1))
                                                         : s->prev_word)) {
            size_t j = i, lim = n - i > MLLM_CALLS_MAX_NAME ? i + MLLM_CALLS_MAX_NAME + 1 : n;
            while (j < lim && is_word(byte_at(d, j)))
                j++;
            if (j - i > MLLM_CALLS_MAX_NAME) {            /* too long for a name: plain text */
                while (j < n && is_word(byte_at(d, j)))
                    j++;
            } else if (j == n) {
                if (!final)
                    return emit_text(s, i, 0);            /* hold back a possible name */
            } else if (d[j] == '(' && scan_name(d, i, j) == j)
                return start_call(s, i, i, ST_BARE);
            i = j;
            continue;
        }
        if (s->bare && c == '{') {
            int m = json_start(d + i, n - i, final);
            if (m > 0)
                return start_call(s, i, i, ST_BARE);
            if (m < 0)
                return emit_text(s, i, 0);                /* hold back a possible object */
        }
        i++;
    }
    r = emit_text(s, n, !final);
    return r ? r : STEP_WAIT;
}

/* The region is complete: the call is d[region..end), its content d[content..content_end).
   closed: the region's end was seen (closing tag or bracket), not the end of the input. */
static int finish_call(mllm_calls_stream *s, size_t content_end, size_t end, int closed)
{
    char buf[48];
    int tagged = s->state == ST_TAGGED, r;
    mllm_call call;
    parser p;

    if (s->n_calls == MLLM_CALLS_MAX_CALLS) {
        /* past the limit a call is only counted: not parsed, and its text is not reported */
        if (s->n_skipped++ == 0)
            s->first_skipped = s->base + s->region;
        s->prev_word = is_word(byte_at(s->d, end - 1));
        s->head = end;
        s->state = ST_TEXT;
        return STEP_GO;
    }
    memset(&call, 0, sizeof call);
    memset(&p, 0, sizeof p);
    p.d = s->d;
    p.pos = s->content;
    p.end = content_end;
    p.base = s->base;
    p.arena = &s->arena;
    p.items = &s->items;
    p.err = &s->error;
    s->items.n = 0;
    if (tagged)
        skip_space(&p);
    if ((r = parse_call(&p, &call)) != 0)
        return r;
    if (tagged)
        skip_space(&p);
    if (!closed || p.pos != content_end) {
        if (tagged)
            return fail(&p, MLLM_CALLS_ERR_SYNTAX, p.pos, "expected '%s' after call",
                        snip(buf, s->close, s->close_len));
        return fail(&p, MLLM_CALLS_ERR_SYNTAX, p.pos, "expected the end of the call");
    }
    call.first = s->base + s->region;
    call.last = s->base + end - 1;
    if ((r = out_call(s, &call)) != 0)
        return r;
    s->prev_word = is_word(byte_at(s->d, end - 1));
    s->head = end;
    s->state = ST_TEXT;
    return STEP_GO;
}

static int step_tagged(mllm_calls_stream *s, int final)
{
    const char *d = s->d;
    size_t i, n = s->len;

    for (i = s->scan; i < n; i++) {
        char c = d[i];
        if (s->quote) {
            if (s->escape)
                s->escape = 0;
            else if (c == '\\')
                s->escape = 1;
            else if (c == s->quote)
                s->quote = 0;
            continue;
        }
        if (c == s->close[0]) {
            size_t avail = n - i;
            if (avail >= s->close_len) {
                if (memcmp(d + i, s->close, s->close_len) == 0)
                    return finish_call(s, i, i + s->close_len, 1);
            } else if (!final && memcmp(d + i, s->close, avail) == 0) {
                s->scan = i;
                return STEP_WAIT;
            }
        }
        if (is_quote((unsigned char)c))
            s->quote = c;
    }
    s->scan = n;
    return final ? finish_call(s, n, n, 0) : STEP_WAIT;
}

static int step_bare(mllm_calls_stream *s, int final)
{
    const char *d = s->d;
    size_t i, n = s->len;

    for (i = s->scan; i < n; i++) {
        char c = d[i], opener;
        if (s->quote) {
            if (s->escape)
                s->escape = 0;
            else if (c == '\\')
                s->escape = 1;
            else if (c == s->quote)
                s->quote = 0;
            continue;
        }
        switch (c) {
        case '"': case '\'':
            s->quote = c;
            break;
        case '(': case '[': case '{':
            s->stack[s->depth++] = c;
            if (s->depth > MLLM_CALLS_MAX_DEPTH)      /* the parser will say so */
                return finish_call(s, i + 1, i + 1, 1);
            break;
        case ')': case ']': case '}':
            opener = c == ')' ? '(' : c == ']' ? '[' : '{';
            if (s->depth == 0 || s->stack[s->depth - 1] != opener || --s->depth == 0)
                return finish_call(s, i + 1, i + 1, 1);
            break;
        default:
            break;
        }
    }
    s->scan = n;
    return final ? finish_call(s, n, n, 0) : STEP_WAIT;
}

static int process(mllm_calls_stream *s, int final)
{
    for (;;) {
        int r;
        switch (s->state) {
        case ST_TEXT: r = step_text(s, final); break;
        case ST_TAGGED: r = step_tagged(s, final); break;
        case ST_BARE: r = step_bare(s, final); break;
        case ST_FAILED: return s->code;
        default: return MLLM_CALLS_OK;
        }
        if (r == STEP_WAIT)
            return MLLM_CALLS_OK;
        if (r < 0) {
            s->state = ST_FAILED;
            s->code = r;
            if (r == MLLM_CALLS_ERR_NOMEM)
                set_error(&s->error, r, s->base + s->head, "not enough memory");
            else if (!s->collect && push_event(s, MLLM_CALLS_EVENT_ERROR, NULL, 0, NULL))
                s->code = MLLM_CALLS_ERR_NOMEM;
            return s->code;
        }
    }
}

/* The end of the input was processed without error: when calls were skipped, the stream
   fails with the error that counts them (the calls before the limit stand). */
static int report_skipped(mllm_calls_stream *s)
{
    if (!s->n_skipped)
        return MLLM_CALLS_OK;
    s->state = ST_FAILED;
    s->code = set_error(&s->error, MLLM_CALLS_ERR_LIMIT, s->first_skipped,
                        "%zu more call%s after the limit of %d (MLLM_CALLS_MAX_CALLS) %s not parsed",
                        s->n_skipped, s->n_skipped == 1 ? "" : "s", MLLM_CALLS_MAX_CALLS,
                        s->n_skipped == 1 ? "was" : "were");
    if (!s->collect && push_event(s, MLLM_CALLS_EVENT_ERROR, NULL, 0, NULL))
        s->code = MLLM_CALLS_ERR_NOMEM;
    return s->code;
}

static int stream_init(mllm_calls_stream *s, const mllm_calls_opts *opts, mllm_calls_error *err)
{
    mllm_calls_opts o = mllm_calls_default_opts();
    if (opts) {
        if (opts->open)
            o.open = opts->open;
        if (opts->close)
            o.close = opts->close;
        o.bare = opts->bare;
    }
    memset(s, 0, sizeof *s);
    s->open_len = bounded_len(o.open, MLLM_CALLS_MAX_TAG);
    s->close_len = bounded_len(o.close, MLLM_CALLS_MAX_TAG);
    if (s->open_len == 0 || s->open_len > MLLM_CALLS_MAX_TAG)
        return set_error(err, MLLM_CALLS_ERR_ARG, 0,
                         "option 'open' must be 1 to %d bytes (MLLM_CALLS_MAX_TAG)",
                         MLLM_CALLS_MAX_TAG);
    if (s->close_len == 0 || s->close_len > MLLM_CALLS_MAX_TAG)
        return set_error(err, MLLM_CALLS_ERR_ARG, 0,
                         "option 'close' must be 1 to %d bytes (MLLM_CALLS_MAX_TAG)",
                         MLLM_CALLS_MAX_TAG);
    memcpy(s->open, o.open, s->open_len + 1);
    memcpy(s->close, o.close, s->close_len + 1);
    s->bare = o.bare != 0;
    s->d = "";
    s->state = ST_TEXT;
    return MLLM_CALLS_OK;
}

static void stream_release(mllm_calls_stream *s)
{
    arena_free(&s->arena);
    free(s->items.v);
    free(s->buf);
    free(s->events);
    free(s->calls);
    free(s->text);
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

int mllm_calls_parse(const char *text, size_t len, const mllm_calls_opts *opts,
                     mllm_calls_result **out, mllm_calls_error *err)
{
    mllm_calls_stream s;
    result_impl *res = NULL;
    int r, partial;

    if (out)
        *out = NULL;
    if (!out || (!text && len))
        return set_error(err, MLLM_CALLS_ERR_ARG, 0, "%s is NULL", out ? "text" : "out");
    if ((r = stream_init(&s, opts, err)) != 0)
        return r;
    s.collect = 1;
    s.d = text ? text : "";
    s.len = len;
    r = process(&s, 1);
    partial = !r && s.n_skipped;          /* too many calls: a result and an error */
    if (!r)
        r = report_skipped(&s);
    if ((!r || partial) && !(res = (result_impl *)malloc(sizeof *res)))
        r = set_error(&s.error, MLLM_CALLS_ERR_NOMEM, 0, "not enough memory");
    if (r && err)
        *err = s.error;
    if (!res) {
        stream_release(&s);
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
    stream_release(&s);
    *out = &res->pub;
    return r;
}

void mllm_calls_result_free(mllm_calls_result *result)
{
    result_impl *res = (result_impl *)result;
    if (!res)
        return;
    arena_free(&res->arena);
    free(res->calls);
    free(res->text);
    free(res);
}

int mllm_calls_stream_new(const mllm_calls_opts *opts, mllm_calls_stream **out,
                          mllm_calls_error *err)
{
    mllm_calls_stream *s;
    int r;
    if (!out)
        return set_error(err, MLLM_CALLS_ERR_ARG, 0, "out is NULL");
    *out = NULL;
    if (!(s = (mllm_calls_stream *)malloc(sizeof *s)))
        return set_error(err, MLLM_CALLS_ERR_NOMEM, 0, "not enough memory");
    if ((r = stream_init(s, opts, err)) != 0) {
        free(s);
        return r;
    }
    *out = s;
    return MLLM_CALLS_OK;
}

/* Starts a new batch of events when the previous one has been drained. */
static void start_batch(mllm_calls_stream *s)
{
    if (s->next_event == s->n_events) {
        s->n_events = s->next_event = 0;
        arena_free(&s->arena);
    }
}

static int append(mllm_calls_stream *s, const char *piece, size_t len)
{
    size_t live = s->len - s->head;
    char *buf;
    /* drop consumed bytes when they outweigh the live ones, or before growing: amortized O(1) */
    if (s->head > 0 && (live <= s->head || s->cap - s->len < len)) {
        memmove(s->buf, s->buf + s->head, live);
        if (s->state == ST_TAGGED || s->state == ST_BARE) {
            s->region -= s->head;
            s->content -= s->head;
            s->scan -= s->head;
        }
        s->base += s->head;
        s->len = live;
        s->head = 0;
    }
    if (len > (size_t)-1 - s->len
        || !(buf = (char *)grow(s->buf, &s->cap, s->len + len, 1)))
        return MLLM_CALLS_ERR_NOMEM;
    s->buf = buf;
    memcpy(s->buf + s->len, piece, len);
    s->len += len;
    s->d = s->buf;
    return MLLM_CALLS_OK;
}

int mllm_calls_stream_feed(mllm_calls_stream *s, const char *piece, size_t len)
{
    if (!s || (!piece && len))
        return MLLM_CALLS_ERR_ARG;
    if (s->state == ST_FAILED)
        return s->code;
    if (s->state == ST_FINISHED)
        return MLLM_CALLS_ERR_STATE;
    start_batch(s);
    if (len && append(s, piece, len)) {
        s->state = ST_FAILED;
        s->code = set_error(&s->error, MLLM_CALLS_ERR_NOMEM, s->base + s->len,
                            "not enough memory");
        return s->code;
    }
    return process(s, 0);
}

int mllm_calls_stream_finish(mllm_calls_stream *s)
{
    int r;
    if (!s)
        return MLLM_CALLS_ERR_ARG;
    if (s->state == ST_FAILED)
        return s->code;
    if (s->state == ST_FINISHED)
        return MLLM_CALLS_OK;
    start_batch(s);
    r = process(s, 1);
    if (!r)
        r = report_skipped(s);
    if (!r)
        s->state = ST_FINISHED;
    return r;
}

int mllm_calls_stream_next(mllm_calls_stream *s, mllm_calls_event *ev)
{
    if (!s || !ev || s->next_event == s->n_events)
        return 0;
    *ev = s->events[s->next_event++];
    return 1;
}

void mllm_calls_stream_free(mllm_calls_stream *s)
{
    if (!s)
        return;
    stream_release(s);
    free(s);
}
