/* job.c — mobilellm.Job: session:start / model:start, a generation run a time
 * budget at a time (step) or on a worker thread (async, polled), over the C
 * jobs of include/mobilellm.h.
 *
 * The Lua state is never touched from a worker thread: on_token is refused in
 * async mode, and a constraint an async job masks with is held (every use of it
 * from Lua raises) until the job is seen to end. In step mode on_token runs
 * inside job:step / job:wait, on the caller's thread, under lua_pcall: an error
 * it raises ends the job and is raised again once the C step has returned.
 *
 * User values: 1 the session (which pins the model), 2 the constraint, 3 the
 * on_token function, 4 the text so far (a table of pieces, joined on demand),
 * 5 the error on_token raised, until step raises it again, 6 the generated ids
 * once the C job is released. */
#include "binding.h"
#include "opts.h"

#include <string.h>

/*** @module mobilellm.core */

typedef struct ljob {
    mllm_job *j;        /* NULL once released: ended and seen, or closed */
    lsession *sess;     /* the session it runs on; NULL once released */
    bool owns_session;  /* model:start's one-off session, closed with the job */
    bool async;
    void *constraint;   /* the hook's user data, held by an async job */
    bool ended;         /* the final status was seen */
    bool closed;
    bool in_step;       /* on_token runs inside a step: close and the session's close must wait */
    mllm_status final;
    mllm_generate_info info;  /* once released */
    lua_State *L;       /* during a step: the state on_token runs in */
    bool cb_stop;       /* on_token returned false or raised */
} ljob;

#define UV_SESSION 1
#define UV_CONSTRAINT 2
#define UV_ON_TOKEN 3
#define UV_TEXT 4
#define UV_ERROR 5
#define UV_IDS 6

static ljob *checkjob(lua_State *L, int i)
{
    ljob *lj = luaL_checkudata(L, i, JOB_MT);
    if (lj->closed) luaL_error(L, "attempt to use a closed job");
    return lj;
}

/* Adds text to the job's text (user value 4) at index ji. */
static void add_text(lua_State *L, int ji, const char *text, size_t len)
{
    if (!len) return;
    lua_getiuservalue(L, ji, UV_TEXT);
    lua_pushlstring(L, text, len);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
}

/* Pushes the text so far of the job at index 1 (on top of a stack with the job
 * alone), and keeps it as one piece, so that the next call does not join them again. */
static void push_text(lua_State *L)
{
    lua_getiuservalue(L, 1, UV_TEXT);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, 1);
    lua_setiuservalue(L, 1, UV_TEXT);
    lua_remove(L, 2);
}

/* Pushes an array of the C job's generated ids. */
static void push_c_ids(lua_State *L, mllm_job *j)
{
    size_t n = mllm_job_ids(j, NULL, 0);
    int32_t *buf = lua_newuserdatauv(L, (n ? n : 1) * sizeof *buf, 0);
    size_t m = mllm_job_ids(j, buf, n);  /* an async worker may have made more meanwhile: the first n */
    if (m < n) n = m;
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, buf[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_remove(L, -2);
}

/* Lets go of the C job (after its end, or cancelling it first), the
 * constraint and the session; the text, ids and info stay. ji: the job's index. */
static void release(lua_State *L, ljob *lj, int ji)
{
    if (lj->j) {
        const char *text;
        size_t len;
        char err[MLLM_ERRLEN];
        if (!mllm_job_ended(lj->j)) mllm_job_cancel(lj->j);
        /* ended or cancelled: returns at once (a stepped job ends at its cancel) */
        mllm_status st = mllm_job_wait(lj->j, &text, &len, err, sizeof err);
        if (!lj->ended) lj->final = st;
        lj->ended = true;
        if (ji) {
            add_text(L, ji, text, len);
            push_c_ids(L, lj->j);
            lua_setiuservalue(L, ji, UV_IDS);
        }
        mllm_job_info(lj->j, &lj->info);
        mllm_job_free(lj->j);
        lj->j = NULL;
    }
    if (lj->constraint) {
        if (lj->async) mllm_lua_hold_constraint(lj->constraint, false);
        mllm_lua_bind_constraint(lj->constraint, NULL);
        lj->constraint = NULL;
    }
    if (lj->sess) {
        lsession *ls = lj->sess;
        lj->sess = NULL;
        ls->busy = false;
        ls->job = NULL;
        if (lj->owns_session) mllm_lua_session_free(L, ls);
    }
}

void mllm_lua_job_detach(lua_State *L, lsession *ls)
{
    ljob *lj = ls->job;
    if (!lj) return;
    if (lj->in_step) luaL_error(L, "cannot close the session from inside its job's on_token");
    release(L, lj, 0);  /* the job's text past its last step is lost with the session */
}

/* on_piece in step mode: calls on_token(piece, id) under lua_pcall, in the state
 * that runs the step (job at index 1). false stops the job. */
static bool on_piece(void *ud, const char *piece, size_t len, int32_t id)
{
    ljob *lj = ud;
    lua_State *L = lj->L;
    lua_getiuservalue(L, 1, UV_ON_TOKEN);
    lua_pushlstring(L, piece, len);
    if (id >= 0) lua_pushinteger(L, id);
    else lua_pushnil(L);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        lua_setiuservalue(L, 1, UV_ERROR);  /* raised again after the step */
        lj->cb_stop = true;
        return false;
    }
    bool go = !(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1));
    lua_pop(L, 1);
    if (!go) lj->cb_stop = true;
    return go;
}

