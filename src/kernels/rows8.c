/* rows8.c — 8 quantized rows interleaved for the multi-row kernels, and
 * back (dot.h describes the layout). */
#include "dot.h"

#include <string.h>

/* One row's block b: its scale, then its bytes in 4-byte pieces, piece k
 * going to chunk k at 4r. */
#define PACK(name, GT, BT, NCHUNK) \
    void mllm_pack_##name(const BT *rows, int nb, GT *out) \
    { \
        for (int b = 0; b < nb; b++) \
            for (int r = 0; r < MLLM_ROWS8; r++) { \
                const BT *src = &rows[(size_t)r * nb + b]; \
                out[b].d[r] = src->d; \
                for (int k = 0; k < NCHUNK; k++) memcpy(&out[b].q[k][4 * r], &src->q[4 * k], 4); \
            } \
    } \
    void mllm_unpack_##name(const GT *g, int r, int nb, BT *out) \
    { \
        for (int b = 0; b < nb; b++) { \
            out[b].d = g[b].d[r]; \
            for (int k = 0; k < NCHUNK; k++) memcpy(&out[b].q[4 * k], &g[b].q[k][4 * r], 4); \
        } \
    }

PACK(q8x8, block_q8x8, block_q8, 8)
PACK(q4x8, block_q4x8, block_q4, 4)
#undef PACK

void mllm_pack_rows8(mllm_wtype t, const void *rows, int nb, void *out)
{
    if (t == MLLM_W_Q8) mllm_pack_q8x8(rows, nb, out);
    else mllm_pack_q4x8(rows, nb, out);
}

void mllm_unpack_rows8(mllm_wtype t, const void *g, int r, int nb, void *out)
{
    if (t == MLLM_W_Q8X8) mllm_unpack_q8x8(g, r, nb, out);
    else mllm_unpack_q4x8(g, r, nb, out);
}
