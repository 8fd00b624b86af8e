/* config.c — config.json → mllm_config (cJSON), every value bounded. */
#define _POSIX_C_SOURCE 200809L
#include "base/fileio.h"
#include "internal.h"
#include "base/alloc.h"
#include "base/json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses config.json text already in memory (len bytes, not NUL-terminated);
 * path only names the file in messages. mllm_config_load reads the file and
 * calls it; fuzz/fuzz_config.c calls it directly (hence no static). */
mllm_status mllm_config_parse(const char *json, size_t len, const char *path, mllm_config *cfg,
                              char *err, size_t errlen);

/* Reads an integer field; missing → def (or an error when def < 0 means required). */
static mllm_status get_int(const cJSON *root, const char *key, long def, long lo, long hi, int *out,
                           const char *path, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0)
            return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: missing \"%s\"", path, key);
        *out = (int)def;
        return MLLM_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: \"%s\" must be an integer", path, key);
    if (v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: \"%s\" is %.17g, outside [%ld, %ld]", path,
                         key, v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return MLLM_OK;
}

static mllm_status get_float(const cJSON *root, const char *key, double def, double lo, double hi,
                             float *out, const char *path, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) { *out = (float)def; return MLLM_OK; }
    /* checked as the float the engine uses: 1e-60 is positive as a double but 0 as a float */
    float f = cJSON_IsNumber(v) ? (float)v->valuedouble : 0.0f;
    if (!cJSON_IsNumber(v) || !(f > lo) || !(v->valuedouble <= hi))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: \"%s\" must be a number in (%g, %g]",
                         path, key, lo, hi);
    *out = f;
    return MLLM_OK;
}

static mllm_status get_bool(const cJSON *root, const char *key, bool *out, const char *path,
                            char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) { *out = false; return MLLM_OK; }
    if (!cJSON_IsBool(v))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: \"%s\" must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return MLLM_OK;
}

/* eos_token_id: one id, or a list of up to MLLM_MAX_EOS_IDS (generation stops at any). */
static mllm_status get_eos(const cJSON *root, mllm_config *c, const char *path, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    if (!cJSON_IsArray(v)) {
        mllm_status st = get_int(root, "eos_token_id", 2, 0, MLLM_MAX_VOCAB, &c->eos_id, path, err, errlen);
        c->eos_ids[0] = c->eos_id;
        c->n_eos = 1;
        return st;
    }
    int n = cJSON_GetArraySize(v);
    if (n < 1 || n > MLLM_MAX_EOS_IDS)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "%s: \"eos_token_id\" lists %d ids, expected 1 to MLLM_MAX_EOS_IDS (%d)", path, n,
                         MLLM_MAX_EOS_IDS);
    const cJSON *e;
    c->n_eos = 0;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
            e->valuedouble > MLLM_MAX_VOCAB)
            return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                             "%s: \"eos_token_id\" must list integers in [0, %d]", path, MLLM_MAX_VOCAB);
        c->eos_ids[c->n_eos++] = (int)e->valuedouble;
    }
    c->eos_id = c->eos_ids[0];
    return MLLM_OK;
}

/* A per-layer list of n entries: NULL when absent, null or empty (the default
 * applies, as in transformers), else it must be an array of n entries. */
static mllm_status layer_list(const cJSON *root, const char *key, int n, const cJSON **out, const char *path,
                              char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v) || (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0)) return MLLM_OK;
    if (!cJSON_IsArray(v))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: \"%s\" must be a list", path, key);
    if (cJSON_GetArraySize(v) != n)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "%s: \"%s\" has %d entries but num_hidden_layers is %d", path, key,
                         cJSON_GetArraySize(v), n);
    *out = v;
    return MLLM_OK;
}

/* The llama4_text fields (Llama4ForCausalLM, MobileLLM-R1): dense layers
 * only, RoPE on adjacent pairs, QK-norm, NoPE layers with attention
 * temperature tuning, chunked attention. Defaults as transformers'
 * Llama4TextConfig. */
