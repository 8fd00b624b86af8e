/* fuzz_http_request.c — libFuzzer harness for the server's HTTP request reader
 * (lua/mobilellm/server/http.lua): the input is the bytes a client sends on one connection,
 * fed to a reader in random splits (the first 4 bytes seed the splits) and, as a check, all
 * at once. Under low bounds (256 bytes of head, 8 headers, 1 KiB of body) the reader must give
 * the same requests, in the same order, and the same refusal however the bytes are split: a
 * Lua error in the reader, a difference between the two readings, a request with fields of
 * the wrong type, a hang or memory without bound is a bug (the harness aborts); a refusal
 * (400, 431, ...) is an answer.
 *
 * The reader is Lua: the harness embeds liblua5.4 and finds the repository's lua/ through
 * MLLM_LUA_DIR, set by the Makefile (as fuzz_chat_template does).
 *
 *   build/fuzz/fuzz_http_request build/fuzz/corpus/http_request fuzz/corpus/http_request
 */
#include "lua_runner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads `bytes` with chunk sizes from `next_size` and returns what came out, one string per
 * request or refusal; compares the split reading with the whole one and raises on a difference. */
static const char RUNNER[] =
    "package.path = MLLM_LUA_DIR .. '/?.lua;' .. MLLM_LUA_DIR .. '/?/init.lua'\n"
    "local http = require('mobilellm.server.http')\n"
    "local BOUNDS = { max_header_bytes = 256, max_headers = 8, max_body_bytes = 1024 }\n"
    "local function describe(req)\n"
    "  assert(type(req.method) == 'string' and type(req.target) == 'string' and type(req.path) == 'string')\n"
    "  assert(type(req.query) == 'string' and type(req.body) == 'string')\n"
    "  assert(req.version == '1.0' or req.version == '1.1')\n"
    "  local names = {}\n"
    "  for k, v in pairs(req.headers) do\n"
    "    assert(type(k) == 'string' and k == k:lower() and type(v) == 'string')\n"
    "    names[#names + 1] = k .. '=' .. v\n"
    "  end\n"
    "  assert(#names <= BOUNDS.max_headers and #req.body <= BOUNDS.max_body_bytes)\n"
    "  table.sort(names)\n"
    "  local keep = http.keep_alive(req)\n"
    "  assert(type(keep) == 'boolean')\n"
    "  assert(#http.response(200, { { 'Content-Type', 'application/json' } }, req.body, keep) > #req.body)\n"
    "  return table.concat({ req.method, req.target, req.version, req.path, req.query, tostring(keep),\n"
    "                        table.concat(names, '\\0'), req.body }, '\\1')\n"
    "end\n"
    "local function read(bytes, next_size)\n"
    "  local r, out, pos = http.reader(BOUNDS), {}, 1\n"
    "  while pos <= #bytes do\n"
    "    local n = next_size()\n"
    "    local req, status, msg = r:feed(bytes:sub(pos, pos + n - 1))\n"
    "    pos = pos + n\n"
    "    while true do\n"
    "      if status then\n"
    "        assert(http.REASONS[status] and type(msg) == 'string', 'a refusal without status or message')\n"
    "        out[#out + 1] = 'refused ' .. status\n"
    "        assert(r:feed('x') == nil, 'a spent reader read on')\n"
    "        return out\n"
    "      end\n"
    "      if not req then break end\n"
    "      out[#out + 1] = describe(req)\n"
    "      req, status, msg = r:feed('')\n"
    "    end\n"
    "    local phase = r:phase()\n"
    "    assert(phase == 'idle' or phase == 'head' or phase == 'body')\n"
    "    assert(r:held() <= #bytes)\n"
    "    r:wants_continue()\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "return function(bytes)\n"
    "  local seed = 0\n"
    "  for i = 1, math.min(4, #bytes) do seed = seed * 256 + bytes:byte(i) end\n"
    "  bytes = bytes:sub(5)\n"
    "  local state = seed\n"
    "  local function next_size()\n"
    "    state = (state * 1103515245 + 12345) % 2147483648\n"
    "    local k = state % 4\n"
    "    if k == 0 then return 1 end\n"
    "    if k == 1 then return 1 + state // 4 % 7 end\n"
    "    return 1 + state // 4 % 300\n"
    "  end\n"
    "  local split = read(bytes, next_size)\n"
    "  local whole = read(bytes, function() return #bytes end)\n"
    "  if #split ~= #whole then error('split reading gave ' .. #split .. ' results, whole ' .. #whole) end\n"
    "  for i = 1, #split do\n"
    "    if split[i] ~= whole[i] then error('result ' .. i .. ' differs: ' .. split[i] .. ' vs ' .. whole[i]) end\n"
    "  end\n"
    "end\n";


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_L) fuzz_lua_setup("fuzz_http_request", RUNNER, NULL);
    fuzz_lua_run("fuzz_http_request", data, size, 1);
    return 0;
}
