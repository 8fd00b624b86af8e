-- bench.lua — `make bench`: speed of the engine on the official MobileLLM shapes.
--
--   lua5.4 tools/bench.lua                 full table (median of 3 runs per row)
--   BENCH_QUICK=1 lua5.4 tools/bench.lua   a quick subset (under a minute)
--   lua5.4 tools/bench.lua --one DIR DTYPE THREADS [PROMPT GEN]   one measurement (JSON)
--   lua5.4 tools/bench.lua --accuracy DIR DTYPE [shipped]           agreement with f32 (JSON)
--   lua5.4 tools/bench.lua --pos DIR DTYPE THREADS N [f32|f16]      decode after N tokens (JSON)
--   lua5.4 tools/bench.lua --tokenize [tokenizer.json]              tokenization MB/s (JSON)
--   lua5.4 tools/bench.lua --ttft DIR THREADS                        load to first token (JSON)
--   LLAMA_BENCH=/path/to/llama-bench lua5.4 tools/bench.lua          also llama.cpp, interleaved
--
-- With LLAMA_BENCH (llama.cpp's llama-bench, built by the user outside this repository), the
-- same random weights are written as GGUF files (tools/make_gguf.py, once, beside the
-- checkpoints) and each row is measured as pairs, ours then llama.cpp's, one after the other:
-- on a shared machine only same-run ratios mean anything.
--
-- Besides speed it prints the layer-sharing ratio (decode with every block run
-- twice ÷ decode without), the cost of a constrained-decoding mask against a
-- decode step, the accuracy of each compute format against f32 (top-1
-- agreement and KL divergence of the next-token distribution), and the
-- API-calling scores of the shipped model in f32, q8 and q4.
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

-- From mllm.load to the first generated token of a 32-token prompt, in a fresh process (the
-- file in the page cache: the caller ran it once before).
local function to_first_token(dir, threads)
  local t0 = mllm.clock()
  local model = assert(mllm.load(dir, { threads = threads }))
  local t1 = mllm.clock()
  local s = model:session()
  assert(s:generate(prompt_ids(32, model.config.vocab_size), { max_tokens = 1, stop_at_eos = false }))
  local t2 = mllm.clock()
  print(mllm.json_encode({ load_ms = (t1 - t0) * 1e3, first_token_ms = (t2 - t0) * 1e3,
                           mapped = model.config.mapped_bytes / model.config.weight_bytes }))
end

-- Decode speed after a context of n tokens (the KV cache grows, weights do not).
local function at_position(dir, dtype, threads, pos, kv_type)
  local model = assert(mllm.load(dir, { dtype = dtype, threads = threads }))
  local s = model:session({ n_ctx = 2048, n_batch = 128, kv_type = kv_type })
  local ids = prompt_ids(math.max(pos, 1), model.config.vocab_size)
  local _, info = s:generate(ids, { max_tokens = 32, stop_at_eos = false })
  print(mllm.json_encode({ decode_tps = info.decode_tps, prefill_tps = info.prefill_tps }))
end

-- log-softmax of a logits array (1-based), in double precision
local function log_softmax(l)
  local max = -math.huge
  for i = 1, #l do if l[i] > max then max = l[i] end end
  local sum = 0
  for i = 1, #l do sum = sum + math.exp(l[i] - max) end
  local lse, out = max + math.log(sum), {}
  for i = 1, #l do out[i] = l[i] - lse end
  return out
end

local function argmax(l)
  local best = 1
  for i = 2, #l do if l[i] > l[best] then best = i end end
  return best
end

-- Prompts for the accuracy check: the held-out API-calling conversations for
-- the shipped model, random token sequences for random checkpoints.
local function accuracy_prompts(model, shipped, n)
  local prompts = {}
  if shipped then
    local chat = require("mobilellm.chat")
    local apis = assert(chat.load_apis("models/mobilellm-tiny-api/apis.json"))
    for line in io.lines("models/mobilellm-tiny-api/eval/test.jsonl") do
      local ex = mllm.json_decode(line)
      prompts[#prompts + 1] = model:tokenize(chat.prompt_text(ex.messages, apis), { bos = true })
      if #prompts == n then break end
    end
  else
    for i = 1, n do prompts[i] = prompt_ids(24 + i, model.config.vocab_size) end
  end
  return prompts
end

-- Top-1 agreement and mean KL(f32 || dtype) of the next-token distribution.
local function accuracy(dir, dtype, shipped)
  local ref = assert(mllm.load(dir, { dtype = "f32", threads = 1 }))
  local m = assert(mllm.load(dir, { dtype = dtype, threads = 1 }))
  local prompts = accuracy_prompts(ref, shipped, shipped and 64 or 16)
  local agree, kl = 0, 0
  for _, ids in ipairs(prompts) do
    local a, b = ref:session({ n_ctx = #ids }), m:session({ n_ctx = #ids })
    assert(a:eval(ids))
    assert(b:eval(ids))
    local la, lb = a:logits(), b:logits()
    if argmax(la) == argmax(lb) then agree = agree + 1 end
    local pa, pb, d = log_softmax(la), log_softmax(lb), 0
    for i = 1, #pa do d = d + math.exp(pa[i]) * (pa[i] - pb[i]) end
    kl = kl + d
    a:close()
    b:close()
  end
  print(mllm.json_encode({ top1 = 100 * agree / #prompts, kl = kl / #prompts, n = #prompts }))
end

-- Microseconds per constrained-decoding mask over the 32000-piece vocabulary,
-- at a few places inside a call (outside calls the mask costs nothing).
local function mask_cost(dir)
  local chat = require("mobilellm.chat")
  local model = assert(mllm.load(dir, { threads = 1 }))
  local c = mllm.constraint(assert(chat.load_apis("models/mobilellm-tiny-api/apis.json")), model)
  local texts = { "<tool_call>", "<tool_call>set_al", '<tool_call>set_alarm(time="7:3', '<tool_call>set_volume(level=4',
    '<tool_call>send_message(recipient="Ana", text="on my way", app=' }
  local t0, n = mllm.clock(), 0
  while mllm.clock() - t0 < 1.0 do
    for _, t in ipairs(texts) do c:count(t); n = n + 1 end
  end
  print(mllm.json_encode({ us_per_mask = 1e6 * (mllm.clock() - t0) / n }))
end

-- Tokenization throughput (one thread) of a tokenizer.json, by default the byte-level BPE
-- fixture with Llama-3's regex: on 1 MB of English (the repository's docs and README,
-- repeated) and on a 100 kB single word (one pre-token, so the merge loop's cost).
local function tokenize_speed(path)
  local tok = assert(mllm.tokenizer(path or "spec/fixtures/tokenizers/bpe-llama3/tokenizer.json"))
  local parts = {}
  for _, f in ipairs({ "README.md", "docs/api.md", "docs/formats-and-limits.md", "docs/performance.md" }) do
    local h = io.open(f, "rb")
    if h then parts[#parts + 1] = h:read("a"); h:close() end
  end
  local english = table.concat(parts, "\n")
  english = english:rep(1 + (1 << 20) // #english):sub(1, 1 << 20)
  while not utf8.len(english) do english = english:sub(1, -2) end -- end on a character
  local word = ("supercalifragilistic"):rep(5000)
  local function mbps(text)
    local t0, n = mllm.clock(), 0
    repeat tok:encode(text); n = n + 1 until mllm.clock() - t0 > 1.0
    return #text * n / (mllm.clock() - t0) / 1e6
  end
  print(mllm.json_encode({ english_mbps = mbps(english), word_mbps = mbps(word), english_bytes = #english }))
end

if arg[1] == "--tokenize" then
  tokenize_speed(arg[2])
  return
elseif arg[1] == "--accuracy" then
  accuracy(arg[2], arg[3], arg[4] == "shipped")
  return
elseif arg[1] == "--mask" then
  mask_cost(arg[2])
  return
elseif arg[1] == "--one" then
  one(arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5] or 128), tonumber(arg[6] or 128))
  return
elseif arg[1] == "--pos" then
  at_position(arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5]), arg[6])
  return
elseif arg[1] == "--ttft" then
  to_first_token(arg[2], tonumber(arg[3]))
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

-- The medians of n runs (default: `runs`) of `tools/bench.lua ARGS`.
local function measure(args, n)
  local rows = {}
  for _ = 1, n or runs do rows[#rows + 1] = run("lua5.4 tools/bench.lua " .. args) end
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

local shapes = quick and { "125M", "125M-ls" } or { "125M", "125M-ls", "350M", "R1-140M", "R1-360M" }
local dtypes = quick and { "q8", "q4" } or { "f32", "f16", "bf16", "q8", "q4" }
local threads = quick and { 1 } or { 1, 2 }
local n_gen = quick and 32 or 128
assert(os.execute("/usr/bin/python3 tools/make_bench_models.py " .. MODELS .. " " .. table.concat(shapes, " ")
  .. " >/dev/null"))

-- Bytes of weights one decode step reads: every matrix (the tied head once),
-- in the dtype's storage (q8: 34 bytes per 32 weights, q4: 18).
local BYTES = { f32 = 4, f16 = 2, bf16 = 2, q8 = 34 / 32, q4 = 18 / 32 }
local function weight_bytes(dir, dt)
  local c = mllm.json_decode(assert(io.open(dir .. "/config.json")):read("a"))
  local dim, hd = c.hidden_size, c.head_dim or c.hidden_size // c.num_attention_heads
  local ffn = c.intermediate_size_mlp or c.intermediate_size  -- llama4_text: intermediate_size is the MoE width
  local qd, kvd = c.num_attention_heads * hd, c.num_key_value_heads * hd
  local per_block = dim * qd * 2 + dim * kvd * 2 + dim * ffn * 3
  return (c.num_hidden_layers * per_block + c.vocab_size * dim) * BYTES[dt]
end

-- One thread's read bandwidth from memory (tools/membw.c), for the share of
-- the bandwidth limit (weight bytes per token ÷ bandwidth) decode reaches.
local bw
do
  local p = io.popen("build/membw 2>/dev/null")
  if p then
    bw = p:read("n")
    p:close()
  end
end

print(string.format("mobilellm %s bench, %s, median of %d run(s); prompt 128 tokens, %d generated", mllm.version,
  os.date("!%Y-%m-%d"), runs, n_gen))
do  -- the CPU and the kernel set the engine picked for it
  local f = io.open("/proc/cpuinfo")
  local cpu = f and f:read("a"):match("model name%s*:%s*([^\n]+)") or "unknown CPU"
  if f then f:close() end
  local m = mllm.load(MODELS .. "/125M", { threads = 1 })  -- as stored: mapped, nothing converted
  print(string.format("CPU: %s; kernels: %s", cpu, m and m.config.kernels or "?"))
end
if bw then
  print(string.format("Memory read bandwidth, 1 thread: %.1f GB/s (build/membw); 'of limit': 1-thread decode ÷ " ..
    "(that ÷ weight bytes per token)", bw))
end
print()
print("| shape | dtype | threads | kernels | load s | prefill tok/s | decode tok/s | of limit | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|")
local decode = {}  -- decode[shape .. dtype .. threads] = tok/s
for _, shape in ipairs(shapes) do
  for _, dt in ipairs(dtypes) do
    if not (shape:find("350M") and (dt == "f32" or dt == "bf16") and not quick)
      and not (shape:find("R1") and (dt == "f16" or dt == "bf16")) then
      for _, th in ipairs(threads) do
        local r = measure(string.format("--one %s/%s %s %d 128 %d", MODELS, shape, dt, th, n_gen))
        decode[shape .. dt .. th] = r.decode_tps
        local limit = ""
        if bw and th == 1 and not shape:find("-ls") then
          limit = string.format("%.0f %%", 100 * r.decode_tps / (bw * 1e9 / weight_bytes(MODELS .. "/" .. shape, dt)))
        end
        print(string.format("| %s | %s | %d | %s | %.2f | %.0f | %.1f | %s | %.0f |", shape, dt, th, r.kernels,
          r.load_s, r.prefill_tps, r.decode_tps, limit, r.rss_mb))
        io.stdout:flush()
      end
    end
  end
end

if not quick then
  print()
  print("How cost grows (125M, q8, 1 thread): decode tok/s after a context of N tokens (÷ N = 1 in brackets),")
  print("and prefill of N tokens, with the KV cache in f32 and in f16 (the default for q8/q4 weights)")
  print()
  print("| N | decode, kv f32 | decode, kv f16 | prefill, kv f32 | prefill, kv f16 |")
  print("|---|---|---|---|---|")
  local first = {}
  for _, pos in ipairs({ 1, 32, 128, 512, 1536 }) do
    local r = measure(string.format("--pos %s/125M q8 1 %d f32", MODELS, pos))
    local h = measure(string.format("--pos %s/125M q8 1 %d f16", MODELS, pos))
    first.f32, first.f16 = first.f32 or r.decode_tps, first.f16 or h.decode_tps
    print(string.format("| %d | %.1f (%.2f) | %.1f (%.2f) | %.0f | %.0f |", pos, r.decode_tps, r.decode_tps / first.f32,
      h.decode_tps, h.decode_tps / first.f16, r.prefill_tps, h.prefill_tps))
    io.stdout:flush()
  end
end

print()
print("Layer sharing: decode tok/s with every block run twice (-ls) ÷ the same weights run once, the two")
print("measured in alternation (median of the pairs' ratios): on a shared machine, rows measured minutes")
print("apart drift by more than the effect. The second pass over a block costs (1 / ratio - 1) of the first")
print("(the head counted with the first: a slight underestimate); the paper's iPhone figure is 0.026")
print()
print("| shape | dtype | threads | ratio | second pass costs | from the table above |")
print("|---|---|---|---|---|---|")
for _, base in ipairs({ "125M", "350M" }) do
  for _, dt in ipairs(dtypes) do
    for _, th in ipairs(threads) do
      local a, b = decode[base .. "-ls" .. dt .. th], decode[base .. dt .. th]
      if a and b then
        local ratios = {}  -- measured in alternation for the quantized formats (the issue's target)
        for i = 1, (dt == "q8" or dt == "q4") and runs or 0 do
          local one_args = "--one %s/%s %s %d 128 " .. n_gen
          local base_r = run("lua5.4 tools/bench.lua " .. string.format(one_args, MODELS, base, dt, th))
          local ls_r = run("lua5.4 tools/bench.lua " .. string.format(one_args, MODELS, base .. "-ls", dt, th))
          ratios[i] = ls_r.decode_tps / base_r.decode_tps
        end
        local r = #ratios > 0 and median(ratios) or a / b
        print(string.format("| %s | %s | %d | %s | %.2f of the first | %.2f |", base, dt, th,
          #ratios > 0 and string.format("%.2f", r) or "", 1 / r - 1, a / b))
        io.stdout:flush()
      end
    end
  end
end

local LLAMA = os.getenv("LLAMA_BENCH")
if LLAMA and LLAMA ~= "" then
  local GGUF = { f32 = "F32", f16 = "F16", q8 = "Q8_0", q4 = "Q4_0" }
  local function gguf(shape, dt)
    local path = string.format("%s/%s-%s.gguf", MODELS, shape, dt)
    if not io.open(path) then
      assert(os.execute(string.format("/usr/bin/python3 tools/make_gguf.py %s/%s %s %s >/dev/null", MODELS, shape,
        path, GGUF[dt])))
    end
    return path
  end
  -- llama-bench's prefill and decode tok/s (jsonl: one line per test)
  local function llama(path, th)
    local p = assert(io.popen(string.format("%s -m %s -p 128 -n %d -t %d -r 1 -o jsonl 2>/dev/null", LLAMA, path,
      n_gen, th)))
    local pp, tg
    for line in p:lines() do
      local r = mllm.json_decode(line)
      if r and r.n_prompt and r.n_prompt > 0 then pp = r.avg_ts end
      if r and r.n_gen and r.n_gen > 0 then tg = r.avg_ts end
    end
    p:close()
    return assert(pp and tg and { prefill = pp, decode = tg }, "bench: no result from " .. LLAMA .. " on " .. path)
  end
  local pairs_n = quick and 3 or 5
  print()
  print(string.format("Against llama.cpp (%s), the same weights in GGUF (tools/make_gguf.py; -ls: each block " ..
    "stored twice), prompt 128, %d generated: tok/s, medians of %d interleaved pairs, ours ÷ llama.cpp per pair",
    LLAMA, n_gen, pairs_n))
  print()
  print("| shape | weights | threads | prefill: llama.cpp / ours (ratio) | decode: llama.cpp / ours (ratio) |")
  print("|---|---|---|---|---|")
  for _, shape in ipairs(quick and { "125M" } or { "125M", "125M-ls" }) do
    for _, dt in ipairs(quick and { "q4" } or { "f16", "q8", "q4" }) do
      for _, th in ipairs(threads) do
        local path = gguf(shape, dt)
        local cols = { lp = {}, op = {}, rp = {}, ld = {}, od = {}, rd = {} }
        for i = 1, pairs_n do
          local ours = run(string.format("lua5.4 tools/bench.lua --one %s/%s %s %d 128 %d", MODELS, shape, dt, th,
            n_gen))
          local theirs = llama(path, th)
          cols.lp[i], cols.op[i], cols.rp[i] = theirs.prefill, ours.prefill_tps, ours.prefill_tps / theirs.prefill
          cols.ld[i], cols.od[i], cols.rd[i] = theirs.decode, ours.decode_tps, ours.decode_tps / theirs.decode
        end
        print(string.format("| %s | %s | %d | %.0f / %.0f (%.2fx) | %.1f / %.1f (%.2fx) |", shape, GGUF[dt], th,
          median(cols.lp), median(cols.op), median(cols.rp), median(cols.ld), median(cols.od), median(cols.rd)))
        io.stdout:flush()
      end
    end
  end
end

do  -- a converted q4 file maps in: load to first token
  local dir = MODELS .. "/125M-q4-file"
  if not io.open(dir .. "/model.safetensors") then
    assert(os.execute("lua5.4 bin/mobilellm convert " .. MODELS .. "/125M " .. dir .. " --dtype q4 >/dev/null"))
  end
  run("lua5.4 tools/bench.lua --ttft " .. dir .. " 1")  -- the file into the page cache
  local r = measure("--ttft " .. dir .. " 1", 5)
  print()
  print(string.format("Load to first token (125M q4 from a converted file, a 32-token prompt, 1 thread, median " ..
    "of 5 processes): %.0f ms, of which mllm.load %.0f ms (%.0f %% of the weights mapped as stored)",
    r.first_token_ms, r.load_ms, 100 * r.mapped))
end

local step = decode["125Mq81"]
if step then
  local r = run("lua5.4 tools/bench.lua --mask " .. MODELS .. "/125M")
  print()
  print(string.format("Constrained decoding: %.0f µs per mask inside a call = %.1f %% of a 125M q8 decode step " ..
    "(1 thread, %.1f ms); outside calls nothing is computed", r.us_per_mask, 100 * r.us_per_mask / (1e6 / step),
    1e3 / step))
end

do
  local r = run("lua5.4 tools/bench.lua --tokenize")
  print()
  print(string.format("Tokenization (tokenizer.json, byte-level BPE with Llama-3's regex, 1 thread): " ..
    "%.1f MB/s on 1 MB of English (the docs, repeated), %.1f MB/s on a 100 kB single word",
    r.english_mbps, r.word_mbps))
end

print()
print("Accuracy against f32: top-1 agreement and mean KL(f32 || dtype) of the next-token distribution")
print()
print("| model | dtype | prompts | top-1 % | KL |")
print("|---|---|---|---|---|")
local SHIPPED = "models/mobilellm-tiny-api"
local have_shipped = io.open(SHIPPED .. "/config.json") ~= nil
local targets = { { MODELS .. "/125M", "random 125M", "" } }
if have_shipped then targets[#targets + 1] = { SHIPPED, "shipped (test prompts)", " shipped" } end
for _, t in ipairs(targets) do
  for _, dt in ipairs(quick and { "q8" } or { "bf16", "q8", "q4" }) do
    local r = run(string.format("lua5.4 tools/bench.lua --accuracy %s %s%s", t[1], dt, t[3]))
    print(string.format("| %s | %s | %d | %.1f | %.2g |", t[2], dt, r.n, r.top1, r.kl))
    io.stdout:flush()
  end
end

if have_shipped then
  local limit = quick and 100 or 3000
  print()
  print(string.format("API calling, shipped model, %d held-out conversations (tools/eval.lua --dtype D)", limit))
  print()
  print("| dtype | EM_intent | EM_structure | ROUGE-1 | ROUGE-L | calls that parse |")
  print("|---|---|---|---|---|---|")
  for _, dt in ipairs(quick and { "q8" } or { "f32", "q8", "q4" }) do
    local r = run(string.format("lua5.4 tools/eval.lua --dtype %s --limit %d --json", dt, limit))
    print(string.format("| %s | %.1f | %.1f | %.1f | %.1f | %.1f |", dt, r.em_intent, r.em_structure, r.rouge1,
      r.rougeL, r.parsed))
    io.stdout:flush()
  end
end