static mllm_status parse_llama4(const cJSON *root, mllm_config *c, const char *path, char *err, size_t errlen)
{
    mllm_status st;
    int n = c->n_layers;
    /* MoE: the layers transformers makes MoE are moe_layers, or when that is
       absent every interleave_moe_layer_step-th layer (every layer by default) */
    const cJSON *moe = cJSON_GetObjectItemCaseSensitive(root, "moe_layers");
    if (moe && !cJSON_IsNull(moe)) {
        if (!cJSON_IsArray(moe))
            return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: \"moe_layers\" must be a list", path);
        if (cJSON_GetArraySize(moe) > 0)
            return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                             "%s: llama4_text with MoE layers (moe_layers lists %d) is not supported: only "
                             "dense checkpoints (moe_layers: []) run", path, cJSON_GetArraySize(moe));
    } else {
        int step;
        if ((st = get_int(root, "interleave_moe_layer_step", 1, 0, MLLM_MAX_LAYERS + 1, &step, path, err, errlen)))
            return st;
        if (step >= 1 && step <= n)
            return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                             "%s: llama4_text with MoE layers (no moe_layers, so every %d%s layer is MoE) is "
                             "not supported: only dense checkpoints (moe_layers: []) run", path, step,
                             step == 1 ? "st" : "th");
    }
    if ((st = get_int(root, "intermediate_size_mlp", 16384, 1, 16 * MLLM_MAX_DIM, &c->ffn_dim, path, err, errlen)))
        return st;
    bool qk_norm = true, tuning = true;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "use_qk_norm");
    if (b && !cJSON_IsNull(b) && (st = get_bool(root, "use_qk_norm", &qk_norm, path, err, errlen))) return st;
    b = cJSON_GetObjectItemCaseSensitive(root, "attn_temperature_tuning");
    if (b && !cJSON_IsNull(b) && (st = get_bool(root, "attn_temperature_tuning", &tuning, path, err, errlen)))
        return st;
    c->qk_norm = qk_norm;
    c->temperature_tuning = tuning;
    if ((st = get_float(root, "floor_scale", 8192.0, 0.0, 1e9, &c->floor_scale, path, err, errlen))) return st;
    if ((st = get_float(root, "attn_scale", 0.1, -1e9, 1e9, &c->attn_scale, path, err, errlen))) return st;
    c->rope_pairs = true;

    /* no_rope_layers[l]: 1 = RoPE, 0 = NoPE; default a NoPE layer every no_rope_layer_interval */
    const cJSON *list;
    if ((st = layer_list(root, "no_rope_layers", n, &list, path, err, errlen))) return st;
    int interval = 4;
    if (!list && (st = get_int(root, "no_rope_layer_interval", 4, 1, MLLM_MAX_LAYERS + 1, &interval, path, err,
                               errlen)))
        return st;
    for (int l = 0; l < n; l++) {
        const cJSON *e = list ? cJSON_GetArrayItem(list, l) : NULL;
        if (list && !(cJSON_IsNumber(e) && (e->valuedouble == 0 || e->valuedouble == 1)))
            return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: \"no_rope_layers\" entry %d must be 0 or 1", path, l);
        c->layer_nope[l] = list ? e->valuedouble == 0 : (l + 1) % interval == 0;
    }
    /* layer_types[l]: default "chunked_attention" on RoPE layers, as transformers */
    if ((st = layer_list(root, "layer_types", n, &list, path, err, errlen))) return st;
    bool any_chunked = false;
    for (int l = 0; l < n; l++) {
        const cJSON *e = list ? cJSON_GetArrayItem(list, l) : NULL;
        if (list && !(cJSON_IsString(e) && (strcmp(e->valuestring, "full_attention") == 0 ||
                                            strcmp(e->valuestring, "chunked_attention") == 0)))
            return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                             "%s: \"layer_types\" entry %d must be \"full_attention\" or \"chunked_attention\"",
                             path, l);
        c->layer_chunked[l] = list ? strcmp(e->valuestring, "chunked_attention") == 0 : !c->layer_nope[l];
        any_chunked |= c->layer_chunked[l];
    }
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(root, "attention_chunk_size");
    if (any_chunked && cs && cJSON_IsNull(cs))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "%s: \"attention_chunk_size\" is null but chunked_attention layers need it", path);
    if ((st = get_int(root, "attention_chunk_size", 8192, 1, INT32_MAX, &c->attention_chunk_size, path, err, errlen)))
        return st;
    if (!any_chunked) c->attention_chunk_size = 0;
    return MLLM_OK;
}

