/* attention.c — causal grouped-query attention for one query position (over all
 * earlier positions, or those of its chunk). */
#include "kernels.h"

#include <math.h>
#include <string.h>

typedef struct {
    const mllm_kernels *kern;
    float *out;
    const float *q;
    const void *k, *v;
    bool f16;
    int pos0, T, kv_stride, n_heads, n_kv_heads, head_dim, n_ctx, chunk;
    size_t head_stride;
    float *scores;
} attn_job;

/* Positions per tile: a tile of K (or V) rows of one kv head (128 x 64 floats
 * = 32 KB) stays in L1 while every query head of the group uses it, so the
 * cache is read once per kv head, not once per query head. */
#define ATTN_TILE 128

/* The query heads of one kv head at one position: scores over all cached
 * positions (one kernel call per tile, for the whole group where the kernels
 * have group forms, else per head), softmax, weighted sum of the values.
 * scores holds group rows of n_ctx. */
static void attend_group(const mllm_kernels *k, float *out, const float *q, const void *kc, const void *vc, bool f16,
                         int n_pos, int kv_stride, int head_dim, int group, float *scores, int n_ctx)
{
    size_t esz = f16 ? sizeof(uint16_t) : sizeof(float);
#define ROWS(cache, t0) ((const char *)(cache) + (size_t)(t0) * kv_stride * esz)
    bool grouped = k->attn_scores_group && head_dim % 16 == 0;
    float scale = 1.0f / sqrtf((float)head_dim);
    for (int t0 = 0; t0 < n_pos; t0 += ATTN_TILE) {
        int n = n_pos - t0 < ATTN_TILE ? n_pos - t0 : ATTN_TILE;
        for (int j = 0; grouped && j < group; j += 4) {  /* up to 4 heads a call */
            int g = group - j < 4 ? group - j : 4;
            const float *qj = q + (size_t)j * head_dim;
            float *sj = scores + (size_t)j * n_ctx + t0;
            if (f16)
                k->attn_scores_group_f16(qj, g, (const uint16_t *)ROWS(kc, t0), (size_t)kv_stride, n, head_dim, scale,
                                         sj, (size_t)n_ctx);
            else
                k->attn_scores_group(qj, g, (const float *)ROWS(kc, t0), (size_t)kv_stride, n, head_dim, scale, sj,
                                     (size_t)n_ctx);
        }
        if (grouped) continue;
        for (int j = 0; j < group; j++) {
            const float *qj = q + (size_t)j * head_dim;
            float *sj = scores + (size_t)j * n_ctx + t0;
            if (f16) k->attn_scores_f16(qj, (const uint16_t *)ROWS(kc, t0), (size_t)kv_stride, n, head_dim, scale, sj);
            else k->attn_scores(qj, (const float *)ROWS(kc, t0), (size_t)kv_stride, n, head_dim, scale, sj);
        }
    }
    for (int j = 0; j < group; j++) {
        float *p = scores + (size_t)j * n_ctx, max = p[0];
        for (int t = 1; t < n_pos; t++) max = p[t] > max ? p[t] : max;
        float inv = 1.0f / k->exp_sum(p, n_pos, max);
        for (int t = 0; t < n_pos; t++) p[t] *= inv;
    }
    memset(out, 0, (size_t)group * head_dim * sizeof *out);
    for (int t0 = 0; t0 < n_pos; t0 += ATTN_TILE) {
        int n = n_pos - t0 < ATTN_TILE ? n_pos - t0 : ATTN_TILE;
        for (int j = 0; grouped && j < group; j += 4) {
            int g = group - j < 4 ? group - j : 4;
            float *oj = out + (size_t)j * head_dim;
            const float *pj = scores + (size_t)j * n_ctx + t0;
            if (f16)
                k->attn_mix_group_f16(oj, g, pj, (size_t)n_ctx, (const uint16_t *)ROWS(vc, t0), (size_t)kv_stride, n,
                                      head_dim);
            else
                k->attn_mix_group(oj, g, pj, (size_t)n_ctx, (const float *)ROWS(vc, t0), (size_t)kv_stride, n,
                                  head_dim);
        }
        if (grouped) continue;
        for (int j = 0; j < group; j++) {
            float *oj = out + (size_t)j * head_dim;
            const float *pj = scores + (size_t)j * n_ctx + t0;
            if (f16) k->attn_mix_f16(oj, pj, (const uint16_t *)ROWS(vc, t0), (size_t)kv_stride, n, head_dim);
            else k->attn_mix(oj, pj, (const float *)ROWS(vc, t0), (size_t)kv_stride, n, head_dim);
        }
    }
#undef ROWS
}

size_t mllm_attention_scratch_floats(int n_ctx, int group)
{
    return (size_t)group * (size_t)n_ctx;
}

/* Work items are (position, kv head) pairs, dealt round-robin over the
 * threads; the query heads of a kv head are adjacent in q and out. */
static void attn_task(void *arg, int ith, int nth)
{
    const attn_job *a = arg;
    int qd = a->n_heads * a->head_dim, total = a->T * a->n_kv_heads, group = a->n_heads / a->n_kv_heads;
    float *scores = a->scores + (size_t)ith * mllm_attention_scratch_floats(a->n_ctx, group);
    for (int item = ith; item < total; item += nth) {
        int t = item / a->n_kv_heads, g = item % a->n_kv_heads;
        size_t qoff = (size_t)t * qd + (size_t)g * group * a->head_dim;
        /* a chunked layer's query sees the keys of its own chunk only, from its first position */
        int pos = a->pos0 + t, first = a->chunk ? pos / a->chunk * a->chunk : 0;
        size_t hoff = ((size_t)g * a->head_stride + (size_t)first * a->kv_stride) *
                      (a->f16 ? sizeof(uint16_t) : sizeof(float));
        attend_group(a->kern, a->out + qoff, a->q + qoff, (const char *)a->k + hoff, (const char *)a->v + hoff, a->f16,
                     pos + 1 - first, a->kv_stride, a->head_dim, group, scores, a->n_ctx);
    }
}

void mllm_attention_batch(mllm_pool *pool, const mllm_kernels *k, float *out, const float *q, const void *k_cache,
                          const void *v_cache, bool kv_f16, int pos0, int T, int kv_stride, size_t head_stride,
                          int n_heads, int n_kv_heads, int head_dim, float *scores, int n_ctx, int chunk)
{
    attn_job a = { k, out, q, k_cache, v_cache, kv_f16, pos0, T, kv_stride, n_heads, n_kv_heads, head_dim, n_ctx,
                   chunk, head_stride, scores };
    /* same rule as the products: small work stays on the calling thread */
    size_t work = (size_t)T * n_heads * (size_t)(pos0 + T) * head_dim * 2;
    mllm_pool_run(work < MLLM_MIN_PARALLEL_WORK ? NULL : pool, attn_task, &a);
}
