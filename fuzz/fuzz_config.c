/* fuzz_config.c — libFuzzer harness for config.json parsing
 * (mllm_config_parse in src/core/config.c), issue 8.
 *
 * Input: the JSON text. An accepted config must satisfy every bound the
 * engine relies on (sizes positive and under the limits in mobilellm.h, kv
 * heads dividing heads, an even head_dim, special ids inside the vocabulary,
 * llama4_text's per-layer flags only within its layers, a chunk size for its chunked layers);
 * a refused one must have a message naming the file.
 *
 *   build-fuzz/fuzz_config build-fuzz/corpus/config fuzz/corpus/config
 */
#include "core/internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* src/core/config.c: config.json text in memory → cfg (declared there, not in a header). */
mllm_status mllm_config_parse(const char *json, size_t len, const char *path, mllm_config *cfg,
                              char *err, size_t errlen);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = malloc(size ? size : 1);  /* exactly size bytes, not NUL-terminated */
    if (!json) return 0;
    memcpy(json, data, size);
    mllm_config c;
    char err[MLLM_ERRLEN];
    err[0] = '\0';
    mllm_status st = mllm_config_parse(json, size, "fuzz/config.json", &c, err, sizeof err);
    if (st == MLLM_OK) {
        if (c.dim < 1 || c.dim > MLLM_MAX_DIM) abort();
        if (c.n_layers < 1 || c.n_layers > MLLM_MAX_LAYERS) abort();
        if (c.n_exec_layers != (c.layer_sharing ? 2 : 1) * c.n_layers) abort();
        if (c.n_heads < 1 || c.n_kv_heads < 1 || c.n_heads % c.n_kv_heads) abort();
        if (c.head_dim < 2 || c.head_dim % 2 || (long)c.head_dim * c.n_heads > MLLM_MAX_DIM) abort();
        if (c.ffn_dim < 1 || c.vocab_size < 1 || c.vocab_size > MLLM_MAX_VOCAB) abort();
        if (c.max_seq_len < 1 || c.max_seq_len > MLLM_MAX_CONTEXT) abort();
        if (c.bos_id < 0 || c.bos_id >= c.vocab_size || c.eos_id < 0 || c.eos_id >= c.vocab_size) abort();
        if (!(c.rope_theta > 0) || !isfinite(c.rope_theta) || !(c.norm_eps > 0) || !isfinite(c.norm_eps))
            abort();
        bool llama4 = strcmp(c.model_type, "llama4_text") == 0;
        if (strcmp(c.model_type, "llama") && strcmp(c.model_type, "mobilellm") && !llama4) abort();
        if (c.n_eos < 1 || c.n_eos > MLLM_MAX_EOS_IDS || c.eos_ids[0] != c.eos_id) abort();
        for (int i = 0; i < c.n_eos; i++)
            if (c.eos_ids[i] < 0 || c.eos_ids[i] >= c.vocab_size) abort();
        /* llama4_text's per-layer flags; the other types have none */
        bool any_chunked = false;
        for (int l = 0; l < MLLM_MAX_LAYERS; l++) {
            if ((c.layer_nope[l] || c.layer_chunked[l]) && (!llama4 || l >= c.n_layers)) abort();
            any_chunked |= c.layer_chunked[l];
        }
        if (any_chunked ? c.attention_chunk_size < 1 : c.attention_chunk_size != 0) abort();
        if (llama4 && (!c.rope_pairs || c.layer_sharing || !(c.floor_scale > 0) || !isfinite(c.attn_scale)))
            abort();
        if (!llama4 && (c.rope_pairs || c.qk_norm || c.temperature_tuning)) abort();
        if (mllm_config_validate(&c, "fuzz/config.json", err, sizeof err) != MLLM_OK) abort();
    } else if (st != MLLM_ERR_CONFIG || !strstr(err, "fuzz/config.json")) {
        abort();
    }
    free(json);
    return 0;
}
