/* membw.c — the read bandwidth of one thread from memory (DRAM), for the
 * bench's "share of the bandwidth limit": decode streams every weight once
 * per token, so bytes of weights × tokens/s can be set against it.
 *
 *   build/membw [MiB]   prints GB/s (best of 5 passes over a MiB-sized array, default 1024)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 1024;
    size_t n = mib * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *a = malloc(n * sizeof *a);
    if (!mib || !a) {
        fprintf(stderr, "membw: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < n; i++) a[i] = i;  /* touch every page */
    double best = 1e30;
    uint64_t sink = 0;
    for (int pass = 0; pass < 5; pass++) {
        uint64_t s[8] = { 0 };  /* 8 independent sums: the loop is bound by loads, not adds */
        double t0 = now();
        for (size_t i = 0; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) s[j] += a[i + j];
        double t = now() - t0;
        for (int j = 0; j < 8; j++) sink += s[j];
        if (t < best) best = t;
    }
    printf("%.1f\n", (double)(n * sizeof *a) / best / 1e9);
    free(a);
    return sink == 42 ? 2 : 0;  /* keeps the sums alive */
}
