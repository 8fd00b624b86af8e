-- oom_walk.lua — the allocation-failure walk of `make test-oom` (issue 41), SQLite-style.
--
-- Needs mobilellm.core built with -DMLLM_FAULT_INJECTION (src/base/alloc.h), which gives the
-- hidden core._fault(n, persist). For every step of every scenario below, it makes the 1st,
-- 2nd, 3rd... allocation of the library fail, until the step runs through without an injected
-- failure. Each failure must come back as a clear error (nil + message, or a raised error)
-- that names the memory; then, with injection off, the step's objects must still work (a
-- session still generates the same text, a tokenizer still gives the same ids) or be closed.
-- LeakSanitizer (on in `make test-oom`) reports at exit anything a failure path leaked.
--
--   lua5.4 tools/oom_walk.lua [--persist] [--verbose] [--trace] [SCENARIO...]
--
-- --verbose lists the distinct error messages at the end and each failure the library worked
-- around ("absorbed"); --trace names each n before it runs (to find the n of a crash). With
-- MLLM_FAULT_BACKTRACE=1 in the environment, the library prints where each failure hit.
-- --persist: every allocation after the nth fails too (the cleanup of a failure must not need
-- memory). Scenarios: shipped (the shipped model: load, tokenize, sessions, generation, jobs,
-- constrained decoding, calls, JSON, a chat template, saves and loads), fixtures (a small random
-- model, Hugging Face tokenizers, a torch checkpoint, conversion). Prints a line per step and
-- "oom: N failure points exercised, K distinct error messages"; exits 1 on the first broken step.
local core = require("mobilellm.core")
local mllm = require("mobilellm")

local fault = core._fault
if not fault then
  io.stderr:write("oom_walk: mobilellm.core has no _fault: build it with -DMLLM_FAULT_INJECTION (make test-oom)\n")
  os.exit(2)
end

-- Lua unloads C modules (dlclose) as it closes; LeakSanitizer reports at exit, and a stack
-- in an unloaded module has no names: keep mobilellm.core loaded to the end.
setmetatable(debug.getregistry()._CLIBS, nil)

local persist, verbose, trace, wanted = false, false, false, {}
for _, a in ipairs(arg) do
  if a == "--persist" then persist = true
  elseif a == "--verbose" then verbose = true
  elseif a == "--trace" then trace = true
  else wanted[a] = true end
end

local SHIPPED = "models/mobilellm-tiny-api"
local SMALL = "spec/fixtures/models/bf16-vocab32k"
local TMP = os.tmpname()
os.remove(TMP)
assert(os.execute("mkdir -p '" .. TMP .. "'"))

local PROMPT = "<|user|>\nWake me up at 7 tomorrow<|end|>\n<|assistant|>\n"
local CALL_TEXT = 'Sure. <tool_call>set_alarm(time="7:00 am", day="tomorrow", label={"a": [1, 2.5, null]})'
  .. '</tool_call> Done.'

-- ------------------------------------------------------------------ helpers

local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function copy_file(from, to)
  local f = assert(io.open(from, "rb"))
  local data = f:read("a")
  f:close()
  local g = assert(io.open(to, "wb"))
  g:write(data)
  g:close()
end

