/* lua_mobilellm.c — the Lua binding (module mobilellm.core), thin over the C API.
 *
 * Error convention (one rule, everywhere): misuse raises — a wrong type, a bad
 * option value, an id outside the vocabulary, invalid UTF-8, a closed object;
 * a failure of the environment returns nil, message — a missing or corrupt
 * file, a prompt that does not fit the context.
 *
 * Types: mobilellm.Model, mobilellm.Session, mobilellm.Stream. Closed is a
 * NULL pointer; close, __close and __gc share one idempotent function. C
 * memory that a Lua error could strand lives in a Lua-owned box. */
#include "mobilellm.h"
#include "base/fileio.h"
#include "core/internal.h"
#include "opts.h"

#include <lauxlib.h>
#include <lua.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_MT "mobilellm.Model"
#define SESSION_MT "mobilellm.Session"
#define STREAM_MT "mobilellm.Stream"
#define TOKENIZER_MT "mobilellm.Tokenizer"
#define BOX_MT "mobilellm.Box"

int mllm_lua_open_calls(lua_State *L);
int mllm_lua_open_json(lua_State *L);
int mllm_lua_open_constrain(lua_State *L);
int mllm_lua_get_constraint(lua_State *L, int idx, mllm_logits_hook *fn, void **ud);
void mllm_lua_bind_constraint(void *ud, const mllm_session *s);
int mllm_lua_open_convert(lua_State *L);

typedef struct { mllm_model *m; size_t charged; } lmodel;
typedef struct {
    mllm_session *s;
    size_t charged; /* bytes told to the collector (gc_charge) */
    bool busy;  /* a stream runs on it: calls that would move the session under it raise */
} lsession;
typedef struct {
    const mllm_tokenizer *t;  /* NULL when closed */
    mllm_tokenizer *owned;    /* loaded on its own: freed on close */
    mllm_model *model;        /* or a model's: its reference keeps t alive */
} ltokenizer;
typedef struct {
    mllm_generator *g;
    lsession *sess;     /* the session it runs on (pinned in the user value) */
    bool owns_session;  /* created by model:stream, closed with the stream */
    void *constraint;   /* its hook's user data (pinned in the user value), bound to the session */
    mllm_generate_info info;
} lstream;

/* ------------------------------------------------------------ helpers */

/* A userdata that frees the malloc'd pointer it holds when collected, so a
 * Lua error between malloc and free cannot leak. */
static int box_gc(lua_State *L)
{
    void **p = luaL_checkudata(L, 1, BOX_MT);
    free(*p);
    *p = NULL;
    return 0;
}

static void **newbox(lua_State *L)
{
    void **p = lua_newuserdatauv(L, sizeof(void *), 0);
    *p = NULL;
    luaL_setmetatable(L, BOX_MT);
    return p;
}

/* ARG means the caller misused the API: raise. Anything else is the
 * environment, or a cancellation the caller asked for: return nil, message. */
static int fail(lua_State *L, mllm_status st, const char *err)
{
    if (st == MLLM_ERR_ARG) return luaL_error(L, "%s", err);
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
}

static lmodel *checkmodel(lua_State *L, int i)
{
    lmodel *lm = luaL_checkudata(L, i, MODEL_MT);
    if (!lm->m) luaL_error(L, "attempt to use a closed model");
    return lm;
}

static lsession *checksession(lua_State *L, int i)
{
    lsession *ls = luaL_checkudata(L, i, SESSION_MT);
    if (!ls->s) luaL_error(L, "attempt to use a closed session");
    return ls;
}

/* Raises when a stream runs on the session at index i: evaluating, scoring,
 * rewinding or starting another generation there would change what that
 * stream produces (e.g. s:eval from its own on_token). */
static lsession *checkidle(lua_State *L, int i)
{
    lsession *ls = checksession(L, i);
    if (ls->busy)
        luaL_error(L, "the session is busy: a generation is running on it (close its stream, or let it "
                      "finish, before using the session again)");
    return ls;
}

