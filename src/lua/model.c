/* model.c — mobilellm.Model: mllm.load, the model's own methods (save, close)
 * and its config. The methods a model offers for another class live with that
 * class: tokenize, detokenize, token_piece, tokenizer in tokenizer.c; session
 * in session.c; generate, stream in stream.c. */
#include "binding.h"
#include "opts.h"

#include <stdio.h>
#include <string.h>

static void push_config(lua_State *L, const mllm_model *m)
{
    const mllm_config *c = mllm_model_config(m);
    lua_createtable(L, 0, 20);
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
    lua_pushnumber(L, c->rope_theta); lua_setfield(L, -2, "rope_theta");
    lua_pushnumber(L, c->norm_eps); lua_setfield(L, -2, "norm_eps");
    lua_pushboolean(L, c->layer_sharing); lua_setfield(L, -2, "layer_sharing");
    lua_pushboolean(L, c->share_embedding); lua_setfield(L, -2, "share_embedding");
    lua_pushstring(L, mllm_dtype_name(c->dtype)); lua_setfield(L, -2, "dtype");
    lua_pushinteger(L, (lua_Integer)mllm_model_n_params(m)); lua_setfield(L, -2, "params");
    lua_pushinteger(L, (lua_Integer)mllm_model_weight_bytes(m)); lua_setfield(L, -2, "weight_bytes");
    lua_pushinteger(L, mllm_model_n_threads(m)); lua_setfield(L, -2, "threads");
    lua_pushstring(L, mllm_model_compute_type(m)); lua_setfield(L, -2, "compute");
    lua_pushstring(L, mllm_model_kernels(m)); lua_setfield(L, -2, "kernels");
    lua_pushboolean(L, mllm_model_tokenizer(m) != NULL); lua_setfield(L, -2, "has_tokenizer");
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

/* mllm.load(dir [, opts]) -> model | nil, message */
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
    push_config(L, lm->m);
    lua_setiuservalue(L, -2, 1);
    lm->charged = mllm_lua_gc_charge(L, mllm_model_weight_bytes(lm->m));
    return 1;
}

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


/* model:save(path [, { on_progress = f }]) -> true | nil, message: the weights
 * as they are in memory (a quantized model stays quantized) as one safetensors
 * file; f(fraction) is called as bytes are written, returning false cancels */
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
