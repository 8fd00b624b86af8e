/* config.c — config.json → mllm_config (cJSON), every value bounded. */
#define _POSIX_C_SOURCE 200809L
#include "base/fileio.h"
#include "internal.h"

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
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0 && strcmp(key, "eos_token_id") == 0)
        v = cJSON_GetArrayItem(v, 0); /* eos lists: the first is the one generation stops at */
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

static mllm_status parse(const cJSON *root, mllm_config *c, const char *path, char *err, size_t errlen)
{
    mllm_status st;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && !cJSON_IsString(mt))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: \"model_type\" must be a string", path);
    const char *type = mt ? mt->valuestring : "llama";
    if (strcmp(type, "mobilellm") != 0 && strcmp(type, "llama") != 0)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "%s: model_type \"%s\" is not supported (expected \"mobilellm\" or \"llama\")",
                         path, type);
    snprintf(c->model_type, sizeof c->model_type, "%s", type);

    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: hidden_act must be \"silu\"", path);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (rs && !cJSON_IsNull(rs))
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG, "%s: rope_scaling is not supported", path);
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
    if ((st = get_int(root, "intermediate_size", -1, 1, 16 * MLLM_MAX_DIM, &c->ffn_dim, path, err, errlen))) return st;
    if ((st = get_int(root, "vocab_size", -1, 3, MLLM_MAX_VOCAB, &c->vocab_size, path, err, errlen))) return st;
    if ((st = get_int(root, "max_position_embeddings", 2048, 1, MLLM_MAX_CONTEXT, &c->max_seq_len, path, err, errlen))) return st;
    if ((st = get_int(root, "bos_token_id", 1, 0, MLLM_MAX_VOCAB, &c->bos_id, path, err, errlen))) return st;
    if ((st = get_int(root, "eos_token_id", 2, 0, MLLM_MAX_VOCAB, &c->eos_id, path, err, errlen))) return st;
    if ((st = get_float(root, "rope_theta", 10000.0, 0.0, 1e9, &c->rope_theta, path, err, errlen))) return st;
    if ((st = get_float(root, "rms_norm_eps", 1e-5, 0.0, 1.0, &c->norm_eps, path, err, errlen))) return st;
    if ((st = get_bool(root, "layer_sharing", &c->layer_sharing, path, err, errlen))) return st;
    bool share = false, tie = false;
    if ((st = get_bool(root, "share_embedding", &share, path, err, errlen))) return st;
    if ((st = get_bool(root, "tie_word_embeddings", &tie, path, err, errlen))) return st;
    c->share_embedding = share || tie;
    int hd_default = c->dim % c->n_heads == 0 ? c->dim / c->n_heads : 0;
    if ((st = get_int(root, "head_dim", hd_default ? hd_default : -1, 1, MLLM_MAX_DIM, &c->head_dim, path, err, errlen))) {
        if (!hd_default && !cJSON_GetObjectItemCaseSensitive(root, "head_dim"))
            return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                             "%s: num_attention_heads (%d) does not divide hidden_size (%d) and no head_dim is given",
                             path, c->n_heads, c->dim);
        return st;
    }
    c->n_exec_layers = c->layer_sharing ? 2 * c->n_layers : c->n_layers;
    return mllm_config_validate(c, path, err, errlen);
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
    return MLLM_OK;
}

mllm_status mllm_config_parse(const char *json, size_t len, const char *path, mllm_config *cfg,
                              char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    const char *end = NULL; /* not cJSON_GetErrorPtr: that is global state */
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
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
    free(buf);
    return st;
}
