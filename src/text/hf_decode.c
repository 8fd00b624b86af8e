/* hf_decode.c — the decoders of tokenizer.json, each a pass over the list of
 * token strings as in the `tokenizers` library (ByteLevel, Metaspace, Replace,
 * ByteFallback, Fuse, Strip), joined at the end; without a decoder the tokens
 * are joined with spaces, as upstream. Invalid UTF-8 that byte tokens make
 * comes out as U+FFFD, one per maximal invalid sequence (from_utf8_lossy, and
 * tokenizers.js for ByteFallback too, where the Rust library writes one per byte). */
#include "base/grow.h"
#include "base/status.h"
#include "hf_tokenizer.h"
#include "utf8.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    hf_str *s;
    size_t n, cap;
} strlist;

typedef struct {
    char *b;
    size_t len, cap;
} sbuf;

static bool sb_add(sbuf *b, const char *s, size_t n)
{
    if (!mllm_grow((void **)&b->b, &b->cap, b->len + n + 1, 1)) return false;
    if (n) memcpy(b->b + b->len, s, n);
    b->len += n;
    b->b[b->len] = '\0';
    return true;
}

static void list_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++) mllm_free(l->s[i].s);
    mllm_free(l->s);
    memset(l, 0, sizeof *l);
}

/* Takes b's bytes into l (b is reset). */
static bool list_take(strlist *l, sbuf *b)
{
    if (!b->b && !sb_add(b, "", 0)) return false;
    if (!mllm_grow((void **)&l->s, &l->cap, l->n + 1, sizeof *l->s)) {
        mllm_free(b->b);
        memset(b, 0, sizeof *b);
        return false;
    }
    l->s[l->n++] = (hf_str){b->b, b->len};
    memset(b, 0, sizeof *b);
    return true;
}

static const char REPLACEMENT_CHAR[] = "\xEF\xBF\xBD";

/* s as UTF-8 with each maximal invalid sequence replaced by U+FFFD. */
static bool add_lossy(sbuf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        int k = mllm_utf8_seq_len(s + i, n - i);
        if (k > 0) {
            if (!sb_add(b, s + i, (size_t)k)) return false;
            i += (size_t)k;
            continue;
        }
        /* the bytes that started a valid sequence, then the first that broke it */
        size_t bad = 1;
        unsigned char lo, hi;
        int want = mllm_utf8_lead((unsigned char)s[i], &lo, &hi);
        for (int j = 1; j < want && i + (size_t)j < n; j++) {
            unsigned char c = (unsigned char)s[i + (size_t)j];
            if (j == 1 ? (c < lo || c > hi) : (c & 0xC0) != 0x80) break;
            bad++;
        }
        if (!sb_add(b, REPLACEMENT_CHAR, 3)) return false;
        i += bad;
    }
    return true;
}

