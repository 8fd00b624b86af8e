/* ops.c — element-wise and row-wise operations of the forward pass. */
#include "kernels.h"

#include <math.h>

void mllm_rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    double ss = 0.0;  /* double: long rows of small values lose bits in float */
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

void mllm_rope(float *vec, int n_heads, int head_dim, const float *cos, const float *sin)
{
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = vec + (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            float a = v[i], b = v[i + half];
            v[i] = a * cos[i] - b * sin[i];
            v[i + half] = b * cos[i] + a * sin[i];
        }
    }
}

void mllm_rope_pairs(float *vec, int n_heads, int head_dim, const float *cos, const float *sin)
{
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = vec + (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * cos[i] - b * sin[i];
            v[2 * i + 1] = b * cos[i] + a * sin[i];
        }
    }
}

void mllm_head_norm(float *vec, int n_heads, int head_dim, float eps)
{
    for (int h = 0; h < n_heads; h++) {
        float *v = vec + (size_t)h * head_dim;
        double ss = 0.0;
        for (int i = 0; i < head_dim; i++) ss += (double)v[i] * v[i];
        float scale = (float)(1.0 / sqrt(ss / head_dim + eps));
        for (int i = 0; i < head_dim; i++) v[i] *= scale;
    }
}

void mllm_swiglu(float *g, const float *u, int n)
{
    for (int i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
