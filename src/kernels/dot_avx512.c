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

/* Rows ahead that the attention kernels ask the memory for: a long cache is
 * read once per token, in 180 short streams (layers x kv heads x K, V) that
 * the hardware prefetcher alone picks up too late (measured: 4.2 -> 3.3 ms
 * for 1536 f32 positions of the 125M shape). */
#define PF_ROWS 32

/* The 4 totals of 4 vectors of partial sums, in order. */
AVX512 static inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    /* per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3], then [a, b, c, d] */
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512 s = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

AVX512 static inline __m512 load16_f32(const float *p) { return _mm512_loadu_ps(p); }

/* The row at addr, which may lie past the end of the cache near its end: an
 * integer address, since a prefetch never faults but such a pointer would be
 * undefined in C. */
AVX512 static inline void prefetch_row(uintptr_t addr, size_t bytes)
{
    for (size_t i = 0; i < bytes; i += 64) _mm_prefetch((const char *)(addr + i), _MM_HINT_T0);
}

/* The group's heads (a constant, so that their loops unroll and their
 * accumulators live in registers) over a cache of element type T, read 16
 * dims at a time by LOAD16. Scores: 4 positions at a time, head by head
 * (their K rows come from L1 for the second head on; sharing each loaded
 * piece across the heads measured slower, 5.5 vs 3.5 ms for 1536 f32
 * positions of the 125M shape), one reduce4 per head. Mix: each V row
 * loaded once for every head, the heads' 4 x group accumulators (64 dims)
 * kept across the positions. */
