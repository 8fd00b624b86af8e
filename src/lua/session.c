/* session.c — mobilellm.Session: model:session() and the session's methods
 * (eval, score, logits, the attention probe, rewind, fork, save). Its
 * generate and stream are in stream.c. A session pins its model userdata in
 * its user value; the C session holds its own reference to the model. */
#include "binding.h"
#include "opts.h"

#include <string.h>

/* Pushes a new session on model at index mi; returns it, or NULL after
 * pushing nil, message. */
lsession *mllm_lua_session_new(lua_State *L, int mi, int n_ctx, int n_batch, const char *kv_type, int *nret)
{
    lmodel *lm = checkmodel(L, mi);
    lsession *ls = lua_newuserdatauv(L, sizeof *ls, 1);
    ls->s = NULL;
    ls->charged = 0;
    ls->busy = false;
    luaL_setmetatable(L, SESSION_MT);
    lua_pushvalue(L, mi);
    lua_setiuservalue(L, -2, 1);  /* pin the model userdata */
    mllm_session_params sp = mllm_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    sp.kv_type = kv_type;
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_session_new(lm->m, &sp, &ls->s, err, sizeof err);
    if (st) {
        *nret = fail(L, st, err);
        return NULL;
    }
    ls->charged = mllm_lua_gc_charge(L, mllm_session_bytes(ls->s));
    return ls;
}

int mllm_lua_session_opt_ctx(lua_State *L, int o, const mllm_config *c)
{
    return (int)mllm_lua_opt_int(L, o, "n_ctx", 0, 0, c->max_seq_len);
}

/* model:session([{ n_ctx = max_seq_len, n_batch = 64, kv_type = "auto", restore = path }])
 * -> session | nil, message */
static int model_session(lua_State *L)
{
    static const char *const names[] = { "n_ctx", "n_batch", "kv_type", "restore", NULL };
    checkmodel(L, 1);
    int o = mllm_lua_opts(L, 2, names, "session");
    const mllm_config *c = mllm_model_config(checkmodel(L, 1)->m);
    int n_ctx = mllm_lua_session_opt_ctx(L, o, c);
    int n_batch = (int)mllm_lua_opt_int(L, o, "n_batch", 0, 0, 4096);
    const char *kv_type = mllm_lua_opt_str(L, o, "kv_type", NULL);
    const char *restore = mllm_lua_opt_str(L, o, "restore", NULL);
    int nret = 0;
    lsession *ls = mllm_lua_session_new(L, 1, n_ctx, n_batch, kv_type, &nret);
    if (!ls) return nret;
    if (restore) {
        char err[MLLM_ERRLEN];
        mllm_status st = mllm_session_restore(ls->s, restore, err, sizeof err);
        if (st) return fail(L, st, err);
    }
    return 1;
}

/* s:fork() -> a new session with the same state */
static int session_fork(lua_State *L)
{
    lsession *ls = checksession(L, 1);
    lsession *nf = lua_newuserdatauv(L, sizeof *nf, 1);
    nf->s = NULL;
    nf->charged = 0;
    nf->busy = false;
    luaL_setmetatable(L, SESSION_MT);
    lua_getiuservalue(L, 1, 1);
    lua_setiuservalue(L, -2, 1);  /* pin the same model userdata */
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_session_fork(ls->s, &nf->s, err, sizeof err);
    if (st) return fail(L, st, err);
    nf->charged = mllm_lua_gc_charge(L, mllm_session_bytes(nf->s));
    return 1;
}

/* s:save(path) -> true | nil, message */
static int session_save(lua_State *L)
{
    lsession *ls = checksession(L, 1);
    const char *path = mllm_lua_check_path(L, 2);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_session_save(ls->s, path, err, sizeof err);
    if (st) return fail(L, st, err);
    lua_pushboolean(L, 1);
    return 1;
}

void mllm_lua_session_free(lua_State *L, lsession *ls)
{
    if (ls->s) {
        mllm_session_free(ls->s);
        ls->s = NULL;
        mllm_lua_gc_credit(L, &ls->charged);
    }
}

static int session_close(lua_State *L)
{
    mllm_lua_session_free(L, luaL_checkudata(L, 1, SESSION_MT));
    return 0;
}

static int session_tostring(lua_State *L)
{
    lsession *ls = luaL_checkudata(L, 1, SESSION_MT);
    if (!ls->s) lua_pushstring(L, "mobilellm.Session (closed)");
    else if (strcmp(mllm_session_kv_type(ls->s), "f32") == 0)
        lua_pushfstring(L, "mobilellm.Session (pos %d of %d)", mllm_session_pos(ls->s), mllm_session_n_ctx(ls->s));
    else
        lua_pushfstring(L, "mobilellm.Session (pos %d of %d, kv %s)", mllm_session_pos(ls->s),
                        mllm_session_n_ctx(ls->s), mllm_session_kv_type(ls->s));
    return 1;
}

/* The session at 1 and the token ids at 2 of s:eval / s:score (what: "evaluate", "score"):
 * a non-empty array of ids in the model's vocabulary, on the Lua stack until the call returns. */
static int32_t *session_ids(lua_State *L, lsession **ls, size_t *n, const char *what)
{
    const mllm_config *c = mllm_model_config(mllm_session_model(checksession(L, 1)->s));
    int32_t *ids = mllm_lua_read_ids(L, 2, c->vocab_size, n);
    *ls = checkidle(L, 1);  /* reading the ids may have run Lua code */
    if (*n == 0) luaL_argerror(L, 2, lua_pushfstring(L, "no tokens to %s", what));
    return ids;
}

