/* test_llama4_config.c — the llama4_text configs of MobileLLM-R1 (140M, 360M,
 * 950M; issue 37) parse to the published shapes: the FFN is intermediate_size_mlp,
 * not intermediate_size (the unused MoE width), the head is tied, and the
 * parameter count of the stored tensors is 140,248,512 / 359,431,168 /
 * 949,685,760. Config only: the checkpoints themselves are 0.3 to 1.9 GB.
 * Prints TAP-style lines; exits non-zero when a check fails. */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>
#include "check.h"

mllm_status mllm_config_parse(const char *json, size_t len, const char *path, mllm_config *cfg, char *err,
                              size_t errlen);

/* An R1 config.json as Hugging Face ships it (the fields the engine reads). */
static void r1_config(char *buf, size_t n, int layers, int dim, int heads, int kv, int ffn)
{
    char rope[256] = "", types[1024] = "";
    for (int l = 0; l < layers; l++) {
        strcat(rope, l ? ", 1" : "1");
        strcat(types, l ? ", \"full_attention\"" : "\"full_attention\"");
    }
    snprintf(buf, n,
             "{\"architectures\": [\"Llama4ForCausalLM\"], \"model_type\": \"llama4_text\", "
             "\"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d, "
             "\"num_key_value_heads\": %d, \"head_dim\": 64, \"intermediate_size\": 8192, "
             "\"intermediate_size_mlp\": %d, \"vocab_size\": 128256, \"tie_word_embeddings\": true, "
             "\"rope_theta\": 8000000.0, \"rope_scaling\": null, \"rms_norm_eps\": 1e-05, "
             "\"hidden_act\": \"silu\", \"max_position_embeddings\": 32768, \"use_qk_norm\": true, "
             "\"attn_temperature_tuning\": true, \"floor_scale\": 8192, \"attn_scale\": 0.1, "
             "\"no_rope_layers\": [%s], \"layer_types\": [%s], \"attention_chunk_size\": 8192, "
             "\"moe_layers\": [], \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009]}",
             dim, layers, heads, kv, ffn, rope, types);
}

int main(void)
{
    static const struct { const char *name; int layers, dim, heads, kv, ffn; int64_t params; } r1[] = {
        { "R1-140M", 15, 576, 9, 3, 2048, 140248512 },
        { "R1-360M", 15, 1024, 16, 4, 4096, 359431168 },
        { "R1-950M", 22, 1536, 24, 6, 6144, 949685760 },
    };
    char json[4096], err[MLLM_ERRLEN], what[MLLM_ERRLEN + 64];
    for (size_t i = 0; i < sizeof r1 / sizeof r1[0]; i++) {
        mllm_config c;
        r1_config(json, sizeof json, r1[i].layers, r1[i].dim, r1[i].heads, r1[i].kv, r1[i].ffn);
        mllm_status st = mllm_config_parse(json, strlen(json), "config.json", &c, err, sizeof err);
        snprintf(what, sizeof what, "%s: parses (%s)", r1[i].name, st ? err : "ok");
        check(st == MLLM_OK, what);
        if (st) continue;
        snprintf(what, sizeof what, "%s: FFN %d is intermediate_size_mlp", r1[i].name, c.ffn_dim);
        check(c.ffn_dim == r1[i].ffn, what);
        snprintf(what, sizeof what, "%s: tied head, GQA %d/%d, head_dim %d", r1[i].name, c.n_heads, c.n_kv_heads,
                 c.head_dim);
        check(c.share_embedding && c.n_heads == r1[i].heads && c.n_kv_heads == r1[i].kv && c.head_dim == 64, what);
        snprintf(what, sizeof what, "%s: %lld parameters, published %lld", r1[i].name,
                 (long long)mllm_config_n_params(&c), (long long)r1[i].params);
        check(mllm_config_n_params(&c) == r1[i].params, what);
        check(c.n_eos == 3 && c.eos_ids[2] == 128009 && c.rope_pairs && c.qk_norm && c.attention_chunk_size == 0,
              "eos list of 3, RoPE on pairs, QK-norm, no chunked layer");
        int special = 0;
        for (int l = 0; l < c.n_layers; l++) special += c.layer_nope[l] || c.layer_chunked[l];
        check(special == 0, "every layer RoPE with full attention");
    }
    printf("1..%d\n", n_checks);
    if (n_failed) printf("# %d of %d checks failed\n", n_failed, n_checks);
    return n_failed != 0;
}
