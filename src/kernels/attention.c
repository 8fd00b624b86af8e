/* attention.c — causal grouped-query attention for one query position. */
#include "kernels.h"

#include <math.h>
#include <string.h>

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
