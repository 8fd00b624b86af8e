/* model.c — mobilellm.Model: mllm.load, the model's own methods (save, close)
 * and its config. The methods a model offers for another class live with that
 * class: tokenize, detokenize, token_piece, tokenizer in tokenizer.c; session
 * in session.c; generate, stream in stream.c. */
#include "binding.h"
#include "opts.h"

#include <stdio.h>
#include <string.h>

/*** @module mobilellm.core */

/* The 0-based numbers of the stored layers whose flag is set, as a list. */
static void push_layer_list(lua_State *L, const mllm_config *c, const bool *flag, const char *field)
{
    lua_newtable(L);
    for (int l = 0, n = 0; l < c->n_layers; l++)
        if (flag[l]) {
            lua_pushinteger(L, l);
            lua_rawseti(L, -2, ++n);
        }
    lua_setfield(L, -2, field);
}

static void push_config(lua_State *L, const mllm_model *m, const char *dir)
{
    const mllm_config *c = mllm_model_config(m);
    lua_createtable(L, 0, 31);
    lua_pushstring(L, dir); lua_setfield(L, -2, "dir");
    lua_pushstring(L, c->model_type); lua_setfield(L, -2, "model_type");
    lua_pushinteger(L, c->n_layers); lua_setfield(L, -2, "layers");
    lua_pushinteger(L, c->n_exec_layers); lua_setfield(L, -2, "executed_layers");
    lua_pushinteger(L, c->dim); lua_setfield(L, -2, "dim");
    lua_pushinteger(L, c->n_heads); lua_setfield(L, -2, "heads");
    lua_pushinteger(L, c->n_kv_heads); lua_setfield(L, -2, "kv_heads");
    lua_pushinteger(L, c->head_dim); lua_setfield(L, -2, "head_dim");
    lua_pushinteger(L, c->ffn_dim); lua_setfield(L, -2, "ffn_dim");
    lua_pushinteger(L, c->vocab_size); lua_setfield(L, -2, "vocab_size");
    lua_pushinteger(L, c->max_seq_len); lua_setfield(L, -2, "max_seq_len");
    lua_pushinteger(L, c->bos_id); lua_setfield(L, -2, "bos");
    lua_pushinteger(L, c->eos_id); lua_setfield(L, -2, "eos");
    lua_createtable(L, c->n_eos, 0);
    for (int i = 0; i < c->n_eos; i++) {
        lua_pushinteger(L, c->eos_ids[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "eos_ids");
    push_layer_list(L, c, c->layer_nope, "nope_layers");
    push_layer_list(L, c, c->layer_chunked, "chunked_layers");
    lua_pushstring(L, c->rope_pairs ? "pairs" : "halves"); lua_setfield(L, -2, "rope_layout");
    lua_pushboolean(L, c->qk_norm); lua_setfield(L, -2, "qk_norm");
    lua_pushboolean(L, c->temperature_tuning); lua_setfield(L, -2, "temperature_tuning");
    if (c->temperature_tuning) {
        lua_pushnumber(L, c->floor_scale); lua_setfield(L, -2, "floor_scale");
        lua_pushnumber(L, c->attn_scale); lua_setfield(L, -2, "attn_scale");
    }
    lua_pushinteger(L, c->attention_chunk_size); lua_setfield(L, -2, "attention_chunk_size");
    lua_pushnumber(L, c->rope_theta); lua_setfield(L, -2, "rope_theta");
    if (c->rope_factor > 0) {
        lua_createtable(L, 0, 5);
        lua_pushstring(L, "llama3"); lua_setfield(L, -2, "rope_type");
        lua_pushnumber(L, c->rope_factor); lua_setfield(L, -2, "factor");
        lua_pushnumber(L, c->rope_low_freq_factor); lua_setfield(L, -2, "low_freq_factor");
        lua_pushnumber(L, c->rope_high_freq_factor); lua_setfield(L, -2, "high_freq_factor");
        lua_pushinteger(L, c->rope_original_max_pos); lua_setfield(L, -2, "original_max_position_embeddings");
        lua_setfield(L, -2, "rope_scaling");
    }
    lua_pushnumber(L, c->norm_eps); lua_setfield(L, -2, "norm_eps");
    lua_pushboolean(L, c->layer_sharing); lua_setfield(L, -2, "layer_sharing");
    lua_pushboolean(L, c->share_embedding); lua_setfield(L, -2, "share_embedding");
    lua_pushstring(L, mllm_dtype_name(c->dtype)); lua_setfield(L, -2, "dtype");
    lua_pushinteger(L, (lua_Integer)mllm_model_n_params(m)); lua_setfield(L, -2, "params");
    lua_pushinteger(L, (lua_Integer)mllm_model_weight_bytes(m)); lua_setfield(L, -2, "weight_bytes");
    lua_pushinteger(L, (lua_Integer)mllm_model_mapped_bytes(m)); lua_setfield(L, -2, "mapped_bytes");
    lua_pushinteger(L, mllm_model_n_threads(m)); lua_setfield(L, -2, "threads");
    lua_pushstring(L, mllm_model_compute_type(m)); lua_setfield(L, -2, "compute");
    lua_pushstring(L, mllm_model_kernels(m)); lua_setfield(L, -2, "kernels");
    lua_pushboolean(L, mllm_model_tokenizer(m) != NULL); lua_setfield(L, -2, "has_tokenizer");
    if (mllm_model_tokenizer(m)) {
        lua_pushstring(L, mllm_tokenizer_format(mllm_model_tokenizer(m)));
        lua_setfield(L, -2, "tokenizer_format");
    }
}

/* The Lua on_progress callback runs under pcall: a Lua error must never
 * unwind through mllm_model_load's C frames (they own memory). */
typedef struct { lua_State *L; int fn; int failed; } progress_ctx;

static bool lua_progress(float fraction, void *ud)
{
    progress_ctx *pc = ud;
    lua_State *L = pc->L;
    lua_pushvalue(L, pc->fn);
    lua_pushnumber(L, fraction);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        pc->failed = 1;  /* the error stays on the stack, raised after the load unwinds */
        return false;
    }
    bool go_on = !(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1));
    lua_pop(L, 1);
    return go_on;
}

