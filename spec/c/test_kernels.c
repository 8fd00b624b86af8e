/* test_kernels.c — every SIMD kernel against its scalar twin on random data,
 * the f16 converter against the hardware, and the thread pool. */
#include "kernels/dot.h"
#include "base/threadpool.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, count;

static void check(int ok, const char *what, const char *set, int n)
{
    count++;
    printf("%s %d - %s %s n=%d\n", ok ? "ok" : "not ok", count, set, what, n);
    if (!ok) failures++;
}

static uint64_t rng = 88172645463325252ULL;
static float frand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static int close_enough(float a, float b, float scale)
{
    return fabsf(a - b) <= 1e-5f * scale + 1e-6f;
}

/* Attention kernels against their scalar twins: every score within the
 * tolerance of its sum of |terms|. */
static int scores_close(const float *q, const float *kv, size_t stride, int n, int hd, const float *s1,
                        const float *s2)
{
    int same = 1;
    for (int t = 0; t < n; t++) {
        float sc = 0;
        for (int i = 0; i < hd; i++) sc += fabsf(q[i] * kv[(size_t)t * stride + i]) * 0.125f;
        same = same && close_enough(s1[t], s2[t], sc);
    }
    return same;
}

/* The weights of a mix test (>= 0, as a softmax gives: |scores|), and both
 * outputs starting at q (the kernel accumulates). */
static void mix_inputs(const float *q, const float *scores, float *p, float *o1, float *o2, int n, int hd)
{
    for (int t = 0; t < n; t++) p[t] = fabsf(scores[t]);
    for (int i = 0; i < hd; i++) o1[i] = o2[i] = q[i];
}

static int mix_close(const float *q, const float *p, const float *v, size_t stride, int n, int hd, const float *o1,
                     const float *o2)
{
    int same = 1;
    for (int i = 0; i < hd; i++) {
        float sc = fabsf(q[i]);
        for (int t = 0; t < n; t++) sc += p[t] * fabsf(v[(size_t)t * stride + i]);
        same = same && close_enough(o1[i], o2[i], sc);
    }
    return same;
}

/* 8 rows interleaved (q8 when q8, else q4): the layout moves bytes only,
 * and its kernels equal dot_q8/dot_q4 row by row (the scalar ones to the
 * bit), against x and against the 4 activation rows x4. */
static void test_rows8(const mllm_kernels *k, int q8, int nb, const block_q8 *x, const mllm_xaux *xa,
                       const block_q8 *x4, const mllm_xaux *a4, float scale)
{
    const mllm_kernels *s = &mllm_kernels_scalar;
    int n = nb * MLLM_QK;
    size_t rb = q8 ? sizeof(block_q8) : sizeof(block_q4), gb = q8 ? sizeof(block_q8x8) : sizeof(block_q4x8);
    char *rows = malloc(8 * nb * rb), *back = malloc(nb * rb), *g = malloc(nb * gb);
    for (int r = 0; r < 8; r++) {
        float *wr = malloc(n * sizeof *wr);
        for (int i = 0; i < n; i++) wr[i] = frand() * (r + 1);
        if (q8) mllm_quantize_row_q8(wr, (block_q8 *)(rows + r * nb * rb), n);
        else mllm_quantize_row_q4(wr, (block_q4 *)(rows + r * nb * rb), n);
        free(wr);
    }
    if (q8) mllm_pack_q8x8((const block_q8 *)rows, nb, (block_q8x8 *)g);
    else mllm_pack_q4x8((const block_q4 *)rows, nb, (block_q4x8 *)g);
    int same = 1;
    for (int r = 0; r < 8; r++) {
        if (q8) mllm_unpack_q8x8((const block_q8x8 *)g, r, nb, (block_q8 *)back);
        else mllm_unpack_q4x8((const block_q4x8 *)g, r, nb, (block_q4 *)back);
        same = same && memcmp(back, rows + r * nb * rb, nb * rb) == 0;
    }
    check(same, q8 ? "q8x8 pack/unpack round trip" : "q4x8 pack/unpack round trip", k->name, n);
    if (k->gemv_q8x8 && k->gemv_q4x8) {
        float gv[8], gs[8], gm[32];
        if (q8) {
            k->gemv_q8x8((const block_q8x8 *)g, x, xa, nb, gv);
            s->gemv_q8x8((const block_q8x8 *)g, x, xa, nb, gs);
            k->gemm_q8x8((const block_q8x8 *)g, x4, a4, (size_t)nb, nb, gm);
        } else {
            k->gemv_q4x8((const block_q4x8 *)g, x, xa, nb, gv);
            s->gemv_q4x8((const block_q4x8 *)g, x, xa, nb, gs);
            k->gemm_q4x8((const block_q4x8 *)g, x4, a4, (size_t)nb, nb, gm);
        }
        int exact = 1, okv = 1, okm = 1;
        for (int r = 0; r < 8; r++) {
            const void *row = rows + r * nb * rb;
            float ref = q8 ? s->dot_q8(row, x, xa, nb) : s->dot_q4(row, x, xa, nb);
            exact = exact && memcmp(&gs[r], &ref, sizeof ref) == 0;
            okv = okv && close_enough(gv[r], ref, 10 * scale * (r + 1));
            for (int t = 0; t < 4; t++) {
                const block_q8 *xt = x4 + t * nb;
                const mllm_xaux *at = a4 + t * nb;
                float reft = q8 ? s->dot_q8(row, xt, at, nb) : s->dot_q4(row, xt, at, nb);
                okm = okm && close_enough(gm[t * 8 + r], reft, 10 * scale * (r + 1) * (t + 1));
            }
        }
        check(exact, q8 ? "scalar gemv_q8x8 bit-exact with dot_q8" : "scalar gemv_q4x8 bit-exact with dot_q4",
              k->name, n);
        check(okv, q8 ? "gemv_q8x8" : "gemv_q4x8", k->name, n);
        check(okm, q8 ? "gemm_q8x8" : "gemm_q4x8", k->name, n);
    }
    free(rows); free(back); free(g);
}

