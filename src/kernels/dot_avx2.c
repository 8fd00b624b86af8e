/* dot_avx2.c — AVX2 + FMA + F16C kernels (x86-64), chosen at run time.
 * Compiled with target attributes so one build runs on any x86-64. */
#if defined(__x86_64__) || defined(__i386__)
#include "dot.h"

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static float dot_f32(const float *w, const float *x, int n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

AVX2 static inline __m256 load_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

AVX2 static inline __m256 load_bf16(const uint16_t *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

/* The f16 and bf16 dots differ only in how a block of the row is widened. */
#define DOT16(name, load, scalar) \
    AVX2 static float name(const uint16_t *w, const float *x, int n) \
    { \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(); \
        int i = 0; \
        for (; i + 16 <= n; i += 16) { \
            a0 = _mm256_fmadd_ps(load(w + i), _mm256_loadu_ps(x + i), a0); \
            a1 = _mm256_fmadd_ps(load(w + i + 8), _mm256_loadu_ps(x + i + 8), a1); \
        } \
        for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load(w + i), _mm256_loadu_ps(x + i), a0); \
        float s = hsum8(_mm256_add_ps(a0, a1)); \
        for (; i < n; i++) s += scalar(w[i]) * x[i]; \
        return s; \
    }

DOT16(dot_f16, load_f16, mllm_f16_to_f32_1)
DOT16(dot_bf16, load_bf16, mllm_bf16_to_f32_1)
#undef DOT16

/* Sum of 32 int8 products as 8 int32 lanes: maddubs needs one unsigned side,
 * so multiply |x| by w carrying x's sign. */
AVX2 static inline __m256i dot32_i8(__m256i w, __m256i x)
{
    __m256i ax = _mm256_sign_epi8(x, x), sw = _mm256_sign_epi8(w, x);
    __m256i p16 = _mm256_maddubs_epi16(ax, sw);
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* The two quantized formats differ only in how a weight block is unpacked
 * (UNPACK: its 32 values) and multiplied with an activation block (PROD: 8
 * int32 lanes); QUANT_DOTS below builds both dots of a format from them. */
AVX2 static inline __m256i unpack_q8(const block_q8 *w)
{
    return _mm256_loadu_si256((const __m256i *)w->q);
}

AVX2 static inline __m256i prod_q8(__m256i wv, const block_q8 *xb, const mllm_xaux *xa)
{
    (void)xa;
    return dot32_i8(wv, _mm256_loadu_si256((const __m256i *)xb->q));
}

/* 32 nibbles → 32 values in [0, 15], in element order (the -8 offset is
 * applied through the activation sums). */
AVX2 static inline __m256i unpack_q4(const block_q4 *w)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)w->q);
    __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x0F));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F));
    return _mm256_set_m128i(hi, lo);
}

/* Unsigned nibbles × signed x: maddubs takes them as they are (2 * 15 * 127
 * cannot saturate int16); the 8 lanes get -sum(x) each, -8 * sum(x) in all. */
AVX2 static inline __m256i prod_q4(__m256i nib, const block_q8 *xb, const mllm_xaux *xa)
{
    __m256i x = _mm256_loadu_si256((const __m256i *)xb->q);
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(nib, x), _mm256_set1_epi16(1));
    return _mm256_sub_epi32(p, _mm256_set1_epi32(xa->sum));
}

AVX2 void mllm_quantize_q8_avx2(const float *x, block_q8 *out, int n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < n / MLLM_QK; b++) {
        const float *v = x + b * MLLM_QK;
        __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8), v2 = _mm256_loadu_ps(v + 16), v3 = _mm256_loadu_ps(v + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4), d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        out[b].d = mllm_f32_to_f16_1(d);
        __m256 s = _mm256_set1_ps(id);
        /* round to nearest even, as lrintf does in the scalar twin */
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, s)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, s));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, s)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, s));
        __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
        __m256i p = _mm256_packs_epi16(p01, p23);
        /* packs interleave 128-bit lanes: restore element order */
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)out[b].q, p);
    }
}

/* One row's dot with one activation row, and with 4 (the kernel of a
 * quantized prefill: each weight block loaded, unpacked and its scale widened
 * once for 4 tokens); every block adds (w·x) * dw * dx. */
