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

static float dot_q8(const block_q8 *w, const block_q8 *x, int nb)
{
    float s = 0.0f;
    for (int b = 0; b < nb; b++) {
        int32_t acc = dot32_i8(vld1q_s8(w[b].q), vld1q_s8(w[b].q + 16), vld1q_s8(x[b].q), vld1q_s8(x[b].q + 16));
        s += (float)acc * (mllm_f16_to_f32_1(w[b].d) * mllm_f16_to_f32_1(x[b].d));
    }
    return s;
}

static float dot_q4(const block_q4 *w, const block_q8 *x, int nb)
{
    float s = 0.0f;
    const uint8x16_t mask = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    for (int b = 0; b < nb; b++) {
        uint8x16_t raw = vld1q_u8(w[b].q);
        int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, mask)), eight);
        int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight);
        int32_t acc = dot32_i8(lo, hi, vld1q_s8(x[b].q), vld1q_s8(x[b].q + 16));
        s += (float)acc * (mllm_f16_to_f32_1(w[b].d) * mllm_f16_to_f32_1(x[b].d));
    }
    return s;
}

static void dot4_q8(const block_q8 *w, const block_q8 *x, size_t stride, int nb, float out[4])
{
    for (int t = 0; t < 4; t++) out[t] = dot_q8(w, x + t * stride, nb);
}

static void dot4_q4(const block_q4 *w, const block_q8 *x, size_t stride, int nb, float out[4])
{
    for (int t = 0; t < 4; t++) out[t] = dot_q4(w, x + t * stride, nb);
}

static void axpy(float *y, float a, const float *x, int n)
{
    int i = 0;
    float32x4_t va = vdupq_n_f32(a);
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), va, vld1q_f32(x + i)));
    for (; i < n; i++) y[i] += a * x[i];
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
    "neon", dot_f32, dot_f16, dot_bf16, dot_q8, dot_q4, mllm_quantize_row_q8, dot4_q8, dot4_q4, axpy,
    widen_f16, widen_bf16,
};
#endif