/* rope_scaling, or transformers 5's rope_parameters (key): null or type "default" is plain
 * RoPE; "llama3" (Llama 3.1/3.2) rescales the frequencies (mllm_config_inv_freq); every other
 * type (linear, dynamic, yarn, longrope...) is refused rather than run wrong. */
static mllm_status get_rope_scaling(const cJSON *root, const char *key, mllm_config *c, const char *path,
                                    char *err, size_t errlen)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!rs || cJSON_IsNull(rs)) return MLLM_OK;
    if (!cJSON_IsObject(rs))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: \"%s\" must be an object or null", path, key);
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!rt) rt = cJSON_GetObjectItemCaseSensitive(rs, "type");  /* its older name */
    if (rt && !cJSON_IsString(rt))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: %s.rope_type must be a string", path, key);
    /* rope_parameters may hold only rope_theta; a rope_scaling object always names its type */
    const char *type = rt ? rt->valuestring : strcmp(key, "rope_parameters") == 0 ? "default" : NULL;
    if (!type)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: %s has no rope_type", path, key);
    if (strcmp(type, "default") == 0) return MLLM_OK;
    if (strcmp(type, "llama3") != 0)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "%s: %s type \"%s\" is not supported (only \"default\" and \"llama3\")", path, key,
                         type);
    static const char *const fields[] = { "factor", "low_freq_factor", "high_freq_factor",
                                          "original_max_position_embeddings" };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!cJSON_GetObjectItemCaseSensitive(rs, fields[i]))
            return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: %s of type \"llama3\" needs \"%s\"", path, key,
                             fields[i]);
    mllm_status st;
    if ((st = get_float(rs, "factor", 0.0, 0.0, 1e6, &c->rope_factor, path, err, errlen)) ||
        (st = get_float(rs, "low_freq_factor", 0.0, 0.0, 1e6, &c->rope_low_freq_factor, path, err, errlen)) ||
        (st = get_float(rs, "high_freq_factor", 0.0, 0.0, 1e6, &c->rope_high_freq_factor, path, err, errlen)) ||
        (st = get_int(rs, "original_max_position_embeddings", -1, 1, MLLM_MAX_CONTEXT, &c->rope_original_max_pos,
                      path, err, errlen)))
        return st;
    if (!(c->rope_high_freq_factor > c->rope_low_freq_factor))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "%s: %s.high_freq_factor (%g) must exceed low_freq_factor (%g)", path, key,
                         c->rope_high_freq_factor, c->rope_low_freq_factor);
    return MLLM_OK;
}

double mllm_config_inv_freq(const mllm_config *c, int i)
{
    double inv = 1.0 / pow((double)c->rope_theta, (double)(2 * i) / c->head_dim);
    if (c->rope_factor <= 0) return inv;
    /* Llama 3: long wavelengths slowed by factor, short ones kept, those between blended */
    const double two_pi = 6.283185307179586;
    double wavelen = two_pi / inv, old = c->rope_original_max_pos;
    double low = c->rope_low_freq_factor, high = c->rope_high_freq_factor;
    if (wavelen < old / high) return inv;
    if (wavelen > old / low) return inv / c->rope_factor;
    double smooth = (old / wavelen - low) / (high - low);
    return (1.0 - smooth) * inv / c->rope_factor + smooth * inv;
}