/* The group attention kernels (up to 4 query heads of one kv head) against
 * the scalar one-head kernels, head by head, on f32 and f16 caches. */
static void test_attn_group(const mllm_kernels *k)
{
    const mllm_kernels *s = &mllm_kernels_scalar;
    static const int heads[] = { 16, 64, 80, 128 }, npos[] = { 1, 3, 4, 5, 17, 64, 1537 };
    for (size_t hi = 0; hi < sizeof heads / sizeof heads[0]; hi++) {
        for (size_t ni = 0; ni < sizeof npos / sizeof npos[0]; ni++) {
            for (int g = 1; g <= 4; g++) {
                int hd = heads[hi], n = npos[ni];
                size_t stride = (size_t)hd * 2 + 16, ps = (size_t)n + 3;
                float *kv = malloc(stride * n * sizeof *kv), *q = malloc(g * hd * sizeof *q);
                float *s1 = malloc(g * ps * sizeof *s1), *s2 = malloc(n * sizeof *s2), *p = malloc(g * ps * sizeof *p);
                float *o1 = malloc(g * hd * sizeof *o1), *o2 = malloc(hd * sizeof *o2);
                uint16_t *kh = malloc(stride * n * sizeof *kh);
                for (size_t i = 0; i < stride * n; i++) {
                    kv[i] = frand();
                    kh[i] = mllm_f32_to_f16_1(kv[i]);
                }
                for (int i = 0; i < g * hd; i++) q[i] = frand();
                for (int f16 = 0; f16 <= 1; f16++) {
                    if (f16) k->attn_scores_group_f16(q, g, kh, stride, n, hd, 0.125f, s1, ps);
                    else k->attn_scores_group(q, g, kv, stride, n, hd, 0.125f, s1, ps);
                    int ok = 1;
                    for (int j = 0; j < g; j++) {
                        if (f16) s->attn_scores_f16(q + j * hd, kh, stride, n, hd, 0.125f, s2);
                        else s->attn_scores(q + j * hd, kv, stride, n, hd, 0.125f, s2);
                        ok = ok && scores_close(q + j * hd, kv, stride, n, hd, s1 + j * ps, s2);
                        for (int t = 0; t < n; t++) p[j * ps + t] = fabsf(s2[t]);
                    }
                    check(ok, f16 ? "attn_scores_group_f16" : "attn_scores_group", k->name, (g * 1000 + hd) * 10000 + n);
                    for (int i = 0; i < g * hd; i++) o1[i] = q[i];
                    if (f16) k->attn_mix_group_f16(o1, g, p, ps, kh + hd, stride, n, hd);
                    else k->attn_mix_group(o1, g, p, ps, kv + hd, stride, n, hd);
                    ok = 1;
                    for (int j = 0; j < g; j++) {
                        for (int i = 0; i < hd; i++) o2[i] = q[j * hd + i];
                        if (f16) s->attn_mix_f16(o2, p + j * ps, kh + hd, stride, n, hd);
                        else s->attn_mix(o2, p + j * ps, kv + hd, stride, n, hd);
                        ok = ok && mix_close(q + j * hd, p + j * ps, kv + hd, stride, n, hd, o1 + j * hd, o2);
                    }
                    check(ok, f16 ? "attn_mix_group_f16" : "attn_mix_group", k->name, (g * 1000 + hd) * 10000 + n);
                }
                free(kv); free(q); free(s1); free(s2); free(p); free(o1); free(o2); free(kh);
            }
        }
    }
}

