-- draft_bench.lua — copy drafts on a model's API-calling test set: every answer with
-- drafts against plain decoding (they must be identical), and the speed of each, the two
-- run in alternation so that a busy machine slows both alike.
--
--   lua5.4 tools/draft_bench.lua [DIR] [LIMIT] [K...]
--
-- DIR defaults to the shipped model, LIMIT to the whole test set, K (draft_tokens) to 2 4 8.
-- Prints one line per K: identical answers, tokens, decode tok/s plain and drafted, the ratio
-- of decode time and of wall time, drafted and accepted tokens. Exits 1 when an answer differs.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath
local mllm = require("mobilellm")
local eval = require("mobilellm.eval")

local dir = arg[1] or (here .. "/../models/mobilellm-tiny-api")
local limit = tonumber(arg[2]) or math.huge
local ks = {}
for i = 3, #arg do ks[#ks + 1] = assert(math.tointeger(tonumber(arg[i])), "K must be an integer") end
if #ks == 0 then ks = { 2, 4, 8 } end

local model = assert(mllm.load(dir, { threads = 1 }))
local function run(k)
  local answers = {}
  local t0 = mllm.clock()
  local r = assert(eval.run({ model = dir, loaded = model, limit = limit, draft_tokens = k,
    on_example = function(n, answer) answers[n] = answer end }))
  r.wall = mllm.clock() - t0
  return r, answers
end

local function cpu()
  local f = io.open("/proc/cpuinfo")
  if not f then return "?" end
  local info = f:read("a")
  f:close()
  local name = info:match("model name%s*:%s*([^\n]+)") or "?"
  return name .. (info:find("avx512f", 1, true) and " (AVX-512)" or "")
end
print(string.format("model %s, 1 thread, CPU %s, kernels %s", dir, cpu(), model.config.kernels))
print("| draft_tokens | identical | tokens | plain tok/s | drafted tok/s | decode ratio | wall ratio | drafted"
  .. " | accepted |")
print("|---|---|---|---|---|---|---|---|---|")
local all_same = true
for _, k in ipairs(ks) do
  local r0, a0 = run(0)
  local r1, a1 = run(k)
  local same = 0
  for i = 1, #a0 do if a0[i] == a1[i] then same = same + 1 end end
  if same ~= #a0 or #a1 ~= #a0 then all_same = false end
  print(string.format("| %d | %d of %d | %d | %.0f | %.0f | %.2f | %.2f | %d | %d |", k, same, #a0,
    r1.generated_tokens, r0.generated_tokens / r0.decode_seconds, r1.generated_tokens / r1.decode_seconds,
    r0.decode_seconds / r1.decode_seconds, r0.wall / r1.wall, r1.drafted_tokens, r1.accepted_tokens))
end
os.exit(all_same and 0 or 1)
