/* cpu.c — picks the kernel table for this CPU at run time. */
#include "dot.h"

#include <stdlib.h>
#include <string.h>

const mllm_kernels *mllm_kernels_get(const char *name)
{
    if (!name) return NULL;
    if (strcmp(name, "scalar") == 0) return &mllm_kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(name, "avx2") == 0) return avx2 ? &mllm_kernels_avx2 : NULL;
    if (strcmp(name, "avx512") == 0) {
        int ok = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
        return ok ? &mllm_kernels_avx512 : NULL;
    }
#endif
#if defined(__aarch64__)
    if (strcmp(name, "neon") == 0) return &mllm_kernels_neon;
#endif
    return NULL;
}

const mllm_kernels *mllm_kernels_best(void)
{
    const char *forced = getenv("MLLM_KERNELS");
    const mllm_kernels *k = mllm_kernels_get(forced);
    if (k) return k;
    static const char *const order[] = { "avx512", "avx2", "neon", "scalar" };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if ((k = mllm_kernels_get(order[i]))) return k;
    return &mllm_kernels_scalar;
}
