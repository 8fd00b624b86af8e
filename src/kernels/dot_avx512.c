/* dot_avx512.c — AVX-512 kernels (F, BW, VL, VNNI): 16-wide float dots, and
 * integer dots with the VNNI dpbusd instruction. Chosen at run time. */
#if defined(__x86_64__) || defined(__i386__)
#include "dot.h"

#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

AVX512 static float dot_f32(const float *w, const float *x, int n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
    if (i < n) {  /* masked tail */
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, w + i), _mm512_maskz_loadu_ps(k, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

AVX512 static inline __m512 load_f16(const uint16_t *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

AVX512 static inline __m512 load_bf16(const uint16_t *p)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

/* The f16 and bf16 dots differ only in how a block of the row is widened. */
#define DOT16(name, load, scalar) \
    AVX512 static float name(const uint16_t *w, const float *x, int n) \
    { \
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(); \
        int i = 0; \
        for (; i + 32 <= n; i += 32) { \
            a0 = _mm512_fmadd_ps(load(w + i), _mm512_loadu_ps(x + i), a0); \
            a1 = _mm512_fmadd_ps(load(w + i + 16), _mm512_loadu_ps(x + i + 16), a1); \
        } \
        for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(load(w + i), _mm512_loadu_ps(x + i), a0); \
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)); \
        for (; i < n; i++) s += scalar(w[i]) * x[i]; \
        return s; \
    }

DOT16(dot_f16, load_f16, mllm_f16_to_f32_1)
DOT16(dot_bf16, load_bf16, mllm_bf16_to_f32_1)
#undef DOT16

/* 32 int8 × int8 products summed into 8 int32 lanes with VNNI: dpbusd takes
 * an unsigned side, so |x| times w carrying x's sign. */
AVX512 static inline __m256i dot32_i8(__m256i w, __m256i x)
{
    __m256i ax = _mm256_sign_epi8(x, x), sw = _mm256_sign_epi8(w, x);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sw);
}

AVX512 static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The two quantized formats differ only in how a weight block is unpacked
 * (UNPACK: its 32 values) and multiplied with an activation block (PROD: 8
 * int32 lanes); QUANT_DOTS below builds both dots of a format from them. */
AVX512 static inline __m256i unpack_q8(const block_q8 *w)
{
    return _mm256_loadu_si256((const __m256i *)w->q);
}

AVX512 static inline __m256i prod_q8(__m256i wv, const block_q8 *xb, const mllm_xaux *xa)
{
    (void)xa;
    return dot32_i8(wv, _mm256_loadu_si256((const __m256i *)xb->q));
}

/* 32 nibbles → 32 values in [0, 15], in element order. */
AVX512 static inline __m256i unpack_q4(const block_q4 *w)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)w->q);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
}

/* q4: dpbusd(nibbles as unsigned, x), its accumulator starting at -sum(x) in
 * each of the 8 lanes: -8 * sum(x) in all, the -8 offset of the nibbles. */
AVX512 static inline __m256i prod_q4(__m256i nib, const block_q8 *xb, const mllm_xaux *xa)
{
    return _mm256_dpbusd_epi32(_mm256_set1_epi32(-xa->sum), nib, _mm256_loadu_si256((const __m256i *)xb->q));
}

/* One row's dot with one activation row (two accumulators alternate so that
 * consecutive blocks do not wait on one FMA chain), and with 4 (the kernel of
 * a quantized prefill: each weight block loaded, unpacked and its scale
 * widened once for 4 tokens); every block adds (w·x) * dw * dx. */
#define QUANT_DOTS(dot_name, dot4_name, WT, UNPACK, PROD) \
    /* acc += (w·x) * dw * dx for one block, dw given as a vector */ \
    AVX512 static inline __m256 dot_name##_step(__m256 acc, __m256i wv, __m256 dw, const block_q8 *xb, \
                                                const mllm_xaux *ab) \
    { \
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(PROD(wv, xb, ab)), _mm256_mul_ps(dw, _mm256_set1_ps(ab->d)), acc); \
    } \
    \
    AVX512 static float dot_name(const WT *w, const block_q8 *x, const mllm_xaux *xa, int nb) \
    { \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(); \
        int b = 0; \
        for (; b + 2 <= nb; b += 2) { \
            a0 = dot_name##_step(a0, UNPACK(w + b), _mm256_set1_ps(_cvtsh_ss(w[b].d)), x + b, xa + b); \
            a1 = dot_name##_step(a1, UNPACK(w + b + 1), _mm256_set1_ps(_cvtsh_ss(w[b + 1].d)), x + b + 1, xa + b + 1); \
        } \
        if (b < nb) a0 = dot_name##_step(a0, UNPACK(w + b), _mm256_set1_ps(_cvtsh_ss(w[b].d)), x + b, xa + b); \
        return hsum8(_mm256_add_ps(a0, a1)); \
    } \
    \
    AVX512 static void dot4_name(const WT *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb, \
                                 float out[4]) \
    { \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(); \
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps(); \
        for (int b = 0; b < nb; b++) { \
            __m256i wv = UNPACK(w + b); \
            __m256 dw = _mm256_set1_ps(_cvtsh_ss(w[b].d)); \
            a0 = dot_name##_step(a0, wv, dw, x + b, xa + b); \
            a1 = dot_name##_step(a1, wv, dw, x + stride + b, xa + stride + b); \
            a2 = dot_name##_step(a2, wv, dw, x + 2 * stride + b, xa + 2 * stride + b); \
            a3 = dot_name##_step(a3, wv, dw, x + 3 * stride + b, xa + 3 * stride + b); \
        } \
        out[0] = hsum8(a0); \
        out[1] = hsum8(a1); \
        out[2] = hsum8(a2); \
        out[3] = hsum8(a3); \
    }

QUANT_DOTS(dot_q8, dot4_q8, block_q8, unpack_q8, prod_q8)
QUANT_DOTS(dot_q4, dot4_q4, block_q4, unpack_q4, prod_q4)
#undef QUANT_DOTS

#define ROWS8_TARGET AVX512
#define ROWS8_Q8_PREP(c) _mm256_xor_si256(c, _mm256_set1_epi8((char)0x80))
#define ROWS8_Q8_DOT(a, w, x) _mm256_dpbusd_epi32(a, w, x)
#define ROWS8_Q8_BIAS (-128)
#define ROWS8_Q4_DOT(a, u, x) _mm256_dpbusd_epi32(a, u, x)
#include "rows8_x86.h"

const mllm_kernels mllm_kernels_avx512 = {
    "avx512", dot_f32, dot_f16, dot_bf16, dot_q8, dot_q4,
    mllm_quantize_q8_avx2,  /* memory-bound: the AVX2 version is as fast */
    dot4_q8, dot4_q4,
    /* attention rows are short (head_dim 64): the AVX2 versions keep up */
    mllm_attn_scores_avx2, mllm_attn_mix_avx2, mllm_attn_scores_f16_avx2, mllm_attn_mix_f16_avx2, mllm_exp_sum_avx2,
    mllm_widen_f16_avx2, mllm_widen_bf16_avx2,
    gemv_q8x8, gemm_q8x8, gemv_q4x8, gemm_q4x8,
};
#endif