static void test_set(const mllm_kernels *k)
{
    const mllm_kernels *s = &mllm_kernels_scalar;
    static const int sizes[] = { 1, 7, 8, 15, 16, 31, 32, 33, 64, 100, 576, 1536 };
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int n = sizes[si];
        float *w = malloc(n * sizeof *w), *x = malloc(n * sizeof *x);
        uint16_t *h = malloc(n * sizeof *h), *bf = malloc(n * sizeof *bf);
        float scale = 0;
        for (int i = 0; i < n; i++) {
            w[i] = frand(); x[i] = frand();
            scale += fabsf(w[i] * x[i]);
            h[i] = mllm_f32_to_f16_1(w[i]);
            uint32_t bits; memcpy(&bits, &w[i], 4); bf[i] = (uint16_t)(bits >> 16);
        }
        check(close_enough(k->dot_f32(w, x, n), s->dot_f32(w, x, n), scale), "dot_f32", k->name, n);
        check(close_enough(k->dot_f16(h, x, n), s->dot_f16(h, x, n), scale), "dot_f16", k->name, n);
        check(close_enough(k->dot_bf16(bf, x, n), s->dot_bf16(bf, x, n), scale), "dot_bf16", k->name, n);
        float *y1 = malloc(n * sizeof *y1), *y2 = malloc(n * sizeof *y2);
        /* softmax exponentials of scores <= 0 (tails of every length) */
        for (int i = 0; i < n; i++) y1[i] = y2[i] = x[i] * 30.0f;
        float m = y1[0];
        for (int i = 1; i < n; i++) m = y1[i] > m ? y1[i] : m;
        float e1 = k->exp_sum(y1, n, m), e2 = s->exp_sum(y2, n, m);
        int same = fabsf(e1 - e2) <= 2e-6f * e2;
        for (int i = 0; i < n; i++) same = same && fabsf(y1[i] - y2[i]) <= 2e-6f * y2[i] + 1e-37f;
        check(same, "exp_sum", k->name, n);
        free(y1); free(y2);
        free(w); free(x); free(h); free(bf);
    }
    /* attention over n positions of head_dim hd, rows strided in a wider cache row */
    static const int heads[] = { 1, 7, 8, 32, 64, 72, 128 }, npos[] = { 1, 3, 4, 5, 17, 64, 1537 };
    for (size_t hi = 0; hi < sizeof heads / sizeof heads[0]; hi++) {
        for (size_t ni = 0; ni < sizeof npos / sizeof npos[0]; ni++) {
            int hd = heads[hi], n = npos[ni];
            size_t stride = (size_t)hd * 3 + 5;
            float *kv = malloc(stride * n * sizeof *kv), *q = malloc(hd * sizeof *q);
            float *s1 = malloc(n * sizeof *s1), *s2 = malloc(n * sizeof *s2);
            float *o1 = malloc(hd * sizeof *o1), *o2 = malloc(hd * sizeof *o2);
            for (size_t i = 0; i < stride * n; i++) kv[i] = frand();
            for (int i = 0; i < hd; i++) q[i] = frand();
            k->attn_scores(q, kv, stride, n, hd, 0.125f, s1);
            s->attn_scores(q, kv, stride, n, hd, 0.125f, s2);
            check(scores_close(q, kv, stride, n, hd, s1, s2), "attn_scores", k->name, hd * 10000 + n);
            mix_inputs(q, s2, s1, o1, o2, n, hd);
            k->attn_mix(o1, s1, kv + hd, stride, n, hd);
            s->attn_mix(o2, s1, kv + hd, stride, n, hd);
            check(mix_close(q, s1, kv + hd, stride, n, hd, o1, o2), "attn_mix", k->name, hd * 10000 + n);
            /* the f16 cache: the same values rounded to f16, against the scalar twin */
            uint16_t *kh = malloc(stride * n * sizeof *kh);
            for (size_t i = 0; i < stride * n; i++) kh[i] = mllm_f32_to_f16_1(kv[i]);
            k->attn_scores_f16(q, kh, stride, n, hd, 0.125f, s1);
            s->attn_scores_f16(q, kh, stride, n, hd, 0.125f, s2);
            check(scores_close(q, kv, stride, n, hd, s1, s2), "attn_scores_f16", k->name, hd * 10000 + n);
            mix_inputs(q, s2, s1, o1, o2, n, hd);
            k->attn_mix_f16(o1, s1, kh + hd, stride, n, hd);
            s->attn_mix_f16(o2, s1, kh + hd, stride, n, hd);
            check(mix_close(q, s1, kv + hd, stride, n, hd, o1, o2), "attn_mix_f16", k->name, hd * 10000 + n);
            free(kh);
            free(kv); free(q); free(s1); free(s2); free(o1); free(o2);
        }
    }
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int n = sizes[si];
        float *w = malloc(n * sizeof *w);
        uint16_t *h = malloc(n * sizeof *h), *bf = malloc(n * sizeof *bf);
        for (int i = 0; i < n; i++) {
            w[i] = frand();
            h[i] = mllm_f32_to_f16_1(w[i]);
            uint32_t bits; memcpy(&bits, &w[i], 4); bf[i] = (uint16_t)(bits >> 16);
        }
        float *f1 = malloc(n * sizeof *f1), *f2 = malloc(n * sizeof *f2);
        k->widen_f16(h, f1, n);
        s->widen_f16(h, f2, n);
        check(memcmp(f1, f2, n * sizeof *f1) == 0, "widen_f16 bit-exact", k->name, n);
        k->widen_bf16(bf, f1, n);
        s->widen_bf16(bf, f2, n);
        check(memcmp(f1, f2, n * sizeof *f1) == 0, "widen_bf16 bit-exact", k->name, n);
        free(f1); free(f2);
        free(w); free(h); free(bf);
    }
    static const int nbs[] = { 1, 2, 3, 18, 48 };  /* odd counts: the tails of the paired loops */
    for (size_t bi = 0; bi < sizeof nbs / sizeof nbs[0]; bi++) {
        int nb = nbs[bi], n = nb * MLLM_QK;
        float *w = malloc(n * sizeof *w), *x = malloc(n * sizeof *x);
        for (int i = 0; i < n; i++) { w[i] = frand() * 3; x[i] = frand() * 5; }
        x[3] = 0;  /* zeros and a zero block exercise the d = 0 path */
        if (nb > 1) for (int i = MLLM_QK; i < 2 * MLLM_QK; i++) x[i] = 0;
        block_q8 *w8 = malloc(nb * sizeof *w8), *xa = malloc(nb * sizeof *xa), *xb = malloc(nb * sizeof *xb);
        block_q4 *w4 = malloc(nb * sizeof *w4);
        mllm_quantize_row_q8(w, w8, n);
        mllm_quantize_row_q4(w, w4, n);
        s->quantize_q8(x, xa, n);
        k->quantize_q8(x, xb, n);
        check(memcmp(xa, xb, nb * sizeof *xa) == 0, "quantize_q8 bit-exact", k->name, n);
        mllm_xaux *aa = malloc(nb * sizeof *aa);
        mllm_xaux_fill(xa, aa, nb);
        float scale = 0;
        for (int i = 0; i < n; i++) scale += fabsf(w[i] * x[i]);
        check(close_enough(k->dot_q8(w8, xa, aa, nb), s->dot_q8(w8, xa, aa, nb), scale), "dot_q8", k->name, n);
        check(close_enough(k->dot_q4(w4, xa, aa, nb), s->dot_q4(w4, xa, aa, nb), scale), "dot_q4", k->name, n);
        /* the blocked 4-token kernels equal 4 single dots */
        block_q8 *x4 = malloc(4 * nb * sizeof *x4);
        mllm_xaux *a4 = malloc(4 * nb * sizeof *a4);
        for (int t = 0; t < 4; t++) {
            float *xt = malloc(n * sizeof *xt);
            for (int i = 0; i < n; i++) xt[i] = frand() * (t + 1);
            s->quantize_q8(xt, x4 + t * nb, n);
            free(xt);
        }
        mllm_xaux_fill(x4, a4, 4 * nb);
        float o8[4], o4[4];
        k->dot4_q8(w8, x4, a4, (size_t)nb, nb, o8);
        k->dot4_q4(w4, x4, a4, (size_t)nb, nb, o4);
        int ok8 = 1, ok4 = 1;
        for (int t = 0; t < 4; t++) {
            ok8 = ok8 && close_enough(o8[t], s->dot_q8(w8, x4 + t * nb, a4 + t * nb, nb), 10 * scale);
            ok4 = ok4 && close_enough(o4[t], s->dot_q4(w4, x4 + t * nb, a4 + t * nb, nb), 10 * scale);
        }
        check(ok8, "dot4_q8", k->name, n);
        check(ok4, "dot4_q4", k->name, n);
        test_rows8(k, 1, nb, xa, aa, x4, a4, scale);
        test_rows8(k, 0, nb, xa, aa, x4, a4, scale);
        free(x4);
        free(a4);
        /* the quantized dots approximate the float dot */
        float exact = s->dot_f32(w, x, n);
        check(fabsf(s->dot_q8(w8, xa, aa, nb) - exact) < 0.02f * scale + 1e-3f, "q8 close to f32", k->name, n);
        check(fabsf(s->dot_q4(w4, xa, aa, nb) - exact) < 0.15f * scale + 1e-3f, "q4 close to f32", k->name, n);
        free(w); free(x); free(w8); free(w4); free(xa); free(xb); free(aa);
    }
}