/* The C memory behind models and sessions, told to the collector. Lua sees
 * only their small userdata, so a program that leaves them to the collector
 * would pile up megabytes per object before a cycle runs (and an incremental
 * step does not finish one). The ledger counts the bytes of live objects and
 * those made since the last full collection; once the new ones outweigh what
 * was live then (and LEDGER_MIN), a full collection runs: garbage held in C
 * stays within about the live amount, at the cost of one collection each time
 * C memory doubles, as Lua's own pause does for its heap. */
#define LEDGER_MIN (16u << 20)
static const char LEDGER_KEY = 'L';
typedef struct { size_t live, since, live_after_collect; } gc_ledger;

static gc_ledger *ledger(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &LEDGER_KEY);
    gc_ledger *g = lua_touserdata(L, -1);  /* made by luaopen; the registry keeps it */
    lua_pop(L, 1);
    return g;
}

/* Counts bytes for a new object that is already anchored on the stack. */
static size_t gc_charge(lua_State *L, size_t bytes)
{
    gc_ledger *g = ledger(L);
    g->live += bytes;
    g->since += bytes;
    size_t limit = g->live_after_collect > LEDGER_MIN ? g->live_after_collect : LEDGER_MIN;
    if (g->since > limit) {
        g->since = 0;
        lua_gc(L, LUA_GCCOLLECT);  /* finalizers of dead models and sessions credit the ledger */
        g->live_after_collect = g->live;
    }
    return bytes;
}

static void gc_credit(lua_State *L, size_t *charged)
{
    gc_ledger *g = ledger(L);
    g->live -= *charged < g->live ? *charged : g->live;
    *charged = 0;
}

/* Reads an array of token ids into Lua-owned memory (the userdata is left on
 * the stack). Ids are checked against vocab_size. */
static int32_t *read_ids(lua_State *L, int i, int vocab, size_t *n)
{
    luaL_checktype(L, i, LUA_TTABLE);
    lua_Integer len = luaL_len(L, i);
    if (len < 0) len = 0;
    if (len > INT_MAX)  /* a __len metamethod can claim anything: keep len * 4 from wrapping */
        luaL_error(L, "an array of %I token ids is too long (limit %d)", (LUAI_UACINT)len, INT_MAX);
    int32_t *ids = lua_newuserdatauv(L, (size_t)(len ? len : 1) * sizeof *ids, 0);
    for (lua_Integer k = 1; k <= len; k++) {
        lua_geti(L, i, k);
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint) luaL_error(L, "token id at index %I is not an integer (%s)", (LUAI_UACINT)k, luaL_typename(L, -1));
        if (v < 0 || v >= vocab)
            luaL_error(L, "token id %I at index %I is outside the vocabulary [0, %d)", (LUAI_UACINT)v,
                       (LUAI_UACINT)k, vocab);
        ids[k - 1] = (int32_t)v;
        lua_pop(L, 1);
    }
    *n = (size_t)len;
    return ids;
}

