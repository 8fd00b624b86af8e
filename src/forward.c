/* forward.c — the transformer, one block top to bottom (llama2.c style).
 * Layer sharing lives here only: executed layer l runs stored block l/2, so
 * each block runs twice in immediate succession while its weights are hot in
 * cache; every execution has its own KV-cache slot. */
#include "internal.h"
#include "kernels/kernels.h"

#include <string.h>

void mllm_forward(mllm_session *s, const int32_t *ids, int T)
{
    const mllm_model *m = s->model;
    const mllm_config *c = &m->cfg;
    int dim = c->dim, hd = c->head_dim, ffn = c->ffn_dim;
    int qd = c->n_heads * hd, kvd = s->kv_dim, half = hd / 2;
    int pos = s->pos;
    float *x = s->x, *xb = s->xb;

    mllm_set_threads(m->n_threads);
    for (int t = 0; t < T; t++)
        memcpy(x + (size_t)t * dim, m->embed + (size_t)ids[t] * dim, (size_t)dim * sizeof *x);

    for (int l = 0; l < c->n_exec_layers; l++) {
        const mllm_block *b = &m->blocks[c->layer_sharing ? l / 2 : l];
        float *kc = s->k_cache + (size_t)l * s->n_ctx * kvd;  /* (n_ctx, kvd) */
        float *vc = s->v_cache + (size_t)l * s->n_ctx * kvd;

        /* attention: x += o_proj(attn(rope(q), rope(k), v)) of rmsnorm(x) */
        for (int t = 0; t < T; t++)
            mllm_rmsnorm(xb + (size_t)t * dim, x + (size_t)t * dim, b->attn_norm, dim, c->norm_eps);
        mllm_matmul(s->q, xb, b->wq, T, qd, dim);
        mllm_matmul(s->k, xb, b->wk, T, kvd, dim);
        mllm_matmul(s->v, xb, b->wv, T, kvd, dim);
        for (int t = 0; t < T; t++) {
            const float *cs = s->rope_cos + (size_t)(pos + t) * half;
            const float *sn = s->rope_sin + (size_t)(pos + t) * half;
            mllm_rope(s->q + (size_t)t * qd, c->n_heads, hd, cs, sn);
            mllm_rope(s->k + (size_t)t * kvd, c->n_kv_heads, hd, cs, sn);
            memcpy(kc + (size_t)(pos + t) * kvd, s->k + (size_t)t * kvd, (size_t)kvd * sizeof(float));
            memcpy(vc + (size_t)(pos + t) * kvd, s->v + (size_t)t * kvd, (size_t)kvd * sizeof(float));
        }
        for (int t = 0; t < T; t++)
            mllm_attention(s->att_out + (size_t)t * qd, s->q + (size_t)t * qd, kc, vc, pos + t + 1, kvd,
                           c->n_heads, c->n_kv_heads, hd, s->scores);
        mllm_matmul(xb, s->att_out, b->wo, T, dim, qd);
        for (size_t i = 0; i < (size_t)T * dim; i++) x[i] += xb[i];

        /* MLP: x += down(silu(gate(h)) * up(h)), h = rmsnorm(x) */
        for (int t = 0; t < T; t++)
            mllm_rmsnorm(xb + (size_t)t * dim, x + (size_t)t * dim, b->ffn_norm, dim, c->norm_eps);
        mllm_matmul(s->gate, xb, b->wg, T, ffn, dim);
        mllm_matmul(s->up, xb, b->wu, T, ffn, dim);
        mllm_swiglu(s->gate, s->up, T * ffn);
        mllm_matmul(xb, s->gate, b->wd, T, dim, ffn);
        for (size_t i = 0; i < (size_t)T * dim; i++) x[i] += xb[i];
    }

    /* only the last position's logits are needed */
    mllm_rmsnorm(xb, x + (size_t)(T - 1) * dim, m->final_norm, dim, c->norm_eps);
    mllm_matmul(s->logits, xb, m->head, 1, c->vocab_size, dim);
    s->pos = pos + T;
    s->has_logits = true;
}
