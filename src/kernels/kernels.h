/* kernels.h — the hot loops, one concern per file:
 *   convert.c    F16/BF16 → F32 (load time)
 *   ops.c        RMSNorm, RoPE, SwiGLU activation, softmax
 *   dot*.c, cpu.c  dot products per weight format and instruction set
 *   matmul.c     weight × activations over the thread pool (+ OpenBLAS sgemm)
 *   attention.c  causal grouped-query attention over a KV cache
 */
#ifndef MLLM_KERNELS_H
#define MLLM_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dot.h"
#include "base/threadpool.h"
#include "mobilellm_limits.h"

void mllm_f16_to_f32(const void *src, float *dst, size_t n);
void mllm_bf16_to_f32(const void *src, float *dst, size_t n);

/* out = x / sqrt(mean(x^2) + eps) * w, over n values (out may alias x). */
void mllm_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
/* Rotates each head of vec (n_heads × head_dim) as Hugging Face LLaMA does:
 * v * cos + rotate_half(v) * sin, with rotate_half(v) = [-v2, v1] on the two
 * halves. cos/sin hold head_dim/2 values for this position. */
void mllm_rope(float *vec, int n_heads, int head_dim, const float *cos, const float *sin);
/* The RoPE of Llama 4 (llama4_text): each adjacent pair (v[2i], v[2i+1]) of
 * each head is a complex number rotated by angle i of this position. */
void mllm_rope_pairs(float *vec, int n_heads, int head_dim, const float *cos, const float *sin);
/* Each of n_heads heads of vec: x / sqrt(mean(x^2) + eps), no weight (Llama 4's QK-norm). */
void mllm_head_norm(float *vec, int n_heads, int head_dim, float eps);
/* g = silu(g) * u over n values. */
void mllm_swiglu(float *g, const float *u, int n);

/* A weight matrix (rows, cols) in its stored or quantized format, row-major
 * as Hugging Face stores it ([out_features, in_features]). */
typedef struct mllm_weight {
    mllm_wtype type;
    const void *data;
    int rows, cols;
} mllm_weight;

size_t mllm_weight_row_bytes(mllm_wtype t, int cols);
/* Row r of w as F32 (embedding lookup). */
void mllm_weight_row_f32(const mllm_weight *w, int r, float *out);

/* One product of a job: out (T, w->rows) = in (T, w->cols) · w^T. For the
 * quantized formats in_q holds in quantized to q8 (T rows of cols/32 blocks). */
typedef struct mllm_matmul_op {
    float *out;
    const float *in;
    const block_q8 *in_q;
    const mllm_weight *w;
    const mllm_xaux *in_a;    /* the aux of in_q (set with it) */
} mllm_matmul_op;

/* Runs n_ops products over the pool, each thread taking a slice of every
 * op's rows: one token → dot kernels; a batch → single-threaded sgemm per
 * slice (F16/BF16 rows widened tile by tile into per-thread scratch), or the
 * int8 dot kernels with each weight row reused across the batch. tiles:
 * per-thread scratch of MLLM_TILE_ROWS * max cols floats. */
#define MLLM_TILE_ROWS 32
/* Up to this many tokens a float matrix is multiplied row by row with the one-token
 * kernel (a copy draft and its token: MLLM_MAX_DRAFT + 1) rather than widened for an sgemm. */
#define MLLM_SMALL_BATCH (MLLM_MAX_DRAFT + 1)
/* Multiply-adds below which a product is not split over the pool. */
#define MLLM_MIN_PARALLEL_WORK (256u * 1024u)
void mllm_matmul(mllm_pool *pool, const mllm_kernels *k, const mllm_matmul_op *ops, int n_ops, int T,
                 float *tiles, size_t tile_floats);
/* Quantizes T rows of n activations to q8 (n % 32 == 0), with their aux. */
void mllm_quantize_rows(const mllm_kernels *k, const float *x, block_q8 *out, mllm_xaux *aux, int T, int n);

/* Attention for T query positions (pos0 .. pos0 + T - 1) over the cache,
 * split over the pool by (position, kv head). Cached position t of kv head g
 * is element g * head_stride + t * kv_stride of the caches (float, or f16
 * when kv_f16). chunk > 0: position p attends to the positions of its chunk
 * only, p / chunk * chunk .. p (chunked attention); 0: to 0 .. p. scores: per-thread scratch of
 * mllm_attention_scratch_floats(n_ctx, n_heads / n_kv_heads). */
void mllm_attention_batch(mllm_pool *pool, const mllm_kernels *k, float *out, const float *q, const void *k_cache,
                          const void *v_cache, bool kv_f16, int pos0, int T, int kv_stride, size_t head_stride,
                          int n_heads, int n_kv_heads, int head_dim, float *scores, int n_ctx, int chunk);
/* Per thread: a row of n_ctx scores per query head of a kv group. */
size_t mllm_attention_scratch_floats(int n_ctx, int group);

#endif
