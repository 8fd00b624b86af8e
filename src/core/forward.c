/* forward.c — the transformer, one block top to bottom (llama2.c style).
 * Layer sharing lives here only: executed layer l runs stored block l/2, so
 * each block runs twice in immediate succession while its weights are still
 * in cache; every execution has its own KV-cache slot. */
#include "internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

/* Runs ops over the session's pool, quantizing the shared input first when
 * the weights are quantized (all ops of one call share their input). */
static void matmul(mllm_session *s, mllm_matmul_op *ops, int n_ops, int T)
{
    const mllm_model *m = s->model;
    if (m->wtype == MLLM_W_Q8 || m->wtype == MLLM_W_Q4) {
        mllm_quantize_rows(m->kernels, ops[0].in, s->xq, s->xa, T, ops[0].w->cols);
        for (int i = 0; i < n_ops; i++) {
            ops[i].in_q = s->xq;
            ops[i].in_a = s->xa;
        }
    }
    mllm_matmul(s->pool, m->kernels, ops, n_ops, T, s->tiles, s->tile_floats);
}

/* Element at of a cache, whatever its element type. */
static const void *kv_at(const mllm_session *s, const void *cache, size_t at)
{
    return s->kv_f16 ? (const void *)((const uint16_t *)cache + at) : (const void *)((const float *)cache + at);
}

/* One kv head's key and value of one position into the caches at element at. */
static void store_kv(mllm_session *s, size_t at, const float *k, const float *v, int hd)
{
    if (s->kv_f16) {
        uint16_t *kc = (uint16_t *)s->k_cache + at, *vc = (uint16_t *)s->v_cache + at;
        for (int i = 0; i < hd; i++) {
            kc[i] = mllm_f32_to_f16_1(k[i]);
            vc[i] = mllm_f32_to_f16_1(v[i]);
        }
    } else {
        memcpy((float *)s->k_cache + at, k, (size_t)hd * sizeof(float));
        memcpy((float *)s->v_cache + at, v, (size_t)hd * sizeof(float));
    }
}