static mllm_status parse(const cJSON *root, mllm_config *c, const char *path, char *err, size_t errlen)
{
    mllm_status st;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && !cJSON_IsString(mt))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: \"model_type\" must be a string", path);
    const char *type = mt ? mt->valuestring : "llama";
    if (strcmp(type, "llama4") == 0)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "%s: model_type \"llama4\" (Llama4ForConditionalGeneration, multimodal) is not "
                         "supported: only the text model \"llama4_text\" (Llama4ForCausalLM) runs", path);
    bool llama4 = strcmp(type, "llama4_text") == 0;
    if (strcmp(type, "mobilellm") != 0 && strcmp(type, "llama") != 0 && !llama4)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "%s: model_type \"%s\" is not supported (expected \"mobilellm\", \"llama\" or "
                         "\"llama4_text\")", path, type);
    snprintf(c->model_type, sizeof c->model_type, "%s", type);

    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: hidden_act must be \"silu\"", path);
    if ((st = get_rope_scaling(root, "rope_scaling", c, path, err, errlen))) return st;
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(root, "attention_bias");
    if (ab && cJSON_IsTrue(ab))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: attention_bias is not supported", path);
    const cJSON *mb = cJSON_GetObjectItemCaseSensitive(root, "mlp_bias");
    if (mb && cJSON_IsTrue(mb))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: mlp_bias is not supported", path);

    if ((st = get_int(root, "hidden_size", -1, 1, MLLM_MAX_DIM, &c->dim, path, err, errlen))) return st;
    if ((st = get_int(root, "num_hidden_layers", -1, 1, MLLM_MAX_LAYERS, &c->n_layers, path, err, errlen))) return st;
    if ((st = get_int(root, "num_attention_heads", -1, 1, MLLM_MAX_DIM, &c->n_heads, path, err, errlen))) return st;
    if ((st = get_int(root, "num_key_value_heads", c->n_heads, 1, MLLM_MAX_DIM, &c->n_kv_heads, path, err, errlen))) return st;
    if (llama4) {
        if ((st = parse_llama4(root, c, path, err, errlen))) return st;
    } else if ((st = get_int(root, "intermediate_size", -1, 1, 16 * MLLM_MAX_DIM, &c->ffn_dim, path, err, errlen))) {
        return st;
    }
    if ((st = get_int(root, "vocab_size", -1, 3, MLLM_MAX_VOCAB, &c->vocab_size, path, err, errlen))) return st;
    if ((st = get_int(root, "max_position_embeddings", llama4 ? MLLM_MAX_CONTEXT : 2048, 1, MLLM_MAX_CONTEXT,
                      &c->max_seq_len, path, err, errlen)))
        return st;
    if ((st = get_int(root, "bos_token_id", 1, 0, MLLM_MAX_VOCAB, &c->bos_id, path, err, errlen))) return st;
    if ((st = get_eos(root, c, path, err, errlen))) return st;
    if ((st = get_float(root, "rope_theta", llama4 ? 500000.0 : 10000.0, 0.0, 1e9, &c->rope_theta, path, err, errlen)))
        return st;
    /* transformers 5 writes RoPE as rope_parameters {rope_type, rope_theta} */
    if ((st = get_rope_scaling(root, "rope_parameters", c, path, err, errlen))) return st;
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (rp && !cJSON_IsNull(rp)) {
        if (cJSON_GetObjectItemCaseSensitive(rp, "rope_theta") &&
            (st = get_float(rp, "rope_theta", 0.0, 0.0, 1e9, &c->rope_theta, path, err, errlen)))
            return st;
    }
    if ((st = get_float(root, "rms_norm_eps", 1e-5, 0.0, 1.0, &c->norm_eps, path, err, errlen))) return st;
    if ((st = get_bool(root, "layer_sharing", &c->layer_sharing, path, err, errlen))) return st;
    bool share = false, tie = false;
    if ((st = get_bool(root, "share_embedding", &share, path, err, errlen))) return st;
    if ((st = get_bool(root, "tie_word_embeddings", &tie, path, err, errlen))) return st;
    c->share_embedding = share || tie;
    /* transformers' Llama4TextConfig defaults head_dim to 128, not hidden_size / heads */
    int hd_default = llama4 ? 128 : c->dim % c->n_heads == 0 ? c->dim / c->n_heads : 0;
    if ((st = get_int(root, "head_dim", hd_default ? hd_default : -1, 1, MLLM_MAX_DIM, &c->head_dim, path, err, errlen))) {
        if (!hd_default && !cJSON_GetObjectItemCaseSensitive(root, "head_dim"))
            return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                             "%s: num_attention_heads (%d) does not divide hidden_size (%d) and no head_dim is given",
                             path, c->n_heads, c->dim);
        return st;
    }
    if (llama4 && c->layer_sharing)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "%s: layer_sharing is a MobileLLM (model_type \"mobilellm\") feature, not supported with "
                         "llama4_text", path);
    c->n_exec_layers = c->layer_sharing ? 2 * c->n_layers : c->n_layers;
    return mllm_config_validate(c, path, err, errlen);
}

