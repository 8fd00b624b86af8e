/* dot_neon.c — NEON kernels (AArch64). Cross-compiled in CI so that they at
 * least build; spec/c/test_kernels.c compares them with the scalar twins when
 * run on an ARM machine (or under qemu-user). */
#if defined(__aarch64__)
#include "dot.h"

#include <arm_neon.h>

static float dot_f32(const float *w, const float *x, int n)
{
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 = vfmaq_f32(a0, vld1q_f32(w + i), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, vld1q_f32(w + i + 4), vld1q_f32(x + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

static float dot_f16(const uint16_t *w, const float *x, int n)
{
    float32x4_t a0 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        a0 = vfmaq_f32(a0, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w + i))), vld1q_f32(x + i));
    float s = vaddvq_f32(a0);
    for (; i < n; i++) s += mllm_f16_to_f32_1(w[i]) * x[i];
    return s;
}

static float dot_bf16(const uint16_t *w, const float *x, int n)
{
    float32x4_t a0 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        a0 = vfmaq_f32(a0, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(w + i), 16)), vld1q_f32(x + i));
    float s = vaddvq_f32(a0);
    for (; i < n; i++) s += mllm_bf16_to_f32_1(w[i]) * x[i];
    return s;
}

static inline int32_t dot32_i8(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1)
{
    int16x8_t p0 = vmull_s8(vget_low_s8(w0), vget_low_s8(x0));
    p0 = vmlal_s8(p0, vget_high_s8(w0), vget_high_s8(x0));
    int16x8_t p1 = vmull_s8(vget_low_s8(w1), vget_low_s8(x1));
    p1 = vmlal_s8(p1, vget_high_s8(w1), vget_high_s8(x1));
    return vaddvq_s32(vaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1)));
}

static float dot_q8(const block_q8 *w, const block_q8 *x, const mllm_xaux *xa, int nb)
{
    float s = 0.0f;
    for (int b = 0; b < nb; b++) {
        int32_t acc = dot32_i8(vld1q_s8(w[b].q), vld1q_s8(w[b].q + 16), vld1q_s8(x[b].q), vld1q_s8(x[b].q + 16));
        s += (float)acc * (mllm_f16_to_f32_1(w[b].d) * xa[b].d);
    }
    return s;
}

static float dot_q4(const block_q4 *w, const block_q8 *x, const mllm_xaux *xa, int nb)
{
    float s = 0.0f;
    const uint8x16_t mask = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    for (int b = 0; b < nb; b++) {
        uint8x16_t raw = vld1q_u8(w[b].q);
        int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, mask)), eight);
        int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight);
        int32_t acc = dot32_i8(lo, hi, vld1q_s8(x[b].q), vld1q_s8(x[b].q + 16));
        s += (float)acc * (mllm_f16_to_f32_1(w[b].d) * xa[b].d);
    }
    return s;
}

static void dot4_q8(const block_q8 *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb, float out[4])
{
    for (int t = 0; t < 4; t++) out[t] = dot_q8(w, x + t * stride, xa + t * stride, nb);
}

static void dot4_q4(const block_q4 *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb, float out[4])
{
    for (int t = 0; t < 4; t++) out[t] = dot_q4(w, x + t * stride, xa + t * stride, nb);
}

/* The attention kernels, once per cache element type (f32, or f16 widened as
 * it is loaded), as in dot_avx2.c: scores four rows at a time (pairwise adds
 * transpose the four sums into one vector), mix with the output in registers. */
