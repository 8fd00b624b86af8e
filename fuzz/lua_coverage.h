/* lua_coverage.h — coverage of Lua code for the harnesses that embed Lua (chat templates, the
 * server's reader and bodies). Debian's liblua5.4 is not instrumented, so libFuzzer sees no coverage from the
 * Lua code under test and mutates blind. A line hook fills libFuzzer's extra counters
 * (the `__libfuzzer_extra_counters` section, which it reads as coverage features) with the
 * edges between Lua lines: (previous line, this line) hashed into a table. */
#ifndef MLLM_FUZZ_LUA_COVERAGE_H
#define MLLM_FUZZ_LUA_COVERAGE_H

#include <lua.h>

#include <stdint.h>

#define LUA_COV_SIZE (1u << 16)

__attribute__((section("__libfuzzer_extra_counters"), used)) static uint8_t lua_cov_counters[LUA_COV_SIZE];
static uintptr_t lua_cov_prev;

static void lua_cov_hook(lua_State *L, lua_Debug *ar)
{
    if (!lua_getinfo(L, "S", ar)) return;
    /* a chunk's source string is interned and lives as long as its function: its address
     * names the file */
    uintptr_t here = ((uintptr_t)ar->source * 2654435761u) ^ ((uintptr_t)ar->currentline * 40503u);
    uint8_t *c = &lua_cov_counters[(here ^ (lua_cov_prev >> 1)) & (LUA_COV_SIZE - 1)];
    if (*c < 255) (*c)++;
    lua_cov_prev = here;
}

/* Starts counting the lines `L` runs. */
static void lua_cov_start(lua_State *L)
{
    lua_sethook(L, lua_cov_hook, LUA_MASKLINE, 0);
}

#endif
