/* rows8_x86.h — the kernels of the 8-row interleaved formats (dot.h) for the
 * x86 tables, written once. The file that includes it defines
 *   ROWS8_TARGET           its target attribute
 *   ROWS8_Q8_PREP(c)       a q8 chunk as the dot below takes it
 *   ROWS8_Q8_DOT(a, w, x)  a + in each 32-bit lane the sum of the 4 products
 *                          of a prepared q8 chunk and 4 activation bytes
 *   ROWS8_Q8_BIAS          what the preparation added to every weight
 *   ROWS8_Q4_DOT(a, u, x)  the same for unsigned nibbles
 * (VNNI: dpbusd takes an unsigned side, so q8 chunks are offset by 128 and
 * the result by -128 * sum(x); AVX2: maddubs + madd, q8 by the sign trick).
 *
 * Lane r holds row r. Each block of the group unpacks to 8 vectors, vector i
 * meeting activation bytes 4i..4i+3 broadcast to every lane; the offset of
 * the weights (q4's -8, the q8 preparation's) is bias * sum(x) in every
 * lane, where the sums start. */
#include <string.h>

ROWS8_TARGET static inline __m256i rows8_x4(const int8_t *p)  /* activation bytes p[0..3] in every lane */
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

ROWS8_TARGET static inline void rows8_unpack_q8(const block_q8x8 *g, __m256i wv[8])
{
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) wv[i] = ROWS8_Q8_PREP(_mm256_loadu_si256((const __m256i *)g->q[i]));
}

/* chunk k: low nibbles are values 4k..4k+3 of each row, high 16+4k.. */
ROWS8_TARGET static inline void rows8_unpack_q4(const block_q4x8 *g, __m256i wv[8])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m256i raw = _mm256_loadu_si256((const __m256i *)g->q[k]);
        wv[k] = _mm256_and_si256(raw, m4);
        wv[k + 4] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
    }
}

/* Two integer sums per token alternate so that consecutive dots do not wait
 * on one another; the prefill kernel unpacks each block once for 4 tokens. */
#define ROWS8_KERNELS(gemv, gemm, GT, UNPACK, DOT, BIAS) \
    ROWS8_TARGET static void gemv(const GT *w, const block_q8 *x, const mllm_xaux *xa, int nb, float out[8]) \
    { \
        __m256 acc = _mm256_setzero_ps(); \
        for (int b = 0; b < nb; b++) { \
            __m256i wv[8]; \
            UNPACK(&w[b], wv); \
            __m256i s0 = _mm256_set1_epi32((BIAS) * xa[b].sum), s1 = _mm256_setzero_si256(); \
            _Pragma("GCC unroll 4") \
            for (int i = 0; i < 8; i += 2) { \
                s0 = DOT(s0, wv[i], rows8_x4(x[b].q + 4 * i)); \
                s1 = DOT(s1, wv[i + 1], rows8_x4(x[b].q + 4 * i + 4)); \
            } \
            __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[b].d)), \
                                     _mm256_set1_ps(xa[b].d)); \
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), d, acc); \
        } \
        _mm256_storeu_ps(out, acc); \
    } \
    \
    ROWS8_TARGET static void gemm(const GT *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb, \
                                  float out[32]) \
    { \
        __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() }; \
        for (int b = 0; b < nb; b++) { \
            __m256i wv[8], s0[4], s1[4]; \
            UNPACK(&w[b], wv); \
            _Pragma("GCC unroll 4") \
            for (int t = 0; t < 4; t++) { \
                s0[t] = _mm256_set1_epi32((BIAS) * xa[t * stride + b].sum); \
                s1[t] = _mm256_setzero_si256(); \
            } \
            _Pragma("GCC unroll 4") \
            for (int i = 0; i < 8; i += 2) { \
                _Pragma("GCC unroll 4") \
                for (int t = 0; t < 4; t++) { \
                    const int8_t *xq = x[t * stride + b].q; \
                    s0[t] = DOT(s0[t], wv[i], rows8_x4(xq + 4 * i)); \
                    s1[t] = DOT(s1[t], wv[i + 1], rows8_x4(xq + 4 * i + 4)); \
                } \
            } \
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[b].d)); \
            _Pragma("GCC unroll 4") \
            for (int t = 0; t < 4; t++) \
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0[t], s1[t])), \
                                         _mm256_mul_ps(dw, _mm256_set1_ps(xa[t * stride + b].d)), acc[t]); \
        } \
        _Pragma("GCC unroll 4") \
        for (int t = 0; t < 4; t++) _mm256_storeu_ps(out + 8 * t, acc[t]); \
    }

ROWS8_KERNELS(gemv_q8x8, gemm_q8x8, block_q8x8, rows8_unpack_q8, ROWS8_Q8_DOT, ROWS8_Q8_BIAS)
ROWS8_KERNELS(gemv_q4x8, gemm_q4x8, block_q4x8, rows8_unpack_q4, ROWS8_Q4_DOT, -8)
#undef ROWS8_KERNELS