#define ATTN_KERNELS(scores_name, mix_name, T, LOAD4, LOAD1, DOT) \
    static void scores_name(const float *q, const T *k, size_t stride, int n, int hd, float scale, float *out) \
    { \
        int t = 0; \
        for (; t + 4 <= n; t += 4) { \
            const T *k0 = k + (size_t)t * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride; \
            float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0), a2 = vdupq_n_f32(0), a3 = vdupq_n_f32(0); \
            int i = 0; \
            for (; i + 4 <= hd; i += 4) { \
                float32x4_t qv = vld1q_f32(q + i); \
                a0 = vfmaq_f32(a0, qv, LOAD4(k0 + i)); \
                a1 = vfmaq_f32(a1, qv, LOAD4(k1 + i)); \
                a2 = vfmaq_f32(a2, qv, LOAD4(k2 + i)); \
                a3 = vfmaq_f32(a3, qv, LOAD4(k3 + i)); \
            } \
            float32x4_t r = vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3)); \
            float s[4]; \
            vst1q_f32(s, r); \
            for (; i < hd; i++) { \
                s[0] += q[i] * LOAD1(k0[i]); s[1] += q[i] * LOAD1(k1[i]); \
                s[2] += q[i] * LOAD1(k2[i]); s[3] += q[i] * LOAD1(k3[i]); \
            } \
            for (int j = 0; j < 4; j++) out[t + j] = s[j] * scale; \
        } \
        for (; t < n; t++) out[t] = DOT(k + (size_t)t * stride, q, hd) * scale; \
    } \
    \
    static void mix_name(float *out, const float *p, const T *v, size_t stride, int n, int hd) \
    { \
        int i = 0; \
        for (; i + 16 <= hd; i += 16) { \
            float32x4_t a0 = vld1q_f32(out + i), a1 = vld1q_f32(out + i + 4), a2 = vld1q_f32(out + i + 8), \
                        a3 = vld1q_f32(out + i + 12); \
            for (int t = 0; t < n; t++) { \
                const T *vt = v + (size_t)t * stride + i; \
                float32x4_t pt = vdupq_n_f32(p[t]); \
                a0 = vfmaq_f32(a0, pt, LOAD4(vt)); \
                a1 = vfmaq_f32(a1, pt, LOAD4(vt + 4)); \
                a2 = vfmaq_f32(a2, pt, LOAD4(vt + 8)); \
                a3 = vfmaq_f32(a3, pt, LOAD4(vt + 12)); \
            } \
            vst1q_f32(out + i, a0); vst1q_f32(out + i + 4, a1); \
            vst1q_f32(out + i + 8, a2); vst1q_f32(out + i + 12, a3); \
        } \
        for (; i + 4 <= hd; i += 4) { \
            float32x4_t a = vld1q_f32(out + i); \
            for (int t = 0; t < n; t++) a = vfmaq_f32(a, vdupq_n_f32(p[t]), LOAD4(v + (size_t)t * stride + i)); \
            vst1q_f32(out + i, a); \
        } \
        for (; i < hd; i++) { \
            float a = out[i]; \
            for (int t = 0; t < n; t++) a += p[t] * LOAD1(v[(size_t)t * stride + i]); \
            out[i] = a; \
        } \
    }

#define F32_LOAD1(x) (x)
#define F16_LOAD4(p) vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)))
ATTN_KERNELS(attn_scores, attn_mix, float, vld1q_f32, F32_LOAD1, dot_f32)
ATTN_KERNELS(attn_scores_f16, attn_mix_f16, uint16_t, F16_LOAD4, mllm_f16_to_f32_1, dot_f16)
#undef F32_LOAD1
#undef F16_LOAD4
#undef ATTN_KERNELS

/* exp(x) for x <= 0, as in dot_avx2.c: x = k ln2 + r, a degree-6 polynomial
 * (Cephes expf coefficients), 2^k in the exponent bits; 0 below MLLM_EXP_CUTOFF. */
static inline float32x4_t exp_neg4(float32x4_t x)
{
    uint32x4_t keep = vcgeq_f32(x, vdupq_n_f32(MLLM_EXP_CUTOFF));
    x = vmaxq_f32(x, vdupq_n_f32(MLLM_EXP_CUTOFF));
    float32x4_t kf = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, kf, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, kf, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t y = vdupq_n_f32(1.9875691500e-4f);
    y = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), y, r);
    y = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), y, r);
    y = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), y, r);
    y = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), y, r);
    y = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), y, r);
    y = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), y, vmulq_f32(r, r));
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(kf), vdupq_n_s32(127)), 23);
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vmulq_f32(y, vreinterpretq_f32_s32(e))), keep));
}

static float exp_sum(float *x, int n, float max)
{
    float32x4_t vm = vdupq_n_f32(max), acc = vdupq_n_f32(0);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = exp_neg4(vsubq_f32(vld1q_f32(x + i), vm));
        vst1q_f32(x + i, e);
        acc = vaddq_f32(acc, e);
    }
    float sum = vaddvq_f32(acc);
    if (i < n) {
        float tmp[4];
        int r = n - i;
        for (int j = 0; j < 4; j++) tmp[j] = j < r ? x[i + j] : max - 100.0f;
        vst1q_f32(tmp, exp_neg4(vsubq_f32(vld1q_f32(tmp), vm)));
        for (int j = 0; j < r; j++) { x[i + j] = tmp[j]; sum += tmp[j]; }
    }
    return sum;
}

static void widen_f16(const uint16_t *w, float *out, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w + i))));
    for (; i < n; i++) out[i] = mllm_f16_to_f32_1(w[i]);
}

static void widen_bf16(const uint16_t *w, float *out, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(w + i), 16)));
    for (; i < n; i++) out[i] = mllm_bf16_to_f32_1(w[i]);
}

const mllm_kernels mllm_kernels_neon = {
    "neon", dot_f32, dot_f16, dot_bf16, dot_q8, dot_q4, mllm_quantize_row_q8, dot4_q8, dot4_q4,
    attn_scores, attn_mix, attn_scores_f16, attn_mix_f16, exp_sum, widen_f16, widen_bf16,
    NULL, NULL, NULL, NULL,  /* quantized rows as stored */
    NULL, NULL, NULL, NULL,  /* attention one head at a time */
};
#endif
