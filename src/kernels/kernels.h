/* kernels.h — the hot loops, one concern per file:
 *   convert.c    F16/BF16 → F32 (load time)
 *   ops.c        RMSNorm, RoPE, SwiGLU activation, softmax
 *   matmul.c     weight × activations (OpenBLAS sgemm/sgemv)
 *   attention.c  causal grouped-query attention over a KV cache
 */
#ifndef MLLM_KERNELS_H
#define MLLM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

void mllm_f16_to_f32(const void *src, float *dst, size_t n);
void mllm_bf16_to_f32(const void *src, float *dst, size_t n);

/* out = x / sqrt(mean(x^2) + eps) * w, over n values (out may alias x). */
void mllm_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
/* Rotates each head of vec (n_heads × head_dim) as Hugging Face LLaMA does:
 * v * cos + rotate_half(v) * sin, with rotate_half(v) = [-v2, v1] on the two
 * halves. cos/sin hold head_dim/2 values for this position. */
void mllm_rope(float *vec, int n_heads, int head_dim, const float *cos, const float *sin);
/* g = silu(g) * u over n values. */
void mllm_swiglu(float *g, const float *u, int n);
/* In-place softmax over n values. */
void mllm_softmax(float *x, int n);

/* out (T, N) = in (T, K) · W (N, K)^T, W row-major as Hugging Face stores it. */
void mllm_matmul(float *out, const float *in, const float *w, int T, int N, int K);
void mllm_set_threads(int n);

/* One query position attending to positions [0, n_pos) of the cache.
 * q: (n_heads, head_dim); k, v: (n_pos, kv_stride) with kv head h at h*head_dim;
 * out: (n_heads, head_dim); scores: n_pos floats of scratch. */
void mllm_attention(float *out, const float *q, const float *k, const float *v, int n_pos,
                    int kv_stride, int n_heads, int n_kv_heads, int head_dim, float *scores);

#endif
