/* draft.c — copy drafts (prompt-lookup speculative decoding): API calls and
 * replies copy spans of the request, so the tokens that followed the last few
 * tokens the last time they occurred are a cheap guess at what comes next. The
 * generator evaluates a guess in one batch with every row kept and moves the
 * session along the rows the sampler agrees with (generate.c). */
#include "internal.h"
#include "base/alloc.h"

#include <string.h>

/* Longest suffix tried first: three tokens pin a span. A single token's next one was
 * right for a quarter of the drafted tokens on the shipped model's test set, two
 * tokens' for two thirds: one is too weak to pay for its batch. */
#define DRAFT_NGRAM_MAX 3
#define DRAFT_NGRAM_MIN 2

int mllm_draft_lookup(const int32_t *h, size_t n, int32_t *out, int max)
{
    if (max <= 0) return 0;
    for (size_t g = DRAFT_NGRAM_MAX; g >= DRAFT_NGRAM_MIN; g--) {
        if (n <= g) continue;
        const int32_t *tail = h + n - g;
        /* the latest earlier occurrence: its start i < n - g */
        for (size_t i = n - g; i-- > 0;) {
            if (memcmp(h + i, tail, g * sizeof *h) != 0) continue;
            int k = 0;
            for (size_t j = i + g; j < n && k < max; j++) out[k++] = h[j];
            if (k > 0) return k;
        }
    }
    return 0;
}

mllm_status mllm_session_reserve_rows(mllm_session *s, int n, char *err, size_t errlen)
{
    const mllm_config *c = &s->model->cfg;
    if (n > s->row_cap) {
        float *l = mllm_realloc(s->row_logits, (size_t)n * c->vocab_size * sizeof *l);
        if (!l) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory for the logits of a %d-token draft", n);
        s->row_logits = l;
        if (s->row_probe) {  /* sized by row_cap: made again below when the probe is on */
            s->bytes -= (size_t)s->row_cap * s->n_ctx * sizeof *s->row_probe;
            mllm_free(s->row_probe);
            s->row_probe = NULL;
        }
        s->bytes += (size_t)(n - s->row_cap) * c->vocab_size * sizeof *l;
        s->row_cap = n;
    }
    if (s->probe_n && !s->row_probe) {
        s->row_probe = mllm_malloc((size_t)s->row_cap * s->n_ctx * sizeof *s->row_probe);
        if (!s->row_probe)
            return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory for the probe weights of a %d-token draft",
                             s->row_cap);
        s->bytes += (size_t)s->row_cap * s->n_ctx * sizeof *s->row_probe;
    }
    return MLLM_OK;
}

void mllm_session_take_row(mllm_session *s, int t)
{
    const mllm_config *c = &s->model->cfg;
    s->pos = s->row_base + t + 1;
    s->has_logits = true;
    memcpy(s->logits, s->row_logits + (size_t)t * c->vocab_size, (size_t)c->vocab_size * sizeof *s->logits);
    if (s->probe_n) {
        memcpy(s->probe, s->row_probe + (size_t)t * s->n_ctx, (size_t)s->pos * sizeof *s->probe);
        s->probe_pos = s->pos;
    }
}