/***
 * Loads a model directory: config.json, model.safetensors (or the shards its
 * index names, or pytorch_model.bin and its shards) and tokenizer.model.
 * @function load
 * @tparam string dir the checkpoint directory
 * @tparam[opt] table opts
 *   `threads` (0: every online core; at most 1024);
 *   `dtype`: the compute format of the matrices, `"auto"` (as stored, the
 *   default), `"f32"`, `"f16"`, `"bf16"`, `"q8"` or `"q4"` (quantized on load);
 *   `tokenizer`: the path of a tokenizer.model elsewhere;
 *   `require_tokenizer` (false): fail when there is none;
 *   `check` (false): read every weight first, and fail at the first NaN or
 *   infinity, naming the tensor and the index;
 *   `on_progress`: `f(fraction)`, called as loading proceeds; returning
 *   `false` cancels the load
 * @treturn Model
 * @error a message naming the file and the tensor at fault, or "loading
 *   cancelled"
 * @raise on a wrong argument or option; an error raised by `on_progress`
 *   propagates once the load has cleaned up
 */
static int l_load(lua_State *L)
{
    static const char *const names[] = { "threads", "tokenizer", "require_tokenizer", "dtype", "on_progress",
                                          "check", NULL };
    const char *dir = mllm_lua_check_path(L, 1);
    int o = mllm_lua_opts(L, 2, names, "load");
    mllm_model_params p = mllm_model_default_params();
    p.n_threads = (int)mllm_lua_opt_int(L, o, "threads", 0, 0, 1024);
    p.tokenizer_path = mllm_lua_opt_str(L, o, "tokenizer", NULL);
    p.require_tokenizer = mllm_lua_opt_bool(L, o, "require_tokenizer", false);
    p.dtype = mllm_lua_opt_str(L, o, "dtype", NULL);
    p.check_weights = mllm_lua_opt_bool(L, o, "check", false);
    progress_ctx pc = { L, 0, 0 };
    if (mllm_lua_opt_func(L, o, "on_progress")) {
        mllm_lua_opt_push(L, o, "on_progress");
        pc.fn = lua_gettop(L);
        p.progress = lua_progress;
        p.progress_ud = &pc;
    }
    lmodel *lm = lua_newuserdatauv(L, sizeof *lm, 1);  /* created closed, then filled */
    lm->m = NULL;
    lm->charged = 0;
    luaL_setmetatable(L, MODEL_MT);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_model_load(dir, &p, &lm->m, err, sizeof err);
    if (pc.failed) return lua_error(L);  /* the callback's own error, now that C has cleaned up */
    if (st) return fail(L, st, err);
    push_config(L, lm->m, dir);
    lua_setiuservalue(L, -2, 1);
    lm->charged = mllm_lua_gc_charge(L, mllm_model_weight_bytes(lm->m));
    return 1;
}

