/* hf_pretok.c — the normalizers and pre-tokenizers of tokenizer.json: Prepend and
 * Replace; Split (the file's own regex, compiled by PCRE2 with UTF + UCP, as the
 * `tokenizers` library compiles it with Oniguruma), ByteLevel, Metaspace, Digits.
 * A run of text becomes pre-tokens: spans of one working buffer. Byte-level
 * pre-tokens stay raw bytes here; bpe.c starts from each byte's token. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "base/grow.h"
#include "base/status.h"
#include "hf_tokenizer.h"
#include "mobilellm_limits.h"
#include "base/alloc.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

/* GPT-2's alphabet: the printable bytes stand for themselves, the others for
 * U+0100 upwards, in byte order (33 below '!', 34 from DEL to NBSP, then 0xAD). */
static bool byte_printable(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xFF && b != 0xAD); }

int mllm_hf_byte_char(unsigned b, char out[2])
{
    uint32_t cp = b;
    if (!byte_printable(b)) cp = 256 + (b <= 0x20 ? b : b <= 0xA0 ? 33 + (b - 0x7F) : 67);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

int mllm_hf_char_byte(uint32_t cp)
{
    if (cp < 256) return byte_printable(cp) ? (int)cp : -1;
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 67) return (int)(0x7F + (cp - 256 - 33));
    if (cp == 256 + 67) return 0xAD;
    return -1;
}

mllm_status mllm_hf_regex_compile(hf_step *s, const char *name, const char *pattern, size_t len, bool literal,
                                  char *err, size_t errlen)
{
    if (len > MLLM_MAX_REGEX_BYTES)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                         "%s: pre-tokenizer regex of %zu bytes over MLLM_MAX_REGEX_BYTES (%d)", name, len,
                         MLLM_MAX_REGEX_BYTES);
    int code;
    PCRE2_SIZE at;
    /* no \C: a match must end on a character boundary, since the pieces are matched
     * again with PCRE2_NO_UTF_CHECK */
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C | (literal ? PCRE2_LITERAL : 0);
    /* PCRE2 allocates through the seam of base/alloc.h: the code, its JIT, the match
     * context, the match data and the match's heap frames (all take the code's or
     * the context's allocator), so the fault build can fail each of them */
    pcre2_general_context *gc = pcre2_general_context_create(mllm_pcre2_malloc, mllm_pcre2_free, NULL);
    pcre2_compile_context *cc = gc ? pcre2_compile_context_create(gc) : NULL;
    pcre2_match_context *mc = cc ? pcre2_match_context_create(gc) : NULL;
    pcre2_general_context_free(gc);
    if (!mc) {
        pcre2_compile_context_free(cc);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory compiling the pre-tokenizer regex", name);
    }
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &code, &at, cc);
    pcre2_compile_context_free(cc);
    if (!re) {
        pcre2_match_context_free(mc);
        if (code == PCRE2_ERROR_HEAP_FAILED)
            return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory compiling the pre-tokenizer regex", name);
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: pre-tokenizer regex does not compile: %s (at offset %zu)",
                         name, (const char *)msg, (size_t)at);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* where the JIT is missing, the interpreter runs it */
    /* a hostile pattern (nested quantifiers) stops with an error instead of running for ever */
    pcre2_set_match_limit(mc, MLLM_MAX_REGEX_MATCH);
    pcre2_set_depth_limit(mc, MLLM_MAX_REGEX_DEPTH);
    s->regex = re;
    s->mctx = mc;
    return MLLM_OK;
}

void mllm_hf_step_free(hf_step *s)
{
    mllm_free(s->a.s);
    mllm_free(s->b.s);
    pcre2_code_free(s->regex);
    pcre2_match_context_free(s->mctx);
}

void mllm_hf_pieces_free(hf_pieces *p)
{
    mllm_free(p->buf);
    mllm_free(p->span);
    memset(p, 0, sizeof *p);
}