/* What step, poll and wait return for C status st with the new text: text,
 * done; or nil, message for a failure. The end releases the job. */
static int result(lua_State *L, ljob *lj, mllm_status st, const char *text, size_t len, const char *err)
{
    /* text and err live in the C job, which release frees: copied first */
    add_text(L, 1, text, len);
    lua_pushlstring(L, text, len);
    lua_pushstring(L, err);
    int ti = lua_gettop(L) - 1;
    if (st != MLLM_OK && !lj->ended) {
        lj->ended = true;
        lj->final = st;
        release(L, lj, 1);
    }
    /* an error on_token raised: the job has ended, the error goes on */
    if (lua_getiuservalue(L, 1, UV_ERROR) != LUA_TNIL) {
        lua_pushnil(L);
        lua_setiuservalue(L, 1, UV_ERROR);
        return lua_error(L);
    }
    lua_pop(L, 1);
    if (st != MLLM_OK && st != MLLM_DONE && st != MLLM_CANCELLED) {
        luaL_pushfail(L);
        lua_pushvalue(L, ti + 1);
        return 2;
    }
    lua_pushvalue(L, ti);
    lua_pushboolean(L, st != MLLM_OK);
    return 2;
}

/* The final status of an ended job, again: "", true, or nil, message. */
static int ended_result(lua_State *L, ljob *lj)
{
    if (lj->final != MLLM_DONE && lj->final != MLLM_CANCELLED) {
        luaL_pushfail(L);
        lua_pushfstring(L, "the job failed earlier (%s)", mllm_status_name(lj->final));
        return 2;
    }
    lua_pushliteral(L, "");
    lua_pushboolean(L, 1);
    return 2;
}

/*** @type Job */

/***
 * Advances a stepwise job by about `budget_ms` milliseconds, on the caller's
 * thread: the prompt's prefill in chunks sized from the measured speed, then
 * tokens while one more fits the budget. At least one unit of work is done
 * (one prompt token or one generated token). `on_token` runs inside it.
 * @function Job:step
 * @tparam[opt=4] number budget_ms
 * @treturn string the text made during the step (possibly empty)
 * @treturn boolean whether the job has ended (see `Job:info` for why)
 * @error a message when the model computed NaN or infinity (the job has ended)
 * @raise for an async job, a closed job, a step from inside `on_token`, or an
 *   error raised by `on_token` (the job has then ended)
 */