bool mllm_config_is_eos(const mllm_config *c, int32_t id)
{
    if (id == c->eos_id) return true;
    for (int i = 1; i < c->n_eos; i++)
        if (id == c->eos_ids[i]) return true;
    return false;
}

mllm_status mllm_config_validate(const mllm_config *c, const char *path, char *err, size_t errlen)
{
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "%s: num_key_value_heads (%d) must divide num_attention_heads (%d)", path,
                         c->n_kv_heads, c->n_heads);
    if (c->head_dim % 2 != 0)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: head_dim (%d) must be even for RoPE", path,
                         c->head_dim);
    if ((long)c->head_dim * c->n_heads > MLLM_MAX_DIM)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: head_dim * num_attention_heads exceeds %d",
                         path, MLLM_MAX_DIM);
    if (c->bos_id >= c->vocab_size || c->eos_id >= c->vocab_size)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "%s: bos_token_id (%d) / eos_token_id (%d) outside the vocabulary of %d", path,
                         c->bos_id, c->eos_id, c->vocab_size);
    for (int i = 1; i < c->n_eos; i++)
        if (c->eos_ids[i] >= c->vocab_size)
            return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: eos_token_id %d outside the vocabulary of %d", path,
                             c->eos_ids[i], c->vocab_size);
    return MLLM_OK;
}

mllm_status mllm_config_parse(const char *json, size_t len, const char *path, mllm_config *cfg,
                              char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    const char *end = NULL; /* not cJSON_GetErrorPtr: that is global state */
    bool nomem;
    cJSON *root = mllm_json_parse(json, len, &end, &nomem);
    if (nomem) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory reading the JSON", path);
    if (!root || !cJSON_IsObject(root)) {
        size_t at = (!root && end >= json && end <= json + len) ? (size_t)(end - json) : 0;
        cJSON_Delete(root);
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: not a valid JSON object (near byte %zu)", path, at);
    }
    mllm_status st = parse(root, cfg, path, err, errlen);
    cJSON_Delete(root);
    return st;
}

mllm_status mllm_config_load(const char *path, mllm_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    char *buf;
    size_t len;
    mllm_status st = mllm_read_file(path, MLLM_MAX_CONFIG_BYTES, "MLLM_MAX_CONFIG_BYTES", &buf, &len, err, errlen);
    if (st == MLLM_ERR_FORMAT) st = MLLM_ERR_CONFIG;
    if (st) return st;
    st = mllm_config_parse(buf, len, path, cfg, err, errlen);
    mllm_free(buf);
    return st;
}
