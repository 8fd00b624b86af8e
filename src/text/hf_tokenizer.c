/* hf_tokenizer.c — encoding with a tokenizer.json: the added tokens are found
 * in the raw text first (leftmost, longest; lstrip/rstrip take the (Unicode)
 * whitespace beside them, single_word wants no word character beside them), then each
 * run of text between them is normalized, pre-tokenized (hf_pretok.c) and
 * merged (bpe.c); the TemplateProcessing tokens go around the whole. Also the
 * bytes of one token, for streaming and constrained decoding. */
#include "base/grow.h"
#include "base/status.h"
#include "hf_tokenizer.h"
#include "mobilellm_limits.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* An insertion sort: a few hundred added tokens at most in practice, and no shared state (qsort_r is not C11). */
bool mllm_hf_index_added(mllm_hf *t)
{
    t->added_order = mllm_malloc((t->n_added + 1) * sizeof *t->added_order);
    if (!t->added_order) return false;
    for (size_t i = 0; i < t->n_added; i++) {
        size_t j = i;
        const hf_added *a = &t->added[i];
        for (; j > 0; j--) {
            const hf_added *b = &t->added[t->added_order[j - 1]];
            unsigned ca = (unsigned char)a->content.s[0], cb = (unsigned char)b->content.s[0];
            if (cb < ca || (cb == ca && b->content.len >= a->content.len)) break;
            t->added_order[j] = t->added_order[j - 1];
        }
        t->added_order[j] = (uint32_t)i;
    }
    memset(t->added_from, 0, sizeof t->added_from);
    for (size_t i = 0; i < t->n_added; i++) t->added_from[(unsigned char)t->added[i].content.s[0] + 1]++;
    for (int b = 0; b < 256; b++) t->added_from[b + 1] += t->added_from[b];
    return true;
}

/* Unicode's White_Space (Rust's char::is_whitespace): the bytes of such a
 * character at s[0..n), or 0. */
static size_t space_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n >= 1 && (u[0] == ' ' || (u[0] >= '\t' && u[0] <= '\r'))) return 1;
    if (n >= 2 && u[0] == 0xC2 && (u[1] == 0x85 || u[1] == 0xA0)) return 2;
    if (n < 3) return 0;
    uint32_t cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    if ((u[0] & 0xF0) != 0xE0) return 0;
    return cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
                   cp == 0x205F || cp == 0x3000
               ? 3
               : 0;
}

/* The whitespace character that ends s[floor..end), if any: its length. */
static size_t space_before(const char *s, size_t floor, size_t end)
{
    for (size_t k = 1; k <= 3 && k <= end - floor; k++)
        if (space_len(s + end - k, k) == k) return k;
    return 0;
}