/*** @type Model */

static int model_tostring(lua_State *L)
{
    lmodel *lm = luaL_checkudata(L, 1, MODEL_MT);
    if (!lm->m) {
        lua_pushstring(L, "mobilellm.Model (closed)");
        return 1;
    }
    const mllm_config *c = mllm_model_config(lm->m);
    char buf[256];  /* lua_pushfstring has no %.1f */
    snprintf(buf, sizeof buf, "mobilellm.Model (%s, %d layers%s, dim %d, %d/%d heads, %.1fM params, %s, %s kernels, %d threads)",
                    c->model_type, c->n_layers, c->layer_sharing ? " x2 shared" : "", c->dim, c->n_heads,
                    c->n_kv_heads, (double)mllm_model_n_params(lm->m) / 1e6, mllm_model_compute_type(lm->m),
                    mllm_model_kernels(lm->m), mllm_model_n_threads(lm->m));
    lua_pushstring(L, buf);
    return 1;
}

/***
 * The model's configuration, `model.config` (raises when the model is closed).
 * @table Model.config
 * @tfield string dir the directory the model was loaded from, as `load` was
 *   given it (its companion files, such as apis.json, are found there)
 * @tfield string model_type `"mobilellm"`, `"llama"` or `"llama4_text"`
 * @tfield integer layers stored blocks
 * @tfield integer executed_layers blocks run per token: twice `layers` with
 *   layer sharing
 * @tfield integer dim hidden size
 * @tfield integer heads attention heads
 * @tfield integer kv_heads key/value heads
 * @tfield integer head_dim
 * @tfield integer ffn_dim intermediate size (llama4_text: `intermediate_size_mlp`)
 * @tfield integer vocab_size
 * @tfield integer max_seq_len the longest context
 * @tfield integer bos beginning-of-sequence id
 * @tfield integer eos end-of-sequence id (the first of `eos_ids`)
 * @tfield {integer,...} eos_ids every end-of-sequence id: generation stops at any
 * @tfield string rope_layout `"halves"` (LLaMA's rotate_half) or `"pairs"`
 *   (llama4_text: adjacent elements rotate together)
 * @tfield boolean qk_norm llama4_text: q and k normalised per head on RoPE layers
 * @tfield {integer,...} nope_layers llama4_text: the layers without RoPE (0-based)
 * @tfield boolean temperature_tuning llama4_text: NoPE layers scale q with the position
 *   by `log(floor((pos + 1) / floor_scale) + 1) * attn_scale + 1` (fields `floor_scale`,
 *   `attn_scale` then set)
 * @tfield {integer,...} chunked_layers llama4_text: the layers with chunked attention (0-based)
 * @tfield integer attention_chunk_size the chunk of a chunked layer; 0 without any
 * @tfield number rope_theta
 * @tfield[opt] table rope_scaling Llama 3's frequency scaling, as config.json has it
 *   (`rope_type = "llama3"`, `factor`, `low_freq_factor`, `high_freq_factor`,
 *   `original_max_position_embeddings`); nil without
 * @tfield number norm_eps
 * @tfield boolean layer_sharing every block runs twice in a row (MobileLLM-LS)
 * @tfield boolean share_embedding the output head is the input embedding
 * @tfield string dtype the stored weights' type (`"f32"`, `"bf16"`, `"q8"`...)
 * @tfield integer params stored parameters
 * @tfield integer weight_bytes bytes of weights in memory
 * @tfield integer mapped_bytes of those, the bytes mapped from the files as they are stored (the
 *   rest were converted, quantized or interleaved at load)
 * @tfield integer threads
 * @tfield string compute the matrices' compute format (`"f32"`, `"q8"`...)
 * @tfield string kernels the kernel set chosen for this CPU (`"avx2"`,
 *   `"neon"`, `"scalar"`...)
 * @tfield boolean has_tokenizer
 * @tfield[opt] string tokenizer_format the file the tokenizer was read from: `"tokenizer.model"`
 *   (sentencepiece) or `"tokenizer.json"` (Hugging Face); nil without a tokenizer
 */
