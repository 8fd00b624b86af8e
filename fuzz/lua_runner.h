/* lua_runner.h — what the harnesses that drive Lua code share (the chat-template engine, the
 * server's HTTP reader and request bodies): one Lua state with the standard libraries, the
 * repository's lua/ as MLLM_LUA_DIR, optionally the core module preloaded, and a runner chunk
 * that returns the function each input is handed to; the edges between Lua lines count as
 * coverage (lua_coverage.h). */
#ifndef MLLM_FUZZ_LUA_RUNNER_H
#define MLLM_FUZZ_LUA_RUNNER_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_coverage.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef MLLM_LUA_DIR
#error "MLLM_LUA_DIR (the repository's lua/ directory) must be defined"
#endif

static lua_State *fuzz_L;
static int fuzz_run_ref = LUA_NOREF;

/* Makes the state and runs `runner` (harness: the name in messages; core: luaopen of the core
 * module to preload, or NULL); aborts when the runner cannot load: the harness is broken. */
static void fuzz_lua_setup(const char *harness, const char *runner, lua_CFunction core)
{
    fuzz_L = luaL_newstate();
    if (!fuzz_L) abort();
    luaL_openlibs(fuzz_L);
    if (core) {
        luaL_getsubtable(fuzz_L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
        lua_pushcfunction(fuzz_L, core);
        lua_setfield(fuzz_L, -2, "mobilellm.core");
        lua_pop(fuzz_L, 1);
    }
    lua_pushstring(fuzz_L, MLLM_LUA_DIR);
    lua_setglobal(fuzz_L, "MLLM_LUA_DIR");
    if (luaL_loadstring(fuzz_L, runner) != LUA_OK || lua_pcall(fuzz_L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "%s: cannot load the code under test: %s\n", harness, lua_tostring(fuzz_L, -1));
        abort();
    }
    fuzz_run_ref = luaL_ref(fuzz_L, LUA_REGISTRYINDEX);
    lua_cov_start(fuzz_L);  /* after loading: the inputs' lines, not the loading's, are coverage */
}

/* Hands the input to the runner's function. error_is_bug: a Lua error out of it aborts (the
 * code under test answers every input); else it is an answer too (dropped). Each input then
 * starts from the same heap. */
static void fuzz_lua_run(const char *harness, const uint8_t *data, size_t size, int error_is_bug)
{
    lua_rawgeti(fuzz_L, LUA_REGISTRYINDEX, fuzz_run_ref);
    lua_pushlstring(fuzz_L, (const char *)data, size);
    if (lua_pcall(fuzz_L, 1, 0, 0) != LUA_OK) {
        if (error_is_bug) {
            fprintf(stderr, "%s: %s\n", harness, lua_tostring(fuzz_L, -1));
            abort();
        }
        lua_pop(fuzz_L, 1);
    }
    lua_gc(fuzz_L, LUA_GCCOLLECT, 0);
}

#endif
