/* matmul.c — weight × activations over the thread pool. */
#include "kernels.h"

#include <cblas.h>
#include <string.h>

size_t mllm_weight_row_bytes(mllm_wtype t, int cols)
{
    switch (t) {
    case MLLM_W_F32: return (size_t)cols * 4;
    case MLLM_W_F16:
    case MLLM_W_BF16: return (size_t)cols * 2;
    case MLLM_W_Q8:
    case MLLM_W_Q8X8: return (size_t)(cols / MLLM_QK) * sizeof(block_q8);  /* an 8-row group is 8 such rows */
    case MLLM_W_Q4:
    case MLLM_W_Q4X8: return (size_t)(cols / MLLM_QK) * sizeof(block_q4);
    }
    return 0;
}

static void dequant_q8(const block_q8 *b, int nb, float *out)
{
    for (int i = 0; i < nb; i++) {
        float d = mllm_f16_to_f32_1(b[i].d);
        for (int j = 0; j < MLLM_QK; j++) out[i * MLLM_QK + j] = d * b[i].q[j];
    }
}

static void dequant_q4(const block_q4 *b, int nb, float *out)
{
    for (int i = 0; i < nb; i++) {
        float d = mllm_f16_to_f32_1(b[i].d);
        for (int j = 0; j < MLLM_QK / 2; j++) {
            out[i * MLLM_QK + j] = d * ((b[i].q[j] & 0x0F) - 8);
            out[i * MLLM_QK + j + MLLM_QK / 2] = d * ((b[i].q[j] >> 4) - 8);
        }
    }
}

void mllm_weight_row_f32(const mllm_weight *w, int r, float *out)
{
    const char *row = (const char *)w->data + (size_t)r * mllm_weight_row_bytes(w->type, w->cols);
    int n = w->cols;
    switch (w->type) {
    case MLLM_W_F32: memcpy(out, row, (size_t)n * sizeof(float)); break;
    case MLLM_W_F16: mllm_f16_to_f32(row, out, (size_t)n); break;
    case MLLM_W_BF16: mllm_bf16_to_f32(row, out, (size_t)n); break;
    case MLLM_W_Q8: dequant_q8((const block_q8 *)row, n / MLLM_QK, out); break;
    case MLLM_W_Q4: dequant_q4((const block_q4 *)row, n / MLLM_QK, out); break;
    case MLLM_W_Q8X8:
    case MLLM_W_Q4X8: {  /* the row moved out of its group, a few blocks at a time */
        int nb = n / MLLM_QK, lane = r % MLLM_ROWS8;
        size_t g = (size_t)(r / MLLM_ROWS8) * (size_t)nb;
        bool q8 = w->type == MLLM_W_Q8X8;
        size_t gb = (q8 ? sizeof(block_q8x8) : sizeof(block_q4x8));
        union { block_q8 q8[64]; block_q4 q4[64]; } tmp;
        for (int i = 0; i < nb; i += 64) {
            int m = nb - i < 64 ? nb - i : 64;
            mllm_unpack_rows8(w->type, (const char *)w->data + (g + (size_t)i) * gb, lane, m, &tmp);
            if (q8) dequant_q8(tmp.q8, m, out + (size_t)i * MLLM_QK);
            else dequant_q4(tmp.q4, m, out + (size_t)i * MLLM_QK);
        }
        break;
    }
    }
}

void mllm_quantize_rows(const mllm_kernels *k, const float *x, block_q8 *out, mllm_xaux *aux, int T, int n)
{
    int nb = n / MLLM_QK;
    for (int t = 0; t < T; t++) {
        k->quantize_q8(x + (size_t)t * n, out + (size_t)t * nb, n);
        mllm_xaux_fill(out + (size_t)t * nb, aux + (size_t)t * nb, nb);
    }
}

typedef struct {
    const mllm_kernels *k;
    const mllm_matmul_op *ops;
    int n_ops, T;
    float *tiles;
    size_t tile_floats;
} job;

static float row_dot(const mllm_kernels *k, const mllm_weight *w, const char *row, const float *x,
                     const block_q8 *xq, const mllm_xaux *xa)
{
    switch (w->type) {
    case MLLM_W_F32: return k->dot_f32((const float *)row, x, w->cols);
    case MLLM_W_F16: return k->dot_f16((const uint16_t *)row, x, w->cols);
    case MLLM_W_BF16: return k->dot_bf16((const uint16_t *)row, x, w->cols);
    case MLLM_W_Q8: return k->dot_q8((const block_q8 *)row, xq, xa, w->cols / MLLM_QK);
    case MLLM_W_Q4: return k->dot_q4((const block_q4 *)row, xq, xa, w->cols / MLLM_QK);
    case MLLM_W_Q8X8:
    case MLLM_W_Q4X8: break;  /* never row by row: rows8_task */
    }
    return 0.0f;
}

/* An 8-row interleaved matrix: this thread's share of its groups, each group
 * against the tokens 4 at a time while its weights are in L1. */