static int model_index(lua_State *L)
{
    lmodel *lm = luaL_checkudata(L, 1, MODEL_MT);
    const char *key = lua_tostring(L, 2);
    if (key && strcmp(key, "config") == 0) {
        if (!lm->m) return luaL_error(L, "attempt to use a closed model");
        lua_getiuservalue(L, 1, 1);
        return 1;
    }
    luaL_getmetatable(L, MODEL_MT);
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}


/***
 * Writes the weights as they are in memory (a quantized model stays quantized)
 * as one safetensors file. The file is written beside `path` and renamed over
 * it, so a failure leaves what was there; `path` may be the file the model
 * was loaded from.
 * @function Model:save
 * @tparam string path
 * @tparam[opt] table opts `on_progress`: `f(fraction)`, called as bytes are
 *   written; returning `false` cancels (the old file stays)
 * @treturn boolean true
 * @error a message naming the path, or "saving cancelled"
 * @raise on a wrong argument or option; an error raised by `on_progress`
 *   propagates
 */
static int model_save(lua_State *L)
{
    checkmodel(L, 1);
    const char *path = mllm_lua_check_path(L, 2);
    static const char *const names[] = { "on_progress", NULL };
    int o = mllm_lua_opts(L, 3, names, "save");
    progress_ctx pc = { L, 0, 0 };
    if (mllm_lua_opt_func(L, o, "on_progress")) {
        mllm_lua_opt_push(L, o, "on_progress");
        pc.fn = lua_gettop(L);
    }
    lmodel *lm = checkmodel(L, 1);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_model_save_progress(lm->m, path, pc.fn ? lua_progress : NULL, &pc, err, sizeof err);
    if (pc.failed) return lua_error(L);
    if (st) return fail(L, st, err);
    lua_pushboolean(L, 1);
    return 1;
}

/***
 * Frees the model's weights once nothing else holds them: its sessions and
 * the tokenizer from `Model:tokenizer` keep their own reference. Idempotent;
 * also run by `__close` and `__gc`. Later use of the model raises.
 * @function Model:close
 */
static int model_close(lua_State *L)
{
    lmodel *lm = luaL_checkudata(L, 1, MODEL_MT);
    if (lm->m) {
        mllm_model_release(lm->m);  /* sessions keep their own reference */
        lm->m = NULL;
        mllm_lua_gc_credit(L, &lm->charged);
    }
    return 0;
}

static const luaL_Reg model_methods[] = {
    { "save", model_save },
    { "close", model_close },
    { NULL, NULL },
};

static const luaL_Reg model_meta[] = {
    { "__index", model_index },
    { "__gc", model_close },
    { "__close", model_close },
    { "__tostring", model_tostring },
    { NULL, NULL },
};

int mllm_lua_open_model(lua_State *L)
{
    mllm_lua_new_type(L, MODEL_MT, model_meta, model_methods, true);
    lua_pushcfunction(L, l_load);
    lua_setfield(L, -2, "load");
    return 0;
}
