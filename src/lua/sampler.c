/* sampler.c — the Lua class mobilellm.Sampler: the engine's sampler on its own,
 * for decoding loops written in Lua (s:eval, then smp:sample(s), then s:eval
 * of the chosen id...), with the same options and defaults as a generation. */
#include "binding.h"
#include "opts.h"

#include <string.h>

/*** @module mobilellm.core */

#define SAMPLER_MT "mobilellm.Sampler"

typedef struct {
    mllm_sampler *smp;  /* NULL when closed */
    int n_vocab;        /* the vocabulary of the model it was made for */
} lsampler;

/* The sampling options, as a generation reads them (stream.c uses it too). */
void mllm_lua_read_sampler_opts(lua_State *L, int o, mllm_sampler_params *p)
{
    *p = mllm_sampler_default_params();
    p->temperature = (float)mllm_lua_opt_num(L, o, "temperature", 0.0, 0.0, 1e6);
    p->top_k = (int)mllm_lua_opt_int(L, o, "top_k", 0, 0, MLLM_MAX_VOCAB);
    p->top_p = (float)mllm_lua_opt_num(L, o, "top_p", 1.0, 1e-9, 1.0);
    p->min_p = (float)mllm_lua_opt_num(L, o, "min_p", 0.0, 0.0, 0.999999);
    p->repeat_penalty = (float)mllm_lua_opt_num(L, o, "repeat_penalty", 1.0, 1e-6, 1e6);
    p->repeat_last_n = (int)mllm_lua_opt_int(L, o, "repeat_last_n", 64, -1, MLLM_MAX_CONTEXT);
    p->seed = (uint64_t)mllm_lua_opt_int(L, o, "seed", (lua_Integer)p->seed, LUA_MININTEGER, LUA_MAXINTEGER);
}

static lsampler *check_sampler(lua_State *L, int i)
{
    lsampler *ls = luaL_checkudata(L, i, SAMPLER_MT);
    if (!ls->smp) luaL_error(L, "attempt to use a closed sampler");
    return ls;
}

/*** @type Model */

/***
 * A sampler for this model's vocabulary: the sampling of a generation, for
 * decoding loops written in Lua.
 * @function Model:sampler
 * @tparam[opt] table opts `temperature` (0 = greedy), `top_k`, `top_p`, `min_p`,
 *   `repeat_penalty`, `repeat_last_n` (64), `seed`: as in generation_options
 * @treturn Sampler
 * @raise on a bad or unknown option
 */
static int model_sampler(lua_State *L)
{
    static const char *const names[] = { "temperature", "top_k", "top_p", "min_p", "repeat_penalty",
                                         "repeat_last_n", "seed", NULL };
    checkmodel(L, 1);
    int o = mllm_lua_opts(L, 2, names, "sampler");
    mllm_sampler_params p;
    mllm_lua_read_sampler_opts(L, o, &p);
    int n_vocab = mllm_model_config(checkmodel(L, 1)->m)->vocab_size;
    lsampler *ls = lua_newuserdatauv(L, sizeof *ls, 0);  /* created closed, then filled */
    ls->smp = NULL;
    ls->n_vocab = n_vocab;
    luaL_setmetatable(L, SAMPLER_MT);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_sampler_new(&p, n_vocab, &ls->smp, err, sizeof err);
    if (st) return fail(L, st, err);
    return 1;
}

/*** @type Sampler */

/***
 * Picks the next token from the logits a session's last evaluation left.
 * @function Sampler:sample
 * @tparam Session s a session of a model with this sampler's vocabulary
 * @tparam[opt] {integer,...} history the ids the repetition penalty sees (e.g.
 *   the tokens generated so far)
 * @treturn integer the token id
 * @return nil and a message when the logits hold NaN (corrupt weights)
 * @raise when the session has no logits, or another vocabulary
 */
static int sampler_sample(lua_State *L)
{
    check_sampler(L, 1);
    lsession *s = checksession(L, 2);
    size_t n = 0;
    const int32_t *history = NULL;
    lsampler *ls = check_sampler(L, 1);
    if (!lua_isnoneornil(L, 3)) history = mllm_lua_read_ids(L, 3, ls->n_vocab, &n);
    ls = check_sampler(L, 1);  /* reading the ids may have run Lua code */
    s = checksession(L, 2);
    const mllm_model *m = mllm_session_model(s->s);
    if (mllm_model_config(m)->vocab_size != ls->n_vocab)
        return luaL_argerror(L, 2, lua_pushfstring(L, "a session of a vocabulary of %d, the sampler's is %d",
                                                   mllm_model_config(m)->vocab_size, ls->n_vocab));
    const float *logits = mllm_session_logits(s->s);
    if (!logits) return luaL_argerror(L, 2, "the session has no logits yet (call eval first)");
    int32_t id = mllm_sampler_sample(ls->smp, logits, history, n);
    if (id < 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "the model produced NaN logits at position %d: its weights may be corrupt",
                        mllm_session_pos(s->s) - 1);
        return 2;
    }
    lua_pushinteger(L, id);
    return 1;
}

/***
 * Frees the sampler (also done by the collector and at the end of a `<close>`
 * variable); later use raises.
 * @function Sampler:close
 */
static int sampler_close(lua_State *L)
{
    lsampler *ls = luaL_checkudata(L, 1, SAMPLER_MT);
    mllm_sampler_free(ls->smp);
    ls->smp = NULL;
    return 0;
}

static int sampler_tostring(lua_State *L)
{
    lsampler *ls = luaL_checkudata(L, 1, SAMPLER_MT);
    if (!ls->smp) lua_pushstring(L, "mobilellm.Sampler (closed)");
    else lua_pushfstring(L, "mobilellm.Sampler (vocabulary %d)", ls->n_vocab);
    return 1;
}

static const luaL_Reg sampler_methods[] = {
    { "sample", sampler_sample },
    { "close", sampler_close },
    { NULL, NULL },
};

static const luaL_Reg sampler_meta[] = {
    { "__gc", sampler_close },
    { "__close", sampler_close },
    { "__tostring", sampler_tostring },
    { NULL, NULL },
};

static const luaL_Reg model_sampler_methods[] = {
    { "sampler", model_sampler },
    { NULL, NULL },
};

int mllm_lua_open_sampler(lua_State *L)
{
    mllm_lua_new_type(L, SAMPLER_MT, sampler_meta, sampler_methods, false);
    mllm_lua_add_methods(L, MODEL_MT, model_sampler_methods);
    return 0;
}
