-- eval.lua — the paper's API-calling metrics, through our own engine.
--
--   lua5.4 tools/eval.lua [--model DIR] [--data FILE.jsonl] [--apis FILE] [--dtype T]
--                         [--threads N] [--limit N] [--json] [--verbose]
--
-- Runs a model (default: the shipped one) over an evaluation file in the shared
-- format (default: the held-out test set) with the project's chat template and
-- greedy decoding, and prints EM_intent, EM_structure, ROUGE-1, ROUGE-L (F1 on
-- the reply outside the call) and the share of calls that parse. With --json the
-- last line is one JSON object of those numbers (percentages).
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath

local mllm = require("mobilellm")
local chat = require("mobilellm.chat")

local opts = {
  model = "models/mobilellm-tiny-api", data = "data/api-calling/test.jsonl",
  apis = "data/api-calling/apis.json", threads = 0, limit = math.huge,
}
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--json" then opts.json = true
  elseif a == "--verbose" then opts.verbose = true
  elseif a == "--constrain" then opts.constrain = true
  elseif a == "--help" or a == "-h" then
    print("usage: lua5.4 tools/eval.lua [--model DIR] [--data FILE.jsonl] [--apis FILE] [--dtype T] [--threads N] [--limit N] [--constrain] [--json] [--verbose]")
    os.exit(0)
  elseif a:match("^%-%-") and arg[i + 1] then
    local k = a:sub(3)
    if opts[k] == nil and k ~= "dtype" then io.stderr:write("eval: unknown option " .. a .. "\n") os.exit(2) end
    opts[k] = arg[i + 1]
    i = i + 1
  else
    io.stderr:write("eval: unexpected argument " .. a .. "\n")
    os.exit(2)
  end
  i = i + 1
end
opts.threads = tonumber(opts.threads)
opts.limit = tonumber(opts.limit)

local function die(msg)
  io.stderr:write("eval: " .. tostring(msg) .. "\n")
  os.exit(1)
end

local apis = chat.load_apis(opts.apis) or die("cannot read " .. opts.apis)
local model, err = mllm.load(opts.model, { threads = opts.threads, dtype = opts.dtype })
if not model then die(err) end

-- Words for ROUGE: lower-case runs of letters and digits.
local function words(s)
  local t = {}
  for w in (s or ""):lower():gmatch("[%w]+") do t[#t + 1] = w end
  return t
end

local function f1(p, r)
  if p + r == 0 then return 0 end
  return 2 * p * r / (p + r)
end

local function rouge1(cand, ref)
  if #cand == 0 and #ref == 0 then return 1 end
  if #cand == 0 or #ref == 0 then return 0 end
  local counts, overlap = {}, 0
  for _, w in ipairs(ref) do counts[w] = (counts[w] or 0) + 1 end
  for _, w in ipairs(cand) do
    if (counts[w] or 0) > 0 then overlap = overlap + 1; counts[w] = counts[w] - 1 end
  end
  return f1(overlap / #cand, overlap / #ref)
end

local function rougeL(cand, ref)
  if #cand == 0 and #ref == 0 then return 1 end
  if #cand == 0 or #ref == 0 then return 0 end
  local prev = {}
  for j = 0, #ref do prev[j] = 0 end
  for a = 1, #cand do
    local cur = { [0] = 0 }
    for b = 1, #ref do
      if cand[a] == ref[b] then cur[b] = prev[b - 1] + 1
      else cur[b] = math.max(prev[b], cur[b - 1]) end
    end
    prev = cur
  end
  local lcs = prev[#ref]
  return f1(lcs / #cand, lcs / #ref)
end

-- Same value: strings exactly, numbers by value (3 == 3.0), tables key by key.
local function same(a, b)
  if type(a) == "number" and type(b) == "number" then return a == b end
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function is_call(c) return type(c) == "table" and type(c.name) == "string" end

-- The tools line is the same for every example: compute it once, fork per example.
local tok = model:tokenizer()
local prefix_ids = tok:encode(chat.tools_line(apis), { bos = true })
local base = model:session({ n_ctx = model.config.max_seq_len })
assert(base:eval(prefix_ids))

local constraint = opts.constrain and mllm.constraint and mllm.constraint(apis, model) or nil
if opts.constrain and not constraint then die("this build has no constrained decoding (mllm.constraint)") end

local f = io.open(opts.data, "rb") or die("cannot open " .. opts.data)
local n, intent, structure, r1, rl, attempted, parsed = 0, 0, 0, 0, 0, 0, 0
local t0 = os.clock()
for line in f:lines() do
  if n >= opts.limit then break end
  if line:match("%S") then
    local ex, jerr = mllm.json_decode(line)
    if not ex then die(opts.data .. ":" .. (n + 1) .. ": " .. jerr) end
    local prompt_ids = tok:encode(chat.prompt_text(ex.messages, apis), { bos = true })
    local s, feed = nil, prompt_ids
    local shared = #prompt_ids > #prefix_ids
    for k = 1, #prefix_ids do if prompt_ids[k] ~= prefix_ids[k] then shared = false break end end
    if shared then
      s = base:fork()
      feed = { table.unpack(prompt_ids, #prefix_ids + 1) }
    else
      s = model:session({ n_ctx = model.config.max_seq_len })
    end
    local answer, info = s:generate(feed, { max_tokens = 96, temperature = 0, constraint = constraint })
    if not answer then die(info) end
    s:close()
    local call, reply, perr = chat.parse_answer(answer)
    if answer:find("<tool_call>", 1, true) then
      attempted = attempted + 1
      if call then parsed = parsed + 1 end
    end
    if perr then reply = answer end
    local want = ex.expected or {}
    local want_call = is_call(want.call) and want.call or nil
    local got = call and { name = call.name, args = call.args } or nil
    local ok_intent = (got == nil and want_call == nil) or (got and want_call and got.name == want_call.name)
    local ok_structure = (got == nil and want_call == nil)
      or (got and want_call and got.name == want_call.name and same(got.args or {}, want_call.args or {}))
    n = n + 1
    if ok_intent then intent = intent + 1 end
    if ok_structure then structure = structure + 1 end
    local cw, rw = words(reply), words(want.reply)
    r1 = r1 + rouge1(cw, rw)
    rl = rl + rougeL(cw, rw)
    if opts.verbose and not ok_structure then
      io.stderr:write(string.format("[%s] %s\n  got:  %s\n", tostring(ex.id), ex.messages[#ex.messages].content, answer))
    end
  end
end
f:close()
if n == 0 then die(opts.data .. ": no examples") end

local pct = function(x) return 100 * x / n end
local result = {
  n = n, em_intent = pct(intent), em_structure = pct(structure), rouge1 = pct(r1), rougeL = pct(rl),
  parsed = attempted > 0 and 100 * parsed / attempted or 100,
}
print(string.format("model %s, data %s, %d examples, %.1f s", opts.model, opts.data, n, os.clock() - t0))
print("| metric | % |")
print("|---|---|")
print(string.format("| EM_intent | %.1f |", result.em_intent))
print(string.format("| EM_structure | %.1f |", result.em_structure))
print(string.format("| ROUGE-1 | %.1f |", result.rouge1))
print(string.format("| ROUGE-L | %.1f |", result.rougeL))
print(string.format("| calls that parse | %.1f |", result.parsed))
if opts.json then print(mllm.json_encode(result)) end