#define GROUP_KERNELS(scores_name, mix_name, T, LOAD16) \
    AVX512 static inline __attribute__((always_inline)) void scores_name##_g( \
        const float *q, const int group, const T *k, size_t stride, int n, int hd, float scale, float *out, \
        size_t out_stride) \
    { \
        int t = 0; \
        for (; t + 4 <= n; t += 4) { \
            const T *k0 = k + (size_t)t * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride; \
            for (int r = 0; r < 4; r++) \
                prefetch_row((uintptr_t)k0 + (PF_ROWS + r) * stride * sizeof(T), hd * sizeof(T)); \
            for (int j = 0; j < group; j++) { \
                const float *qj = q + (size_t)j * hd; \
                __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(); \
                __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps(); \
                for (int i = 0; i < hd; i += 16) { \
                    __m512 qv = _mm512_loadu_ps(qj + i); \
                    a0 = _mm512_fmadd_ps(qv, LOAD16(k0 + i), a0); \
                    a1 = _mm512_fmadd_ps(qv, LOAD16(k1 + i), a1); \
                    a2 = _mm512_fmadd_ps(qv, LOAD16(k2 + i), a2); \
                    a3 = _mm512_fmadd_ps(qv, LOAD16(k3 + i), a3); \
                } \
                _mm_storeu_ps(out + (size_t)j * out_stride + t, \
                              _mm_mul_ps(reduce4(a0, a1, a2, a3), _mm_set1_ps(scale))); \
            } \
        } \
        for (; t < n; t++) { \
            const T *kt = k + (size_t)t * stride; \
            for (int j = 0; j < group; j++) { \
                __m512 a = _mm512_setzero_ps(); \
                for (int i = 0; i < hd; i += 16) \
                    a = _mm512_fmadd_ps(_mm512_loadu_ps(q + (size_t)j * hd + i), LOAD16(kt + i), a); \
                out[(size_t)j * out_stride + t] = _mm512_reduce_add_ps(a) * scale; \
            } \
        } \
    } \
    \
    AVX512 static inline __attribute__((always_inline)) void mix_name##_g( \
        float *out, const int group, const float *p, size_t p_stride, const T *v, size_t stride, int n, int hd) \
    { \
        int i = 0; \
        for (; i + 64 <= hd; i += 64) { \
            __m512 a[4][4]; \
            for (int j = 0; j < group; j++) \
                for (int c = 0; c < 4; c++) a[j][c] = _mm512_loadu_ps(out + (size_t)j * hd + i + 16 * c); \
            for (int t = 0; t < n; t++) { \
                const T *vt = v + (size_t)t * stride + i; \
                prefetch_row((uintptr_t)vt + PF_ROWS * stride * sizeof(T), 64 * sizeof(T)); \
                __m512 v0 = LOAD16(vt), v1 = LOAD16(vt + 16), v2 = LOAD16(vt + 32), v3 = LOAD16(vt + 48); \
                for (int j = 0; j < group; j++) { \
                    __m512 pj = _mm512_set1_ps(p[(size_t)j * p_stride + t]); \
                    a[j][0] = _mm512_fmadd_ps(pj, v0, a[j][0]); \
                    a[j][1] = _mm512_fmadd_ps(pj, v1, a[j][1]); \
                    a[j][2] = _mm512_fmadd_ps(pj, v2, a[j][2]); \
                    a[j][3] = _mm512_fmadd_ps(pj, v3, a[j][3]); \
                } \
            } \
            for (int j = 0; j < group; j++) \
                for (int c = 0; c < 4; c++) _mm512_storeu_ps(out + (size_t)j * hd + i + 16 * c, a[j][c]); \
        } \
        for (; i < hd; i += 16) { \
            __m512 a[4]; \
            for (int j = 0; j < group; j++) a[j] = _mm512_loadu_ps(out + (size_t)j * hd + i); \
            for (int t = 0; t < n; t++) { \
                __m512 vt = LOAD16(v + (size_t)t * stride + i); \
                for (int j = 0; j < group; j++) \
                    a[j] = _mm512_fmadd_ps(_mm512_set1_ps(p[(size_t)j * p_stride + t]), vt, a[j]); \
            } \
            for (int j = 0; j < group; j++) _mm512_storeu_ps(out + (size_t)j * hd + i, a[j]); \
        } \
    } \
    \
    AVX512 static void scores_name(const float *q, int group, const T *k, size_t stride, int n, int hd, float scale, \
                                   float *out, size_t out_stride) \
    { \
        switch (group) { \
        case 1: scores_name##_g(q, 1, k, stride, n, hd, scale, out, out_stride); break; \
        case 2: scores_name##_g(q, 2, k, stride, n, hd, scale, out, out_stride); break; \
        case 3: scores_name##_g(q, 3, k, stride, n, hd, scale, out, out_stride); break; \
        default: scores_name##_g(q, 4, k, stride, n, hd, scale, out, out_stride); break; \
        } \
    } \
    \
    AVX512 static void mix_name(float *out, int group, const float *p, size_t p_stride, const T *v, size_t stride, \
                                int n, int hd) \
    { \
        switch (group) { \
        case 1: mix_name##_g(out, 1, p, p_stride, v, stride, n, hd); break; \
        case 2: mix_name##_g(out, 2, p, p_stride, v, stride, n, hd); break; \
        case 3: mix_name##_g(out, 3, p, p_stride, v, stride, n, hd); break; \
        default: mix_name##_g(out, 4, p, p_stride, v, stride, n, hd); break; \
        } \
    }

GROUP_KERNELS(attn_scores_group, attn_mix_group, float, load16_f32)
GROUP_KERNELS(attn_scores_group_f16, attn_mix_group_f16, uint16_t, load_f16)
#undef GROUP_KERNELS

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
    /* one head at a time (other head_dims, f16 caches): the AVX2 versions */
    mllm_attn_scores_avx2, mllm_attn_mix_avx2, mllm_attn_scores_f16_avx2, mllm_attn_mix_f16_avx2, mllm_exp_sum_avx2,
    mllm_widen_f16_avx2, mllm_widen_bf16_avx2,
    gemv_q8x8, gemm_q8x8, gemv_q4x8, gemm_q4x8,
    attn_scores_group, attn_mix_group, attn_scores_group_f16, attn_mix_group_f16,
};
#endif
