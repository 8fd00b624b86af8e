/* copy_rule.c — the copy rule: a call's string values copied from a source text, as runs of
 * whole words (mllm_constraint_set_source), the titles whose period stays inside its word
 * (mllm_constraint_set_titles: language data a model directory ships, not code), and the pointer
 * that biases a copied value's first token towards the word an attention probe looks at
 * (mllm_constraint_set_source_tokens).
 */
#include "constrain_internal.h"
#include "base/status.h"

#include <math.h>
#include <string.h>

/* Copy constraint: bit p of cmask means the value so far equals the source
 * bytes just before position p (p = source_len: it reached the end). Byte b
 * keeps the positions where the source goes on with b; false when none is
 * left, i.e. the value would no longer be a substring of the source.
 *
 * Values are runs of whole words: they start where a word starts and close
 * only where one ends ("Bal" is not a copy of "Baltimore"). A model that
 * cannot spell an unseen word otherwise stops inside it; held to word ends,
 * the only way on is the rest of the word. */
bool cst_copy_step(const mllm_constraint *c, cst_state *s, unsigned char b)
{
    uint64_t next[CMASK_WORDS] = { 0 };
    bool any = false;
    for (size_t w = 0; w < CMASK_WORDS; w++)
        for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
            size_t p = w * 64 + (size_t)__builtin_ctzll(m);
            if (p < c->source_len && c->source[p] == b) {
                next[(p + 1) / 64] |= 1ull << ((p + 1) % 64);
                any = true;
            }
        }
    memcpy(s->cmask, next, sizeof next);
    return any;
}

/* Letters, digits and UTF-8 bytes make words. */
static bool word_byte(unsigned char b)
{
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80;
}

/* Whether the period at source byte p ends a title before a name ("Dr. Megan", "mr. young"):
 * the title (one of c->titles, any case) is the whole word before it and a word follows after
 * one space. */
static bool title_period(const mllm_constraint *c, size_t p)
{
    const unsigned char *s = c->source;
    if (c->n_titles == 0) return false;
    if (s[p] != '.' || p + 2 >= c->source_len || s[p + 1] != ' ' || !word_byte(s[p + 2])) return false;
    size_t q = p;
    while (q > 0 && word_byte(s[q - 1])) q--;
    for (size_t i = 0; i < c->n_titles; i++) {
        const char *title = c->titles[i];
        size_t n = strlen(title), k = 0;
        if (p - q != n) continue;
        /* titles are lower-case ASCII letters: | 0x20 folds only 'A'..'Z' onto them */
        while (k < n && (s[q + k] | 0x20) == (unsigned char)title[k]) k++;
        if (k == n) return true;
    }
    return false;
}

/* Whether source byte p is inside a word: a word byte, an ASCII apostrophe between two
 * ("how's" and "Nina's" are one word each, as they already are with U+2019 for an apostrophe),
 * so that no value starts at "s the" of "how's the" or stops at "Nina" of "Nina's house", or
 * the period of a title before a name, so that no value stops at "Dr" of "Dr. Megan". */
bool cst_in_word(const mllm_constraint *c, size_t p)
{
    const unsigned char *s = c->source;
    if (p >= c->source_len) return false;
    if (word_byte(s[p])) return true;
    if (s[p] == '.') return title_period(c, p);
    return s[p] == '\'' && p > 0 && p + 1 < c->source_len && word_byte(s[p - 1]) && word_byte(s[p + 1]);
}

/* The positions a copied value may start at: word starts (any position when the
 * source has no word). */
void cst_copy_start(const mllm_constraint *c, cst_state *s)
{
    memset(s->cmask, 0, sizeof s->cmask);
    bool any = false;
    for (size_t p = 0; p < c->source_len; p++) {
        if (cst_in_word(c, p) && (p == 0 || !cst_in_word(c, p - 1))) {
            s->cmask[p / 64] |= 1ull << (p % 64);
            any = true;
        }
    }
    if (!any)
        for (size_t p = 0; p < c->source_len; p++) s->cmask[p / 64] |= 1ull << (p % 64);
}

/* Whether the value may close here: some match ends at a word end and not on
 * a space, or the word it is inside could not be finished within max_string. */
bool cst_copy_can_close(const mllm_constraint *c, const cst_state *s)
{
    for (size_t w = 0; w < CMASK_WORDS; w++)
        for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
            size_t p = w * 64 + (size_t)__builtin_ctzll(m), q = p;
            unsigned char last = c->source[p - 1];  /* p > 0: the value is not empty */
            if (last == ' ' || last == '\t' || last == '\n') {
                if (s->len + 1 > c->max_string) return true;  /* it cannot go on to a word */
                continue;
            }
            if (!cst_in_word(c, p)) return true;
            while (cst_in_word(c, q)) q++;
            if (s->len + (q - p) > c->max_string) return true;
        }
    return false;
}