static void push_ids(lua_State *L, const int32_t *ids, size_t n)
{
    lua_createtable(L, (int)(n < 0x7fffffff ? n : 0), 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* ------------------------------------------------------------ model */

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
    lm->charged = gc_charge(L, mllm_model_weight_bytes(lm->m));
    return 1;
}

static int model_close(lua_State *L)
{
    lmodel *lm = luaL_checkudata(L, 1, MODEL_MT);
    if (lm->m) {
        mllm_model_release(lm->m);  /* sessions keep their own reference */
        lm->m = NULL;
        gc_credit(L, &lm->charged);
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

/* The tokenizer of the model at index i; raises when it has none. */
static const mllm_tokenizer *model_tok(lua_State *L, int i)
{
    const mllm_tokenizer *t = mllm_model_tokenizer(checkmodel(L, i)->m);
    if (!t) luaL_error(L, "this model has no tokenizer (no tokenizer.model was found when it was loaded)");
    return t;
}

static const mllm_tokenizer *checktok(lua_State *L, int i)
{
    ltokenizer *lt = luaL_checkudata(L, i, TOKENIZER_MT);
    if (!lt->t) luaL_error(L, "attempt to use a closed tokenizer");
    return lt->t;
}

/* The tokenizer of the object at index 1 (a model or a tokenizer), or raise.
 * Fetched again after anything that may run Lua code (an option's __index,
 * an id array's metamethods), which may have closed the object. */
typedef const mllm_tokenizer *(*tok_getter)(lua_State *L, int i);

/* tokenize(text [, { bos = false }]) -> ids; on a model or a tokenizer */
static int tokenize_with(lua_State *L, tok_getter get)
{
    get(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    static const char *const names[] = { "bos", NULL };
    int o = mllm_lua_opts(L, 3, names, "tokenize");
    bool bos = mllm_lua_opt_bool(L, o, "bos", false);
    const mllm_tokenizer *t = get(L, 1);
    void **box = newbox(L);
    size_t n;
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_tokenizer_encode(t, text, len, bos, (int32_t **)box, &n, err, sizeof err);
    if (st) return luaL_error(L, "%s", err);
    push_ids(L, *box, n);
    return 1;
}

/* detokenize(ids) -> text */
static int detokenize_with(lua_State *L, tok_getter get)
{
    size_t n;
    int32_t *ids = read_ids(L, 2, mllm_tokenizer_vocab_size(get(L, 1)), &n);
    const mllm_tokenizer *t = get(L, 1);
    void **box = newbox(L);
    size_t len;
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_tokenizer_decode(t, ids, n, (char **)box, &len, err, sizeof err);
    if (st) return luaL_error(L, "%s", err);
    lua_pushlstring(L, *box, len);
    return 1;
}

/* piece(id) -> the bytes the token adds to running text */
static int piece_with(lua_State *L, tok_getter get)
{
    const mllm_tokenizer *t = get(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    char buf[256];
    int n = (id < 0 || id > INT32_MAX) ? -1 : mllm_tokenizer_piece(t, (int32_t)id, buf, sizeof buf);
    if (n < 0)
        return luaL_error(L, "token id %I is outside the vocabulary [0, %d)", (LUAI_UACINT)id,
                          mllm_tokenizer_vocab_size(t));
    lua_pushlstring(L, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf);
    return 1;
}

static int model_tokenize(lua_State *L) { return tokenize_with(L, model_tok); }
static int model_detokenize(lua_State *L) { return detokenize_with(L, model_tok); }
static int model_token_piece(lua_State *L) { return piece_with(L, model_tok); }
static int tok_encode(lua_State *L) { return tokenize_with(L, checktok); }
static int tok_decode(lua_State *L) { return detokenize_with(L, checktok); }
static int tok_piece(lua_State *L) { return piece_with(L, checktok); }

static int tok_vocab_size(lua_State *L)
{
    lua_pushinteger(L, mllm_tokenizer_vocab_size(checktok(L, 1)));
    return 1;
}

static int tok_special(lua_State *L)
{
    const mllm_tokenizer *t = checktok(L, 1);
    lua_pushinteger(L, mllm_tokenizer_bos(t));
    lua_pushinteger(L, mllm_tokenizer_eos(t));
    return 2;
}

static int tok_close(lua_State *L)
{
    ltokenizer *lt = luaL_checkudata(L, 1, TOKENIZER_MT);
    mllm_tokenizer_free(lt->owned);
    mllm_model_release(lt->model);
    lt->owned = NULL;
    lt->model = NULL;
    lt->t = NULL;
    return 0;
}

static int tok_tostring(lua_State *L)
{
    ltokenizer *lt = luaL_checkudata(L, 1, TOKENIZER_MT);
    if (!lt->t) lua_pushstring(L, "mobilellm.Tokenizer (closed)");
    else lua_pushfstring(L, "mobilellm.Tokenizer (%d pieces)", mllm_tokenizer_n_pieces(lt->t));
    return 1;
}

static ltokenizer *new_tokenizer(lua_State *L)
{
    ltokenizer *lt = lua_newuserdatauv(L, sizeof *lt, 0);
    memset(lt, 0, sizeof *lt);
    luaL_setmetatable(L, TOKENIZER_MT);
    return lt;
}

/* mllm.tokenizer(path) -> tokenizer | nil, message */
static int l_tokenizer(lua_State *L)
{
    const char *path = mllm_lua_check_path(L, 1);
    ltokenizer *lt = new_tokenizer(L);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_tokenizer_load(path, &lt->owned, err, sizeof err);
    if (st) return fail(L, st, err);
    lt->t = lt->owned;
    return 1;
}

/* model:tokenizer() -> the model's tokenizer (keeps the model's weights alive) */
static int model_tokenizer(lua_State *L)
{
    lmodel *lm = checkmodel(L, 1);
    const mllm_tokenizer *t = model_tok(L, 1);
    ltokenizer *lt = new_tokenizer(L);
    lt->model = mllm_model_retain(lm->m);
    lt->t = t;
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

/* ------------------------------------------------------------ session */

/* Pushes a new session on model at index mi; returns it, or NULL after
 * pushing nil, message. */
static lsession *new_session(lua_State *L, int mi, int n_ctx, int n_batch, const char *kv_type, int *nret)
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
    ls->charged = gc_charge(L, mllm_session_bytes(ls->s));
    return ls;
}

static int session_opts_ctx(lua_State *L, int o, const mllm_config *c)
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
    int n_ctx = session_opts_ctx(L, o, c);
    int n_batch = (int)mllm_lua_opt_int(L, o, "n_batch", 0, 0, 4096);
    const char *kv_type = mllm_lua_opt_str(L, o, "kv_type", NULL);
    const char *restore = mllm_lua_opt_str(L, o, "restore", NULL);
    int nret = 0;
    lsession *ls = new_session(L, 1, n_ctx, n_batch, kv_type, &nret);
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
    nf->charged = gc_charge(L, mllm_session_bytes(nf->s));
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

static void session_free(lua_State *L, lsession *ls)
{
    if (ls->s) {
        mllm_session_free(ls->s);
        ls->s = NULL;
        gc_credit(L, &ls->charged);
    }
}

static int session_close(lua_State *L)
{
    session_free(L, luaL_checkudata(L, 1, SESSION_MT));
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
    int32_t *ids = read_ids(L, 2, c->vocab_size, n);
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

/* ------------------------------------------------------------ generation */

/* The options of a generation: gen_names for s:stream, with "on_token" for
 * s:generate, and the session's for the one-off model:stream / model:generate. */
#define GEN_NAMES "max_tokens", "stop_at_eos", "temperature", "top_k", "top_p", "min_p", "repeat_penalty", \
                  "repeat_last_n", "seed", "constraint", "stop", "bos"
#define ONEOFF_NAMES "n_ctx", "n_batch", "kv_type"
static const char *const stream_names[] = { GEN_NAMES, NULL };
static const char *const generate_names[] = { GEN_NAMES, "on_token", NULL };
static const char *const model_stream_names[] = { GEN_NAMES, ONEOFF_NAMES, NULL };
static const char *const model_generate_names[] = { GEN_NAMES, ONEOFF_NAMES, "on_token", NULL };

/* Reads generation options from the snapshot o (mllm_lua_opts) into p. The
 * stop strings are copied into a table pushed on the stack, which anchors
 * them until the generator has copied them; returns its index. */
static int read_generate_opts(lua_State *L, int o, mllm_generate_params *p)
{
    *p = mllm_generate_default_params();
    p->max_tokens = (int)mllm_lua_opt_int(L, o, "max_tokens", 256, 0, MLLM_MAX_CONTEXT);
    p->stop_at_eos = mllm_lua_opt_bool(L, o, "stop_at_eos", true);
    p->sampler.temperature = (float)mllm_lua_opt_num(L, o, "temperature", 0.0, 0.0, 1e6);
    p->sampler.top_k = (int)mllm_lua_opt_int(L, o, "top_k", 0, 0, MLLM_MAX_VOCAB);
    p->sampler.top_p = (float)mllm_lua_opt_num(L, o, "top_p", 1.0, 1e-9, 1.0);
    p->sampler.min_p = (float)mllm_lua_opt_num(L, o, "min_p", 0.0, 0.0, 0.999999);
    p->sampler.repeat_penalty = (float)mllm_lua_opt_num(L, o, "repeat_penalty", 1.0, 1e-6, 1e6);
    p->sampler.repeat_last_n = (int)mllm_lua_opt_int(L, o, "repeat_last_n", 64, -1, MLLM_MAX_CONTEXT);
    p->sampler.seed = (uint64_t)mllm_lua_opt_int(L, o, "seed", (lua_Integer)p->sampler.seed, LUA_MININTEGER,
                                                 LUA_MAXINTEGER);
    /* constraint: a mobilellm.Constraint, anchored in the snapshot */
    if (mllm_lua_opt_push(L, o, "constraint") != LUA_TNIL)
        mllm_lua_get_constraint(L, lua_gettop(L), &p->logits_hook, &p->hook_ud);
    lua_pop(L, 1);
    lua_newtable(L);
    int stops = lua_gettop(L);
    int t = mllm_lua_opt_push(L, o, "stop");
    lua_Integer n = 0;
    if (t == LUA_TSTRING) {
        lua_rawseti(L, stops, ++n);
    } else if (t == LUA_TTABLE) {
        lua_Integer len = luaL_len(L, -1);
        if (len > MLLM_MAX_STOPS)
            luaL_error(L, "option 'stop' has %I strings (limit %d)", (LUAI_UACINT)len, MLLM_MAX_STOPS);
        for (lua_Integer i = 1; i <= len; i++) {
            if (lua_geti(L, -1, i) != LUA_TSTRING)
                luaL_error(L, "option 'stop' must hold strings (entry %I)", (LUAI_UACINT)i);
            lua_rawseti(L, stops, ++n);
        }
        lua_pop(L, 1);
    } else {
        if (t != LUA_TNIL)
            luaL_error(L, "option 'stop' must be a string or an array of strings, got %s", luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, stops, i);
        size_t len;
        const char *stop = lua_tolstring(L, -1, &len);
        lua_pop(L, 1);  /* the stops table holds it */
        if (len == 0) luaL_error(L, "option 'stop' has an empty string (entry %I)", (LUAI_UACINT)i);
        if (strlen(stop) != len)
            luaL_error(L, "option 'stop' holds a NUL byte (entry %I, byte %d)", (LUAI_UACINT)i, (int)strlen(stop) + 1);
        p->stops[p->n_stops++] = stop;
    }
    return stops;
}

/* The prompt at index pi (string or id array) as Lua-owned ids; pushes one value. */
static int32_t *read_prompt(lua_State *L, const mllm_model *m, int pi, bool bos, size_t *n)
{
    const mllm_config *c = mllm_model_config(m);
    if (lua_type(L, pi) == LUA_TTABLE) return read_ids(L, pi, c->vocab_size, n);
    size_t len;
    const char *text = lua_tolstring(L, pi, &len);
    if (!text || lua_type(L, pi) != LUA_TSTRING)
        luaL_typeerror(L, pi, "string or array of token ids");
    const mllm_tokenizer *t = mllm_model_tokenizer(m);
    if (!t) luaL_error(L, "this model has no tokenizer: pass the prompt as an array of token ids");
    void **box = newbox(L);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_tokenizer_encode(t, text, len, bos, (int32_t **)box, n, err, sizeof err);
    if (st) luaL_error(L, "%s", err);
    return *box;
}

static void push_info(lua_State *L, const mllm_generate_info *info)
{
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, info->prompt_tokens); lua_setfield(L, -2, "prompt_tokens");
    lua_pushinteger(L, info->generated_tokens); lua_setfield(L, -2, "generated_tokens");
    lua_pushstring(L, mllm_stop_reason_name(info->stop)); lua_setfield(L, -2, "stop");
    lua_pushnumber(L, info->prefill_seconds); lua_setfield(L, -2, "prefill_seconds");
    lua_pushnumber(L, info->decode_seconds); lua_setfield(L, -2, "decode_seconds");
    lua_pushnumber(L, info->prefill_seconds > 0 ? info->prompt_tokens / info->prefill_seconds : 0);
    lua_setfield(L, -2, "prefill_tps");
    lua_pushnumber(L, info->decode_seconds > 0 ? info->generated_tokens / info->decode_seconds : 0);
    lua_setfield(L, -2, "decode_tps");
}

/* Frees the generator (keeping its info) and a session the stream owns. */
static void stream_release(lua_State *L, lstream *st)
{
    if (st->g) {
        st->info = *mllm_generator_info(st->g);
        mllm_generator_free(st->g);
        st->g = NULL;
    }
    if (st->constraint) {
        mllm_lua_bind_constraint(st->constraint, NULL);
        st->constraint = NULL;
    }
    if (st->sess) st->sess->busy = false;
    if (st->owns_session && st->sess) session_free(L, st->sess);
    st->sess = NULL;
}

static int stream_close(lua_State *L)
{
    stream_release(L, luaL_checkudata(L, 1, STREAM_MT));
    return 0;
}

static int stream_tostring(lua_State *L)
{
    lstream *st = luaL_checkudata(L, 1, STREAM_MT);
    lua_pushstring(L, st->g ? "mobilellm.Stream (running)" : "mobilellm.Stream (closed)");
    return 1;
}

/* stream:info() -> the generation info so far */
static int stream_info(lua_State *L)
{
    lstream *st = luaL_checkudata(L, 1, STREAM_MT);
    push_info(L, st->g ? mllm_generator_info(st->g) : &st->info);
    return 1;
}

/* One step of the iterator: piece, id | nil at the end. Upvalue 1: the stream.
 * A failure of the model (non-finite logits) raises like misuse: an iterator
 * has no other way to say it; generate turns it into nil, message. */
static int stream_step(lua_State *L)
{
    lstream *st = luaL_checkudata(L, lua_upvalueindex(1), STREAM_MT);
    if (!st->g) return 0;
    if (!st->sess || !st->sess->s) return luaL_error(L, "attempt to use a closed session");
    const char *piece;
    size_t len;
    int32_t id;
    char err[MLLM_ERRLEN];
    mllm_status s = mllm_generator_next(st->g, &piece, &len, &id, err, sizeof err);
    if (s == MLLM_DONE) {
        stream_release(L, st);
        return 0;
    }
    if (s != MLLM_OK) {
        stream_release(L, st);  /* the session is free again for whatever handles the error */
        return luaL_error(L, "%s", err);
    }
    lua_pushlstring(L, piece, len);
    if (id >= 0) lua_pushinteger(L, id);
    else lua_pushnil(L);
    return 2;
}

/* Starts a generator on session ls (at index si) with the options snapshot o;
 * pushes iterator, nil, nil, stream (a to-be-closed value), or nil, message. */
static int start_stream(lua_State *L, int si, lsession *ls, bool owns, int pi, int o)
{
    mllm_generate_params gp;
    read_generate_opts(L, o, &gp);  /* pushes the stop strings, anchored until this returns */
    bool bos = mllm_lua_opt_bool(L, o, "bos", true);
    /* Reading an id array may run Lua code (metamethods) that closes the
     * session or starts a generation on it: check it again after. */
    if (!ls->s) return luaL_error(L, "attempt to use a closed session");
    size_t n;
    int32_t *ids = read_prompt(L, mllm_session_model(ls->s), pi, bos, &n);
    checkidle(L, si);
    lstream *st = lua_newuserdatauv(L, sizeof *st, 2);
    memset(st, 0, sizeof *st);
    luaL_setmetatable(L, STREAM_MT);
    lua_pushvalue(L, si);
    lua_setiuservalue(L, -2, 1);  /* pin the session (and through it the model) */
    /* pin the constraint that read_generate_opts hooked (the same object: the
       snapshot holds it): its hook runs at every step */
    mllm_lua_opt_push(L, o, "constraint");
    lua_setiuservalue(L, -2, 2);
    st->sess = ls;
    st->owns_session = owns;
    ls->busy = true;
    if (gp.logits_hook) {  /* the constraint's pointer reads this session's attention probe */
        st->constraint = gp.hook_ud;
        mllm_lua_bind_constraint(st->constraint, ls->s);
    }
    char err[MLLM_ERRLEN];
    mllm_status s = mllm_generator_new(ls->s, ids, n, &gp, &st->g, err, sizeof err);
    if (s) {
        stream_release(L, st);
        return fail(L, s, err);
    }
    int stream_idx = lua_gettop(L);
    lua_pushvalue(L, stream_idx);
    lua_pushcclosure(L, stream_step, 1);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushvalue(L, stream_idx);
    return 4;
}

/* Context for a one-off generation: the prompt plus max_tokens, within the model's limit. */
static int oneoff_ctx(lua_State *L, const mllm_model *m, int o)
{
    const mllm_config *c = mllm_model_config(m);
    int n_ctx = session_opts_ctx(L, o, c);
    if (n_ctx) return n_ctx;
    return c->max_seq_len;  /* the cache grows lazily in memory: pages are touched as used */
}

/* model:stream / model:generate on a session of their own; names: the options they take. */
static int model_start(lua_State *L, const char *const *names, const char *what, int *o)
{
    lua_settop(L, 3);
    checkmodel(L, 1);
    *o = mllm_lua_opts(L, 3, names, what);
    lmodel *lm = checkmodel(L, 1);  /* the options' __index may have closed it */
    int n_ctx = oneoff_ctx(L, lm->m, *o);
    int n_batch = (int)mllm_lua_opt_int(L, *o, "n_batch", 0, 0, 4096);
    int nret = 0;
    lsession *ls = new_session(L, 1, n_ctx, n_batch, mllm_lua_opt_str(L, *o, "kv_type", NULL), &nret);
    if (!ls) return nret;
    return start_stream(L, lua_gettop(L), ls, true, 2, *o);
}

static int session_start(lua_State *L, const char *const *names, const char *what, int *o)
{
    lua_settop(L, 3);
    checkidle(L, 1);
    *o = mllm_lua_opts(L, 3, names, what);
    return start_stream(L, 1, checkidle(L, 1), false, 2, *o);
}

/* model:stream(prompt [, opts]) -> iterator, nil, nil, closer */
static int model_stream(lua_State *L)
{
    int o;
    return model_start(L, model_stream_names, "stream", &o);
}

/* s:stream(prompt [, opts]) -> iterator, nil, nil, closer (continues the session) */
static int session_stream(lua_State *L)
{
    int o;
    return session_start(L, stream_names, "stream", &o);
}

/* Runs the stream that start_stream pushed (n == 4) to its end; returns
 * text, info. o.on_token(piece, id) is called after each token; returning
 * false from it stops generation early. A failure of the model during the
 * generation (non-finite logits) returns nil, message like any failure of
 * the environment; errors of on_token itself propagate. */
static int generate_common(lua_State *L, int n, int o)
{
    if (n != 4) return n;  /* nil, message */
    int closer = lua_gettop(L);
    lstream *st = luaL_checkudata(L, closer, STREAM_MT);
    lua_toclose(L, closer);  /* an error in a callback still frees the generator */
    int cb = 0;
    if (mllm_lua_opt_func(L, o, "on_token")) {
        mllm_lua_opt_push(L, o, "on_token");
        cb = lua_gettop(L);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (;;) {
        if (!st->g) break;
        if (!st->sess || !st->sess->s) return luaL_error(L, "attempt to use a closed session");
        const char *piece;
        size_t len;
        int32_t id;
        char err[MLLM_ERRLEN];
        mllm_status s = mllm_generator_next(st->g, &piece, &len, &id, err, sizeof err);
        if (s == MLLM_DONE) {
            stream_release(L, st);
            break;
        }
        if (s != MLLM_OK) {
            stream_release(L, st);
            return fail(L, s, err);
        }
        bool stop = false;
        if (cb) {
            lua_pushvalue(L, cb);
            lua_pushlstring(L, piece, len);
            if (id >= 0) lua_pushinteger(L, id);
            else lua_pushnil(L);
            lua_call(L, 2, 1);
            stop = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
        luaL_addlstring(&b, piece, len);
        if (stop) break;
    }
    luaL_pushresult(&b);
    push_info(L, st->g ? mllm_generator_info(st->g) : &st->info);
    return 2;
}

/* model:generate(prompt [, opts]) -> text, info | nil, message */
static int model_generate(lua_State *L)
{
    int o;
    int n = model_start(L, model_generate_names, "generate", &o);
    return generate_common(L, n, o);
}

/* s:generate(prompt [, opts]) -> text, info | nil, message */
static int session_generate(lua_State *L)
{
    int o;
    int n = session_start(L, generate_names, "generate", &o);
    return generate_common(L, n, o);
}

/* ------------------------------------------------------------ module */

static const luaL_Reg model_methods[] = {
    { "tokenize", model_tokenize },
    { "detokenize", model_detokenize },
    { "token_piece", model_token_piece },
    { "tokenizer", model_tokenizer },
    { "save", model_save },
    { "session", model_session },
    { "generate", model_generate },
    { "stream", model_stream },
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
    { "generate", session_generate },
    { "stream", session_stream },
    { "close", session_close },
    { NULL, NULL },
};

static const luaL_Reg session_meta[] = {
    { "__gc", session_close },
    { "__close", session_close },
    { "__tostring", session_tostring },
    { NULL, NULL },
};

static const luaL_Reg stream_methods[] = {
    { "info", stream_info },
    { "close", stream_close },
    { NULL, NULL },
};

static const luaL_Reg stream_meta[] = {
    { "__gc", stream_close },
    { "__close", stream_close },
    { "__tostring", stream_tostring },
    { NULL, NULL },
};

static void new_type(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods,
                     bool custom_index)
{
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    if (custom_index) lua_setfield(L, -2, "methods");
    else lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "locked");  /* getmetatable() from Lua does not expose internals */
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

static const luaL_Reg tok_methods[] = {
    { "encode", tok_encode },
    { "decode", tok_decode },
    { "tokenize", tok_encode },
    { "detokenize", tok_decode },
    { "piece", tok_piece },
    { "vocab_size", tok_vocab_size },
    { "special_ids", tok_special },
    { "close", tok_close },
    { NULL, NULL },
};

static const luaL_Reg tok_meta[] = {
    { "__gc", tok_close },
    { "__close", tok_close },
    { "__tostring", tok_tostring },
    { NULL, NULL },
};

/* mllm.read_file(path [, max_bytes = 16 MiB]) -> contents | nil, message: a whole
 * regular file, as the engine reads its own (a FIFO, a device or a directory
 * is refused before anything is read, so the call never blocks; a larger file
 * is refused naming the limit). For the files the Lua side reads from a model
 * directory or a user's path: tool lists, copy_pointer.json, prompts. */
static int l_read_file(lua_State *L)
{
    const char *path = mllm_lua_check_path(L, 1);
    lua_Integer limit = luaL_optinteger(L, 2, MLLM_MAX_CONFIG_BYTES);
    luaL_argcheck(L, limit >= 0, 2, "max_bytes must be >= 0");
    void **box = newbox(L);
    size_t len;
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_read_file(path, (size_t)limit, "max_bytes", (char **)box, &len, err, sizeof err);
    if (st) return fail(L, st, err);
    lua_pushlstring(L, *box, len);
    return 1;
}

/* mllm.clock() -> monotonic seconds (wall time, for benchmarks) */
static int l_clock(lua_State *L)
{
    lua_pushnumber(L, mllm_now());
    return 1;
}

static const luaL_Reg functions[] = {
    { "load", l_load },
    { "clock", l_clock },
    { "read_file", l_read_file },
    { "tokenizer", l_tokenizer },
    { NULL, NULL },
};

/* The one exported symbol of the module (-fvisibility=hidden, src/module.map). */
__attribute__((visibility("default"))) int luaopen_mobilellm_core(lua_State *L);
int luaopen_mobilellm_core(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &LEDGER_KEY) == LUA_TNIL) {  /* once per Lua state */
        memset(lua_newuserdatauv(L, sizeof(gc_ledger), 0), 0, sizeof(gc_ledger));
        lua_rawsetp(L, LUA_REGISTRYINDEX, &LEDGER_KEY);
    }
    lua_pop(L, 1);
    luaL_newmetatable(L, BOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    new_type(L, MODEL_MT, model_meta, model_methods, true);
    new_type(L, SESSION_MT, session_meta, session_methods, false);
    new_type(L, STREAM_MT, stream_meta, stream_methods, false);
    new_type(L, TOKENIZER_MT, tok_meta, tok_methods, false);
    luaL_newlib(L, functions);
    lua_pushliteral(L, MLLM_VERSION);
    lua_setfield(L, -2, "version");
    mllm_lua_open_calls(L);
    mllm_lua_open_json(L);
    mllm_lua_open_convert(L);
    mllm_lua_open_constrain(L);
    return 1;
}
