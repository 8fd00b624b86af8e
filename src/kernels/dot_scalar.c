/* dot_scalar.c — the portable reference of every kernel in dot.h. */
#include "dot.h"

#include <math.h>
#include <string.h>

float mllm_f16_to_f32_1(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t mllm_f32_to_f16_1(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xFF) - 127 + 15;
    uint32_t man = x & 0x7FFFFF;
    if (((x >> 23) & 0xFF) == 0xFF) return (uint16_t)(sign | 0x7C00 | (man ? 0x200 : 0));
    if (exp >= 0x1F) return (uint16_t)(sign | 0x7C00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = sign | ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;  /* may carry into the exponent: correct */
    return (uint16_t)h;
}

float mllm_bf16_to_f32_1(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float dot_f32(const float *w, const float *x, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += w[i] * x[i];
    return s;
}

static float dot_f16(const uint16_t *w, const float *x, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += mllm_f16_to_f32_1(w[i]) * x[i];
    return s;
}

static float dot_bf16(const uint16_t *w, const float *x, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += mllm_bf16_to_f32_1(w[i]) * x[i];
    return s;
}

void mllm_xaux_fill(const block_q8 *x, mllm_xaux *xa, int nb)
{
    for (int b = 0; b < nb; b++) {
        int32_t sum = 0;
        for (int i = 0; i < MLLM_QK; i++) sum += x[b].q[i];
        xa[b].d = mllm_f16_to_f32_1(x[b].d);
        xa[b].sum = sum;
    }
}

/* The scalar twins use only xa's scale: the -8 offset of q4 is computed from
 * the block itself, so a wrong sum in xa shows up against the SIMD kernels. */
static float dot_q8(const block_q8 *w, const block_q8 *x, const mllm_xaux *xa, int nb)
{
    float s = 0.0f;
    for (int b = 0; b < nb; b++) {
        int32_t acc = 0;
        for (int i = 0; i < MLLM_QK; i++) acc += (int32_t)w[b].q[i] * x[b].q[i];
        s += (float)acc * (mllm_f16_to_f32_1(w[b].d) * xa[b].d);
    }
    return s;
}

static float dot_q4(const block_q4 *w, const block_q8 *x, const mllm_xaux *xa, int nb)
{
    float s = 0.0f;
    for (int b = 0; b < nb; b++) {
        int32_t acc = 0;
        for (int j = 0; j < MLLM_QK / 2; j++) {
            acc += ((int32_t)(w[b].q[j] & 0x0F) - 8) * x[b].q[j];
            acc += ((int32_t)(w[b].q[j] >> 4) - 8) * x[b].q[j + MLLM_QK / 2];
        }
        s += (float)acc * (mllm_f16_to_f32_1(w[b].d) * xa[b].d);
    }
    return s;
}

void mllm_quantize_row_q8(const float *x, block_q8 *out, int n)
{
    for (int b = 0; b < n / MLLM_QK; b++) {
        const float *v = x + b * MLLM_QK;
        float amax = 0.0f;
        for (int i = 0; i < MLLM_QK; i++) amax = fmaxf(amax, fabsf(v[i]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        out[b].d = mllm_f32_to_f16_1(d);
        for (int i = 0; i < MLLM_QK; i++) out[b].q[i] = (int8_t)lrintf(v[i] * id);
    }
}

void mllm_quantize_row_q4(const float *x, block_q4 *out, int n)
{
    for (int b = 0; b < n / MLLM_QK; b++) {
        const float *v = x + b * MLLM_QK;
        float amax = 0.0f, max = 0.0f;  /* the signed value of largest magnitude maps to -8 */
        for (int i = 0; i < MLLM_QK; i++)
            if (fabsf(v[i]) > amax) { amax = fabsf(v[i]); max = v[i]; }
        float d = max / -8.0f, id = d ? 1.0f / d : 0.0f;
        out[b].d = mllm_f32_to_f16_1(d);
        for (int j = 0; j < MLLM_QK / 2; j++) {
            int lo = (int)fminf(15.0f, floorf(v[j] * id + 8.5f));
            int hi = (int)fminf(15.0f, floorf(v[j + MLLM_QK / 2] * id + 8.5f));
            if (lo < 0) lo = 0;
            if (hi < 0) hi = 0;
            out[b].q[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

static void dot4_q8(const block_q8 *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb, float out[4])
{
    for (int t = 0; t < 4; t++) out[t] = dot_q8(w, x + t * stride, xa + t * stride, nb);
}

static void dot4_q4(const block_q4 *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb, float out[4])
{
    for (int t = 0; t < 4; t++) out[t] = dot_q4(w, x + t * stride, xa + t * stride, nb);
}

/* Row r of a group reads its bytes where the layout put them (byte j of the
 * row's block in chunk j / 4 at 4r + j % 4); the sums run in dot_q8's and
 * dot_q4's order, so each row's result is theirs to the bit. */
static int32_t rows8_q8_block(const block_q8x8 *g, int r, const int8_t *x)
{
    int32_t acc = 0;
    for (int j = 0; j < MLLM_QK; j++) acc += (int32_t)g->q[j / 4][4 * r + j % 4] * x[j];
    return acc;
}

static int32_t rows8_q4_block(const block_q4x8 *g, int r, const int8_t *x)
{
    int32_t acc = 0;
    for (int j = 0; j < MLLM_QK / 2; j++) {
        uint8_t byte = g->q[j / 4][4 * r + j % 4];
        acc += ((int32_t)(byte & 0x0F) - 8) * x[j];
        acc += ((int32_t)(byte >> 4) - 8) * x[j + MLLM_QK / 2];
    }
    return acc;
}

#define ROWS8_KERNELS(gemv, gemm, GT, BLOCK) \
    static void gemv(const GT *w, const block_q8 *x, const mllm_xaux *xa, int nb, float out[8]) \
    { \
        for (int r = 0; r < MLLM_ROWS8; r++) { \
            float s = 0.0f; \
            for (int b = 0; b < nb; b++) \
                s += (float)BLOCK(&w[b], r, x[b].q) * (mllm_f16_to_f32_1(w[b].d[r]) * xa[b].d); \
            out[r] = s; \
        } \
    } \
    static void gemm(const GT *w, const block_q8 *x, const mllm_xaux *xa, size_t stride, int nb, float out[32]) \
    { \
        for (int t = 0; t < 4; t++) gemv(w, x + t * stride, xa + t * stride, nb, out + t * MLLM_ROWS8); \
    }

ROWS8_KERNELS(gemv_q8x8, gemm_q8x8, block_q8x8, rows8_q8_block)
ROWS8_KERNELS(gemv_q4x8, gemm_q4x8, block_q4x8, rows8_q4_block)
#undef ROWS8_KERNELS

static void attn_scores(const float *q, const float *k, size_t stride, int n, int hd, float scale, float *out)
{
    for (int t = 0; t < n; t++) out[t] = dot_f32(q, k + (size_t)t * stride, hd) * scale;
}

static void attn_mix(float *out, const float *p, const float *v, size_t stride, int n, int hd)
{
    for (int t = 0; t < n; t++) {
        const float *vt = v + (size_t)t * stride;
        for (int i = 0; i < hd; i++) out[i] += p[t] * vt[i];
    }
}

static void attn_scores_f16(const float *q, const uint16_t *k, size_t stride, int n, int hd, float scale, float *out)
{
    for (int t = 0; t < n; t++) out[t] = dot_f16(k + (size_t)t * stride, q, hd) * scale;
}

static void attn_mix_f16(float *out, const float *p, const uint16_t *v, size_t stride, int n, int hd)
{
    for (int t = 0; t < n; t++) {
        const uint16_t *vt = v + (size_t)t * stride;
        for (int i = 0; i < hd; i++) out[i] += p[t] * mllm_f16_to_f32_1(vt[i]);
    }
}

static float exp_sum(float *x, int n, float max)
{
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        float d = x[i] - max;
        x[i] = d < MLLM_EXP_CUTOFF ? 0.0f : expf(d);
        sum += x[i];
    }
    return sum;
}

static void widen_f16(const uint16_t *w, float *out, int n)
{
    for (int i = 0; i < n; i++) out[i] = mllm_f16_to_f32_1(w[i]);
}

static void widen_bf16(const uint16_t *w, float *out, int n)
{
    for (int i = 0; i < n; i++) out[i] = mllm_bf16_to_f32_1(w[i]);
}

const mllm_kernels mllm_kernels_scalar = {
    "scalar", dot_f32, dot_f16, dot_bf16, dot_q8, dot_q4, mllm_quantize_row_q8, dot4_q8, dot4_q4,
    attn_scores, attn_mix, attn_scores_f16, attn_mix_f16, exp_sum, widen_f16, widen_bf16,
    gemv_q8x8, gemm_q8x8, gemv_q4x8, gemm_q4x8,
    NULL, NULL, NULL, NULL,  /* attention one head at a time: the twin of the group kernels */
};