/* The forward pass; rows: every token's logits and probe weights kept (s->row_*). */
static bool forward(mllm_session *s, const int32_t *ids, int T, bool rows)
{
    const mllm_model *m = s->model;
    const mllm_config *c = &m->cfg;
    int dim = c->dim, hd = c->head_dim, ffn = c->ffn_dim;
    int qd = c->n_heads * hd, kvd = s->kv_dim, half = hd / 2;
    int pos = s->pos;
    float *x = s->x, *xb = s->xb;

    for (int t = 0; t < T; t++) mllm_weight_row_f32(&m->embed, ids[t], x + (size_t)t * dim);
    if (s->probe_n && rows)
        for (int t = 0; t < T; t++) memset(s->row_probe + (size_t)t * s->n_ctx, 0, (size_t)(pos + t + 1) * sizeof(float));
    else if (s->probe_n) memset(s->probe, 0, (size_t)(pos + T) * sizeof *s->probe);

    for (int l = 0; l < c->n_exec_layers; l++) {
        /* a cancel acts here, on the calling thread, within one layer's time; the
           pool's workers are idle between layers */
        if (atomic_load_explicit(&s->cancel, memory_order_relaxed) && mllm_session_take_cancel(s)) {
            s->probe_pos = 0;  /* the probe's row was cleared above */
            return false;
        }
        int stored = c->layer_sharing ? l / 2 : l;
        const mllm_block *b = &m->blocks[stored];
        bool nope = c->layer_nope[stored];  /* llama4_text only, as the flags below */
        int chunk = c->layer_chunked[stored] ? c->attention_chunk_size : 0;
        size_t head_stride = (size_t)s->n_ctx * hd;  /* (n_kv_heads, n_ctx, hd) per layer, in elements */
        size_t layer_off = (size_t)l * c->n_kv_heads * head_stride;

        /* attention: x += o_proj(attn(rope(q), rope(k), v)) of rmsnorm(x); llama4_text:
           q, k RMS-normalised per head after RoPE (qk_norm), or on a NoPE layer no RoPE
           and q scaled by a temperature that grows with the position */
        for (int t = 0; t < T; t++)
            mllm_rmsnorm(xb + (size_t)t * dim, x + (size_t)t * dim, b->attn_norm, dim, c->norm_eps);
        mllm_matmul_op qkv[3] = { { s->q, xb, NULL, &b->wq, NULL }, { s->k, xb, NULL, &b->wk, NULL },
                                  { s->v, xb, NULL, &b->wv, NULL } };
        matmul(s, qkv, 3, T);
        for (int t = 0; t < T; t++) {
            const float *cs = s->rope_cos + (size_t)(pos + t) * half;
            const float *sn = s->rope_sin + (size_t)(pos + t) * half;
            float *qt = s->q + (size_t)t * qd, *kt = s->k + (size_t)t * kvd;
            if (nope) {
                if (c->temperature_tuning) {
                    float temp = (float)(log(floor((pos + t + 1.0) / c->floor_scale) + 1.0) * c->attn_scale + 1.0);
                    for (int i = 0; i < qd; i++) qt[i] *= temp;
                }
            } else if (c->rope_pairs) {
                mllm_rope_pairs(qt, c->n_heads, hd, cs, sn);
                mllm_rope_pairs(kt, c->n_kv_heads, hd, cs, sn);
                if (c->qk_norm) {
                    mllm_head_norm(qt, c->n_heads, hd, c->norm_eps);
                    mllm_head_norm(kt, c->n_kv_heads, hd, c->norm_eps);
                }
            } else {
                mllm_rope(qt, c->n_heads, hd, cs, sn);
                mllm_rope(kt, c->n_kv_heads, hd, cs, sn);
            }
            for (int g = 0; g < c->n_kv_heads; g++)
                store_kv(s, layer_off + g * head_stride + (size_t)(pos + t) * hd, s->k + (size_t)t * kvd + (size_t)g * hd,
                         s->v + (size_t)t * kvd + (size_t)g * hd, hd);
        }
        mllm_attention_batch(s->pool, m->kernels, s->att_out, s->q, kv_at(s, s->k_cache, layer_off),
                             kv_at(s, s->v_cache, layer_off), s->kv_f16, pos, T, hd, head_stride, c->n_heads,
                             c->n_kv_heads, hd, s->scores, s->n_ctx, chunk);
        if (s->probe_n && rows)
            for (int t = 0; t < T; t++)
                mllm_probe_layer(s, l, layer_off, head_stride, t, s->row_probe + (size_t)t * s->n_ctx, chunk);
        else if (s->probe_n) mllm_probe_layer(s, l, layer_off, head_stride, T - 1, s->probe, chunk);
        mllm_matmul_op o = { xb, s->att_out, NULL, &b->wo, NULL };
        matmul(s, &o, 1, T);
        for (size_t i = 0; i < (size_t)T * dim; i++) x[i] += xb[i];

        /* MLP: x += down(silu(gate(h)) * up(h)), h = rmsnorm(x) */
        for (int t = 0; t < T; t++)
            mllm_rmsnorm(xb + (size_t)t * dim, x + (size_t)t * dim, b->ffn_norm, dim, c->norm_eps);
        mllm_matmul_op gu[2] = { { s->gate, xb, NULL, &b->wg, NULL }, { s->up, xb, NULL, &b->wu, NULL } };
        matmul(s, gu, 2, T);
        mllm_swiglu(s->gate, s->up, T * ffn);
        mllm_matmul_op d = { xb, s->gate, NULL, &b->wd, NULL };
        matmul(s, &d, 1, T);
        for (size_t i = 0; i < (size_t)T * dim; i++) x[i] += xb[i];
    }

    s->pos = pos + T;
    s->has_logits = true;
    s->probe_pos = s->probe_n ? pos + T : 0;
    if (rows) {  /* every row's logits, in one matmul over the head */
        for (int t = 0; t < T; t++)
            mllm_rmsnorm(xb + (size_t)t * dim, x + (size_t)t * dim, m->final_norm, dim, c->norm_eps);
        mllm_matmul_op h = { s->row_logits, xb, NULL, &m->head, NULL };
        matmul(s, &h, 1, T);
        s->row_base = pos;
        mllm_session_take_row(s, T - 1);
        return true;
    }
    /* only the last position's logits are needed */
    mllm_rmsnorm(xb, x + (size_t)(T - 1) * dim, m->final_norm, dim, c->norm_eps);
    mllm_matmul_op h = { s->logits, xb, NULL, &m->head, NULL };
    matmul(s, &h, 1, 1);
    return true;
}

bool mllm_forward(mllm_session *s, const int32_t *ids, int T)
{
    return forward(s, ids, T, false);
}

bool mllm_forward_rows(mllm_session *s, const int32_t *ids, int T)
{
    return forward(s, ids, T, true);
}
