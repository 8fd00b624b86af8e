/* fuzz_json_body.c — libFuzzer harness for the request bodies of the server: the input is the
 * body of a POST /v1/chat/completions, taken as lua/mobilellm/server/init.lua takes it —
 * decoded by the core module's JSON decoder (src/lua/json.c, on cJSON), checked by
 * openai.read_request, and, when it passes, turned into a tool registry and a prompt in the
 * shipped model's format (server/prompt.lua: the steps before the model). A refusal (a 400
 * with `{param, message}`) is an answer; a Lua error that is not one, a message that is not a
 * string or quotes past MAX_ERROR_BYTES, a crash, a hang or memory without bound is a bug.
 *
 * The core module is linked in, built like the engine with ASan/UBSan and coverage (the
 * Makefile builds the binding, src/lua, for the fuzzer too) and put in package.preload, so the decoder
 * is fuzzed instrumented; the Lua side comes from the repository's lua/ (MLLM_LUA_DIR).
 *
 *   build/fuzz/fuzz_json_body build/fuzz/corpus/json_body fuzz/corpus/json_body
 */
#include "lua_runner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int luaopen_mobilellm_core(lua_State *L);

static const char RUNNER[] =
    "package.path = MLLM_LUA_DIR .. '/?.lua;' .. MLLM_LUA_DIR .. '/?/init.lua'\n"
    "local core = require('mobilellm.core')\n"
    "local openai = require('mobilellm.server.openai')\n"
    "local prompt = require('mobilellm.server.prompt')\n"
    "local limits = require('mobilellm.server.limits')\n"
    "local CFG = { max_tokens_limit = 512, max_tokens = 16 }\n"
    "local function refusal(e)\n"
    "  if type(e) ~= 'table' or type(e.message) ~= 'string' then error(e, 0) end\n"
    "  local body = openai.error_body(400, e.message, e.param)\n"
    "  local back = core.json_decode(body)\n"
    "  assert(#back.error.message <= limits.MAX_ERROR_BYTES + 3, 'an error message past MAX_ERROR_BYTES')\n"
    "end\n"
    "return function(body)\n"
    "  local ok, doc = pcall(core.json_decode, body)\n"
    "  if not ok or doc == nil then return end -- not JSON: a 400 from the server\n"
    "  local r, e = openai.read_request(doc, CFG)\n"
    "  if not r then return refusal(e) end\n"
    "  assert(type(r.messages) == 'table' and #r.messages >= 1 and #r.messages <= limits.MAX_MESSAGES)\n"
    "  assert(math.type(r.max_tokens) == 'integer' and r.max_tokens >= 1 and r.max_tokens <= 512)\n"
    "  local apis = {}\n"
    "  if r.tools and r.tool_choice ~= 'none' then\n"
    "    local rok, reg = pcall(prompt.registry, r.tools, r.tool_choice)\n"
    "    if not rok then return refusal(reg) end\n"
    "    apis = reg:apis()\n"
    "  end\n"
    "  local pok, text = pcall(prompt.chat_format, r.messages, apis)\n"
    "  if not pok then return refusal(text) end\n"
    "  assert(type(text) == 'string')\n"
    "  local tok, msgs = pcall(prompt.template_messages, r.messages)\n"
    "  if not tok then return refusal(msgs) end\n"
    "end\n";


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_L) fuzz_lua_setup("fuzz_json_body", RUNNER, luaopen_mobilellm_core);
    fuzz_lua_run("fuzz_json_body", data, size, 1);
    return 0;
}