static int job_step(lua_State *L)
{
    ljob *lj = checkjob(L, 1);
    double budget = luaL_optnumber(L, 2, 4.0);
    if (lj->async) return luaL_error(L, "the job runs on a thread of its own (async): poll it, do not step it");
    if (lj->in_step) return luaL_error(L, "the job is stepping already (step called from its own on_token)");
    if (!(budget >= 0 && budget <= 1e9)) return luaL_argerror(L, 2, "the budget must be a number of milliseconds >= 0");
    if (lj->ended) return ended_result(L, lj);
    lua_settop(L, 1);
    const char *text;
    size_t len;
    char err[MLLM_ERRLEN];
    lj->L = L;
    lj->in_step = true;
    mllm_status st = mllm_job_step(lj->j, budget, &text, &len, err, sizeof err);
    lj->in_step = false;
    if (lj->closed) {  /* closed from on_token: done now that the step is over */
        release(L, lj, 1);
        return luaL_error(L, "attempt to use a closed job");
    }
    return result(L, lj, st, text, len, err);
}

/***
 * The text an async job made since the last poll, without blocking (a
 * stepwise job's steps do its work: its poll returns nothing new).
 * @function Job:poll
 * @treturn string the new text (possibly empty)
 * @treturn boolean whether the job has ended
 * @error a message when the model computed NaN or infinity
 */
static int job_poll(lua_State *L)
{
    ljob *lj = checkjob(L, 1);
    if (lj->ended) return ended_result(L, lj);
    lua_settop(L, 1);
    const char *text;
    size_t len;
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_job_poll(lj->j, &text, &len, err, sizeof err);
    return result(L, lj, st, text, len, err);
}

/***
 * Waits for the job to end (a stepwise job runs to its end here), then
 * returns as `Session:generate` does.
 * @function Job:wait
 * @treturn string all the text of the job (`Job:text`)
 * @treturn generation_info
 * @error a message when the model computed NaN or infinity
 * @raise an error raised by `on_token`
 */
static int job_wait(lua_State *L)
{
    ljob *lj = checkjob(L, 1);
    lua_settop(L, 1);
    if (!lj->ended) {
        if (lj->in_step) return luaL_error(L, "the job is stepping already (wait called from its own on_token)");
        const char *text;
        size_t len;
        char err[MLLM_ERRLEN];
        lj->L = L;
        lj->in_step = true;
        mllm_status st = mllm_job_wait(lj->j, &text, &len, err, sizeof err);
        lj->in_step = false;
        if (lj->closed) {
            release(L, lj, 1);
            return luaL_error(L, "attempt to use a closed job");
        }
        int n = result(L, lj, st, text, len, err);
        if (lua_isnil(L, -n)) return n;  /* nil, message */
    } else if (lj->final != MLLM_DONE && lj->final != MLLM_CANCELLED) {
        return ended_result(L, lj);
    }
    lua_settop(L, 1);
    push_text(L);
    mllm_generate_info info;
    if (lj->j) mllm_job_info(lj->j, &info);
    else info = lj->info;
    mllm_lua_push_info(L, &info);
    return 2;
}

/***
 * Asks the job to stop: an async job stops within one layer's time, a
 * stepwise one at its next step (or wait); it then ends with stop reason
 * `"cancelled"`, keeping its text, and its session holds what was evaluated.
 * Nothing once it has ended.
 * @function Job:cancel
 * @treturn Job the job
 */
static int job_cancel(lua_State *L)
{
    ljob *lj = checkjob(L, 1);
    if (lj->j) mllm_job_cancel(lj->j);
    lua_settop(L, 1);
    return 1;
}

/***
 * Whether the job has been seen to end (by a step, poll or wait).
 * @function Job:done
 * @treturn boolean
 */
static int job_done(lua_State *L)
{
    lua_pushboolean(L, checkjob(L, 1)->ended);
    return 1;
}

/***
 * Everything the job has handed out so far (by its steps, polls or wait).
 * @function Job:text
 * @treturn string
 */
static int job_text(lua_State *L)
{
    checkjob(L, 1);
    lua_settop(L, 1);
    push_text(L);
    return 1;
}

/***
 * The ids of the tokens generated so far, in order: each is in the session
 * (the end of sequence and a stop string's tokens too, which the text leaves
 * out), so a caller can keep track of what the session holds. An async job's
 * list grows as the worker goes; none are known of a job whose session was
 * closed under it.
 * @function Job:ids
 * @treturn {int,...}
 */
