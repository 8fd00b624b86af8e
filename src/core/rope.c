/* rope.c — the RoPE angle tables of a model, made once and shared by its sessions.
 *
 * A session used to compute cos and sin for each of its n_ctx positions itself: 65 536 of
 * each for a 125M session of 2048 positions, about 2 ms, paid again by every fork (a game's
 * frame where a line starts). The angles depend only on the model and the position, so the
 * model keeps them: a table covers positions [0, n_pos) and a longer one is made when a
 * session needs more. Older tables stay until the model is freed (sessions point into them);
 * sizes double, so a model holds at most log2(max_seq_len) of them. */
#include "internal.h"
#include "base/alloc.h"

#include <math.h>

static void rope_free(mllm_rope_table *r)
{
    mllm_free(r->cos);
    mllm_free(r->sin);
    mllm_free(r);
}

void mllm_rope_free_all(mllm_rope_table *r)
{
    while (r) {
        mllm_rope_table *older = r->older;
        rope_free(r);
        r = older;
    }
}

/* RoPE angles as Hugging Face LLaMA: pos * theta^(-2i/head_dim), in double; each frequency
   computed once. NULL when out of memory. */
static mllm_rope_table *rope_new(const mllm_config *c, int n_pos)
{
    size_t half = (size_t)c->head_dim / 2;
    mllm_rope_table *r = mllm_calloc(1, sizeof *r);
    double *inv_freq = mllm_malloc((half ? half : 1) * sizeof *inv_freq);
    size_t n = (size_t)n_pos * half;
    if (r) {
        r->n_pos = n_pos;
        r->cos = mllm_malloc((n ? n : 1) * sizeof(float));
        r->sin = mllm_malloc((n ? n : 1) * sizeof(float));
    }
    if (!r || !inv_freq || !r->cos || !r->sin) {
        if (r) rope_free(r);
        mllm_free(inv_freq);
        return NULL;
    }
    for (size_t i = 0; i < half; i++) inv_freq[i] = mllm_config_inv_freq(c, (int)i);
    for (int pos = 0; pos < n_pos; pos++)
        for (size_t i = 0; i < half; i++) {
            double a = pos * inv_freq[i];
            r->cos[(size_t)pos * half + i] = (float)cos(a);
            r->sin[(size_t)pos * half + i] = (float)sin(a);
        }
    mllm_free(inv_freq);
    return r;
}

mllm_status mllm_rope_tables(mllm_model *m, int n_pos, const float **cos_out, const float **sin_out, char *err,
                             size_t errlen)
{
    mllm_status st = MLLM_OK;
    pthread_mutex_lock(&m->rope_lock);
    mllm_rope_table *r = m->rope;
    if (!r || r->n_pos < n_pos) {
        /* double the longest table so far (a few tables at most), within the model's length */
        int want = r ? r->n_pos : 64;
        while (want < n_pos) want = want > m->cfg.max_seq_len / 2 ? n_pos : 2 * want;
        if (want > m->cfg.max_seq_len) want = m->cfg.max_seq_len;  /* the first 64, on a shorter model */
        mllm_rope_table *grown = rope_new(&m->cfg, want);
        if (grown) {
            grown->older = r;
            m->rope = r = grown;
        } else {
            st = mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory for the RoPE table of %d positions", want);
        }
    }
    if (!st) {
        *cos_out = r->cos;
        *sin_out = r->sin;
    }
    pthread_mutex_unlock(&m->rope_lock);
    return st;
}