static void test_f16(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = mllm_f16_to_f32_1((uint16_t)h);
        if (f != f) continue;  /* NaNs */
        if (mllm_f32_to_f16_1(f) != h) bad++;
    }
    check(bad == 0, "f16 round trip of every half", "scalar", 65536);
    /* rounding to nearest even between two halves */
    check(mllm_f32_to_f16_1(1.0f + 1.0f / 2048) == 0x3C00, "f16 ties to even (down)", "scalar", 1);
    check(mllm_f32_to_f16_1(1.0f + 3.0f / 2048) == 0x3C02, "f16 ties to even (up)", "scalar", 1);
    check(mllm_f32_to_f16_1(1e6f) == 0x7C00, "f16 overflow is inf", "scalar", 1);
}

static atomic_int hits[8];
static void task(void *ctx, int ith, int nth)
{
    (void)ctx;
    if (nth <= 8) atomic_fetch_add(&hits[ith], 1);
}

static void test_pool(void)
{
    for (int n = 1; n <= 4; n++) {
        mllm_pool *p = mllm_pool_new(n);
        int size = mllm_pool_size(p);
        memset(hits, 0, sizeof hits);
        for (int r = 0; r < 300; r++) mllm_pool_run(p, task, NULL);
        int ok = size == n;
        for (int i = 0; i < size; i++) ok = ok && atomic_load(&hits[i]) == 300;
        check(ok, "pool runs every job on every thread", "pool", n);
        mllm_pool_free(p);
    }
}

int main(void)
{
    const char *sets[] = { "avx2", "avx512", "neon" };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        const mllm_kernels *k = mllm_kernels_get(sets[i]);
        if (k) {
            test_set(k);
            if (k->attn_scores_group) test_attn_group(k);
        } else printf("# %s kernels: not on this CPU\n", sets[i]);
    }
    test_set(&mllm_kernels_scalar);
    test_f16();
    test_pool();
    printf("1..%d\n", count);
    return failures ? 1 : 0;
}
