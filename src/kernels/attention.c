/* attention.c — causal grouped-query attention for one query position. */
#include "kernels.h"

#include <math.h>
#include <string.h>

typedef struct {
    const mllm_kernels *kern;
    float *out;
    const float *q, *k, *v;
    int pos0, T, kv_stride, n_heads, n_kv_heads, head_dim, n_ctx;
    float *scores;
} attn_job;

/* One head at one position, with the SIMD dot and axpy of the kernel set. */
static void attend_one(const mllm_kernels *k, float *out, const float *q, const float *kc, const float *vc,
                       int n_pos, int kv_stride, int head_dim, float *scores)
{
    float scale = 1.0f / sqrtf((float)head_dim);
    for (int t = 0; t < n_pos; t++) scores[t] = k->dot_f32(q, kc + (size_t)t * kv_stride, head_dim) * scale;
    mllm_softmax(scores, n_pos);
    memset(out, 0, (size_t)head_dim * sizeof *out);
    for (int t = 0; t < n_pos; t++) k->axpy(out, scores[t], vc + (size_t)t * kv_stride, head_dim);
}

/* Work items are (position, head) pairs, dealt round-robin over the threads. */
static void attn_task(void *arg, int ith, int nth)
{
    const attn_job *a = arg;
    int qd = a->n_heads * a->head_dim, total = a->T * a->n_heads;
    float *scores = a->scores + (size_t)ith * a->n_ctx;
    for (int item = ith; item < total; item += nth) {
        int t = item / a->n_heads, h = item % a->n_heads;
        /* one head: reuse the single-position kernel on a 1-head view */
        int group = a->n_heads / a->n_kv_heads;
        const float *kh = a->k + (size_t)(h / group) * a->head_dim;
        const float *vh = a->v + (size_t)(h / group) * a->head_dim;
        attend_one(a->kern, a->out + (size_t)t * qd + (size_t)h * a->head_dim,
                   a->q + (size_t)t * qd + (size_t)h * a->head_dim, kh, vh, a->pos0 + t + 1, a->kv_stride,
                   a->head_dim, scores);
    }
}

void mllm_attention_batch(mllm_pool *pool, const mllm_kernels *k, float *out, const float *q, const float *k_cache,
                          const float *v_cache, int pos0, int T, int kv_stride, int n_heads,
                          int n_kv_heads, int head_dim, float *scores, int n_ctx)
{
    attn_job a = { k, out, q, k_cache, v_cache, pos0, T, kv_stride, n_heads, n_kv_heads, head_dim, n_ctx, scores };
    /* same rule as the products: small work stays on the calling thread */
    size_t work = (size_t)T * n_heads * (size_t)(pos0 + T) * head_dim * 2;
    mllm_pool_run(work < MLLM_MIN_PARALLEL_WORK ? NULL : pool, attn_task, &a);
}

void mllm_attention(float *out, const float *q, const float *k, const float *v, int n_pos,
                    int kv_stride, int n_heads, int n_kv_heads, int head_dim, float *scores)
{
    int group = n_heads / n_kv_heads;  /* query heads sharing one kv head */
    float scale = 1.0f / sqrtf((float)head_dim);
    for (int h = 0; h < n_heads; h++) {
        const float *qh = q + (size_t)h * head_dim;
        size_t koff = (size_t)(h / group) * head_dim;
        for (int t = 0; t < n_pos; t++) {
            const float *kt = k + (size_t)t * kv_stride + koff;
            float dot = 0.0f;
            for (int i = 0; i < head_dim; i++) dot += qh[i] * kt[i];
            scores[t] = dot * scale;
        }
        mllm_softmax(scores, n_pos);
        float *oh = out + (size_t)h * head_dim;
        memset(oh, 0, (size_t)head_dim * sizeof *oh);
        for (int t = 0; t < n_pos; t++) {
            const float *vt = v + (size_t)t * kv_stride + koff;
            float a = scores[t];
            for (int i = 0; i < head_dim; i++) oh[i] += a * vt[i];
        }
    }
}
