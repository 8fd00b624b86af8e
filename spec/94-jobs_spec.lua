-- Jobs and cancellation (issue 38): s:start / model:start run a generation a time budget at a
-- time (job:step) or on a worker thread (async, job:poll); both give the text of s:generate;
-- s:cancel and job:cancel stop a generation or a job; the session is busy while a job runs;
-- closing or collecting a session or model under a running async job cancels and joins it.
-- Outcomes only, never times.
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")
local H = require("support.helpers")

local SHIPPED = "models/mobilellm-tiny-api"
local PROMPT = "<|user|> Set an alarm for 7 am tomorrow and text Priya that I'm late. <|assistant|>"

local raises = H.raises

-- Steps a job to its end; returns the text of the steps joined and the number of steps.
local function run_steps(job, budget)
  local parts, n = {}, 0
  repeat
    local text, done = job:step(budget)
    assert(text, done)
    parts[#parts + 1] = text
    n = n + 1
  until done
  return table.concat(parts), n
end

local function run_polls(job)
  local parts = {}
  repeat
    local text, done = job:poll()
    assert(text, done)
    parts[#parts + 1] = text
  until done
  return table.concat(parts)
end

-- A model with a long context whose prefill takes a while (random weights).
local function long_model()
  local dir = H.make_model({ hidden_size = 64, intermediate_size = 128, num_attention_heads = 4,
                             num_key_value_heads = 2, num_hidden_layers = 4, max_position_embeddings = 4096 })
  local m = assert(mllm.load(dir, { threads = 1 }))
  H.rmdir(dir)
  return m
end

local function long_prompt(n)
  local ids = {}
  for i = 1, n do ids[i] = 3 + (i * 7) % 29 end
  return ids
end

describe("jobs", function()
  local m = assert(mllm.load(SHIPPED, { threads = 2 }))
  local apis = assert(chat.load_apis(SHIPPED .. "/apis.json"))

  describe("give the text of generate", function()
    local cases = {
      { "greedy", { max_tokens = 40 } },
      { "seed 1", { max_tokens = 40, temperature = 0.8, seed = 1 } },
      { "seed 7, top_p", { max_tokens = 40, temperature = 1.0, top_p = 0.9, seed = 7 } },
      { "seed 3, stop strings", { max_tokens = 60, temperature = 0.7, seed = 3, stop = { ")", "\n" } } },
      { "seed 5, no eos", { max_tokens = 30, temperature = 1.2, seed = 5, stop_at_eos = false } },
    }
    for _, case in ipairs(cases) do
      local name, opts = case[1], case[2]
      it(name .. ": stepwise, async polled, async waited, and model:start", function()
        local s = m:session()
        local want, winfo = s:generate(PROMPT, opts)
        local pos = s:pos()
        s:rewind(0)
        local job = s:start(PROMPT, opts)
        local text, steps = run_steps(job, 1)
        assert.are.equal(want, text)
        assert.are.equal(want, job:text())
        assert.are.equal(winfo.generated_tokens, job:info().generated_tokens)
        assert.are.equal(winfo.stop, job:info().stop)
        assert.are.equal(pos, s:pos())
        assert.is_true(steps >= 1)
        assert.is_true(job:done())
        s:rewind(0)
        local o = {}
        for k, v in pairs(opts) do o[k] = v end
        o.async = true
        job = s:start(PROMPT, o)
        assert.are.equal(want, run_polls(job))
        assert.are.equal(pos, s:pos())
        s:rewind(0)
        local all, info = s:start(PROMPT, o):wait()
        assert.are.equal(want, all)
        assert.are.equal(winfo.stop, info.stop)
        local one = m:start(PROMPT, o)
        assert.are.equal(want, (one:wait()))
        one:close()
        s:close()
      end)
    end

    it("ids: every token generated, as a stream hands them out, stepwise and async", function()
      for _, opts in ipairs({ { max_tokens = 40 }, { max_tokens = 60, temperature = 0.7, seed = 3, stop = { ")" } } }) do
        local s = m:session()
        local want = {}
        for _, id in s:stream(PROMPT, opts) do if id and id >= 0 then want[#want + 1] = id end end
        local n_prompt = #m:tokenize(PROMPT, { bos = true })
        assert.are.equal(n_prompt + #want, s:pos())  -- each one is in the session, a stop string's too
        for _, async in ipairs({ false, true }) do
          s:rewind(0)
          local o = { async = async }
          for k, v in pairs(opts) do o[k] = v end
          local job = s:start(PROMPT, o)
          if not async then assert.are.same({}, job:ids()) end  -- nothing made before a step
          job:wait()
          assert.are.same(want, job:ids())
          assert.are.equal(n_prompt + #job:ids(), s:pos())
          local copy = job:ids()
          copy[1] = -5  -- a copy: the job's list stays
          assert.are.same(want, job:ids())
          job:close()
          raises("attempt to use a closed job", job.ids, job)
        end
        s:close()
      end
    end)

    it("with a constraint, stepwise and async", function()
      local c = mllm.constraint(apis, m)
      local opts = { max_tokens = 60, temperature = 0.9, seed = 11, constraint = c }
      local want = m:generate(PROMPT, opts)
      assert.are.equal(want, run_steps(m:start(PROMPT, opts), 2))
      opts.async = true
      local job = m:start(PROMPT, opts)
      -- the worker masks with it: Lua may not touch it meanwhile
      raises("the constraint is in use by a running async job", c.check, c, "x")
      raises("the constraint is in use by a running async job", c.close, c)
      raises("the constraint is in use by a running async job", m.generate, m, PROMPT, { constraint = c })
      assert.are.equal(want, (job:wait()))
      assert.are.equal("free", c:check("hello"))  -- let go once the job has ended
      job:close()
    end)

    it("on_token runs inside step and wait (stepwise), with the pieces of the text", function()
      local s = m:session()
      local want = s:generate(PROMPT, { max_tokens = 20 })
      s:rewind(0)
      local pieces = {}
      local job = s:start(PROMPT, { max_tokens = 20, on_token = function(p) pieces[#pieces + 1] = p end })
      assert.are.equal(want, run_steps(job, 3))
      assert.are.equal(want, table.concat(pieces))
      -- returning false ends the job after that piece, as in generate
      s:rewind(0)
      local n = 0
      local stop_at = function() n = n + 1; return n < 3 end
      local g = s:generate(PROMPT, { max_tokens = 20, stop_at_eos = false, on_token = stop_at })
      s:rewind(0)
      n = 0
      local text, info = s:start(PROMPT, { max_tokens = 20, stop_at_eos = false, on_token = stop_at }):wait()
      assert.are.equal(g, text)
      assert.are.same({ 3, "none" }, { info.generated_tokens, info.stop })
      -- an error it raises comes out of step; the job has ended and the session is free
      s:rewind(0)
      job = s:start(PROMPT, { on_token = function() error("boom") end })
      raises("boom", run_steps, job, 50)
      assert.is_true(job:done())
      assert.is_true(s:eval({ 5 }))
      s:close()
    end)
  end)

  describe("cancel", function()
    it("from another coroutine stops a stepwise job at its next step", function()
      local s = m:session()
      local job = s:start(PROMPT, { max_tokens = 200, stop_at_eos = false })
      local text = ""
      local frames = coroutine.wrap(function()
        while true do
          local t, done = job:step(0)
          text = text .. t
          if done then return "done" end
          coroutine.yield()
        end
      end)
      for _ = 1, 30 do frames() end
      job:cancel()
      assert.are.equal("done", frames())
      local info = job:info()
      assert.are.equal("cancelled", info.stop)
      assert.is_true(info.generated_tokens < 200)
      assert.are.equal(text, job:text())
      assert.are.equal(info.prompt_tokens + info.generated_tokens, s:pos())
      assert.is_false(s:clear_cancel())  -- the job took the request
      assert.is_true(s:eval({ 5 }))      -- the session goes on
      assert.matches("ended: cancelled", tostring(job))
      s:close()
    end)

    it("from on_token ends s:generate with stop reason cancelled and the text so far", function()
      local s = m:session()
      local pieces = {}
      local text, info = s:generate(PROMPT, { max_tokens = 50, stop_at_eos = false, on_token = function(p)
        pieces[#pieces + 1] = p
        if #pieces == 4 then s:cancel() end
      end })
      assert.are.same({ "cancelled", 4 }, { info.stop, info.generated_tokens })
      assert.are.equal(table.concat(pieces), text)
      assert.are.equal(info.prompt_tokens + 4, s:pos())
      assert.is_false(s:clear_cancel())
      s:close()
    end)

    it("from another coroutine ends s:stream", function()
      local s = m:session()
      local it, _, _, stream = s:stream(PROMPT, { max_tokens = 50, stop_at_eos = false })
      local consumer = coroutine.wrap(function()
        local n = 0
        for _ in it, nil, nil, stream do n = n + 1; coroutine.yield(n) end
        return "end"
      end)
      assert.are.equal(1, consumer())
      assert.are.equal(2, consumer())
      s:cancel()
      local last
      repeat last = consumer() until last == "end"
      assert.are.equal("cancelled", stream:info().stop)
      assert.are.equal(2, stream:info().generated_tokens)
      s:close()
    end)

    it("a request made when nothing runs stops the next operation, unless cleared", function()
      local s = m:session()
      s:cancel()
      local ok, err = s:generate(PROMPT)
      assert.is_nil(ok)
      assert.matches("cancelled: 0 of %d+ tokens evaluated", err)
      assert.are.equal(0, s:pos())
      s:cancel()
      assert.is_true(s:clear_cancel())
      assert.are.equal("string", type((s:generate(PROMPT, { max_tokens = 2 }))))
      s:close()
    end)

    it("an async job in a long prefill, and the session stays consistent", function()
      local lm = long_model()
      local s = lm:session({ n_batch = 1 })  -- 2000 forward passes before the first token
      local job = s:start(long_prompt(2000), { async = true, max_tokens = 2000, stop_at_eos = false })
      repeat local _, done = job:poll() until done or job:info().prompt_tokens > 0
      job:cancel()
      local text, info = job:wait()
      assert.are.equal("cancelled", info.stop)
      assert.are.equal("", text)  -- no tokenizer: ids only
      assert.are.equal(info.prompt_tokens + info.generated_tokens, s:pos())
      assert.is_false(s:clear_cancel())
      s:rewind(0)
      assert.is_true(s:eval({ 3, 4, 5 }))
      s:close()
      lm:close()
    end)
  end)

  describe("the session is busy while a job runs", function()
    for _, async in ipairs({ false, true }) do
      it(async and "async" or "stepwise", function()
        local s = m:session()
        local job = s:start(PROMPT, { async = async, max_tokens = 300, stop_at_eos = false })
        local busy = "the session is busy: a job is running on it"
        raises(busy, s.generate, s, "x")
        raises(busy, s.stream, s, "x")
        raises(busy, s.start, s, "x")
        raises(busy, s.eval, s, { 1 })
        raises(busy, s.score, s, { 1 })
        raises(busy, s.rewind, s, 0)
        raises(busy, s.fork, s)
        raises(busy, s.save, s, "/tmp/never-written")
        raises(busy, s.set_probe, s, { { 0, 0 } })
        if async then
          raises("poll it, do not step it", job.step, job, 1)
        end
        assert.matches("running", tostring(job))
        job:close()
        job:close()  -- idempotent
        raises("attempt to use a closed job", job.poll, job)
        assert.are.equal("mobilellm.Job (closed)", tostring(job))
        assert.is_true(s:eval({ 1 }))  -- free again
        s:close()
      end)
    end
  end)

  describe("refuses", function()
    it("misspelled options, on_token with async, a bad budget", function()
      local s = m:session()
      raises("unknown option 'asynk' to start (did you mean 'async'?)", s.start, s, PROMPT, { asynk = true })
      raises("unknown option 'max_token' to start (did you mean 'max_tokens'?)", m.start, m, PROMPT, { max_token = 1 })
      raises("option 'on_token' cannot be used with async = true", s.start, s, PROMPT,
             { async = true, on_token = print })
      raises("option 'async'", s.start, s, PROMPT, { async = "yes" })
      local job = s:start(PROMPT)
      raises("budget", job.step, job, -1)
      job:close()
      local ok, err = s:start(long_prompt(600))
      assert.is_nil(ok)
      assert.matches("does not fit the context", err)
      s:close()
    end)
  end)

  describe("closing under a running async job", function()
    it("the session: cancels and joins; the job ends cancelled", function()
      local s = m:session()
      local job = s:start(PROMPT, { async = true, max_tokens = 300, stop_at_eos = false })
      s:close()
      assert.are.same({ "", true }, { job:poll() })
      assert.are.equal("cancelled", job:info().stop)
      raises("attempt to use a closed session", s.pos, s)
    end)

    it("the model: the job goes on (the session holds the weights)", function()
      local m2 = assert(mllm.load(SHIPPED, { threads = 1 }))
      local want = m2:generate(PROMPT, { max_tokens = 20 })
      local job = m2:start(PROMPT, { async = true, max_tokens = 20 })
      m2:close()
      assert.are.equal(want, (job:wait()))
      job:close()
    end)

    it("collecting the job, its session and its model", function()
      for _ = 1, 5 do
        local m3 = assert(mllm.load(SHIPPED, { threads = 1 }))
        local s = m3:session()
        local _ = s:start(PROMPT, { async = true, max_tokens = 300, stop_at_eos = false })
        local _ = m3:start(PROMPT, { async = true, max_tokens = 300, stop_at_eos = false })
      end
      collectgarbage()
      collectgarbage()
      local s = m:session()
      do
        local _ = s:start(PROMPT, { async = true, max_tokens = 300, stop_at_eos = false })
      end
      collectgarbage()
      collectgarbage()
      assert.is_true(s:eval({ 1 }))  -- the collected job let go of its session
      s:close()
    end)
  end)

  describe("examples/game_npc.lua", function()
    local npcm = dofile("examples/game_npc.lua")
    local fixture = assert(mllm.load(H.FIXTURES .. "/bf16-vocab32k", { threads = 1 }))
    local function scene(mode, extra)
      local acts, out = {}, {}
      local game = {
        give_item = function(item, count) acts[#acts + 1] = "give " .. item .. " " .. count return "given" end,
        move_to = function(place) acts[#acts + 1] = "move " .. place end,
      }
      local opts = { call = "required", mode = mode, print = function(l) out[#out + 1] = l end }
      for k, v in pairs(extra or {}) do opts[k] = v end
      local summary = npcm.run_demo(fixture, game, opts)
      local calls = 0
      for _, l in ipairs(out) do if l:find("^%[frame +%d+%]   [%w_]+%(") then calls = calls + 1 end end
      return summary, calls, table.concat(out, "\n")
    end

    it("step mode: the prefill of every stretch is spread over frames too", function()
      local ticks = 0
      -- a clock where every reading spends the budget: each frame's step does one unit of work
      local summary, calls, log = scene("step", { budget = 0.0005,
                                                  clock = function() ticks = ticks + 1 return ticks * 0.001 end })
      assert.are.equal(2, summary.answered, log)
      assert.is_true(calls >= 2, log)
      -- one unit per frame: a frame per prompt token and per generated one, not one frame per prompt
      assert.is_true(summary.busy_frames > summary.tokens + 50, log)
      assert.are.equal("step", summary.mode)
      assert.is_true(summary.p99_frame_ms <= summary.max_frame_ms)
    end)

    it("async mode: polled each frame, the answers' calls run", function()
      local summary, calls, log = scene("async", { fps = 500 })
      assert.are.equal(2, summary.answered, log)
      assert.is_true(calls >= 2, log)
      assert.is_true(summary.busy_frames >= 2, log)
    end)
  end)

  describe("examples/host/job_host.c", function()
    it("steps a job, then polls an async one, in a C frame loop, and both answer the same", function()
      assert.is_true(os.execute("make --no-print-directory -s examples >/dev/null"))
      local p = io.popen("build/examples/job_host 2>&1; echo \"exit $?\"")
      local out = p:read("a")
      p:close()
      assert.truthy(out:find("exit 0\n$"), out)
      local step = out:match("stepwise, 4 ms per frame: ([^\n]*)")
      local async = out:match("async, polled each frame: ([^\n]*)")
      assert.truthy(step and #step > 0, out)
      assert.are.equal(step, async)
      local _, n = out:gsub("%d+ frames, %d+ prompt %+ %d+ generated tokens", "")
      assert.are.equal(2, n, out)
    end)
  end)
end)
