/* stream.c — mobilellm.Stream and generation: generate and stream on a model
 * (on a session of their own) and on a session (continuing it), their
 * options, and the stream, a C-closure iterator one token per call. */
#include "binding.h"
#include "opts.h"

#include <string.h>

/*** @module mobilellm.core */

typedef struct {
    mllm_generator *g;
    lsession *sess;     /* the session it runs on (pinned in the user value) */
    bool owns_session;  /* created by model:stream, closed with the stream */
    void *constraint;   /* its hook's user data (pinned in the user value), bound to the session */
    mllm_generate_info info;
} lstream;

/***
 * The options of a generation: of `Model:generate`, `Model:stream`,
 * `Session:generate` and `Session:stream`. A value of the wrong type or out of
 * range raises, naming the option.
 * @table generation_options
 * @tfield[opt=256] integer max_tokens the most tokens to generate (at most
 *   131072, `MLLM_MAX_CONTEXT`)
 * @tfield[opt=true] boolean stop_at_eos end at the end-of-sequence token
 * @tfield[opt=0] number temperature 0: greedy (always the likeliest token)
 * @tfield[opt=0] integer top_k 0: off
 * @tfield[opt=1] number top_p in (0, 1]; 1: off
 * @tfield[opt=0] number min_p in [0, 1); 0: off
 * @tfield[opt=1] number repeat_penalty 1: off; applied to the tokens in the
 *   history
 * @tfield[opt=64] integer repeat_last_n how much history the penalty sees;
 *   -1: all
 * @tfield[opt] integer seed of the sampler (a fixed default: the same call
 *   gives the same text)
 * @tfield[opt] string|{string,...} stop strings that end the generation (at
 *   most 16, `MLLM_MAX_STOPS`; not empty, no NUL byte); the text ends before
 *   the stop string, and no streamed piece holds part of one
 * @tfield[opt] Constraint constraint masks the logits (one built with a model)
 * @tfield[opt=0] integer draft_tokens copy drafts: the most tokens evaluated
 *   ahead, in one batch, when the last tokens occurred earlier in the prompt or
 *   the output (0: off; at most 16, `MLLM_MAX_DRAFT`). The text is the same
 *   either way, greedy or sampled; `info.accepted_tokens` counts the forwards
 *   saved. Off by default: on the CPUs measured a batch costs about as much
 *   as its tokens one at a time (docs/performance.md, "Copy drafts")
 * @tfield[opt=true] boolean bos start a string prompt with the
 *   beginning-of-sequence id
 * @tfield[opt] function on_token `Model:generate` and `Session:generate`
 *   only: `f(piece, id)` after each token; returning `false` stops the
 *   generation
 * @tfield[opt] integer n_ctx `Model:generate` and `Model:stream` only: the
 *   context of their one-off session (the model's `max_seq_len` by default)
 * @tfield[opt] integer n_batch `Model:generate` and `Model:stream` only: as
 *   for `Model:session`
 * @tfield[opt] string kv_type `Model:generate` and `Model:stream` only: as
 *   for `Model:session`
 */

/***
 * What a generation did: the second result of `Model:generate` and
 * `Session:generate`, and `Stream:info`.
 * @table generation_info
 * @tfield integer prompt_tokens
 * @tfield integer generated_tokens
 * @tfield string stop why it ended: `"eos"` (the end-of-sequence token),
 *   `"stop"` (a stop string), `"length"` (`max_tokens`), `"context"` (the
 *   context is full), `"cancelled"` (`Session:cancel`, `Job:cancel`), or
 *   `"none"` (not ended, or stopped by `on_token` or by closing the stream)
 * @tfield number prefill_seconds evaluating the prompt
 * @tfield number decode_seconds generating
 * @tfield number prefill_tps prompt tokens per second
 * @tfield number decode_tps generated tokens per second
 * @tfield integer drafted_tokens copy-draft tokens evaluated ahead
 * @tfield integer accepted_tokens of those, the tokens sampled as drafted
 */

/* The options of a generation: gen_names for s:stream, with "on_token" for
 * s:generate, and the session's for the one-off model:stream / model:generate. */
