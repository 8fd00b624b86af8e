-- bench.lua — `make bench`: speed of the engine on the official MobileLLM shapes.
--
--   lua5.4 tools/bench.lua                 full table (median of 3 runs per row)
--   BENCH_QUICK=1 lua5.4 tools/bench.lua   a quick subset (under a minute)
--   lua5.4 tools/bench.lua --one DIR DTYPE THREADS [PROMPT GEN]   one measurement (JSON)
--
-- Each row runs in its own process so that peak RSS is its own. Checkpoints are
-- random-weight models in the official shapes, made by tools/make_bench_models.py.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local mllm = require("mobilellm")

local function peak_rss_mb()
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  return (tonumber(s:match("VmHWM:%s*(%d+)")) or 0) / 1024
end

local function prompt_ids(n, vocab)
  local ids, x = { 1 }, 12345
  for i = 2, n do
    x = (x * 1103515245 + 12345) % 2147483648
    ids[i] = 100 + x % (vocab - 200)
  end
  return ids
end

-- One measurement, printed as a JSON line.
local function one(dir, dtype, threads, n_prompt, n_gen)
  local t0 = mllm.clock()
  local model = assert(mllm.load(dir, { dtype = dtype, threads = threads }))
  local load_s = mllm.clock() - t0
  local s = model:session({ n_ctx = 2048, n_batch = 128 })
  local ids = prompt_ids(n_prompt, model.config.vocab_size)
  local _, info = s:generate(ids, { max_tokens = n_gen, stop_at_eos = false, temperature = 0 })
  print(mllm.json_encode({
    load_s = load_s, prefill_tps = info.prefill_tps, decode_tps = info.decode_tps,
    rss_mb = peak_rss_mb(), kernels = model.config.kernels,
  }))
end

-- Decode speed after a context of n tokens (the KV cache grows, weights do not).
local function at_position(dir, dtype, threads, pos)
  local model = assert(mllm.load(dir, { dtype = dtype, threads = threads }))
  local s = model:session({ n_ctx = 2048, n_batch = 128 })
  local ids = prompt_ids(math.max(pos, 1), model.config.vocab_size)
  local _, info = s:generate(ids, { max_tokens = 32, stop_at_eos = false })
  print(mllm.json_encode({ decode_tps = info.decode_tps, prefill_tps = info.prefill_tps }))
end

if arg[1] == "--one" then
  one(arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5] or 128), tonumber(arg[6] or 128))
  return
elseif arg[1] == "--pos" then
  at_position(arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5]))
  return
end

local quick = os.getenv("BENCH_QUICK") == "1"
local runs = quick and 1 or 3
local MODELS = "build/bench-models"

local function run(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  local last = out:match("([^\n]*)\n?$")
  return mllm.json_decode(last or "") or error("bench: no result from: " .. cmd .. "\n" .. out)
end

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2]
end

local function measure(args)
  local rows = {}
  for _ = 1, runs do rows[#rows + 1] = run("lua5.4 tools/bench.lua " .. args) end
  local out = {}
  for k, v in pairs(rows[1]) do
    if type(v) == "number" then
      local xs = {}
      for i, r in ipairs(rows) do xs[i] = r[k] end
      out[k] = median(xs)
    else
      out[k] = v
    end
  end
  return out
end

local shapes = quick and { "125M" } or { "125M", "125M-ls", "350M", "350M-ls" }
local dtypes = quick and { "f16", "q8" } or { "f32", "f16", "bf16", "q8", "q4" }
local threads = quick and { 1 } or { 1, 2 }
local n_gen = quick and 32 or 128
assert(os.execute("/usr/bin/python3 tools/make_bench_models.py " .. MODELS .. " " .. table.concat(shapes, " ")
  .. " >/dev/null"))

print(string.format("mobilellm %s bench, %s, median of %d run(s); prompt 128 tokens, %d generated", mllm.version,
  os.date("!%Y-%m-%d"), runs, n_gen))
print()
print("| shape | dtype | threads | kernels | load s | prefill tok/s | decode tok/s | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|")
for _, shape in ipairs(shapes) do
  for _, dt in ipairs(dtypes) do
    if not (shape:find("350M") and (dt == "f32" or dt == "bf16") and not quick) then
      for _, th in ipairs(threads) do
        local r = measure(string.format("--one %s/%s %s %d 128 %d", MODELS, shape, dt, th, n_gen))
        print(string.format("| %s | %s | %d | %s | %.2f | %.0f | %.1f | %.0f |", shape, dt, th, r.kernels, r.load_s,
          r.prefill_tps, r.decode_tps, r.rss_mb))
        io.stdout:flush()
      end
    end
  end
end

if not quick then
  print()
  print("How cost grows (125M, q8, 1 thread): decode tok/s after a context of N tokens, and prefill of N tokens")
  print()
  print("| N | decode tok/s | prefill tok/s |")
  print("|---|---|---|")
  for _, pos in ipairs({ 1, 32, 128, 512, 1536 }) do
    local r = measure(string.format("--pos %s/125M q8 1 %d", MODELS, pos))
    print(string.format("| %d | %.1f | %.0f |", pos, r.decode_tps, r.prefill_tps))
    io.stdout:flush()
  end
end