mllm_status mllm_constraint_set_source(mllm_constraint *c, const char *text, size_t len,
                                       char *err, size_t errlen)
{
    c->cached = false;  /* the cached state was computed under the old source */
    c->source_len = 0;
    c->pointer_weight = 0.0f;
    if (!text || len == 0) return MLLM_OK;
    if (len > MLLM_CST_MAX_SOURCE)
        return mllm_fail(err, errlen, MLLM_ERR_ARG,
                         "source text of %zu bytes is longer than MLLM_CST_MAX_SOURCE (%d)", len,
                         MLLM_CST_MAX_SOURCE);
    memcpy(c->source, text, len);
    c->source_len = len;
    return MLLM_OK;
}

mllm_status mllm_constraint_set_titles(mllm_constraint *c, const char *const *titles, size_t n,
                                       char *err, size_t errlen)
{
    if (n > MLLM_CST_MAX_TITLES)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "%zu titles (MLLM_CST_MAX_TITLES is %d)", n,
                         MLLM_CST_MAX_TITLES);
    if (n && !titles) return mllm_fail(err, errlen, MLLM_ERR_ARG, "no titles given");
    for (size_t i = 0; i < n; i++) {
        const char *t = titles[i];
        size_t len = 0;
        while (t && len <= MLLM_CST_MAX_TITLE_BYTES && t[len]) len++;
        if (len == 0 || len > MLLM_CST_MAX_TITLE_BYTES)
            return mllm_fail(err, errlen, MLLM_ERR_ARG,
                             "title %zu: must have 1 to MLLM_CST_MAX_TITLE_BYTES (%d) bytes", i + 1,
                             MLLM_CST_MAX_TITLE_BYTES);
        for (size_t k = 0; k < len; k++) {
            unsigned char b = (unsigned char)t[k];
            if (!((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')))
                return mllm_fail(err, errlen, MLLM_ERR_ARG, "title %zu ('%s'): only ASCII letters", i + 1, t);
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        for (; titles[i][k]; k++) c->titles[i][k] = (char)(titles[i][k] | 0x20);
        c->titles[i][k] = '\0';
    }
    c->n_titles = n;
    c->cached = false;  /* the cached state was computed under the old titles */
    return MLLM_OK;
}

mllm_status mllm_constraint_set_source_tokens(mllm_constraint *c, const int32_t *token_pos, size_t n,
                                              float weight, char *err, size_t errlen)
{
    if (n != c->source_len)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "%zu positions for a source of %zu bytes", n,
                         c->source_len);
    if (!(weight >= 0.0f) || !isfinite(weight))
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "weight must be finite and not negative, got %g",
                         (double)weight);
    for (size_t i = 0; i < n; i++)
        if (token_pos[i] < -1)
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "position %zu is %ld, below -1", i + 1,
                             (long)token_pos[i]);
    memcpy(c->source_tok, token_pos, n * sizeof *token_pos);
    c->pointer_weight = n ? weight : 0.0f;
    return MLLM_OK;
}

void mllm_constraint_bind(mllm_constraint *c, const mllm_session *s) { c->bound = s; }

/* At a copied value's first token: each allowed token's logit += weight * log(probe weight of
 * the source word it starts), the best when it starts several. (Doing the same where a value
 * may close or go on, against a fixed weight for the closing quote, lost 0.3-1.7 points of
 * dev EM_structure.) See mllm_constraint_set_source_tokens. */
void cst_point(const mllm_constraint *c, const cst_state *s, float *logits, int n_vocab)
{
    int n_pos;
    const float *a = mllm_session_probe(c->bound, &n_pos);
    if (!a) return;
    float mass[MLLM_CST_MAX_SOURCE + 1];
    for (size_t w = 0; w < CMASK_WORDS; w++)
        for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
            size_t p = w * 64 + (size_t)__builtin_ctzll(m), q = p;
            if (p >= c->source_len) continue;
            while (cst_in_word(c, q)) q++;
            double sum = 0.0;
            for (size_t b = p, last = (size_t)-1; b < q; b++) {
                int32_t t = c->source_tok[b];
                if (t >= 0 && t < n_pos && (size_t)t != last) sum += a[t];
                last = (size_t)t;
            }
            mass[p] = (float)sum;
        }
    const mllm_vocab_trie *v = c->v;
    for (int i = 0; i < n_vocab; i++) {
        if (!c->allowed[i]) continue;
        const unsigned char *pb = v->bytes + v->off[i];
        size_t n = v->off[i + 1] - v->off[i], k = 0;
        while (k < n && pb[k] != '"' && pb[k] != '\\') k++;  /* the value's bytes in the piece */
        if (k == 0) continue;
        float best = -1.0f;
        for (size_t w = 0; w < CMASK_WORDS; w++)
            for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
                size_t p = w * 64 + (size_t)__builtin_ctzll(m);
                if (p + k <= c->source_len && memcmp(c->source + p, pb, k) == 0 && mass[p] > best) best = mass[p];
            }
        if (best >= 0.0f) logits[i] += c->pointer_weight * logf(best + 1e-9f);
    }
}
