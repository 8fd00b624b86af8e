/* convert.c — half-precision rows to F32 at load time (exact: every F16/BF16
 * value is an F32). The source may be unaligned inside a memory map. */
#include "kernels.h"

#include <string.h>

void mllm_f16_to_f32(const void *src, float *dst, size_t n)
{
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) dst[i] = mllm_f16_to_f32_1((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
}

void mllm_bf16_to_f32(const void *src, float *dst, size_t n)
{
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)(p[2 * i] | (p[2 * i + 1] << 8)) << 16;
        memcpy(&dst[i], &bits, sizeof bits);
    }
}