static void rows8_task(const mllm_kernels *k, const mllm_matmul_op *op, int T, int ith, int nth)
{
    const mllm_weight *w = op->w;
    int N = w->rows, nb = w->cols / MLLM_QK, G = N / MLLM_ROWS8;
    int g0 = (int)((long)G * ith / nth), g1 = (int)((long)G * (ith + 1) / nth);
    size_t qs = (size_t)nb, gb = (size_t)MLLM_ROWS8 * mllm_weight_row_bytes(w->type, w->cols);
    bool q8 = w->type == MLLM_W_Q8X8;
    for (int g = g0; g < g1; g++) {
        const void *grp = (const char *)w->data + (size_t)g * gb;
        float *out = op->out + (size_t)g * MLLM_ROWS8;
        int t = 0;
        for (; t + 4 <= T; t += 4) {
            float res[4 * MLLM_ROWS8];
            if (q8) k->gemm_q8x8(grp, op->in_q + t * qs, op->in_a + t * qs, qs, nb, res);
            else k->gemm_q4x8(grp, op->in_q + t * qs, op->in_a + t * qs, qs, nb, res);
            for (int i = 0; i < 4; i++)
                memcpy(out + (size_t)(t + i) * N, res + i * MLLM_ROWS8, sizeof(float) * MLLM_ROWS8);
        }
        for (; t < T; t++) {
            if (q8) k->gemv_q8x8(grp, op->in_q + t * qs, op->in_a + t * qs, nb, out + (size_t)t * N);
            else k->gemv_q4x8(grp, op->in_q + t * qs, op->in_a + t * qs, nb, out + (size_t)t * N);
        }
    }
}

static void matmul_task(void *arg, int ith, int nth)
{
    const job *j = arg;
    float *tile = j->tiles + (size_t)ith * j->tile_floats;
    for (int o = 0; o < j->n_ops; o++) {
        const mllm_matmul_op *op = &j->ops[o];
        const mllm_weight *w = op->w;
        if (mllm_wtype_rows8(w->type)) {
            rows8_task(j->k, op, j->T, ith, nth);
            continue;
        }
        int N = w->rows, K = w->cols, T = j->T;
        int r0 = (int)((long)N * ith / nth), r1 = (int)((long)N * (ith + 1) / nth);
        if (r0 >= r1) continue;
        size_t rb = mllm_weight_row_bytes(w->type, K);
        const char *base = (const char *)w->data;
        if (T == 1) {
            for (int r = r0; r < r1; r++)
                op->out[r] = row_dot(j->k, w, base + (size_t)r * rb, op->in, op->in_q, op->in_a);
        } else if (T <= MLLM_SMALL_BATCH && w->type != MLLM_W_Q8 && w->type != MLLM_W_Q4) {
            /* a copy draft's few tokens: each row once from memory, then from L1 for the
               other tokens, with the one-token kernel (the same logits as one at a time;
               widening the matrix for an sgemm cost more than the product) */
            for (int r = r0; r < r1; r++) {
                const char *row = base + (size_t)r * rb;
                for (int t = 0; t < T; t++)
                    op->out[(size_t)t * N + r] = row_dot(j->k, w, row, op->in + (size_t)t * K, NULL, NULL);
            }
        } else if (w->type == MLLM_W_Q8 || w->type == MLLM_W_Q4) {
            /* blocked int8: each weight row is read once for the whole batch,
             * each of its blocks unpacked once for 4 tokens */
            size_t qs = (size_t)(K / MLLM_QK);
            int nb = K / MLLM_QK;
            for (int r = r0; r < r1; r++) {
                const char *row = base + (size_t)r * rb;
                int t = 0;
                for (; t + 4 <= T; t += 4) {
                    float res[4];
                    if (w->type == MLLM_W_Q8)
                        j->k->dot4_q8((const block_q8 *)row, op->in_q + t * qs, op->in_a + t * qs, qs, nb, res);
                    else
                        j->k->dot4_q4((const block_q4 *)row, op->in_q + t * qs, op->in_a + t * qs, qs, nb, res);
                    for (int i = 0; i < 4; i++) op->out[(size_t)(t + i) * N + r] = res[i];
                }
                for (; t < T; t++)
                    op->out[(size_t)t * N + r] = row_dot(j->k, w, row, NULL, op->in_q + t * qs, op->in_a + t * qs);
            }
        } else if (w->type == MLLM_W_F32) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, r1 - r0, K, 1.0f, op->in, K,
                        (const float *)base + (size_t)r0 * K, K, 0.0f, op->out + r0, N);
        } else {
            for (int r = r0; r < r1; r += MLLM_TILE_ROWS) {
                int nr = r1 - r < MLLM_TILE_ROWS ? r1 - r : MLLM_TILE_ROWS;
                const uint16_t *src = (const uint16_t *)(base + (size_t)r * rb);
                if (w->type == MLLM_W_F16) j->k->widen_f16(src, tile, nr * K);
                else j->k->widen_bf16(src, tile, nr * K);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, nr, K, 1.0f, op->in, K, tile, K, 0.0f,
                            op->out + r, N);
            }
        }
    }
}

void mllm_matmul(mllm_pool *pool, const mllm_kernels *k, const mllm_matmul_op *ops, int n_ops, int T,
                 float *tiles, size_t tile_floats)
{
    static int blas_single;  /* our pool splits the work: OpenBLAS must not start threads of its own */
    if (!__atomic_exchange_n(&blas_single, 1, __ATOMIC_RELAXED)) openblas_set_num_threads(1);
    job j = { k, ops, n_ops, T, tiles, tile_floats };
    /* Waking the pool costs microseconds: a product too small to pay for it
       (a tiny model's layers) runs on the calling thread alone. */
    size_t work = 0;
    for (int i = 0; i < n_ops; i++) work += (size_t)ops[i].w->rows * (size_t)ops[i].w->cols * (size_t)T;
    mllm_pool_run(work < MLLM_MIN_PARALLEL_WORK ? NULL : pool, matmul_task, &j);
}