/* A letter, digit or '_' (any non-ASCII byte counts as part of a word). */
static bool is_word_byte(unsigned char c)
{
    return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

typedef struct {
    size_t start, end;          /* the token itself */
    size_t cut_start, cut_end;  /* with the whitespace lstrip/rstrip take */
    int32_t id;
} added_match;

/* The first added token at or after `at` (the text before `floor` is taken). */
static bool next_added(const mllm_hf *t, const char *s, size_t len, size_t at, size_t floor, added_match *m)
{
    if (!t->n_added) return false;
    for (size_t i = at; i < len; i++) {
        unsigned c = (unsigned char)s[i];
        for (uint32_t k = t->added_from[c]; k < t->added_from[c + 1]; k++) {
            const hf_added *a = &t->added[t->added_order[k]];
            if (a->content.len > len - i || memcmp(s + i, a->content.s, a->content.len) != 0) continue;
            size_t end = i + a->content.len;
            if (a->single_word && ((i > 0 && is_word_byte((unsigned char)s[i - 1])) ||
                                   (end < len && is_word_byte((unsigned char)s[end]))))
                break; /* the longest match here is not a word of its own: none here */
            *m = (added_match){i, end, i, end, a->id};
            size_t w;
            if (a->lstrip)
                while ((w = space_before(s, floor, m->cut_start))) m->cut_start -= w;
            if (a->rstrip)
                while ((w = space_len(s + m->cut_end, len - m->cut_end))) m->cut_end += w;
            return true;
        }
    }
    return false;
}

static mllm_status encode_run(const mllm_hf *t, const char *s, size_t len, bool at_start, int32_t **ids, size_t *n,
                              size_t *cap, char *err, size_t errlen)
{
    if (!len) return MLLM_OK;
    hf_pieces p;
    mllm_status st = mllm_hf_pretokenize(t, s, len, at_start, &p, err, errlen);
    for (size_t i = 0; !st && i < p.n_span; i++)
        st = mllm_hf_bpe_word(t, p.buf + p.span[i].off, p.span[i].len, ids, n, cap, err, errlen);
    mllm_hf_pieces_free(&p);
    return st;
}

static bool add_ids(int32_t **ids, size_t *n, size_t *cap, const int32_t *src, size_t k)
{
    if (!mllm_grow((void **)ids, cap, *n + k + 1, sizeof **ids)) return false;
    if (k) memcpy(*ids + *n, src, k * sizeof *src);
    *n += k;
    return true;
}

mllm_status mllm_hf_encode(const mllm_hf *t, const char *text, size_t len, bool add_special, int32_t **ids,
                           size_t *n, char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    int32_t *out = NULL;
    size_t count = 0, cap = 0;
    mllm_status st = MLLM_OK;
    if (add_special && !add_ids(&out, &count, &cap, t->prefix, t->n_prefix)) goto nomem;
    size_t from = 0;
    added_match m;
    while (!st && next_added(t, text, len, from, from, &m)) {
        st = encode_run(t, text + from, m.cut_start - from, from == 0, &out, &count, &cap, err, errlen);
        if (!st && !add_ids(&out, &count, &cap, &m.id, 1)) goto nomem;
        from = m.cut_end;
    }
    if (!st) st = encode_run(t, text + from, len - from, from == 0, &out, &count, &cap, err, errlen);
    if (!st && add_special && !add_ids(&out, &count, &cap, t->suffix, t->n_suffix)) goto nomem;
    if (!st && !add_ids(&out, &count, &cap, NULL, 0)) goto nomem; /* never NULL, even for no ids */
    if (st) {
        mllm_free(out);
        return st;
    }
    *ids = out;
    *n = count;
    return MLLM_OK;
nomem:
    mllm_free(out);
    return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
}

static int put(char *buf, size_t cap, size_t at, const char *s, size_t n)
{
    if (at < cap) memcpy(buf + at, s, n < cap - at ? n : cap - at);
    return (int)n;
}

int mllm_hf_piece_bytes(const mllm_hf *t, int32_t id, char *buf, size_t cap)
{
    if (id < 0 || id >= t->n_ids) return -1;
    if (t->special[id]) return 0; /* control tokens add no text */
    const hf_str *tok = &t->token[id];
    size_t out = 0;
    if (t->byte_level) {
        /* every character back to its byte; a token outside the alphabet as it is */
        char tmp[MLLM_MAX_TOKEN_BYTES];
        size_t k = 0;
        for (size_t i = 0; i < tok->len; k++) {
            unsigned char c = (unsigned char)tok->s[i];
            uint32_t cp = c;
            size_t used = 1;
            if (c >= 0xC0 && c < 0xE0 && i + 1 < tok->len) {
                cp = ((uint32_t)(c & 0x1F) << 6) | ((unsigned char)tok->s[i + 1] & 0x3F);
                used = 2;
            }
            int b = c >= 0xE0 || (c >= 0x80 && c < 0xC0) ? -1 : mllm_hf_char_byte(cp);
            if (b < 0 || k >= sizeof tmp) return put(buf, cap, 0, tok->s, tok->len);
            tmp[k] = (char)b;
            i += used;
        }
        return put(buf, cap, 0, tmp, k);
    }
    if (tok->len == 6 && !memcmp(tok->s, "<0x", 3) && tok->s[5] == '>' && t->byte_fallback) {
        int v = (int)strtol(tok->s + 3, NULL, 16);
        char c = (char)v;
        return put(buf, cap, 0, &c, 1);
    }
    /* "▁" stands for a space */
    static const char META[] = "\xE2\x96\x81";
    for (size_t i = 0; i < tok->len;) {
        if (tok->len - i >= 3 && !memcmp(tok->s + i, META, 3)) {
            out += (size_t)put(buf, cap, out, " ", 1);
            i += 3;
        } else {
            out += (size_t)put(buf, cap, out, tok->s + i, 1);
            i++;
        }
    }
    return (int)out;
}