static int job_ids(lua_State *L)
{
    ljob *lj = checkjob(L, 1);
    if (lj->j) push_c_ids(L, lj->j);
    else if (lua_getiuservalue(L, 1, UV_IDS) != LUA_TTABLE) lua_newtable(L);
    else {  /* a copy: the caller may change it */
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        lua_createtable(L, (int)n, 0);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -2, i);
            lua_rawseti(L, -2, i);
        }
    }
    return 1;
}

/***
 * The generation's info so far, as `Session:generate` returns it; `stop` is
 * `"cancelled"` after a cancel, `"none"` while it runs.
 * @function Job:info
 * @treturn generation_info
 */
static int job_info(lua_State *L)
{
    ljob *lj = checkjob(L, 1);
    mllm_generate_info info;
    if (lj->j) mllm_job_info(lj->j, &info);
    else info = lj->info;
    mllm_lua_push_info(L, &info);
    return 1;
}

static int job_tostring(lua_State *L)
{
    ljob *lj = luaL_checkudata(L, 1, JOB_MT);
    if (lj->closed) {
        lua_pushliteral(L, "mobilellm.Job (closed)");
        return 1;
    }
    mllm_generate_info info;
    if (lj->j) mllm_job_info(lj->j, &info);
    else info = lj->info;
    const char *mode = lj->async ? "async" : "step";
    if (lj->ended)
        lua_pushfstring(L, "mobilellm.Job (%s, ended: %s, %d tokens)", mode,
                        lj->final == MLLM_DONE || lj->final == MLLM_CANCELLED ? mllm_stop_reason_name(info.stop)
                                                                              : mllm_status_name(lj->final),
                        info.generated_tokens);
    else
        lua_pushfstring(L, "mobilellm.Job (%s, running, %d prompt tokens in, %d generated)", mode,
                        info.prompt_tokens, info.generated_tokens);
    return 1;
}

/***
 * Cancels the job if it runs, waits for its thread, and frees the session for
 * other use (closing `Model:start`'s one-off session). Idempotent; also run by
 * `__close` and `__gc`. Later use of the job raises.
 * @function Job:close
 */
static int job_close(lua_State *L)
{
    ljob *lj = luaL_checkudata(L, 1, JOB_MT);
    if (lj->in_step) {
        /* from its own on_token: the step ends first, then the job is released */
        lj->closed = true;
        if (lj->j) mllm_job_cancel(lj->j);
        return 0;
    }
    release(L, lj, 0);
    lj->closed = true;
    return 0;
}

/* The options of a job: a generation's, with on_token, async (and for
 * model:start its one-off session's). */
static const char *const session_start_names[] = { MLLM_LUA_GEN_NAMES, "on_token", "async", NULL };
static const char *const model_start_names[] = { MLLM_LUA_GEN_NAMES, MLLM_LUA_ONEOFF_NAMES, "on_token", "async",
                                                  NULL };

/* Starts a job on session ls (at si) with the prompt at pi and options o. */
static int start_job(lua_State *L, int si, lsession *ls, bool owns, int pi, int o)
{
    mllm_job_params jp = mllm_job_default_params();
    mllm_lua_read_generate_opts(L, o, &jp.gen);  /* pushes the stop strings, anchored until this returns */
    bool bos = mllm_lua_opt_bool(L, o, "bos", true);
    jp.async = mllm_lua_opt_bool(L, o, "async", false);
    bool cb = mllm_lua_opt_func(L, o, "on_token");
    if (cb && jp.async)
        return luaL_error(L, "option 'on_token' cannot be used with async = true (the worker thread never calls "
                             "Lua): poll the job for its text instead");
    if (!ls->s) return luaL_error(L, "attempt to use a closed session");
    size_t n;
    int32_t *ids = mllm_lua_read_prompt(L, mllm_session_model(ls->s), pi, bos, &n);
    checkidle(L, si);  /* reading the ids may have run Lua code */
    ljob *lj = lua_newuserdatauv(L, sizeof *lj, 6);
    memset(lj, 0, sizeof *lj);
    luaL_setmetatable(L, JOB_MT);
    int ji = lua_gettop(L);
    lua_pushvalue(L, si);
    lua_setiuservalue(L, ji, UV_SESSION);
    mllm_lua_opt_push(L, o, "constraint");
    lua_setiuservalue(L, ji, UV_CONSTRAINT);
    mllm_lua_opt_push(L, o, "on_token");
    lua_setiuservalue(L, ji, UV_ON_TOKEN);
    lua_newtable(L);
    lua_setiuservalue(L, ji, UV_TEXT);
    lj->async = jp.async;
    lj->sess = ls;
    lj->owns_session = owns;
    if (cb) {
        jp.on_piece = on_piece;
        jp.piece_ud = lj;
    }
    /* bound and held before an async worker can run the hook */
    if (jp.gen.logits_hook) {
        lj->constraint = jp.gen.hook_ud;
        mllm_lua_bind_constraint(lj->constraint, ls->s);
        if (lj->async) mllm_lua_hold_constraint(lj->constraint, true);
    }
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_job_start(ls->s, ids, n, &jp, &lj->j, err, sizeof err);
    if (st) {
        release(L, lj, 0);  /* the constraint; the session was not made busy */
        lj->closed = true;
        return fail(L, st, err);
    }
    ls->busy = true;
    ls->job = lj;
    lua_settop(L, ji);
    return 1;
}