static uint32_t decode_cp(const char *s, size_t n, size_t *used)
{
    int k = mllm_utf8_seq_len(s, n);
    if (k <= 0) {
        *used = 1;
        return 0xFFFFFFFFu;
    }
    *used = (size_t)k;
    const unsigned char *u = (const unsigned char *)s;
    if (k == 1) return u[0];
    uint32_t cp = u[0] & (0x7F >> k);
    for (int j = 1; j < k; j++) cp = (cp << 6) | (u[j] & 0x3F);
    return cp;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "<0xAB>" -> 0xAB, else -1 */
static int byte_token(const hf_str *s)
{
    if (s->len != 6 || memcmp(s->s, "<0x", 3) != 0 || s->s[5] != '>') return -1;
    int hi = hexval(s->s[3]), lo = hexval(s->s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* A token's bytes: each character's byte when every one is in the alphabet, else the token as it is. */
static bool add_bytelevel(sbuf *b, const hf_str *t)
{
    size_t start = b->len;
    for (size_t k = 0; k < t->len;) {
        size_t used;
        int v = mllm_hf_char_byte(decode_cp(t->s + k, t->len - k, &used));
        if (v < 0) {
            b->len = start;
            return sb_add(b, t->s, t->len);
        }
        char c = (char)v;
        if (!sb_add(b, &c, 1)) return false;
        k += used;
    }
    return true;
}

static bool starts_with(const char *s, size_t n, const hf_str *p)
{
    return n >= p->len && memcmp(s, p->s, p->len) == 0;
}

/* One decoder over the list. */
static bool run_step(const hf_step *st, strlist *in, strlist *out)
{
    sbuf b = {0};
    sbuf bytes = {0}; /* ByteFallback: the byte tokens of the current run */
    for (size_t i = 0; i <= in->n; i++) {
        const hf_str *t = i < in->n ? &in->s[i] : NULL;
        switch (st->kind) {
        case HF_DEC_BYTELEVEL: /* one string out of all */
            if (!t) {
                sbuf lossy = {0};
                bool ok = add_lossy(&lossy, b.b ? b.b : "", b.len);
                mllm_free(b.b);
                b = lossy;
                if (!ok || !list_take(out, &b)) goto fail;
                break;
            }
            if (!add_bytelevel(&b, t)) goto fail;
            break;
        case HF_DEC_FUSE:
            if (t ? !sb_add(&b, t->s, t->len) : !list_take(out, &b)) goto fail;
            break;
        case HF_DEC_BYTEFALLBACK: {
            int v = t ? byte_token(t) : -1;
            if (v >= 0) {
                char c = (char)v;
                if (!sb_add(&bytes, &c, 1)) goto fail;
                break;
            }
            if (bytes.len) { /* the run of byte tokens as one string */
                bool ok = add_lossy(&b, bytes.b, bytes.len) && list_take(out, &b);
                mllm_free(bytes.b);
                memset(&bytes, 0, sizeof bytes);
                if (!ok) goto fail;
            }
            if (t && (!sb_add(&b, t->s, t->len) || !list_take(out, &b))) goto fail;
            break;
        }
        default: { /* per token: Replace, Metaspace, Strip */
            if (!t) break;
            size_t from = 0, to = t->len;
            if (st->kind == HF_DEC_STRIP) {
                for (int k = 0; k < st->start && starts_with(t->s + from, to - from, &st->a); k++) from += st->a.len;
                for (int k = 0; k < st->stop && to - from >= st->a.len &&
                                memcmp(t->s + to - st->a.len, st->a.s, st->a.len) == 0;
                     k++)
                    to -= st->a.len;
                if (!sb_add(&b, t->s + from, to - from)) goto fail;
            } else {
                const hf_str *pat = &st->a;
                for (size_t k = 0; k < t->len;) {
                    if (pat->len && starts_with(t->s + k, t->len - k, pat)) {
                        bool drop = st->kind == HF_DEC_METASPACE && i == 0 && st->prepend != HF_PREPEND_NEVER;
                        const char *rep = st->kind == HF_DEC_METASPACE ? " " : st->b.s;
                        size_t rn = st->kind == HF_DEC_METASPACE ? 1 : st->b.len;
                        if (!drop && !sb_add(&b, rep, rn)) goto fail;
                        k += pat->len;
                    } else {
                        if (!sb_add(&b, t->s + k, 1)) goto fail;
                        k++;
                    }
                }
            }
            if (!list_take(out, &b)) goto fail;
        }
        }
    }
    mllm_free(b.b);
    mllm_free(bytes.b);
    return true;
fail:
    mllm_free(b.b);
    mllm_free(bytes.b);
    return false;
}

mllm_status mllm_hf_decode(const mllm_hf *t, const int32_t *ids, size_t n, char **text, size_t *len, char *err,
                           size_t errlen)
{
    *text = NULL;
    *len = 0;
    strlist cur = {0};
    sbuf b = {0};
    for (size_t i = 0; i < n; i++)
        if (!sb_add(&b, t->token[ids[i]].s, t->token[ids[i]].len) || !list_take(&cur, &b)) goto nomem;
    for (size_t k = 0; k < t->n_dec; k++) {
        strlist next = {0};
        bool ok = run_step(&t->dec[k], &cur, &next);
        list_free(&cur);
        cur = next;
        if (!ok) goto nomem;
    }
    for (size_t i = 0; i < cur.n; i++)
        if ((i && !t->has_decoder && !sb_add(&b, " ", 1)) || !sb_add(&b, cur.s[i].s, cur.s[i].len)) goto nomem;
    if (!b.b && !sb_add(&b, "", 0)) goto nomem;
    list_free(&cur);
    *text = b.b;
    *len = b.len;
    return MLLM_OK;
nomem:
    list_free(&cur);
    mllm_free(b.b);
    return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
}

bool mllm_hf_drops_first_space(const mllm_hf *t)
{
    for (size_t k = 0; k < t->n_dec; k++) {
        const hf_step *st = &t->dec[k];
        if (st->kind == HF_DEC_STRIP && st->start > 0 && st->a.len == 1 && st->a.s[0] == ' ') return true;
        if (st->kind == HF_DEC_METASPACE && st->prepend != HF_PREPEND_NEVER) return true;
    }
    return false;
}
