/* fuzz_chat_template.c — libFuzzer harness for the chat-template engine
 * (lua/mobilellm/jinja.lua and lua/mobilellm/jinja/): the input is a template, compiled
 * and rendered with a small conversation, tools and Hugging Face's variables, under low
 * bounds (steps, output). A compile error or a Lua error while rendering is an answer,
 * not a bug; a crash, a hang (libFuzzer's -timeout) or memory without bound is.
 *
 * The engine is Lua: the harness embeds liblua5.4 and finds the repository's lua/ through
 * MLLM_LUA_DIR, set by the Makefile.
 *
 *   build/fuzz/fuzz_chat_template build/fuzz/corpus/chat_template fuzz/corpus/chat_template
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef MLLM_LUA_DIR
#error "MLLM_LUA_DIR (the repository's lua/ directory) must be defined"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Compiles the template (argument 1) and renders it; returns nothing, raises nothing the
 * harness has to look at: pcall takes the errors. The bounds are low so that one input
 * stays well under libFuzzer's timeout. */
static const char RUNNER[] =
    "package.path = MLLM_LUA_DIR .. '/?.lua;' .. MLLM_LUA_DIR .. '/?/init.lua'\n"
    "local jinja = require('mobilellm.jinja')\n"
    "local vars = {\n"
    "  messages = {\n"
    "    { role = 'system', content = 'Be brief.' },\n"
    "    { role = 'user', content = 'What is the weather in Paris?' },\n"
    "    { role = 'assistant', content = '', tool_calls = { { type = 'function',\n"
    "      ['function'] = { name = 'get_weather', arguments = { city = 'Paris' } } } } },\n"
    "    { role = 'tool', content = '{\"temperature\": 21}' },\n"
    "    { role = 'assistant', content = '<think>\\nwarm\\n</think>\\nIt is 21 degrees.' },\n"
    "  },\n"
    "  tools = { { type = 'function', ['function'] = { name = 'get_weather', description = 'Weather',\n"
    "    parameters = { type = 'object', properties = { city = { type = 'string' } }, required = { 'city' } } } } },\n"
    "  add_generation_prompt = true, bos_token = '<s>', eos_token = '</s>', n = 3, f = 0.5, none = jinja.none,\n"
    "}\n"
    "local limits = { max_steps = 20000, max_depth = 32, max_output = 1 << 20 }\n"
    "return function(source)\n"
    "  local t = jinja.compile(source, 'fuzz')\n"
    "  if t then pcall(t.render, t, vars, limits) end\n"
    "end\n";

static lua_State *L;
static int render_ref = LUA_NOREF;

static void setup(void)
{
    L = luaL_newstate();
    if (!L) abort();
    luaL_openlibs(L);
    lua_pushstring(L, MLLM_LUA_DIR);
    lua_setglobal(L, "MLLM_LUA_DIR");
    if (luaL_loadstring(L, RUNNER) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "fuzz_chat_template: cannot load the engine: %s\n", lua_tostring(L, -1));
        abort();
    }
    render_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L) setup();
    lua_rawgeti(L, LUA_REGISTRYINDEX, render_ref);
    lua_pushlstring(L, (const char *)data, size);
    /* pcall: the runner catches the template's errors; an error here (out of memory) is
     * the engine's own and still not a crash */
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
    lua_gc(L, LUA_GCCOLLECT, 0);  /* each input starts from the same heap */
    return 0;
}