#define GEN_NAMES MLLM_LUA_GEN_NAMES
#define ONEOFF_NAMES MLLM_LUA_ONEOFF_NAMES
static const char *const stream_names[] = { GEN_NAMES, NULL };
static const char *const generate_names[] = { GEN_NAMES, "on_token", NULL };
static const char *const model_stream_names[] = { GEN_NAMES, ONEOFF_NAMES, NULL };
static const char *const model_generate_names[] = { GEN_NAMES, ONEOFF_NAMES, "on_token", NULL };

/* Reads generation options from the snapshot o (mllm_lua_opts) into p. The
 * stop strings are copied into a table pushed on the stack, which anchors
 * them until the generator has copied them; returns its index. */
int mllm_lua_read_generate_opts(lua_State *L, int o, mllm_generate_params *p)
{
    *p = mllm_generate_default_params();
    p->max_tokens = (int)mllm_lua_opt_int(L, o, "max_tokens", 256, 0, MLLM_MAX_CONTEXT);
    p->stop_at_eos = mllm_lua_opt_bool(L, o, "stop_at_eos", true);
    p->draft_tokens = (int)mllm_lua_opt_int(L, o, "draft_tokens", MLLM_DEFAULT_DRAFT, 0, MLLM_MAX_DRAFT);
    mllm_lua_read_sampler_opts(L, o, &p->sampler);
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
int32_t *mllm_lua_read_prompt(lua_State *L, const mllm_model *m, int pi, bool bos, size_t *n)
{
    const mllm_config *c = mllm_model_config(m);
    if (lua_type(L, pi) == LUA_TTABLE) return mllm_lua_read_ids(L, pi, c->vocab_size, n);
    if (lua_type(L, pi) != LUA_TSTRING)  /* before lua_tolstring, which would turn a number into one */
        luaL_typeerror(L, pi, "string or array of token ids");
    size_t len;
    const char *text = lua_tolstring(L, pi, &len);
    const mllm_tokenizer *t = mllm_model_tokenizer(m);
    if (!t) luaL_error(L, "this model has no tokenizer: pass the prompt as an array of token ids");
    void **box = newbox(L);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_tokenizer_encode(t, text, len, bos, (int32_t **)box, n, err, sizeof err);
    if (st) luaL_error(L, "%s", err);
    return *box;
}

void mllm_lua_push_info(lua_State *L, const mllm_generate_info *info)
{
    lua_createtable(L, 0, 10);
    lua_pushinteger(L, info->prompt_tokens); lua_setfield(L, -2, "prompt_tokens");
    lua_pushinteger(L, info->generated_tokens); lua_setfield(L, -2, "generated_tokens");
    lua_pushstring(L, mllm_stop_reason_name(info->stop)); lua_setfield(L, -2, "stop");
    lua_pushnumber(L, info->prefill_seconds); lua_setfield(L, -2, "prefill_seconds");
    lua_pushnumber(L, info->decode_seconds); lua_setfield(L, -2, "decode_seconds");
    lua_pushnumber(L, info->prefill_seconds > 0 ? info->prompt_tokens / info->prefill_seconds : 0);
    lua_setfield(L, -2, "prefill_tps");
    lua_pushnumber(L, info->decode_seconds > 0 ? info->generated_tokens / info->decode_seconds : 0);
    lua_setfield(L, -2, "decode_tps");
    lua_pushinteger(L, info->drafted_tokens); lua_setfield(L, -2, "drafted_tokens");
    lua_pushinteger(L, info->accepted_tokens); lua_setfield(L, -2, "accepted_tokens");
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
    if (st->owns_session && st->sess) mllm_lua_session_free(L, st->sess);
    st->sess = NULL;
}

/*** @type Stream */

static int stream_tostring(lua_State *L)
{
    lstream *st = luaL_checkudata(L, 1, STREAM_MT);
    lua_pushstring(L, st->g ? "mobilellm.Stream (running)" : "mobilellm.Stream (closed)");
    return 1;
}

/***
 * The generation's info so far (after the end, or once closed, its last).
 * @function Stream:info
 * @treturn generation_info
 */
static int stream_info(lua_State *L)
{
    lstream *st = luaL_checkudata(L, 1, STREAM_MT);
    mllm_lua_push_info(L, st->g ? mllm_generator_info(st->g) : &st->info);
    return 1;
}

/***
 * Ends the generation now: frees the generator, lets the session take other
 * calls again (it holds the prompt and the tokens generated so far) and, for
 * `Model:stream`, frees its one-off session. Idempotent; also run by
 * `__close` (a generic `for` ending or left by `break`) and `__gc`; the
 * iterator then returns nothing.
 * @function Stream:close
 */
static int stream_close(lua_State *L)
{
    stream_release(L, luaL_checkudata(L, 1, STREAM_MT));
    return 0;
}

/* The next piece of the stream: MLLM_OK with piece, len, id; MLLM_DONE, or a
 * failure with its message in err, both of which free the generator (the
 * session is free again for whatever handles the end or the error). */
static mllm_status stream_next(lua_State *L, lstream *st, const char **piece, size_t *len, int32_t *id, char *err,
                               size_t errlen)
{
    if (!st->sess || !st->sess->s) luaL_error(L, "attempt to use a closed session");
    mllm_status s = mllm_generator_next(st->g, piece, len, id, err, errlen);
    /* cancelled (Session:cancel): the generation ends as any other, stop reason
       "cancelled"; the held-back text comes now */
    if (s == MLLM_CANCELLED) s = mllm_generator_next(st->g, piece, len, id, err, errlen);
    if (s != MLLM_OK) stream_release(L, st);
    return s;
}

/* Pushes piece, id (nil for a piece that ends no token). */
static void push_piece(lua_State *L, const char *piece, size_t len, int32_t id)
{
    lua_pushlstring(L, piece, len);
    if (id >= 0) lua_pushinteger(L, id);
    else lua_pushnil(L);
}

/* One step of the iterator: piece, id | nil at the end. Upvalue 1: the stream.
 * A failure of the model (non-finite logits) raises like misuse: an iterator
 * has no other way to say it; generate turns it into nil, message. */
static int stream_step(lua_State *L)
{
    lstream *st = luaL_checkudata(L, lua_upvalueindex(1), STREAM_MT);
    if (!st->g) return 0;
    const char *piece;
    size_t len;
    int32_t id;
    char err[MLLM_ERRLEN];
    mllm_status s = stream_next(L, st, &piece, &len, &id, err, sizeof err);
    if (s == MLLM_DONE) return 0;
    if (s != MLLM_OK) return luaL_error(L, "%s", err);
    push_piece(L, piece, len, id);
    return 2;
}

/* Starts a generator on session ls (at index si) with the options snapshot o;
 * pushes iterator, nil, nil, stream (a to-be-closed value), or nil, message. */
static int start_stream(lua_State *L, int si, lsession *ls, bool owns, int pi, int o)
{
    mllm_generate_params gp;
    mllm_lua_read_generate_opts(L, o, &gp);  /* pushes the stop strings, anchored until this returns */
    bool bos = mllm_lua_opt_bool(L, o, "bos", true);
    /* Reading an id array may run Lua code (metamethods) that closes the
     * session or starts a generation on it: check it again after. */
    if (!ls->s) return luaL_error(L, "attempt to use a closed session");
    size_t n;
    int32_t *ids = mllm_lua_read_prompt(L, mllm_session_model(ls->s), pi, bos, &n);
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
    int n_ctx = mllm_lua_session_opt_ctx(L, o, c);
    if (n_ctx) return n_ctx;
    return c->max_seq_len;  /* the cache grows lazily in memory: pages are touched as used */
}

lsession *mllm_lua_oneoff_session(lua_State *L, int mi, int o, int *nret)
{
    lmodel *lm = checkmodel(L, mi);  /* the options' __index may have closed it */
    int n_ctx = oneoff_ctx(L, lm->m, o);
    int n_batch = (int)mllm_lua_opt_int(L, o, "n_batch", 0, 0, 4096);
    return mllm_lua_session_new(L, mi, n_ctx, n_batch, mllm_lua_opt_str(L, o, "kv_type", NULL), nret);
}

/* model:stream / model:generate on a session of their own; names: the options they take. */
static int model_start(lua_State *L, const char *const *names, const char *what, int *o)
{
    lua_settop(L, 3);
    checkmodel(L, 1);
    *o = mllm_lua_opts(L, 3, names, what);
    int nret = 0;
    lsession *ls = mllm_lua_oneoff_session(L, 1, *o, &nret);
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
        const char *piece;
        size_t len;
        int32_t id;
        char err[MLLM_ERRLEN];
        mllm_status s = stream_next(L, st, &piece, &len, &id, err, sizeof err);
        if (s == MLLM_DONE) break;
        if (s != MLLM_OK) return fail(L, s, err);
        bool stop = false;
        if (cb) {
            lua_pushvalue(L, cb);
            push_piece(L, piece, len, id);
            lua_call(L, 2, 1);
            stop = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
        luaL_addlstring(&b, piece, len);
        if (stop) break;
    }
    luaL_pushresult(&b);
    mllm_lua_push_info(L, st->g ? mllm_generator_info(st->g) : &st->info);
    return 2;
}

/*** @type Model */

/***
 * Generates from a prompt, one piece per step of a generic `for`, on a
 * session of its own that the stream frees when it ends:
 * `for piece, id in model:stream(prompt, opts) do ... end`.
 * @function Model:stream
 * @tparam string|{integer,...} prompt text, or token ids
 * @tparam[opt] generation_options opts less `on_token`; with `n_ctx` (the
 *   model's `max_seq_len` by default), `n_batch` and `kv_type`
 * @treturn function the iterator: each call returns the next `piece, id`
 *   (pieces are whole UTF-8 characters, possibly empty while text is held
 *   back; `id` is nil for the held-back text released at the end), nothing at
 *   the end; it raises when the model computes NaN or infinity
 * @return nil
 * @return nil
 * @treturn Stream the closing value: a generic `for` closes it
 * @error a message when the prompt does not fit the context
 * @raise on a wrong prompt or option
 */
static int model_stream(lua_State *L)
{
    int o;
    return model_start(L, model_stream_names, "stream", &o);
}

/***
 * Generates from a prompt to the end, on a session of its own.
 * @function Model:generate
 * @tparam string|{integer,...} prompt text, or token ids
 * @tparam[opt] generation_options opts with `on_token`, `n_ctx` (the model's
 *   `max_seq_len` by default), `n_batch` and `kv_type`
 * @treturn string the text (the concatenation of the pieces a stream gives)
 * @treturn generation_info
 * @error a message when the prompt does not fit the context, or when the
 *   model computes NaN or infinity (naming the position)
 * @raise on a wrong prompt or option; an error raised by `on_token` propagates
 */
static int model_generate(lua_State *L)
{
    int o;
    int n = model_start(L, model_generate_names, "generate", &o);
    return generate_common(L, n, o);
}

/*** @type Session */

/***
 * Generates from a prompt that continues the session, one piece per step of a
 * generic `for`, as `Model:stream`. While the stream runs the session is busy;
 * afterwards it holds the prompt and every generated token.
 * @function Session:stream
 * @tparam string|{integer,...} prompt text, or token ids
 * @tparam[opt] generation_options opts less `on_token`
 * @treturn function the iterator of `piece, id`
 * @return nil
 * @return nil
 * @treturn Stream the closing value
 * @error a message when the prompt does not fit the context
 * @raise on a wrong prompt or option, or when the session is busy
 */
static int session_stream(lua_State *L)
{
    int o;
    return session_start(L, stream_names, "stream", &o);
}

/***
 * Generates from a prompt that continues the session, to the end. The session
 * then holds the prompt and every generated token; inside `on_token` it is
 * busy.
 * @function Session:generate
 * @tparam string|{integer,...} prompt text, or token ids
 * @tparam[opt] generation_options opts with `on_token`
 * @treturn string the text
 * @treturn generation_info
 * @error a message when the prompt does not fit the context, or when the
 *   model computes NaN or infinity (naming the position)
 * @raise on a wrong prompt or option, or when the session is busy; an error
 *   raised by `on_token` propagates
 */
static int session_generate(lua_State *L)
{
    int o;
    int n = session_start(L, generate_names, "generate", &o);
    return generate_common(L, n, o);
}

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

static const luaL_Reg model_stream_methods[] = {
    { "generate", model_generate },
    { "stream", model_stream },
    { NULL, NULL },
};

static const luaL_Reg session_stream_methods[] = {
    { "generate", session_generate },
    { "stream", session_stream },
    { NULL, NULL },
};

int mllm_lua_open_stream(lua_State *L)
{
    mllm_lua_new_type(L, STREAM_MT, stream_meta, stream_methods, false);
    mllm_lua_add_methods(L, MODEL_MT, model_stream_methods);
    mllm_lua_add_methods(L, SESSION_MT, session_stream_methods);
    return 0;
}
