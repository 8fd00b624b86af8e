/* session.c — mobilellm.Session: model:session() and the session's methods
 * (eval, score, logits, the attention probe, rewind, fork, save). Its
 * generate and stream are in stream.c. A session pins its model userdata in
 * its user value; the C session holds its own reference to the model. */
#include "binding.h"
#include "opts.h"

#include <string.h>

/*** @module mobilellm.core */

/* The session at i, refused while a job runs on it (fork, save, set_probe read
 * or change what the job's worker is computing). */
static lsession *checknojob(lua_State *L, int i)
{
    lsession *ls = checksession(L, i);
    if (ls->job) checkidle(L, i);
    return ls;
}

/* Pushes a new session on model at index mi; returns it, or NULL after
 * pushing nil, message. */
lsession *mllm_lua_session_new(lua_State *L, int mi, int n_ctx, int n_batch, const char *kv_type, int *nret)
{
    lmodel *lm = checkmodel(L, mi);
    lsession *ls = lua_newuserdatauv(L, sizeof *ls, 1);
    ls->s = NULL;
    ls->charged = 0;
    ls->busy = false;
    ls->job = NULL;
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

/*** @type Model */

/***
 * A new session: a KV cache and a position, for one conversation.
 * @function Model:session
 * @tparam[opt] table opts
 *   `n_ctx` (0: the model's `max_seq_len`, also its upper bound): the context
 *   length; `n_batch` (0: 64, at most 4096): tokens per prefill chunk;
 *   `kv_type`: the cache's element, `"f32"` (exact), `"f16"` (half the memory
 *   and the bytes attention reads; keys and values rounded) or `"auto"` (the
 *   default: f16 for q8/q4 weights, f32 for float weights);
 *   `restore`: the path of a state written by `Session:save`, loaded into it
 * @treturn Session
 * @error a message: the cache could not be allocated, or the state to restore
 *   is missing, corrupt (checksum), of another model or `kv_type`, of an older
 *   format, or does not fit `n_ctx`
 * @raise on a wrong option
 */
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

/*** @type Session */

void mllm_lua_session_free(lua_State *L, lsession *ls)
{
    mllm_lua_job_detach(L, ls);  /* a job on it: cancelled and joined first */
    if (ls->s) {
        mllm_session_free(ls->s);
        ls->s = NULL;
        mllm_lua_gc_credit(L, &ls->charged);
    }
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

/***
 * Feeds tokens at the current position (a batched prefill when there are
 * several) and leaves the logits of the last one.
 * @function Session:eval
 * @tparam {integer,...} ids at least one, each in [0, vocab_size)
 * @treturn boolean true
 * @error a message when they do not fit the context (the session is unchanged)
 * @raise on an empty array or a bad id, or when the session is busy
 */
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

/***
 * The log-probability of `ids` as the continuation of what the session holds,
 * from the model's full softmax (to rank candidate answers, or measure
 * perplexity). The session then holds them, as after `eval`.
 * @function Session:score
 * @tparam {integer,...} ids at least one, each in [0, vocab_size)
 * @treturn number the total
 * @treturn {number,...} `logprobs[i]`, the log-probability of `ids[i]`
 * @error a message when they do not fit the context (the session is
 *   unchanged), or when the logits a token is scored with hold NaN or infinity
 *   (naming the position; the tokens before it stay in the session)
 * @raise on an empty array or a bad id, when nothing was evaluated before
 *   (there are no logits to score the first token with), or when the session
 *   is busy
 */
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

/***
 * The logits of the last evaluated position, raw.
 * @function Session:logits
 * @treturn {number,...} `logits[id + 1]` for every id of the vocabulary
 * @raise when nothing was evaluated yet
 */
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

/***
 * Sets the attention probe: after each evaluation, the attention of the last
 * token over every position, averaged over these (executed layer, query head)
 * pairs, read by `Session:probe`. Some heads of a trained model look at the
 * words the next token copies (the copy pointer, `Constraint:set_source`).
 * @function Session:set_probe
 * @tparam[opt] {{integer,integer},...} heads `{ {layer, head}, ... }`, 0-based
 *   (executed layer `l` runs stored block `l // 2` with layer sharing), at most
 *   16 (`MLLM_MAX_PROBE_HEADS`); nil or an empty table turns the probe off
 * @treturn Session the session
 * @raise on a malformed entry, too many heads, or a layer or head out of range
 */
static int session_set_probe(lua_State *L)
{
    lsession *ls = checksession(L, 1);
    int layers[MLLM_MAX_PROBE_HEADS], heads[MLLM_MAX_PROBE_HEADS];
    lua_Integer n = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        n = luaL_len(L, 2);
        if (n > MLLM_MAX_PROBE_HEADS)
            return luaL_argerror(L, 2, lua_pushfstring(L, "%I heads, more than MLLM_MAX_PROBE_HEADS (%d)", (LUAI_UACINT)n,
                                                       MLLM_MAX_PROBE_HEADS));
        for (lua_Integer i = 0; i < n; i++) {
            int isint1, isint2;
            if (lua_geti(L, 2, i + 1) != LUA_TTABLE)
                return luaL_argerror(L, 2, lua_pushfstring(L, "entry %I must be a table {layer, head}", (LUAI_UACINT)i + 1));
            lua_geti(L, -1, 1);
            lua_geti(L, -2, 2);
            lua_Integer l = lua_tointegerx(L, -2, &isint1), h = lua_tointegerx(L, -1, &isint2);
            if (!isint1 || !isint2)
                return luaL_argerror(L, 2, lua_pushfstring(L, "entry %I must hold two integers {layer, head}",
                                                           (LUAI_UACINT)i + 1));
            if (l < 0 || l > 1 << 20 || h < 0 || h > 1 << 20)  /* the model checks its own bounds after */
                return luaL_argerror(L, 2, lua_pushfstring(L, "entry %I: layer %I, head %I: each must be >= 0",
                                                           (LUAI_UACINT)i + 1, (LUAI_UACINT)l, (LUAI_UACINT)h));
            layers[i] = (int)l;
            heads[i] = (int)h;
            lua_pop(L, 3);
        }
    }
    if (!ls->s) return luaL_error(L, "attempt to use a closed session");  /* __index may have closed it */
    checknojob(L, 1);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_session_set_probe(ls->s, layers, heads, (int)n, err, sizeof err);
    if (st) return luaL_error(L, "%s", err);
    lua_settop(L, 1);
    return 1;
}

/***
 * The probe's weights for the last evaluated token (they sum to 1).
 * @function Session:probe
 * @treturn ?{number,...} `weights[pos + 1]` for each position before it, or
 *   nil when the probe is off or nothing was evaluated since it was set or
 *   the session rewound
 */
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

/***
 * The position: how many tokens the session holds.
 * @function Session:pos
 * @treturn integer
 */
static int session_pos(lua_State *L)
{
    lua_pushinteger(L, mllm_session_pos(checksession(L, 1)->s));
    return 1;
}

/***
 * The context length: the most tokens the session can hold.
 * @function Session:n_ctx
 * @treturn integer
 */
static int session_n_ctx(lua_State *L)
{
    lua_pushinteger(L, mllm_session_n_ctx(checksession(L, 1)->s));
    return 1;
}

/***
 * Forgets everything from position `pos` on.
 * @function Session:rewind
 * @tparam[opt=0] integer pos in [0, `Session:pos`]; 0 makes the session fresh
 * @raise when `pos` is out of range or the session is busy
 */
static int session_rewind(lua_State *L)
{
    lsession *ls = checkidle(L, 1);
    lua_Integer pos = luaL_optinteger(L, 2, 0);
    if (pos < 0 || pos > mllm_session_pos(ls->s))
        return luaL_argerror(L, 2, lua_pushfstring(L, "position must be in [0, %d]", mllm_session_pos(ls->s)));
    mllm_session_rewind(ls->s, (int)pos);
    return 0;
}

/***
 * A new session with the same context size, cache, position, logits and
 * probe: compute a long shared prefix (a system prompt) once, then fork it
 * per request.
 * @function Session:fork
 * @treturn Session
 * @error a message when the memory could not be allocated
 */
static int session_fork(lua_State *L)
{
    lsession *ls = checknojob(L, 1);
    lsession *nf = lua_newuserdatauv(L, sizeof *nf, 1);
    nf->s = NULL;
    nf->charged = 0;
    nf->busy = false;
    nf->job = NULL;
    luaL_setmetatable(L, SESSION_MT);
    lua_getiuservalue(L, 1, 1);
    lua_setiuservalue(L, -2, 1);  /* pin the same model userdata */
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_session_fork(ls->s, &nf->s, err, sizeof err);
    if (st) return fail(L, st, err);
    nf->charged = mllm_lua_gc_charge(L, mllm_session_bytes(nf->s));
    return 1;
}

/***
 * Writes the session's state (the cache up to the position, the logits) to a
 * file, tagged with the model's fingerprint and ending in a checksum, for
 * `Model:session{ restore = path }`. The file is written beside `path` and
 * renamed over it: a failure leaves what was there.
 * @function Session:save
 * @tparam string path
 * @treturn boolean true
 * @error a message naming the path
 * @raise when the path holds a NUL byte
 */
static int session_save(lua_State *L)
{
    lsession *ls = checknojob(L, 1);
    const char *path = mllm_lua_check_path(L, 2);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_session_save(ls->s, path, err, sizeof err);
    if (st) return fail(L, st, err);
    lua_pushboolean(L, 1);
    return 1;
}

/***
 * Asks the computation running on the session to stop: a generation (from an
 * `on_token` callback, or from another coroutine between the steps of a
 * stream) ends with stop reason `"cancelled"` and the text so far; a job
 * ends likewise. The request applies to what runs now or, when nothing runs,
 * to the next generation, eval or score on the session (which then returns
 * `nil, message` or ends at once); the operation it stops takes it.
 * The session keeps every token evaluated in full.
 * @function Session:cancel
 * @treturn Session the session
 */
static int session_cancel(lua_State *L)
{
    mllm_session_cancel(checksession(L, 1)->s);
    lua_settop(L, 1);
    return 1;
}

/***
 * Drops a cancel request that nothing took (one made after the generation
 * it meant had ended), so that it does not stop the next one.
 * @function Session:clear_cancel
 * @treturn boolean whether a request was pending
 */
static int session_clear_cancel(lua_State *L)
{
    lsession *ls = checksession(L, 1);
    lua_pushboolean(L, mllm_session_cancel_pending(ls->s));
    mllm_session_clear_cancel(ls->s);
    return 1;
}

/***
 * The model the session was made from (the same object, even when closed: the
 * session keeps the weights alive on its own).
 * @function Session:model
 * @treturn Model
 */
static int session_model(lua_State *L)
{
    checksession(L, 1);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

/***
 * Frees the session's cache now. Idempotent; also run by `__close` and `__gc`.
 * Later use raises; a stream running on it raises at its next step.
 * @function Session:close
 */
static int session_close(lua_State *L)
{
    mllm_lua_session_free(L, luaL_checkudata(L, 1, SESSION_MT));
    return 0;
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
    { "cancel", session_cancel },
    { "clear_cancel", session_clear_cancel },
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