/* s:eval(ids) -> true | nil, message (context full) */
static int session_eval(lua_State *L)
{
    lsession *ls;
    size_t n;
    int32_t *ids = session_ids(L, &ls, &n, "evaluate");
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_session_eval(ls->s, ids, n, err, sizeof err);
    if (st) return fail(L, st, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* s:score(ids) -> total, logprobs | nil, message (context full): the log-probability of
 * ids as the continuation of the session (logprobs[i] for each token), which then holds them */
static int session_score(lua_State *L)
{
    lsession *ls;
    size_t n;
    int32_t *ids = session_ids(L, &ls, &n, "score");
    /* tokens past the context are refused before any is scored: no room needed for them */
    size_t room = (size_t)(mllm_session_n_ctx(ls->s) - mllm_session_pos(ls->s));
    double *lp = lua_newuserdatauv(L, (n <= room ? n : 1) * sizeof *lp, 0);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_session_score(ls->s, ids, n, lp, err, sizeof err);
    if (st) return fail(L, st, err);
    double total = 0.0;
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        total += lp[i];
        lua_pushnumber(L, lp[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushnumber(L, total);
    lua_insert(L, -2);
    return 2;
}

/* s:logits() -> array with logits[id + 1] for the last evaluated position */
static int session_logits(lua_State *L)
{
    lsession *ls = checksession(L, 1);
    const float *lg = mllm_session_logits(ls->s);
    if (!lg) return luaL_error(L, "the session has no logits yet (call eval first)");
    int n = mllm_model_config(mllm_session_model(ls->s))->vocab_size;
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, lg[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* s:set_probe({ {layer, head}, ... } | nil) -> s: after each evaluation, the attention of the
 * last token averaged over these (executed layer, query head) pairs, 0-based (s:probe()); an
 * empty table or nil turns it off */
static int session_set_probe(lua_State *L)
{
    lsession *ls = checksession(L, 1);
    int layers[MLLM_MAX_PROBE_HEADS], heads[MLLM_MAX_PROBE_HEADS];
    lua_Integer n = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        n = luaL_len(L, 2);
        if (n > MLLM_MAX_PROBE_HEADS)
            return luaL_argerror(L, 2, lua_pushfstring(L, "%I heads (limit %d)", (LUAI_UACINT)n, MLLM_MAX_PROBE_HEADS));
        for (lua_Integer i = 0; i < n; i++) {
            int isint1, isint2;
            if (lua_geti(L, 2, i + 1) != LUA_TTABLE)
                return luaL_argerror(L, 2, lua_pushfstring(L, "entry %I must be a table {layer, head}", (LUAI_UACINT)i + 1));
            lua_geti(L, -1, 1);
            lua_geti(L, -2, 2);
            lua_Integer l = lua_tointegerx(L, -2, &isint1), h = lua_tointegerx(L, -1, &isint2);
            if (!isint1 || !isint2 || l < 0 || l > 1 << 20 || h < 0 || h > 1 << 20)
                return luaL_argerror(L, 2, lua_pushfstring(L, "entry %I must hold two integers {layer, head}",
                                                           (LUAI_UACINT)i + 1));
            layers[i] = (int)l;
            heads[i] = (int)h;
            lua_pop(L, 3);
        }
    }
    if (!ls->s) return luaL_error(L, "attempt to use a closed session");  /* __index may have closed it */
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_session_set_probe(ls->s, layers, heads, (int)n, err, sizeof err);
    if (st) return luaL_error(L, "%s", err);
    lua_settop(L, 1);
    return 1;
}

/* s:probe() -> array of the probe's weights (weights[pos + 1] for each position), or nil when the
 * probe is off or nothing was evaluated since */
static int session_probe(lua_State *L)
{
    lsession *ls = checksession(L, 1);
    int n;
    const float *w = mllm_session_probe(ls->s, &n);
    if (!w) return 0;
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, w[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int session_pos(lua_State *L)
{
    lua_pushinteger(L, mllm_session_pos(checksession(L, 1)->s));
    return 1;
}

static int session_n_ctx(lua_State *L)
{
    lua_pushinteger(L, mllm_session_n_ctx(checksession(L, 1)->s));
    return 1;
}

/* s:rewind(pos): forget everything from position pos on (0 = reset) */
static int session_rewind(lua_State *L)
{
    lsession *ls = checkidle(L, 1);
    lua_Integer pos = luaL_optinteger(L, 2, 0);
    if (pos < 0 || pos > mllm_session_pos(ls->s))
        return luaL_argerror(L, 2, lua_pushfstring(L, "position must be in [0, %d]", mllm_session_pos(ls->s)));
    mllm_session_rewind(ls->s, (int)pos);
    return 0;
}

static int session_model(lua_State *L)
{
    checksession(L, 1);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

static const luaL_Reg session_methods[] = {
    { "eval", session_eval },
    { "logits", session_logits },
    { "score", session_score },
    { "pos", session_pos },
    { "set_probe", session_set_probe },
    { "probe", session_probe },
    { "n_ctx", session_n_ctx },
    { "rewind", session_rewind },
    { "fork", session_fork },
    { "save", session_save },
    { "model", session_model },
    { "close", session_close },
    { NULL, NULL },
};

static const luaL_Reg session_meta[] = {
    { "__gc", session_close },
    { "__close", session_close },
    { "__tostring", session_tostring },
    { NULL, NULL },
};

static const luaL_Reg model_session_methods[] = {
    { "session", model_session },
    { NULL, NULL },
};

int mllm_lua_open_session(lua_State *L)
{
    mllm_lua_new_type(L, SESSION_MT, session_meta, session_methods, false);
    mllm_lua_add_methods(L, MODEL_MT, model_session_methods);
    return 0;
}
