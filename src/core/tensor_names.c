/* tensor_names.c — the one table of the Hugging Face names of a checkpoint's
 * tensors (internal.h): the loader reads them and the saver writes them. */
#include "internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

const char *const mllm_name_embed = "model.embed_tokens.weight";
const char *const mllm_name_final_norm = "model.norm.weight";
const char *const mllm_name_head = "lm_head.weight";

/* "model.layers.<l>." then the suffix (mllm_block_tensor_name puts the MLP prefix in);
 * rows and cols by config size. */
const mllm_block_tensor mllm_block_tensors[] = {
    { "input_layernorm.weight", offsetof(mllm_block, attn_norm), false, MLLM_SIZE_DIM, MLLM_SIZE_NONE, false },
    { "post_attention_layernorm.weight", offsetof(mllm_block, ffn_norm), false, MLLM_SIZE_DIM, MLLM_SIZE_NONE, false },
    { "self_attn.q_proj.weight", offsetof(mllm_block, wq), true, MLLM_SIZE_Q, MLLM_SIZE_DIM, false },
    { "self_attn.k_proj.weight", offsetof(mllm_block, wk), true, MLLM_SIZE_KV, MLLM_SIZE_DIM, false },
    { "self_attn.v_proj.weight", offsetof(mllm_block, wv), true, MLLM_SIZE_KV, MLLM_SIZE_DIM, false },
    { "self_attn.o_proj.weight", offsetof(mllm_block, wo), true, MLLM_SIZE_DIM, MLLM_SIZE_Q, false },
    { "gate_proj.weight", offsetof(mllm_block, wg), true, MLLM_SIZE_FFN, MLLM_SIZE_DIM, true },
    { "up_proj.weight", offsetof(mllm_block, wu), true, MLLM_SIZE_FFN, MLLM_SIZE_DIM, true },
    { "down_proj.weight", offsetof(mllm_block, wd), true, MLLM_SIZE_DIM, MLLM_SIZE_FFN, true },
};
const size_t mllm_n_block_tensors = sizeof mllm_block_tensors / sizeof mllm_block_tensors[0];

void mllm_block_tensor_name(const mllm_config *c, const mllm_block_tensor *bt, int layer, char *name, size_t n)
{
    /* Llama4ForCausalLM names its dense MLP feed_forward (an MoE layer's would be there too) */
    const char *ffn = strcmp(c->model_type, "llama4_text") == 0 ? "feed_forward." : "mlp.";
    snprintf(name, n, "model.layers.%d.%s%s", layer, bt->ffn ? ffn : "", bt->suffix);
}

int64_t mllm_config_size(const mllm_config *c, mllm_size_kind k)
{
    switch (k) {
    case MLLM_SIZE_DIM: return c->dim;
    case MLLM_SIZE_Q: return (int64_t)c->n_heads * c->head_dim;
    case MLLM_SIZE_KV: return (int64_t)c->n_kv_heads * c->head_dim;
    case MLLM_SIZE_FFN: return c->ffn_dim;
    case MLLM_SIZE_NONE: break;
    }
    return 0;
}

int64_t mllm_config_n_params(const mllm_config *c)
{
    int64_t block = 0;
    for (size_t i = 0; i < mllm_n_block_tensors; i++) {
        const mllm_block_tensor *bt = &mllm_block_tensors[i];
        block += mllm_config_size(c, bt->rows) * (bt->matrix ? mllm_config_size(c, bt->cols) : 1);
    }
    int64_t embed = (int64_t)c->vocab_size * c->dim;
    return embed + (c->share_embedding ? 0 : embed) + c->dim + (int64_t)c->n_layers * block;
}