static bool add_bytes(hf_pieces *p, const char *s, size_t n)
{
    if (!mllm_grow((void **)&p->buf, &p->cap, p->len + n + 1, 1)) return false;
    if (n) memcpy(p->buf + p->len, s, n);
    p->len += n;
    return true;
}

/* A span of p's buffer; empty ones are no pre-tokens. */
static bool add_span(hf_pieces *p, size_t off, size_t len)
{
    if (!len) return true;
    if (!mllm_grow((void **)&p->span, &p->cap_span, p->n_span + 1, sizeof *p->span)) return false;
    p->span[p->n_span++] = (hf_span){off, len};
    return true;
}

/* Appends s with every a replaced by b. */
static bool add_replaced(hf_pieces *p, const char *s, size_t n, const hf_str *a, const hf_str *b)
{
    size_t i = 0, from = 0;
    while (a->len && i + a->len <= n) {
        if (memcmp(s + i, a->s, a->len) == 0) {
            if (!add_bytes(p, s + from, i - from) || !add_bytes(p, b->s, b->len)) return false;
            i += a->len;
            from = i;
        } else {
            i++;
        }
    }
    return add_bytes(p, s + from, n - from);
}

static mllm_status nomem(char *err, size_t errlen) { return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory"); }

/* Split: the matches of the regex are pre-tokens (Isolated) or dropped
 * (Removed); the text between them is a pre-token either way. */
static mllm_status split_regex(const mllm_hf *t, const hf_step *s, const hf_pieces *in, hf_pieces *out,
                               pcre2_match_data *md, char *err, size_t errlen)
{
    for (size_t k = 0; k < in->n_span; k++) {
        size_t base = in->span[k].off, n = in->span[k].len, at = 0, from = 0;
        PCRE2_SPTR subj = (PCRE2_SPTR)(in->buf + base);
        while (at <= n) {
            int rc = pcre2_match(s->regex, subj, n, at, PCRE2_NO_UTF_CHECK, md, s->mctx);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return mllm_fail(err, errlen, MLLM_ERR_TOKENIZER,
                                 "%s: pre-tokenizer regex failed: %s (MLLM_MAX_REGEX_MATCH = %d, "
                                 "MLLM_MAX_REGEX_DEPTH = %d)",
                                 t->name, (const char *)msg, MLLM_MAX_REGEX_MATCH, MLLM_MAX_REGEX_DEPTH);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t ms = ov[0], me = ov[1];
            if (me == ms) { /* an empty match splits nothing: go on from the next character */
                if (ms >= n) break;
                at = ms + 1;
                while (at < n && (in->buf[base + at] & 0xC0) == 0x80) at++;
                continue;
            }
            if (!add_span(out, base + from, ms - from)) return nomem(err, errlen);
            if (!s->removed && !add_span(out, base + ms, me - ms)) return nomem(err, errlen);
            from = at = me;
        }
        if (!add_span(out, base + from, n - from)) return nomem(err, errlen);
    }
    return MLLM_OK;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Digits: ASCII digits apart from the rest, one by one or in runs. */
static bool split_digits(const hf_step *s, const hf_pieces *in, hf_pieces *out)
{
    for (size_t k = 0; k < in->n_span; k++) {
        const char *b = in->buf + in->span[k].off;
        size_t n = in->span[k].len, from = 0;
        for (size_t i = 0; i <= n; i++) {
            bool end = i == n;
            if (end || (i > from && (is_digit(b[i]) != is_digit(b[from]) || (s->flag && is_digit(b[i]))))) {
                if (!add_span(out, in->span[k].off + from, i - from)) return false;
                from = i;
            }
        }
    }
    return true;
}

/* ByteLevel's add_prefix_space, and Metaspace (spaces become the replacement,
 * which then starts each pre-token when split is on): these rewrite the text. */
static bool rewrite(const hf_step *s, const hf_pieces *in, bool at_start, hf_pieces *out)
{
    static const hf_str space = {" ", 1};
    for (size_t k = 0; k < in->n_span; k++) {
        const char *b = in->buf + in->span[k].off;
        size_t n = in->span[k].len, start = out->len;
        if (s->kind == HF_PRE_BYTELEVEL) {
            if (s->flag && b[0] != ' ' && !add_bytes(out, " ", 1)) return false;
            if (!add_bytes(out, b, n)) return false;
            if (!add_span(out, start, out->len - start)) return false;
            continue;
        }
        bool starts = n >= s->a.len && memcmp(b, s->a.s, s->a.len) == 0;
        bool prepend = s->prepend == HF_PREPEND_ALWAYS ||
                       (s->prepend == HF_PREPEND_FIRST && at_start && in->span[k].off == 0);
        if (prepend && !(starts || (n && b[0] == ' ')) && !add_bytes(out, s->a.s, s->a.len)) return false;
        if (!add_replaced(out, b, n, &space, &s->a)) return false;
        size_t from = start;
        if (s->flag) /* each replacement begins a new pre-token */
            for (size_t i = start + 1; i + s->a.len <= out->len; i++)
                if (memcmp(out->buf + i, s->a.s, s->a.len) == 0) {
                    if (!add_span(out, from, i - from)) return false;
                    from = i;
                }
        if (!add_span(out, from, out->len - from)) return false;
    }
    return true;
}

mllm_status mllm_hf_pretokenize(const mllm_hf *t, const char *text, size_t len, bool at_start, hf_pieces *p,
                                char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    hf_pieces tmp;
    if (!add_bytes(p, text, len)) return nomem(err, errlen);
    for (size_t i = 0; i < t->n_norm; i++) {
        const hf_step *s = &t->norm[i];
        memset(&tmp, 0, sizeof tmp);
        bool ok = s->kind == HF_NORM_PREPEND
                      ? (!p->len || add_bytes(&tmp, s->a.s, s->a.len)) && add_bytes(&tmp, p->buf, p->len)
                      : add_replaced(&tmp, p->buf, p->len, &s->a, &s->b);
        mllm_hf_pieces_free(p);
        *p = tmp;
        if (!ok) return nomem(err, errlen);
    }
    if (!add_span(p, 0, p->len)) return nomem(err, errlen);
    pcre2_match_data *md = NULL;
    mllm_status st = MLLM_OK;
    for (size_t i = 0; i < t->n_pre && p->n_span && !st; i++) {
        const hf_step *s = &t->pre[i];
        hf_pieces out = {0};
        if (s->regex && !md && !(md = pcre2_match_data_create_from_pattern(s->regex, NULL))) {
            st = nomem(err, errlen);
            break;
        }
        if (s->kind == HF_PRE_BYTELEVEL || s->kind == HF_PRE_METASPACE) {
            if (!rewrite(s, p, at_start, &out)) st = nomem(err, errlen);
            if (!st && s->regex) { /* ByteLevel's use_regex: the GPT-2 pattern, after the prefix space */
                hf_pieces cut = {0};
                st = split_regex(t, s, &out, &cut, md, err, errlen);
                cut.buf = out.buf, cut.len = out.len, cut.cap = out.cap;
                out.buf = NULL;
                mllm_hf_pieces_free(&out);
                out = cut;
            }
        } else { /* the same text, cut finer */
            if (s->kind == HF_PRE_DIGITS) st = split_digits(s, p, &out) ? MLLM_OK : nomem(err, errlen);
            else st = split_regex(t, s, p, &out, md, err, errlen);
            out.buf = p->buf, out.len = p->len, out.cap = p->cap;
            p->buf = NULL;
        }
        mllm_hf_pieces_free(p);
        *p = out;
    }
    pcre2_match_data_free(md);
    if (st) mllm_hf_pieces_free(p);
    return st;
}
