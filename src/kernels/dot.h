/* dot.h — the dot-product kernels every matrix-vector product is made of, per
 * weight format, and the table that picks an instruction set at run time.
 *
 * Weight formats (rows are contiguous; a quantized row is cols/32 blocks):
 *   f32, f16, bf16  as stored in the checkpoint (no widened copy)
 *   q8              block_q8: 32 int8 values and an f16 scale, x = d * q
 *   q4              block_q4: 32 4-bit values and an f16 scale, x = d * (q - 8);
 *                   byte j holds value j (low nibble) and value j + 16 (high)
 *   q8x8, q4x8      8 rows of q8 or q4 interleaved (below), made at load for
 *                   the multi-row kernels; files always hold plain q8 and q4
 * Activations are f32, or q8 blocks for the quantized formats (their dot is
 * integer arithmetic, as the fastest engines do).
 *
 * Every SIMD table has a scalar twin (dot_scalar.c) that spec/c/test_kernels.c
 * compares it with on random data. */
#ifndef MLLM_DOT_H
#define MLLM_DOT_H

#include <stddef.h>
#include <stdint.h>

#define MLLM_QK 32

typedef struct { uint16_t d; int8_t q[MLLM_QK]; } block_q8;       /* 34 bytes */
typedef struct { uint16_t d; uint8_t q[MLLM_QK / 2]; } block_q4;  /* 18 bytes */

/* Block b of 8 rows: their 8 scales, then chunks of 32 bytes, chunk k
 * holding bytes 4k..4k+3 of each row's block b (row r at 4r). One 32-byte
 * load thus gives 4 bytes of each of the 8 rows: an integer dot instruction
 * sums one row per 32-bit lane against a broadcast of the activation, which
 * all 8 rows share, and the 8 rows' weights are one sequential stream (8
 * separate row streams defeat the prefetcher). A q4 chunk's low nibbles are
 * values 4k..4k+3 of each row, its high nibbles values 16+4k..16+4k+3. */
#define MLLM_ROWS8 8
typedef struct { uint16_t d[MLLM_ROWS8]; int8_t q[8][32]; } block_q8x8;   /* 272 bytes */
typedef struct { uint16_t d[MLLM_ROWS8]; uint8_t q[4][32]; } block_q4x8;  /* 144 bytes */

/* What the quantized dots need of an activation block besides its int8
 * values, computed once per activation row (every weight row reuses it): the
 * scale as f32, and the sum of the 32 values (q4's -8 offset costs -8 * sum). */
typedef struct { float d; int32_t sum; } mllm_xaux;

typedef enum mllm_wtype { MLLM_W_F32, MLLM_W_F16, MLLM_W_BF16, MLLM_W_Q8, MLLM_W_Q4, MLLM_W_Q8X8, MLLM_W_Q4X8 } mllm_wtype;

typedef struct mllm_kernels {
    const char *name;
    float (*dot_f32)(const float *w, const float *x, int n);
    float (*dot_f16)(const uint16_t *w, const float *x, int n);
    float (*dot_bf16)(const uint16_t *w, const float *x, int n);
    float (*dot_q8)(const block_q8 *w, const block_q8 *x, const mllm_xaux *xa, int nb);
    float (*dot_q4)(const block_q4 *w, const block_q8 *x, const mllm_xaux *xa, int nb);
    void (*quantize_q8)(const float *x, block_q8 *out, int n);  /* n % 32 == 0 */
    /* one weight row against 4 activation rows (x[t] at x + t * stride
     * blocks, its aux at xa + t * stride): the blocked kernel of a quantized
     * prefill, each weight block loaded and unpacked once for 4 tokens */
    void (*dot4_q8)(const block_q8 *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb, float out[4]);
    void (*dot4_q4)(const block_q4 *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb, float out[4]);
    /* attention over n cached positions (row t of k or v at k + t * stride):
     * out[t] = scale * dot(q, k_t) for t < n;  out += sum_t p[t] * v_t;
     * x[t] = exp(x[t] - max) for t < n, returning their sum (softmax); a
     * difference below MLLM_EXP_CUTOFF gives exactly 0, so that no weight
     * (nor weight / sum) is a subnormal number: x86 FMAs on subnormals take a
     * microcode assist of ~100 cycles, which made long-context attention 5x
     * slower on peaky score rows */
#define MLLM_EXP_CUTOFF (-60.0f)
    void (*attn_scores)(const float *q, const float *k, size_t stride, int n, int hd, float scale, float *out);
    void (*attn_mix)(float *out, const float *p, const float *v, size_t stride, int n, int hd);
    /* the same over an f16 cache */
    void (*attn_scores_f16)(const float *q, const uint16_t *k, size_t stride, int n, int hd, float scale, float *out);
    void (*attn_mix_f16)(float *out, const float *p, const uint16_t *v, size_t stride, int n, int hd);
    float (*exp_sum)(float *x, int n, float max);
    void (*widen_f16)(const uint16_t *w, float *out, int n);     /* prefill tiles */
    void (*widen_bf16)(const uint16_t *w, float *out, int n);
    /* A group of 8 interleaved q8 or q4 rows (nb blocks each) against one
     * activation row: out[r] for row r; and against 4 (x[t] at x + t *
     * stride blocks): out[t * 8 + r], each weight block unpacked once for 4
     * tokens. NULL in a table without them: rows then stay as stored. */
    void (*gemv_q8x8)(const block_q8x8 *w, const block_q8 *x, const mllm_xaux *xa, int nb, float out[8]);
    void (*gemm_q8x8)(const block_q8x8 *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb,
                      float out[32]);
    void (*gemv_q4x8)(const block_q4x8 *w, const block_q8 *x, const mllm_xaux *xa, int nb, float out[8]);
    void (*gemm_q4x8)(const block_q4x8 *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb,
                      float out[32]);
    /* The query heads of one kv head together (group <= 4, hd a multiple of
     * 16): query j at q + j * hd and its scores at out + j * out_stride; its
     * weights at p + j * p_stride and its output at out + j * hd. Each K or V
     * row is loaded once for the group. NULL in a table without them. */
    void (*attn_scores_group)(const float *q, int group, const float *k, size_t stride, int n, int hd, float scale,
                              float *out, size_t out_stride);
    void (*attn_mix_group)(float *out, int group, const float *p, size_t p_stride, const float *v, size_t stride,
                           int n, int hd);
    void (*attn_scores_group_f16)(const float *q, int group, const uint16_t *k, size_t stride, int n, int hd,
                                  float scale, float *out, size_t out_stride);
    void (*attn_mix_group_f16)(float *out, int group, const float *p, size_t p_stride, const uint16_t *v,
                               size_t stride, int n, int hd);
} mllm_kernels;