#define QUANT_DOTS(dot_name, dot4_name, WT, UNPACK, PROD) \
    AVX2 static float dot_name(const WT *w, const block_q8 *x, const mllm_xaux *xa, int nb) \
    { \
        __m256 acc = _mm256_setzero_ps(); \
        for (int b = 0; b < nb; b++) \
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(PROD(UNPACK(w + b), x + b, xa + b)), \
                                  _mm256_set1_ps(_cvtsh_ss(w[b].d) * xa[b].d), acc); \
        return hsum8(acc); \
    } \
    \
    /* one block of token t in dot4: acc += (w·x_t) * dw * dx_t */ \
    AVX2 static inline __m256 dot4_name##_step(__m256 acc, __m256i wv, __m256 dw, const block_q8 *xb, \
                                               const mllm_xaux *ab) \
    { \
        return _mm256_fmadd_ps(_mm256_cvtepi32_ps(PROD(wv, xb, ab)), _mm256_mul_ps(dw, _mm256_set1_ps(ab->d)), acc); \
    } \
    \
    AVX2 static void dot4_name(const WT *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb, \
                               float out[4]) \
    { \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(); \
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps(); \
        for (int b = 0; b < nb; b++) { \
            __m256i wv = UNPACK(w + b); \
            __m256 dw = _mm256_set1_ps(_cvtsh_ss(w[b].d)); \
            a0 = dot4_name##_step(a0, wv, dw, x + b, xa + b); \
            a1 = dot4_name##_step(a1, wv, dw, x + stride + b, xa + stride + b); \
            a2 = dot4_name##_step(a2, wv, dw, x + 2 * stride + b, xa + 2 * stride + b); \
            a3 = dot4_name##_step(a3, wv, dw, x + 3 * stride + b, xa + 3 * stride + b); \
        } \
        out[0] = hsum8(a0); \
        out[1] = hsum8(a1); \
        out[2] = hsum8(a2); \
        out[3] = hsum8(a3); \
    }

QUANT_DOTS(dot_q8, dot4_q8, block_q8, unpack_q8, prod_q8)
QUANT_DOTS(dot_q4, dot4_q4, block_q4, unpack_q4, prod_q4)
#undef QUANT_DOTS

/* The attention kernels, once per cache element type (f32, or f16 widened by
 * F16C as it is loaded): LOAD8 reads 8 values as floats, LOAD1 one, DOT is
 * the single-row dot of that type.
 *
 * Scores: four rows at a time, four independent FMA chains, and one
 * transposing horizontal add for the four sums instead of four reductions.
 * Mix: the output stays in registers while the rows stream by, 64 floats (8
 * accumulators) per pass, then 8 at a time, then the scalar rest. */
#define ATTN_KERNELS(scores_name, mix_name, T, LOAD8, LOAD1, DOT) \
    AVX2 void scores_name(const float *q, const T *k, size_t stride, int n, int hd, float scale, float *out) \
    { \
        int t = 0; \
        for (; t + 4 <= n; t += 4) { \
            const T *k0 = k + (size_t)t * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride; \
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(); \
            __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps(); \
            int i = 0; \
            for (; i + 8 <= hd; i += 8) { \
                __m256 qv = _mm256_loadu_ps(q + i); \
                a0 = _mm256_fmadd_ps(qv, LOAD8(k0 + i), a0); \
                a1 = _mm256_fmadd_ps(qv, LOAD8(k1 + i), a1); \
                a2 = _mm256_fmadd_ps(qv, LOAD8(k2 + i), a2); \
                a3 = _mm256_fmadd_ps(qv, LOAD8(k3 + i), a3); \
            } \
            __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3)); \
            __m128 r = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)); \
            float s[4]; \
            _mm_storeu_ps(s, r); \
            for (; i < hd; i++) { \
                s[0] += q[i] * LOAD1(k0[i]); s[1] += q[i] * LOAD1(k1[i]); \
                s[2] += q[i] * LOAD1(k2[i]); s[3] += q[i] * LOAD1(k3[i]); \
            } \
            for (int j = 0; j < 4; j++) out[t + j] = s[j] * scale; \
        } \
        for (; t < n; t++) out[t] = DOT(k + (size_t)t * stride, q, hd) * scale; \
    } \
    \
    AVX2 void mix_name(float *out, const float *p, const T *v, size_t stride, int n, int hd) \
    { \
        int i = 0; \
        for (; i + 64 <= hd; i += 64) { \
            __m256 a[8]; \
            for (int j = 0; j < 8; j++) a[j] = _mm256_loadu_ps(out + i + 8 * j); \
            for (int t = 0; t < n; t++) { \
                __m256 pt = _mm256_set1_ps(p[t]); \
                const T *vt = v + (size_t)t * stride + i; \
                for (int j = 0; j < 8; j++) a[j] = _mm256_fmadd_ps(pt, LOAD8(vt + 8 * j), a[j]); \
            } \
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(out + i + 8 * j, a[j]); \
        } \
        for (; i + 8 <= hd; i += 8) { \
            __m256 a = _mm256_loadu_ps(out + i); \
            for (int t = 0; t < n; t++) \
                a = _mm256_fmadd_ps(_mm256_set1_ps(p[t]), LOAD8(v + (size_t)t * stride + i), a); \
            _mm256_storeu_ps(out + i, a); \
        } \
        for (; i < hd; i++) { \
            float a = out[i]; \
            for (int t = 0; t < n; t++) a += p[t] * LOAD1(v[(size_t)t * stride + i]); \
            out[i] = a; \
        } \
    }

