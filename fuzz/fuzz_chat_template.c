/* fuzz_chat_template.c — libFuzzer harness for the chat-template engine
 * (lua/mobilellm/jinja.lua and lua/mobilellm/jinja/): the input is a template, compiled
 * and rendered with a small conversation, tools and Hugging Face's variables, under low
 * bounds (steps, output). A compile error or a Lua error while rendering is an answer,
 * not a bug; a crash, a hang (libFuzzer's -timeout) or memory without bound is.
 *
 * The engine is Lua: the harness embeds liblua5.4 and finds the repository's lua/ through
 * MLLM_LUA_DIR, set by the Makefile (fuzz/lua_runner.h), and counts the edges between its Lua
 * lines as coverage (fuzz/lua_coverage.h).
 *
 *   build/fuzz/fuzz_chat_template build/fuzz/corpus/chat_template fuzz/corpus/chat_template
 */
#include "lua_runner.h"

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


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_L) fuzz_lua_setup("fuzz_chat_template", RUNNER, NULL);
    fuzz_lua_run("fuzz_chat_template", data, size, 0);
    return 0;
}