extern const mllm_kernels mllm_kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
extern const mllm_kernels mllm_kernels_avx2;
extern const mllm_kernels mllm_kernels_avx512;
void mllm_quantize_q8_avx2(const float *x, block_q8 *out, int n);
void mllm_widen_f16_avx2(const uint16_t *w, float *out, int n);
void mllm_attn_scores_avx2(const float *q, const float *k, size_t stride, int n, int hd, float scale, float *out);
void mllm_attn_mix_avx2(float *out, const float *p, const float *v, size_t stride, int n, int hd);
void mllm_attn_scores_f16_avx2(const float *q, const uint16_t *k, size_t stride, int n, int hd, float scale, float *out);
void mllm_attn_mix_f16_avx2(float *out, const float *p, const uint16_t *v, size_t stride, int n, int hd);
float mllm_exp_sum_avx2(float *x, int n, float max);
void mllm_widen_bf16_avx2(const uint16_t *w, float *out, int n);
#endif
#if defined(__aarch64__)
extern const mllm_kernels mllm_kernels_neon;
#endif

/* The fastest table this CPU runs (MLLM_KERNELS=scalar|avx2|avx512|neon in the
 * environment forces one, if the CPU has it). */
const mllm_kernels *mllm_kernels_best(void);
/* A table by name, or NULL when this CPU or build lacks it. */
const mllm_kernels *mllm_kernels_get(const char *name);

/* f16 <-> f32 (round to nearest even), scalar. */
float mllm_f16_to_f32_1(uint16_t h);
uint16_t mllm_f32_to_f16_1(float f);
float mllm_bf16_to_f32_1(uint16_t h);
/* The aux of nb quantized activation blocks. */
void mllm_xaux_fill(const block_q8 *x, mllm_xaux *xa, int nb);
/* Quantizes a row of n floats (n % 32 == 0) for storage. */
void mllm_quantize_row_q8(const float *x, block_q8 *out, int n);
void mllm_quantize_row_q4(const float *x, block_q4 *out, int n);
/* 8 rows of nb blocks (row r at rows + r * nb) → one interleaved group, and
 * row r of a group back (exact: the same bytes, moved). */
void mllm_pack_q8x8(const block_q8 *rows, int nb, block_q8x8 *out);
void mllm_unpack_q8x8(const block_q8x8 *g, int r, int nb, block_q8 *out);
void mllm_pack_q4x8(const block_q4 *rows, int nb, block_q4x8 *out);
void mllm_unpack_q4x8(const block_q4x8 *g, int r, int nb, block_q4 *out);
/* The same for either format: whether t is an interleaved type; 8 rows of
 * plain type t (MLLM_W_Q8 or MLLM_W_Q4) into a group; row r of a group of
 * interleaved type t back to plain blocks. */
static inline int mllm_wtype_rows8(mllm_wtype t) { return t == MLLM_W_Q8X8 || t == MLLM_W_Q4X8; }
void mllm_pack_rows8(mllm_wtype t, const void *rows, int nb, void *out);
void mllm_unpack_rows8(mllm_wtype t, const void *g, int r, int nb, void *out);

#endif
