/*
 * interrupt.c — Ctrl-C for programs that generate (the chat and agent prompts of the CLI):
 * a SIGINT handler that stops the answer under way instead of the program.
 *
 *   on_interrupt()      -> a mobilellm.InterruptGuard: SIGINT now sets its flag (and
 *                          cancels the watched session) instead of what it did before
 *   guard:watch(s|nil)  -> the session Ctrl-C cancels (its running eval, prefill or
 *                          decode step ends within one layer: mllm_session_cancel)
 *   guard:fired()       -> whether Ctrl-C came since the last call (and clears it)
 *   guard:release()     -> puts the previous handler back; idempotent (close, __close, __gc)
 *
 * One guard at a time (the handler is the process's): a second on_interrupt raises.
 * The handler may run on any thread (the signal goes to one that does not block it): it
 * only stores to a lock-free atomic flag and calls mllm_session_cancel, which is safe in
 * a signal handler. The guard keeps the watched session object alive (its user value);
 * closing that session stops the watch before the session is freed.
 */
#define _POSIX_C_SOURCE 200809L  /* sigaction */
#include "binding.h"

#include <lauxlib.h>
#include <lua.h>

#include <signal.h>
#include <stdatomic.h>
#include <string.h>

/*** @module mobilellm.core */

#define GUARD_MT "mobilellm.InterruptGuard"

typedef struct {
    bool installed;
    struct sigaction before;  /* the handler to put back */
} guard;

static atomic_int fired;
static _Atomic(lsession *) watched;
static atomic_bool taken;  /* a guard is installed */

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&fired, 1);
    lsession *ls = atomic_load(&watched);
    if (ls && ls->s) mllm_session_cancel(ls->s);
}

void mllm_lua_interrupt_forget(lsession *ls)
{
    lsession *expected = ls;
    atomic_compare_exchange_strong(&watched, &expected, NULL);
}

static guard *checkguard(lua_State *L)
{
    guard *g = luaL_checkudata(L, 1, GUARD_MT);
    if (!g->installed) luaL_error(L, "attempt to use a released interrupt guard");
    return g;
}

static int guard_release(lua_State *L)
{
    guard *g = luaL_checkudata(L, 1, GUARD_MT);
    if (!g->installed) return 0;
    sigaction(SIGINT, &g->before, NULL);
    atomic_store(&watched, NULL);  /* the handler is gone: nothing reads it now */
    atomic_store(&fired, 0);
    g->installed = false;
    atomic_store(&taken, false);
    lua_getiuservalue(L, 1, 1);
    lsession *ls = lua_isnil(L, -1) ? NULL : lua_touserdata(L, -1);
    if (ls && ls->s) mllm_session_clear_cancel(ls->s);
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_setiuservalue(L, 1, 1);
    return 0;
}

/***
 * Takes Ctrl-C (SIGINT) until the guard is released: it then stops the watched session's
 * work and sets the guard's flag instead of interrupting the program.
 * @function on_interrupt
 * @treturn InterruptGuard
 * @raise when another guard is installed
 */
static int l_on_interrupt(lua_State *L)
{
    guard *g = lua_newuserdatauv(L, sizeof *g, 1);
    memset(g, 0, sizeof *g);
    luaL_setmetatable(L, GUARD_MT);
    bool expected = false;
    if (!atomic_compare_exchange_strong(&taken, &expected, true))
        return luaL_error(L, "on_interrupt: an interrupt guard is already installed (release it first)");
    atomic_store(&fired, 0);
    atomic_store(&watched, NULL);
    struct sigaction ours;
    memset(&ours, 0, sizeof ours);
    ours.sa_handler = on_sigint;
    sigemptyset(&ours.sa_mask);
    ours.sa_flags = SA_RESTART;  /* the work goes on where it was; the flag and the cancel stop it */
    if (sigaction(SIGINT, &ours, &g->before) != 0) {
        atomic_store(&taken, false);
        return luaL_error(L, "on_interrupt: cannot install a SIGINT handler");
    }
    g->installed = true;
    return 1;
}

/*** The session Ctrl-C cancels, or nil for none. A cancel request that the session
 * did not take (Ctrl-C just after its work ended) is dropped from the session
 * watched before and from the new one, so that it cannot stop their next work.
 * @function InterruptGuard:watch
 * @tparam ?Session s */
static int guard_watch(lua_State *L)
{
    checkguard(L);
    lsession *ls = NULL;
    if (!lua_isnoneornil(L, 2)) ls = checksession(L, 2);
    lua_settop(L, 2);
    lsession *old = atomic_exchange(&watched, ls);
    if (old && old->s) mllm_session_clear_cancel(old->s);
    if (ls) mllm_session_clear_cancel(ls->s);
    lua_setiuservalue(L, 1, 1);  /* keeps the session object alive while watched */
    return 0;
}

/*** Whether Ctrl-C came since the last call; clears the flag.
 * @function InterruptGuard:fired
 * @treturn boolean */
static int guard_fired(lua_State *L)
{
    checkguard(L);
    lua_pushboolean(L, atomic_exchange(&fired, 0) != 0);
    return 1;
}

static int guard_tostring(lua_State *L)
{
    guard *g = luaL_checkudata(L, 1, GUARD_MT);
    lua_pushstring(L, g->installed ? "mobilellm.InterruptGuard (installed)" : "mobilellm.InterruptGuard (released)");
    return 1;
}

static const luaL_Reg guard_meta[] = {
    { "__gc", guard_release },
    { "__close", guard_release },
    { "__tostring", guard_tostring },
    { NULL, NULL },
};

static const luaL_Reg guard_methods[] = {
    { "watch", guard_watch },
    { "fired", guard_fired },
    { "release", guard_release },
    { NULL, NULL },
};

static const luaL_Reg functions[] = {
    { "on_interrupt", l_on_interrupt },
    { NULL, NULL },
};

int mllm_lua_open_interrupt(lua_State *L)
{
    mllm_lua_new_type(L, GUARD_MT, guard_meta, guard_methods, false);
    luaL_setfuncs(L, functions, 0);
    return 0;
}
