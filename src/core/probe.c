/* probe.c — the attention probe: what chosen heads of the last evaluated token attend to.
 * Recomputed from the cache with the attention kernels (one score row and softmax per probed
 * head and token, next to the full attention), so the attention code stays as it is. Used as a pointer by the copy
 * constraint: heads that look at the word a call's value copies. */
#include "internal.h"
#include "kernels/kernels.h"
#include "base/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mllm_status mllm_session_set_probe(mllm_session *s, const int *layers, const int *heads, int n, char *err,
                                   size_t errlen)
{
    const mllm_config *c = &s->model->cfg;
    if (s->job)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "the session is busy: a job is running on it (free the job first)");
    if (n < 0 || n > MLLM_MAX_PROBE_HEADS)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "probe: %d heads (limit %d)", n, MLLM_MAX_PROBE_HEADS);
    for (int i = 0; i < n; i++) {
        if (layers[i] < 0 || layers[i] >= c->n_exec_layers)
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "probe: layer %d outside [0, %d)", layers[i],
                             c->n_exec_layers);
        if (heads[i] < 0 || heads[i] >= c->n_heads)
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "probe: head %d outside [0, %d)", heads[i], c->n_heads);
    }
    if (n && !s->probe) {
        s->probe = mllm_malloc(2 * (size_t)s->n_ctx * sizeof *s->probe);
        if (!s->probe) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "probe: out of memory");
    }
    for (int i = 0; i < n; i++) {
        s->probe_layer[i] = layers[i];
        s->probe_head[i] = heads[i];
    }
    s->probe_n = n;
    s->probe_pos = 0;
    return MLLM_OK;
}

const float *mllm_session_probe(const mllm_session *s, int *n_pos)
{
    if (n_pos) *n_pos = s->probe_n ? s->probe_pos : 0;
    return s->probe_n && s->probe_pos ? s->probe : NULL;
}

void mllm_probe_layer(mllm_session *s, int l, size_t layer_off, size_t head_stride, int t, float *dst, int chunk)
{
    const mllm_config *c = &s->model->cfg;
    const mllm_kernels *k = s->model->kernels;
    int hd = c->head_dim, last = s->pos + t, group = c->n_heads / c->n_kv_heads;
    int first = chunk ? last / chunk * chunk : 0, n_pos = last + 1 - first;  /* earlier chunks get no weight */
    float scale = 1.0f / sqrtf((float)hd), *p = s->probe + s->n_ctx;
    for (int i = 0; i < s->probe_n; i++) {
        if (s->probe_layer[i] != l) continue;
        int h = s->probe_head[i];
        const float *q = s->q + (size_t)t * c->n_heads * hd + (size_t)h * hd;
        size_t base = layer_off + (size_t)(h / group) * head_stride + (size_t)first * hd;
        if (s->kv_f16) k->attn_scores_f16(q, (const uint16_t *)s->k_cache + base, (size_t)hd, n_pos, hd, scale, p);
        else k->attn_scores(q, (const float *)s->k_cache + base, (size_t)hd, n_pos, hd, scale, p);
        float max = p[0];
        for (int j = 1; j < n_pos; j++) max = p[j] > max ? p[j] : max;
        double sum = k->exp_sum(p, n_pos, max);
        float w = (float)(1.0 / (sum * s->probe_n));
        for (int j = 0; j < n_pos; j++) dst[first + j] += p[j] * w;
    }
}