#define F32_LOAD1(x) (x)
ATTN_KERNELS(mllm_attn_scores_avx2, mllm_attn_mix_avx2, float, _mm256_loadu_ps, F32_LOAD1, dot_f32)
ATTN_KERNELS(mllm_attn_scores_f16_avx2, mllm_attn_mix_f16_avx2, uint16_t, load_f16, mllm_f16_to_f32_1, dot_f16)
#undef F32_LOAD1
#undef ATTN_KERNELS

/* exp(x) for x <= 0 (softmax after subtracting the maximum): x = k ln2 + r,
 * |r| <= ln2/2, exp(r) by a degree-6 polynomial (Cephes expf coefficients,
 * ~1 ulp), times 2^k built in the exponent bits; 0 below MLLM_EXP_CUTOFF. */
AVX2 static inline __m256 exp_neg8(__m256 x)
{
    __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(MLLM_EXP_CUTOFF), _CMP_GE_OQ);
    x = _mm256_max_ps(x, _mm256_set1_ps(MLLM_EXP_CUTOFF));
    __m256 kf = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(kf), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(e)), keep);
}

AVX2 float mllm_exp_sum_avx2(float *x, int n, float max)
{
    __m256 vm = _mm256_set1_ps(max), acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp_neg8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = hsum8(acc);
    if (i < n) {  /* the rest through the same polynomial, so every value has the same error */
        float tmp[8];
        int r = n - i;
        for (int j = 0; j < 8; j++) tmp[j] = j < r ? x[i + j] : max - 100.0f;
        __m256 e = exp_neg8(_mm256_sub_ps(_mm256_loadu_ps(tmp), vm));
        _mm256_storeu_ps(tmp, e);
        for (int j = 0; j < r; j++) { x[i + j] = tmp[j]; sum += tmp[j]; }
    }
    return sum;
}

AVX2 void mllm_widen_f16_avx2(const uint16_t *w, float *out, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_f16(w + i));
    for (; i < n; i++) out[i] = mllm_f16_to_f32_1(w[i]);
}

AVX2 void mllm_widen_bf16_avx2(const uint16_t *w, float *out, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_bf16(w + i));
    for (; i < n; i++) out[i] = mllm_bf16_to_f32_1(w[i]);
}

#define ROWS8_TARGET AVX2
#define ROWS8_Q8_PREP(c) (c)
#define ROWS8_Q8_DOT(a, w, x) _mm256_add_epi32(a, dot32_i8(w, x))
#define ROWS8_Q8_BIAS 0
#define ROWS8_Q4_DOT(a, u, x) _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)))
#include "rows8_x86.h"

const mllm_kernels mllm_kernels_avx2 = {
    "avx2", dot_f32, dot_f16, dot_bf16, dot_q8, dot_q4, mllm_quantize_q8_avx2, dot4_q8, dot4_q4,
    mllm_attn_scores_avx2, mllm_attn_mix_avx2, mllm_attn_scores_f16_avx2, mllm_attn_mix_f16_avx2, mllm_exp_sum_avx2,
    mllm_widen_f16_avx2, mllm_widen_bf16_avx2,
    gemv_q8x8, gemm_q8x8, gemv_q4x8, gemm_q4x8,
    NULL, NULL, NULL, NULL,  /* attention one head at a time */
};
#endif
