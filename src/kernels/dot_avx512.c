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

AVX512 static float dot_q8(const block_q8 *w, const block_q8 *x, int nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i p = dot32_i8(_mm256_loadu_si256((const __m256i *)w[b].q), _mm256_loadu_si256((const __m256i *)x[b].q));
        float d = _cvtsh_ss(w[b].d) * _cvtsh_ss(x[b].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc);
    }
    return hsum8(acc);
}

/* q4: dpbusd(nibbles as unsigned, x) - 8 * sum(x), both with VNNI. */
AVX512 static float dot_q4(const block_q4 *w, const block_q8 *x, int nb)
{
    __m256 acc = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi8(1), mask = _mm256_set1_epi8(0x0F);
    for (int b = 0; b < nb; b++) {
        __m128i raw = _mm_loadu_si128((const __m128i *)w[b].q);
        __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), mask);
        __m256i xv = _mm256_loadu_si256((const __m256i *)x[b].q);
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nib, xv);
        __m256i sx = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, xv);
        p = _mm256_sub_epi32(p, _mm256_slli_epi32(sx, 3));
        float d = _cvtsh_ss(w[b].d) * _cvtsh_ss(x[b].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc);
    }
    return hsum8(acc);
}

/* 4 tokens per weight block with VNNI; q8 weights × q8 activations. */
/* One block of one token in the 4-token kernels: acc += (w·x) * dw * dx. */
AVX512 static inline __m256 step_i8(__m256 acc, __m256i wv, const block_q8 *xb, float dw)
{
    __m256i p = dot32_i8(wv, _mm256_loadu_si256((const __m256i *)xb->q));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * _cvtsh_ss(xb->d)), acc);
}

AVX512 static void dot4_q8(const block_q8 *w, const block_q8 *x, size_t stride, int nb, float out[4])
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i wv = _mm256_loadu_si256((const __m256i *)w[b].q);
        float dw = _cvtsh_ss(w[b].d);
        a0 = step_i8(a0, wv, x + 0 * stride + b, dw);
        a1 = step_i8(a1, wv, x + 1 * stride + b, dw);
        a2 = step_i8(a2, wv, x + 2 * stride + b, dw);
        a3 = step_i8(a3, wv, x + 3 * stride + b, dw);
    }
    out[0] = hsum8(a0);
    out[1] = hsum8(a1);
    out[2] = hsum8(a2);
    out[3] = hsum8(a3);
}

/* q4: the nibbles are unsigned, so dpbusd takes them directly; the -8 offset
 * is 8 * sum(x), itself one dpbusd against ones. */
/* One block of one token for q4: the nibbles go into dpbusd unsigned as they
 * are; the -8 offset is 8 * sum(x), itself a dpbusd against ones. */
AVX512 static inline __m256 step_q4(__m256 acc, __m256i nib, const block_q8 *xb, float dw)
{
    __m256i xv = _mm256_loadu_si256((const __m256i *)xb->q);
    __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nib, xv);
    __m256i sx = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), xv);
    p = _mm256_sub_epi32(p, _mm256_slli_epi32(sx, 3));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * _cvtsh_ss(xb->d)), acc);
}

AVX512 static void dot4_q4(const block_q4 *w, const block_q8 *x, size_t stride, int nb, float out[4])
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    const __m256i mask = _mm256_set1_epi8(0x0F);
    for (int b = 0; b < nb; b++) {
        __m128i raw = _mm_loadu_si128((const __m128i *)w[b].q);
        __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), mask);
        float dw = _cvtsh_ss(w[b].d);
        a0 = step_q4(a0, nib, x + 0 * stride + b, dw);
        a1 = step_q4(a1, nib, x + 1 * stride + b, dw);
        a2 = step_q4(a2, nib, x + 2 * stride + b, dw);
        a3 = step_q4(a3, nib, x + 3 * stride + b, dw);
    }
    out[0] = hsum8(a0);
    out[1] = hsum8(a1);
    out[2] = hsum8(a2);
    out[3] = hsum8(a3);
}

const mllm_kernels mllm_kernels_avx512 = {
    "avx512", dot_f32, dot_f16, dot_bf16, dot_q8, dot_q4,
    mllm_quantize_q8_avx2,  /* memory-bound: the AVX2 version is as fast */
    dot4_q8, dot4_q4,
    /* attention rows are short (head_dim 64): the AVX2 versions keep up */
    mllm_attn_scores_avx2, mllm_attn_mix_avx2, mllm_exp_sum_avx2, mllm_widen_f16_avx2, mllm_widen_bf16_avx2,
};
#endif