local function gen_text(s, opts)
  s:rewind(0)
  local o = { max_tokens = 6 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return s:generate(PROMPT, o)
end

-- The step that runs a job (stepwise, or on a worker thread when async) to its end.
local function job_step(name, async)
  return { name, before = function(ctx) ctx.s:rewind(0) end,
    run = function(ctx)
      local j, err = ctx.s:start(PROMPT, { max_tokens = 6, async = async or nil })
      if not j then return nil, err end
      local text, e = j:wait()
      j:close()
      return text, e
    end,
    check = function(ctx, text) assert(text == ctx.text) end,
    after = function(ctx) assert(gen_text(ctx.s) == ctx.text) end }
end

-- ------------------------------------------------------------------ scenarios
-- A step: run(ctx) does the work that may fail (its result: a value, or nil + message, or an
-- error); before(ctx), injection off, puts the objects in the state run expects; check(ctx, v)
-- (injection off) checks a value that run returned (it may have gone through an absorbed
-- failure), and after(ctx) that the objects still work once run failed. Each runs under
-- assert: a false check stops the walk naming the step and n.

local scenarios = {}

scenarios[#scenarios + 1] = { name = "shipped", setup = function(ctx)
  ctx.model = assert(mllm.load(SHIPPED))
  ctx.ids = assert(ctx.model:tokenize(PROMPT))
  ctx.s = assert(ctx.model:session({ n_ctx = 128 }))
  ctx.text = assert(gen_text(ctx.s))
  ctx.apis = assert(mllm.json_decode(assert(mllm.read_file(SHIPPED .. "/apis.json"))))
  ctx.c = assert(core.constraint(ctx.apis, ctx.model))
  ctx.ctext = assert(gen_text(ctx.s, { constraint = ctx.c, max_tokens = 12 }))
  ctx.calls = assert(mllm.parse_calls(CALL_TEXT))
  ctx.state = TMP .. "/state.bin"
  assert(gen_text(ctx.s))
  assert(ctx.s:save(ctx.state))
  ctx.saved = TMP .. "/saved"
  assert(os.execute("mkdir -p '" .. ctx.saved .. "'"))
  copy_file(SHIPPED .. "/config.json", ctx.saved .. "/config.json")
  copy_file(SHIPPED .. "/tokenizer.model", ctx.saved .. "/tokenizer.model")
end, steps = {
  { "load", run = function() return mllm.load(SHIPPED) end,
    check = function(ctx, m) assert(same(m:tokenize(PROMPT), ctx.ids)); m:close() end },
  { "tokenize", run = function(ctx) return ctx.model:tokenize(PROMPT) end,
    check = function(ctx, ids) assert(same(ids, ctx.ids)) end,
    after = function(ctx) assert(same(ctx.model:tokenize(PROMPT), ctx.ids)) end },
  { "detokenize", run = function(ctx) return ctx.model:detokenize(ctx.ids) end,
    check = function(_, text) assert(text:find("Wake me up", 1, true)) end },
  { "session", run = function(ctx) return ctx.model:session({ n_ctx = 128 }) end,
    check = function(ctx, s) assert(gen_text(s) == ctx.text); s:close() end },
  { "generate", before = function(ctx) ctx.s:rewind(0) end,
    run = function(ctx) return ctx.s:generate(PROMPT, { max_tokens = 6 }) end,
    check = function(ctx, text) assert(text == ctx.text) end,
    after = function(ctx) assert(gen_text(ctx.s) == ctx.text) end },
  { "stream", before = function(ctx) ctx.s:rewind(0) end,
    run = function(ctx)
      local out = {}
      local f, st, ctl, closer = ctx.s:stream(PROMPT, { max_tokens = 6 })
      if not f then return nil, st end  -- nil, message
      for piece in f, st, ctl, closer do out[#out + 1] = piece end
      return table.concat(out)
    end,
    check = function(ctx, text) assert(text == ctx.text) end,
    after = function(ctx) assert(gen_text(ctx.s) == ctx.text) end },
  job_step("job", false),
  job_step("async job", true),
  { "score", before = function(ctx) assert(gen_text(ctx.s)) end,
    run = function(ctx) return ctx.s:score(ctx.ids) end,
    check = function(_, total) assert(type(total) == "number" and total < 0) end,
    after = function(ctx) assert(gen_text(ctx.s) == ctx.text) end },
  { "sampler", before = function(ctx) assert(gen_text(ctx.s)) end,
    run = function(ctx)
      local smp, err = ctx.model:sampler({ temperature = 0.8, top_k = 20, seed = 7 })
      if not smp then return nil, err end
      local id, e = smp:sample(ctx.s, ctx.ids)
      smp:close()
      return id, e
    end,
    check = function(_, id) assert(math.type(id) == "integer") end },
  { "fork", before = function(ctx) assert(gen_text(ctx.s)) end,
    run = function(ctx) return ctx.s:fork() end,
    check = function(ctx, f) assert(gen_text(f) == ctx.text); f:close() end },
  { "constraint", run = function(ctx) return core.constraint(ctx.apis, ctx.model) end,
    check = function(ctx, c) assert(gen_text(ctx.s, { constraint = c, max_tokens = 12 }) == ctx.ctext) end },
  { "constrained generate", before = function(ctx) ctx.s:rewind(0) end,
    run = function(ctx) return ctx.s:generate(PROMPT, { max_tokens = 12, constraint = ctx.c }) end,
    check = function(ctx, text) assert(text == ctx.ctext) end,
    after = function(ctx) assert(gen_text(ctx.s, { constraint = ctx.c, max_tokens = 12 }) == ctx.ctext) end },
  { "agent turn", setup = function(ctx)
      -- the directory's best decoding: constrained calls, copied values, the copy pointer
      -- (the attention probe), the copy and reply rules
      local reg = assert(require("mobilellm.tools").from_apis(SHIPPED .. "/apis.json"))
      ctx.agent = require("mobilellm.agent").new(ctx.model, { tools = reg, max_steps = 2 })
      ctx.turn = assert(ctx.agent:run("wake me up at 7:30 tomorrow"))
    end,
    run = function(ctx) return ctx.agent:run("wake me up at 7:30 tomorrow") end,
    check = function(ctx, r) assert(r.reply == ctx.turn.reply and same(r.calls, ctx.turn.calls)) end,
    after = function(ctx)
      local r = assert(ctx.agent:run("wake me up at 7:30 tomorrow"))
      assert(r.reply == ctx.turn.reply and same(r.calls, ctx.turn.calls))
    end },
  { "parse_calls", run = function() return mllm.parse_calls(CALL_TEXT) end,
    check = function(ctx, calls) assert(same(calls, ctx.calls)) end },
  { "call_parser", run = function()
      local p = mllm.call_parser()
      local events = {}
      for i = 1, #CALL_TEXT, 7 do
        for _, ev in ipairs(p:feed(CALL_TEXT:sub(i, i + 6))) do events[#events + 1] = ev end
      end
      for _, ev in ipairs(p:finish()) do events[#events + 1] = ev end
      return events
    end,
    check = function(ctx, events)
      local calls = {}
      for _, ev in ipairs(events) do if ev.call then calls[#calls + 1] = ev.call.name end end
      assert(#calls == 1 and calls[1] == ctx.calls[1].name)
    end },
  { "json", run = function(ctx)
      local text = mllm.json_encode(ctx.apis)
      return mllm.json_decode(text)
    end,
    check = function(ctx, v) assert(same(v, ctx.apis)) end },
  { "chat template", run = function(ctx)
      return ctx.model:apply_chat_template({ { role = "user", content = "Wake me up at 7" } },
        { add_generation_prompt = true })
    end,
    check = function(_, text) assert(text:find("Wake me up at 7", 1, true)) end },
  { "session save", before = function(ctx) assert(gen_text(ctx.s)) end,
    run = function(ctx) return ctx.s:save(TMP .. "/state2.bin") end,
    check = function(ctx)
      local r = assert(ctx.model:session({ n_ctx = 128, restore = TMP .. "/state2.bin" }))
      r:close()
    end,
    after = function(ctx) assert(ctx.s:save(TMP .. "/state3.bin")) end },
  { "session restore", run = function(ctx) return ctx.model:session({ n_ctx = 128, restore = ctx.state }) end,
    check = function(ctx, r) assert(r:pos() > #ctx.ids); r:close() end },
  { "model save", run = function(ctx) return ctx.model:save(ctx.saved .. "/model.safetensors") end,
    check = function(ctx)
      local m = assert(mllm.load(ctx.saved))
      assert(same(m:tokenize(PROMPT), ctx.ids))
      m:close()
    end },
  { "load saved", run = function(ctx) return mllm.load(ctx.saved) end,
    check = function(ctx, m)
      local s = assert(m:session({ n_ctx = 128 }))
      assert(gen_text(s) == ctx.text)
      s:close()
      m:close()
    end },
}, teardown = function(ctx)
  ctx.s:close()
  ctx.model:close()
end }

local HF_TEXT = "Hello, world! 123 héllo  wörld"

-- Loading a tokenizer.json of spec/fixtures/tokenizers/: the vocabulary, merges and regexes.
local function hf_load_step(name)
  return { "tokenizer.json (" .. name .. ")", run = function(ctx) return mllm.tokenizer(ctx.hf[name].path) end,
    check = function(ctx, t) assert(same(t:encode(HF_TEXT), ctx.hf[name].ids)); t:close() end }
end

scenarios[#scenarios + 1] = { name = "fixtures", setup = function(ctx)
  ctx.model = assert(mllm.load(SMALL))
  ctx.s = assert(ctx.model:session({ n_ctx = 64 }))
  ctx.text = assert(ctx.s:generate("Once upon a time", { max_tokens = 4 }))
  ctx.hf = {}
  for _, name in ipairs({ "bpe-gpt2", "bpe-llama3", "sp-metaspace" }) do
    local t = assert(mllm.tokenizer("spec/fixtures/tokenizers/" .. name .. "/tokenizer.json"))
    ctx.hf[name] = { path = "spec/fixtures/tokenizers/" .. name .. "/tokenizer.json",
                     ids = assert(t:encode(HF_TEXT)) }
    t:close()
  end
  ctx.torch = assert(mllm.load("spec/fixtures/torch/mobilellm"))
  ctx.torch_text = assert(ctx.torch:generate({ 1, 2, 3 }, { max_tokens = 3 }))
end, steps = {
  { "load", run = function() return mllm.load(SMALL) end,
    check = function(_, m) m:close() end },
  { "generate", before = function(ctx) ctx.s:rewind(0) end,
    run = function(ctx) return ctx.s:generate("Once upon a time", { max_tokens = 4 }) end,
    check = function(ctx, text) assert(text == ctx.text) end,
    after = function(ctx)
      ctx.s:rewind(0)
      assert(ctx.s:generate("Once upon a time", { max_tokens = 4 }) == ctx.text)
    end },
  hf_load_step("bpe-gpt2"),
  hf_load_step("bpe-llama3"),
  hf_load_step("sp-metaspace"),
  { "encode (gpt2)", setup = function(ctx) ctx.t = assert(mllm.tokenizer(ctx.hf["bpe-gpt2"].path)) end,
    run = function(ctx) return ctx.t:encode(HF_TEXT) end,
    check = function(ctx, ids) assert(same(ids, ctx.hf["bpe-gpt2"].ids)) end,
    after = function(ctx) assert(same(ctx.t:encode(HF_TEXT), ctx.hf["bpe-gpt2"].ids)) end },
  { "torch checkpoint", run = function() return mllm.load("spec/fixtures/torch/mobilellm") end,
    check = function(ctx, m) assert(m:generate({ 1, 2, 3 }, { max_tokens = 3 }) == ctx.torch_text); m:close() end },
  { "convert", run = function() return mllm.convert("spec/fixtures/torch/mobilellm", TMP .. "/conv.safetensors") end,
    check = function() assert(io.open(TMP .. "/conv.safetensors", "rb")):close() end },
}, teardown = function(ctx)
  if ctx.t then ctx.t:close() end
  ctx.s:close()
  ctx.model:close()
  ctx.torch:close()
end }

-- ------------------------------------------------------------------ the walk

local points, messages, n_messages = 0, {}, 0

local function walk_step(ctx, scen, step)
  local name = scen.name .. "/" .. step[1]
  if step.setup then step.setup(ctx) end
  local n, absorbed = 0, 0
  while true do
    n = n + 1
    if step.before then step.before(ctx) end
    if trace then io.stderr:write(name, " n=", n, "\n") end
    fault(n, persist)
    local ok, v, msg = pcall(step.run, ctx)
    local counted, failed = fault(0)
    local where = ("%s, allocation %d of %d%s"):format(name, n, counted, persist and " (persist)" or "")
    if failed == 0 then
      -- ran through: n is past the step's last allocation
      if not ok or v == nil then
        error(where .. ": failed without an injected failure: " .. tostring(ok and msg or v))
      end
      if step.check then step.check(ctx, v) end
      print(("%-38s %5d failure points%s"):format(name, n - 1,
        absorbed > 0 and (" (%d absorbed)"):format(absorbed) or ""))
      points = points + n - 1
      return
    end
    if ok and v ~= nil then
      -- the library worked around the failure (a cache it does without, PCRE2's JIT):
      -- the result must still be right
      absorbed = absorbed + 1
      if verbose then io.stderr:write(where, ": absorbed\n") end
      local good, e = pcall(step.check or function() end, ctx, v)
      if not good then error(where .. ": a result after an absorbed failure is wrong: " .. tostring(e)) end
    else
      local m = ok and msg or v
      if type(m) ~= "string" then error(where .. ": the error is not a message: " .. tostring(m)) end
      if not m:lower():find("memory", 1, true) then error(where .. ": the error does not name the memory: " .. m) end
      local key = m:gsub("%d+", "N"):gsub(TMP:gsub("%p", "%%%0"), "TMP")
      if not messages[key] then messages[key], n_messages = true, n_messages + 1 end
      if step.after then
        local good, e = pcall(step.after, ctx)
        if not good then
          error(where .. ": the objects do not work after the failure (" .. m .. "): " .. tostring(e))
        end
      end
    end
    collectgarbage()
  end
end

for _, scen in ipairs(scenarios) do
  if next(wanted) == nil or wanted[scen.name] then
    local ctx = {}
    scen.setup(ctx)
    for _, step in ipairs(scen.steps) do walk_step(ctx, scen, step) end
    scen.teardown(ctx)
    collectgarbage()
  end
end
os.execute("rm -rf '" .. TMP .. "'")
if verbose then for m in pairs(messages) do io.stderr:write("  ", m, "\n") end end
print(("oom: %d failure points exercised, %d distinct error messages%s"):format(points, n_messages,
  persist and " (persist)" or ""))