/*** @type Session */

/***
 * Starts a generation that continues the session, as a job: stepwise (the
 * default: `Job:step` advances it a time budget at a time, for a frame loop)
 * or on a worker thread (`async = true`: `Job:poll` hands out its text without
 * blocking). With the same options and seed it makes the text of
 * `Session:generate`. The session is busy until the job is seen to end or is
 * closed.
 * @function Session:start
 * @tparam string|{integer,...} prompt text, or token ids
 * @tparam[opt] generation_options opts with `on_token` (stepwise only: it runs
 *   inside `Job:step` and `Job:wait`; returning `false` ends the job) and
 *   `async` (default `false`)
 * @treturn Job
 * @error a message when the prompt does not fit the context
 * @raise on a wrong prompt or option, `on_token` with `async`, a constraint
 *   held by another async job, or when the session is busy
 */
static int session_start(lua_State *L)
{
    lua_settop(L, 3);
    checkidle(L, 1);
    int o = mllm_lua_opts(L, 3, session_start_names, "start");
    return start_job(L, 1, checkidle(L, 1), false, 2, o);
}

/*** @type Model */

/***
 * `Session:start` on a session of its own, which the job closes when it is
 * closed or collected (not when it ends: `Job:info` and `Job:text` stay).
 * @function Model:start
 * @tparam string|{integer,...} prompt text, or token ids
 * @tparam[opt] generation_options opts with `on_token`, `async`, `n_ctx`,
 *   `n_batch` and `kv_type`
 * @treturn Job
 * @error a message when the prompt does not fit the context
 * @raise as `Session:start`
 */
static int model_start(lua_State *L)
{
    lua_settop(L, 3);
    checkmodel(L, 1);
    int o = mllm_lua_opts(L, 3, model_start_names, "start");
    int nret = 0;
    lsession *ls = mllm_lua_oneoff_session(L, 1, o, &nret);
    if (!ls) return nret;
    return start_job(L, lua_gettop(L), ls, true, 2, o);
}

int mllm_lua_open_job(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "__gc", job_close }, { "__close", job_close }, { "__tostring", job_tostring }, { NULL, NULL }
    };
    static const luaL_Reg methods[] = {
        { "step", job_step }, { "poll", job_poll }, { "wait", job_wait }, { "cancel", job_cancel },
        { "done", job_done }, { "text", job_text }, { "ids", job_ids }, { "info", job_info }, { "close", job_close },
        { NULL, NULL }
    };
    static const luaL_Reg session_methods[] = { { "start", session_start }, { NULL, NULL } };
    static const luaL_Reg model_methods[] = { { "start", model_start }, { NULL, NULL } };
    mllm_lua_new_type(L, JOB_MT, meta, methods, false);
    mllm_lua_add_methods(L, SESSION_MT, session_methods);
    mllm_lua_add_methods(L, MODEL_MT, model_methods);
    return 0;
}
