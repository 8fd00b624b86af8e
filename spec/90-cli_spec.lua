-- The mobilellm command line: every command in-process (lua/mobilellm/cli.lua with
-- captured streams), the installed CLI (make install into a temporary prefix) as a
-- subprocess, and `mobilellm chat` on a terminal (tmux) as a person uses it.
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")
local cli = require("mobilellm.cli")
local H = require("support.helpers")

local VOCAB32K = H.FIXTURES .. "/bf16-vocab32k"  -- the fixture with a tokenizer
local SHIPPED_DIR = "models/mobilellm-tiny-api"  -- a tool-calling model: it ships apis.json
local APIS = "models/mobilellm-tiny-api/apis.json"

-- A stream that keeps what is written to it.
local function sink()
  local parts = {}
  return {
    write = function(self, ...)
      for _, s in ipairs({ ... }) do parts[#parts + 1] = tostring(s) end
      return self
    end,
    flush = function() end,
    text = function() return table.concat(parts) end,
  }
end

-- A stream to read from: lines of a string.
local function source(text)
  local pos = 1
  return {
    read = function(_, fmt)
      if pos > #text then return nil end
      if fmt == "a" then
        local rest = text:sub(pos)
        pos = #text + 1
        return rest
      end
      local nl = text:find("\n", pos, true) or #text + 1
      local line = text:sub(pos, nl - 1)
      pos = nl + 1
      return line
    end,
  }
end

-- Runs the CLI in-process; returns the exit status, stdout and stderr.
local function run(argv, env)
  env = env or {}
  local out, err = sink(), sink()
  local code = cli.main(argv, {
    out = out, err = err, inp = source(env.input or ""), tty = env.tty or false,
    interactive = env.interactive or false, getenv = function() return nil end,
  })
  return code, out:text(), err:text()
end

-- text as a Lua pattern that matches it literally
local function lit(text) return (text:gsub("%p", "%%%0")) end

local function lines(text)
  local t = {}
  for l in (text .. "\n"):gmatch("(.-)\n") do t[#t + 1] = l end
  if t[#t] == "" then t[#t] = nil end
  return t
end

-- An error is one line on stderr, "mobilellm: ...".
local function assert_one_error(err, fragment)
  assert.are.equal(1, #lines(err), "expected one line, got: " .. err)
  assert.matches("^mobilellm: ", err)
  if fragment then assert.matches(fragment, err, 1, true) end
end

local function greedy(model, prompt, max_tokens, stop)
  local s = assert(model:session())
  local text = assert(s:generate(prompt, { max_tokens = max_tokens, temperature = 0, stop = stop }))
  s:close()
  return text
end

describe("mobilellm (in-process)", function()
  local model

  setup(function()
    model = assert(mllm.load(VOCAB32K, { threads = 1 }))
  end)

  teardown(function()
    model:close()
  end)

  describe("the command line", function()
    it("lists the commands with --help and exits 0", function()
      local code, out = run({ "--help" })
      assert.are.equal(0, code)
      for _, c in ipairs({ "info", "run", "chat", "agent", "convert", "bench", "eval" }) do
        assert.matches("\n  " .. c .. " ", out, 1, true)
      end
    end)

    it("prints the usage on stderr and exits 2 without a command", function()
      local code, out, err = run({})
      assert.are.equal(2, code)
      assert.are.equal("", out)
      assert.matches("^usage: mobilellm COMMAND", err)
    end)

    it("has --help on every command", function()
      for _, c in ipairs(cli.COMMANDS) do
        local code, out, err = run({ c.name, "--help" })
        assert.are.equal(0, code)
        assert.are.equal("", err)
        assert.matches("^usage: mobilellm " .. c.name .. " ", out)
        assert.matches("-h, --help", out, 1, true)
        -- every option is listed
        for _, o in ipairs(c.options) do assert.matches("--" .. o[1], out, 1, true) end
      end
    end)

    it("prints its version", function()
      local code, out = run({ "--version" })
      assert.are.equal(0, code)
      assert.are.equal("mobilellm " .. mllm.version .. "\n", out)
    end)

    -- { argv, exit status, fragment of the one-line message }
    local bad = {
      { { "frobnicate" }, 2, "unknown command 'frobnicate' (see 'mobilellm --help')" },
      { { "info" }, 2, "info: missing DIR (see 'mobilellm info --help')" },
      { { "info", VOCAB32K, "extra" }, 2, "info: unexpected argument 'extra'" },
      { { "info", VOCAB32K, "--frob" }, 2, "info: unknown option --frob" },
      { { "info", VOCAB32K, "--threads" }, 2, "info: --threads needs a value (N)" },
      { { "info", VOCAB32K, "--threads", "two" }, 2, "info: --threads expects an integer, got 'two'" },
      { { "info", VOCAB32K, "--dtype", "int3" }, 2, "--dtype must be one of auto, f32, f16, bf16, q8, q4, got 'int3'" },
      { { "run", VOCAB32K, "hi", "--top-p", "0" }, 2, "run: --top-p must be in [1e-09, 1], got 0" },
      { { "run", VOCAB32K, "hi", "--temperature=-1" }, 2, "--temperature must be in [0, 1000000.0], got -1" },
      { { "run", VOCAB32K, "hi", "--json" }, 2, "run: unknown option --json" },
      { { "chat", VOCAB32K, "--kv-type", "q8" }, 2, "--kv-type must be one of auto, f32, f16, got 'q8'" },
      { { "convert", VOCAB32K, "/tmp/x" }, 2, "convert: --dtype is required" },
      { { "info", "/nonexistent/model" }, 1, "/nonexistent/model: no such directory" },
      { { "info", "spec" }, 1, "spec: not a model directory (no config.json)" },
      { { "run", H.FIXTURES .. "/f32-basic", "hi" }, 1, "f32-basic: no tokenizer.model or tokenizer.json; run needs one" },
      { { "info", VOCAB32K, "--dtype", "q8" }, 1, "dtype q8 needs rows that are a multiple of 32 values" },
      { { "eval", VOCAB32K, "--data", "/nonexistent.jsonl", "--apis", APIS, "--threads", "1" }, 1, "/nonexistent.jsonl: cannot open: No such file or directory" },
      -- eval's defaults are the model directory's files, never the working directory's
      { { "eval", VOCAB32K, "--threads", "1" }, 1, VOCAB32K .. "/apis.json: cannot open: No such file or directory ("
        .. VOCAB32K .. " has no apis.json; --apis FILE names one)" },
      { { "eval", VOCAB32K, "--apis", APIS, "--threads", "1" }, 1, VOCAB32K .. "/eval/test.jsonl: cannot open: No such "
        .. "file or directory (" .. VOCAB32K .. " has no eval/test.jsonl; --data FILE names one)" },
      { { "eval", SHIPPED_DIR, "--free", "--copy" }, 2, "eval: --free excludes --constrain and --copy" },
      { { "eval", SHIPPED_DIR, "--constrain", "--no-pointer" }, 2, "eval: --no-pointer goes with the copy decoding" },
      { { "run", VOCAB32K, "hi", "--copy" }, 1, VOCAB32K .. " ships no tool list (apis.json): --copy needs one" },
      { { "run", SHIPPED_DIR, "hi", "--raw", "--free" }, 2, "run: --raw continues plain text: --free needs a request" },
      { { "agent", VOCAB32K, "--apis", "/nonexistent.json" }, 1, "/nonexistent.json: cannot open: No such file or directory" },
      { { "run", VOCAB32K, "hi", "--tokenizer", "/nonexistent.model" }, 1, "/nonexistent.model: cannot open: No such file or directory" },
    }
    for _, case in ipairs(bad) do
      it("fails with one line for: " .. table.concat(case[1], " "), function()
        local code, out, err = run(case[1])
        assert.are.equal(case[2], code)
        assert.are.equal("", out)
        assert_one_error(err, case[3])
      end)
    end
  end)

  describe("info", function()
    it("shows the architecture, parameters, layer sharing, dtype, kernels and memory", function()
      local code, out, err = run({ "info", VOCAB32K, "--threads", "1" })
      assert.are.equal(0, code)
      assert.are.equal("", err)
      local c = model.config
      assert.matches("architecture  mobilellm: dim 16, 2 heads / 1 KV heads (head_dim 8), FFN 32\n", out, 1, true)
      assert.matches("layers        1 stored, 2 executed (layer sharing: each block runs twice)\n", out, 1, true)
      assert.matches("parameters    514.4K (" .. c.params .. ")\n", out, 1, true)
      assert.matches("embedding     shared with the output head\n", out, 1, true)
      assert.matches("vocabulary    32000 tokens, bos 1, eos 2, tokenizer: tokenizer.model\n", out, 1, true)
      assert.matches("dtype         stored bf16, computing in bf16 (used as stored)\n", out, 1, true)
      assert.matches("kernels       " .. c.kernels .. ", 1 thread\n", out, 1, true)
      -- KV cache: 2 (K and V) x 2 executed layers x 8 floats per token
      assert.matches("memory        weights 1005.9 KiB; KV cache 128 B per token, 32.0 KiB at the full context\n",
        out, 1, true)
    end)

    it("says when the compute format differs from the stored one", function()
      local code, out = run({ "info", H.FIXTURES .. "/f32-ls", "--dtype", "q4", "--threads", "1" })
      assert.are.equal(0, code)
      assert.matches("dtype         stored f32, computing in q4 (converted on load)", out, 1, true)
      assert.matches("layers        3 stored, 6 executed", out, 1, true)
    end)

    it("prints the configuration as JSON", function()
      local code, out = run({ "info", VOCAB32K, "--json", "--threads", "1" })
      assert.are.equal(0, code)
      local t = assert(mllm.json_decode(out))
      assert.are.equal(32000, t.vocab_size)
      assert.are.equal(true, t.layer_sharing)
      assert.are.equal(VOCAB32K, t.path)
    end)
  end)

  describe("run", function()
    it("streams the text generate gives, then the speed on stderr", function()
      local want = greedy(model, "Once upon a time", 24)
      local code, out, err = run({ "run", VOCAB32K, "Once upon a time", "--max-tokens", "24", "--threads", "1" })
      assert.are.equal(0, code)
      assert.are.equal(want .. "\n", out)
      assert.matches("^%[prompt: 5 tokens, [%d.]+ tok/s | generated: 24 tokens, [%d.]+ tok/s | stop: length%]\n$", err)
    end)

    it("samples with a seed, stops at --stop and reads the prompt from stdin with -", function()
      local s = assert(model:session())
      local want = s:generate("The", { max_tokens = 30, temperature = 0.9, top_k = 40, top_p = 0.95, seed = 11,
                                       stop = { "e" } })
      local code, out, err = run({ "run", VOCAB32K, "-", "--max-tokens", "30", "--temperature", "0.9", "--top-k", "40",
                                   "--top-p", "0.95", "--seed", "11", "--stop", "e", "--threads", "1" },
                                 { input = "The" })
      assert.are.equal(0, code)
      assert.are.equal(want .. "\n", out)
      assert.matches("stop: stop]", err, 1, true)
    end)

    it("takes the tokenizer from --tokenizer FILE", function()
      local dir = H.tmpdir()
      for _, f in ipairs({ "config.json", "model.safetensors" }) do H.write(dir .. "/" .. f, H.read(VOCAB32K .. "/" .. f)) end
      local argv = { "run", dir, "Once upon a time", "--max-tokens", "6", "--threads", "1" }
      local code, _, err = run(argv)
      assert.are.equal(1, code)
      assert_one_error(err, "no tokenizer.model or tokenizer.json; run needs one (--tokenizer FILE names one)")
      table.insert(argv, "--tokenizer")
      table.insert(argv, H.TOKENIZER)
      local out
      code, out = run(argv)
      assert.are.equal(0, code)
      assert.are.equal(greedy(model, "Once upon a time", 6) .. "\n", out)
      H.rmdir(dir)
    end)

    it("runs with an f16 KV cache (--kv-type f16), as the library does", function()
      local code, out, err = run({ "run", VOCAB32K, "Once upon a time", "--max-tokens", "6", "--threads", "1",
                                   "--kv-type", "f16" })
      assert.are.equal(0, code, err)
      local s = model:session({ kv_type = "f16" })
      local text = assert(s:generate(model:tokenize("Once upon a time", { bos = true }), { max_tokens = 6 }))
      assert.are.equal(text .. "\n", out)
    end)

    describe("on a tool-calling model (DIR/apis.json)", function()
      local shipped
      setup(function() shipped = assert(mllm.load(SHIPPED_DIR, { threads = 1 })) end)
      teardown(function() shipped:close() end)

      -- The answer to a request as mobilellm.eval decodes it with the given flags.
      local function answer(request, flags)
        local eval = require("mobilellm.eval")
        local apis = assert(chat.load_apis(APIS))
        local messages = { { role = "user", content = request } }
        local ids = shipped:tokenize(chat.prompt_text(messages, apis), { bos = true })
        local s = assert(shipped:session())
        local constraint = assert(eval.decoding(SHIPPED_DIR, flags)):start(shipped, apis, s, messages, ids)
        local text = assert(s:generate(ids, { max_tokens = 256, temperature = 0, stop = { "\n" }, constraint = constraint }))
        s:close()
        return text
      end

      it("answers the text as a request in its chat format: the call and the reply", function()
        local code, out, err = run({ "run", SHIPPED_DIR, "wake me up at 7 am", "--threads", "1" })
        assert.are.equal(0, code, err)
        assert.matches('^<tool_call>set_alarm%(time="7 am"%)</tool_call> [^\n]+\n$', out)
        assert.are.equal(answer("wake me up at 7 am") .. "\n", out)
        local prompt = chat.prompt_text({ { role = "user", content = "wake me up at 7 am" } }, assert(chat.load_apis(APIS)))
        assert.matches("^%[prompt: " .. #shipped:tokenize(prompt, { bos = true }) .. " tokens, .* | stop: eos%]\n$", err)
      end)

      it("decodes as eval does: the best by default, the others on request", function()
        -- each decoding spells the city differently: "Gしidé city" free, "for" without the pointer
        local request = "weather report for panama city"
        local best = answer(request, {})
        assert.are.equal('<tool_call>get_weather(city="panama city")</tool_call>', best:match("^<tool_call>.-</tool_call>"))
        local cases = { { {}, {} }, { { "--free" }, { free = true } }, { { "--constrain" }, { constrain = true } },
                        { { "--copy" }, { copy = true } }, { { "--no-pointer" }, { pointer = false } } }
        local seen = {}
        for _, case in ipairs(cases) do
          local argv = { "run", SHIPPED_DIR, request, "--threads", "1", table.unpack(case[1]) }
          local code, out, err = run(argv)
          assert.are.equal(0, code, err)
          assert.are.equal(answer(request, case[2]) .. "\n", out, table.concat(case[1], " "))
          seen[out] = true
        end
        local n = 0
        for _ in pairs(seen) do n = n + 1 end
        assert.are.equal(3, n)  -- best (= --copy), free (= --constrain here), without the pointer
      end)

      it("reads the request from stdin with -, one line", function()
        local code, out = run({ "run", SHIPPED_DIR, "-", "--threads", "1" }, { input = "wake me up at 7 am\n" })
        assert.are.equal(0, code)
        assert.are.equal(answer("wake me up at 7 am") .. "\n", out)
      end)

      it("continues the text as it is with --raw", function()
        local code, out, err = run({ "run", SHIPPED_DIR, "Once upon a time", "--raw", "--max-tokens", "8", "--threads", "1" })
        assert.are.equal(0, code, err)
        assert.are.equal(greedy(shipped, "Once upon a time", 8) .. "\n", out)
        assert.matches("^%[prompt: 5 tokens", err)
      end)
    end)

    it("shows a progress bar for a long prompt on a terminal, with the same text", function()
      -- 129 tokens: both paths prefill 64 + 64, then 1, so their logits are identical
      local prompt = "Once upon a time"
      while #model:tokenize(prompt, { bos = true }) < 129 do prompt = prompt .. " hello" end
      assert.are.equal(129, #model:tokenize(prompt, { bos = true }))
      local argv = { "run", VOCAB32K, prompt, "--max-tokens", "12", "--threads", "1" }
      local code, plain_out, plain_err = run(argv)
      assert.are.equal(0, code)
      local tcode, out, err = run(argv, { tty = true })
      assert.are.equal(0, tcode)
      assert.are.equal(plain_out, out)
      assert.matches("\r\27[Kloading " .. VOCAB32K .. " ...", err, 1, true)
      assert.matches("\r\27%[Kprompt [#%-]+ +%d+%% [%d.]+s", err)
      assert.matches("100%", err, 1, true)
      -- the bar is erased before the statistics, which are those of the plain run
      assert.matches("\r\27%[K%[prompt: 129 tokens", err)
      assert.matches("[prompt: 129 tokens", plain_err, 1, true)
    end)
  end)

  describe("chat", function()
    local apis = assert(chat.load_apis(APIS))
    local function turn_answer(messages)
      return greedy(model, chat.prompt_text(messages, apis), 10, { "\n" })
    end

    it("reports a turn that does not fit the context on one line and goes on", function()
      local code, out, err = run({ "chat", VOCAB32K, "--apis", APIS, "--n-ctx", "40", "--max-tokens", "4", "--threads", "1" },
        { input = "hello there\n/reset\nhi\n" })
      assert.are.equal(0, code)
      -- each line read is echoed after "> " (the input is not a terminal), the refused turn's too
      assert.are.equal("> hello there\n> /reset\n(history cleared)\n> hi\n", out)
      local l = lines(err)
      assert.are.equal(2, #l)
      for _, e in ipairs(l) do
        assert.matches("^mobilellm: prompt of %d+ tokens does not fit the context %(n_ctx 40, 0 already used%) " ..
          "%(the message was not kept: send a shorter one, or /reset to start over%)$", e)
      end
    end)

    it("keeps the history in the session, and /reset forgets it", function()
      local code, out, err = run({ "chat", VOCAB32K, "--apis", APIS, "--max-tokens", "10", "--threads", "1", "--verbose" },
        { input = "hello\nwhat can you do?\n/reset\nhello\n/help\n/nonsense\n/quit\nnot read\n" })
      assert.are.equal(0, code)
      local a1 = turn_answer({ { role = "user", content = "hello" } })
      local call, reply, perr = chat.parse_answer(a1)
      if perr then call, reply = nil, a1 end
      local a2 = turn_answer({ { role = "user", content = "hello" }, { role = "assistant", content = reply, call = call },
                               { role = "user", content = "what can you do?" } })
      assert.are.same({ "> hello", a1, "> what can you do?", a2, "> /reset", "(history cleared)", "> hello", a1,
                        "> /help", "/reset clears the history, /quit (or Ctrl-D) leaves",
                        "> /nonsense", "unknown command /nonsense; /reset clears the history, /quit (or Ctrl-D) leaves",
                        "> /quit" }, lines(out))
      -- the second turn evaluates only what the first did not: the KV cache is reused
      local e = lines(err)
      assert.are.equal(3, #e)
      local full1 = #model:tokenize(chat.prompt_text({ { role = "user", content = "hello" } }, apis), { bos = true })
      assert.are.equal(full1, tonumber(e[1]:match("^%[prompt: (%d+) tokens")))
      local full2 = #model:tokenize(chat.prompt_text({ { role = "user", content = "hello" },
        { role = "assistant", content = reply, call = call }, { role = "user", content = "what can you do?" } }, apis),
        { bos = true })
      assert.is_true(tonumber(e[2]:match("^%[prompt: (%d+) tokens")) < full2 / 2)
      assert.are.equal(full1, tonumber(e[3]:match("^%[prompt: (%d+) tokens")))
    end)

    it("shows a banner and a prompt when interactive, and ends at end of input", function()
      local code, out = run({ "chat", VOCAB32K, "--apis", APIS, "--max-tokens", "4", "--threads", "1" },
        { input = "hi\n", interactive = true })
      assert.are.equal(0, code)
      local l = lines(out)
      assert.matches("^mobilellm chat: mobilellm.Model %(mobilellm", l[1])
      assert.are.equal("/reset clears the history, /quit (or Ctrl-D) leaves", l[2])
      assert.matches("^> ", l[3])
      assert.are.equal("> ", l[4])
    end)
  end)

  describe("agent", function()
    local answers = {
      '<tool_call>set_alarm(time="7 am", day="tomorrow")</tool_call> Alarm set for 7 am.',
      '<tool_call>get_weather(city="Porto")</tool_call> Enjoy!',
      '<tool_call>set_alarm(day="today")</tool_call> Done.',
      "Hi! How can I help?",
    }
    local input = "wake me up at 7 am tomorrow\nweather in Porto?\nan alarm today\nhello\n"

    local function with_fake(fn)
      local real = mllm.load
      mllm.load = function() return H.fake_chat_model { answers = answers } end
      local ok, e = pcall(fn)
      mllm.load = real
      if not ok then error(e, 0) end
    end

    it("shows each call and its result through mobilellm.agent", function()
      require("mobilellm.agent")  -- a missing module fails here, by its name
      with_fake(function()
        local code, out, err = run({ "agent", VOCAB32K, "--apis", APIS }, { input = input })
        assert.are.equal(0, code)
        assert.are.equal("", err)
        local text = out
        assert.matches('[call] set_alarm(time="7 am", day="tomorrow")\n[result] {', text, 1, true)
        assert.matches("Alarm set for 7 am.\n", text, 1, true)
        -- a text result is fed back to the model and becomes the start of its reply
        assert.matches('[call] get_weather(city="Porto")\n[result] 21 °C and sunny in Porto.\n21 °C and sunny in Porto.',
          text, 1, true)
        assert.matches("[error] ", text, 1, true)
        assert.are.equal("> hello\nHi! How can I help?\n", text:sub(-#"> hello\nHi! How can I help?\n"))
        -- each line read is echoed after "> " (the input is not a terminal)
        assert.matches("^> wake me up at 7 am tomorrow\n", text)
        assert.matches("\n> weather in Porto%?\n", text)
      end)
    end)

    -- The shipped model, with constrained decoding (--constrain) and copied values (--copy):
    -- the calls shown are those mobilellm.agent makes with the same options, every call is
    -- well formed and valid, and with --copy every string value is a piece of the user's words
    -- (and the model directory's copy pointer is used, as the agent's option pointer).
    local SHIPPED = "models/mobilellm-tiny-api"
    local requests = { "wake me up at 7:30 am", "what is the weather in Lisbon", "play some jazz by Nina Simone" }
    for _, flag in ipairs({ "--constrain", "--copy" }) do
      it("runs the shipped model with " .. flag, function()
        local code, out, err = run({ "agent", SHIPPED, flag, "--threads", "1" },
          { input = table.concat(requests, "\n") .. "\n" })
        assert.are.equal(0, code, err)
        assert.are.equal("", err)
        local shown = {}
        for _, l in ipairs(lines(out)) do
          local c = l:match("^%[call%] (.*)$")
          if c then shown[#shown + 1] = c end
          assert.is_nil(l:match("^%[error%]"), l)
        end
        assert.is_true(#shown >= 2, out)
        -- the library with the same options, on the same conversation
        local agent = require("mobilellm.agent")
        local shipped = assert(mllm.load(SHIPPED, { threads = 1 }))
        local apis = assert(chat.load_apis(APIS))
        local a = agent.new(shipped, { tools = apis, handlers = cli.demo_handlers(apis), constrain = true,
                                     copy = flag == "--copy", feedback = cli.demo_feedback,
                                     pointer = flag == "--copy" and chat.load_pointer(SHIPPED) or nil })
        local conv, want = a:conversation(), {}
        for _, r in ipairs(requests) do
          for _, c in ipairs(conv:send(r).calls) do
            want[#want + 1] = chat.render_call({ name = c.name, args = c.args }, apis)
            assert.is_true(c.ok, c.error)
            if flag == "--copy" then
              for k, v in pairs(c.args) do
                if type(v) == "string" then
                  assert.is_truthy(table.concat(requests, "\n"):find(v, 1, true), k .. "=" .. v)
                end
              end
            end
          end
        end
        conv:close()
        a:close()
        shipped:close()
        assert.are.same(want, shown)
      end)
    end

    it("runs the real engine end to end", function()
      local code, out, err = run({ "agent", VOCAB32K, "--apis", APIS, "--max-tokens", "6", "--threads", "1" },
        { input = "set an alarm for 6\n/reset\nthanks\n" })
      assert.are.equal(0, code)
      assert.are.equal("", err)
      local l = lines(out)
      assert.are.equal("> set an alarm for 6", l[1])
      assert.are.same({ "> /reset", "(history cleared)", "> thanks" }, { l[#l - 3], l[#l - 2], l[#l - 1] })
    end)
  end)

  describe("convert", function()
    -- The block formats of docs/formats-and-limits.md, written independently of the engine: Q8_0 is an f16
    -- scale d = amax / 127 and 32 int8 round(x / d); Q4_0 an f16 scale d = max / -8 (max:
    -- the value of largest magnitude) and 16 bytes, byte j = q(j) | q(j + 16) << 4 with
    -- q = clamp(floor(x / d + 8.5), 0, 15). Arithmetic in f32, as the engine's.
    local function f32(x) return (string.unpack("<f", string.pack("<f", x))) end
    local function f16_bits(x)
      local b = string.unpack("<I4", string.pack("<f", x))
      local sign, e, man = (b >> 16) & 0x8000, ((b >> 23) & 0xFF) - 112, b & 0x7FFFFF
      if e <= 0 then  -- scales of these fixtures are normal halves; subnormals round to zero here
        return sign
      end
      local h, rem = sign | (e << 10) | (man >> 13), man & 0x1FFF
      if rem > 0x1000 or (rem == 0x1000 and h & 1 == 1) then h = h + 1 end
      return h
    end
    local function round_even(x)
      local r = math.floor(x + 0.5)
      if r - x == 0.5 and r % 2 ~= 0 then r = r - 1 end
      return r
    end
    local function q8_block(v)
      local amax = 0
      for i = 1, 32 do amax = math.max(amax, math.abs(v[i])) end
      local d = f32(amax / 127)
      local id = d ~= 0 and f32(1 / d) or 0
      local q = {}
      for i = 1, 32 do q[i] = round_even(f32(v[i] * id)) end
      return string.pack("<I2", f16_bits(d)) .. string.pack("<" .. ("i1"):rep(32), table.unpack(q))
    end
    local function q4_block(v)
      local amax, max = 0, 0
      for i = 1, 32 do if math.abs(v[i]) > amax then amax, max = math.abs(v[i]), v[i] end end
      local d = f32(max / -8)
      local id = d ~= 0 and f32(1 / d) or 0
      local q = {}
      for i = 1, 32 do q[i] = math.max(0, math.min(15, math.floor(f32(f32(v[i] * id) + 8.5)))) end
      local bytes = {}
      for j = 1, 16 do bytes[j] = q[j] | (q[j + 16] << 4) end
      return string.pack("<I2", f16_bits(d)) .. string.pack("<" .. ("B"):rep(16), table.unpack(bytes))
    end
    -- The 8-row interleaved form of docs/formats-and-limits.md ("Q8_0x8", "Q4_0x8"): block b of
    -- rows 8g..8g+7 is their 8 scales, then chunks of 32 bytes, chunk k holding bytes 4k..4k+3
    -- of each row's block b (row r at 4r). blocks[r * nb + b + 1] is row r's block b.
    local function interleave(blocks, rows, nb)
      local out = {}
      for g = 0, rows // 8 - 1 do
        for b = 0, nb - 1 do
          local row = {}
          for r = 0, 7 do row[r] = blocks[(8 * g + r) * nb + b + 1] end
          for r = 0, 7 do out[#out + 1] = row[r]:sub(1, 2) end
          for k = 0, (#row[0] - 2) // 4 - 1 do
            for r = 0, 7 do out[#out + 1] = row[r]:sub(3 + 4 * k, 6 + 4 * k) end
          end
        end
      end
      return table.concat(out)
    end
    -- A tensor of a safetensors file: dtype, shape and bytes.
    local function tensor(path, name)
      local data = H.read(path)
      local hlen = string.unpack("<I8", data)
      local t = assert(mllm.json_decode(data:sub(9, 8 + hlen))[name])
      return t.dtype, t.shape, data:sub(9 + hlen + t.data_offsets[1], 8 + hlen + t.data_offsets[2])
    end

    local src = H.FIXTURES .. "/f32-ls"
    for _, case in ipairs({ { "q8", "Q8_0", q8_block, 34 }, { "q4", "Q4_0", q4_block, 18 } }) do
      local dt, name, block, size = table.unpack(case)
      it("writes " .. dt .. " as " .. name .. " blocks, 8 rows interleaved, that map in with no copy and "
        .. "the logits of quantizing on load",
        function()
          local out = H.tmpdir() .. "/converted"
          local code, stdout, err = run({ "convert", src, out, "--dtype", dt, "--threads", "1" })
          assert.are.equal(0, code, err)
          assert.matches("^wrote " .. lit(out) .. "/model.safetensors: 72.1K parameters in " .. dt
            .. ", [%d.]+ KiB; loads as " .. dt .. " without conversion\ncopied from " .. lit(src)
            .. ": config.json\n$", stdout)
          assert.are.equal(H.read(src .. "/config.json"), H.read(out .. "/config.json"))
          -- the blocks are those of the documented format, computed here from the F32 weights
          local _, shape, want_f32 = tensor(src .. "/model.safetensors", "model.layers.1.mlp.up_proj.weight")
          local got_dtype, got_shape, got = tensor(out .. "/model.safetensors", "model.layers.1.mlp.up_proj.weight")
          assert.are.equal(0, shape[1] % 8)
          assert.are.equal(name .. "x8", got_dtype)
          assert.are.same(shape, got_shape)
          local n = shape[1] * shape[2]
          assert.are.equal(n // 32 * size, #got)
          local want = {}
          for b = 0, n // 32 - 1 do
            local v = { string.unpack("<" .. ("f"):rep(32), want_f32, b * 128 + 1) }
            want[#want + 1] = block(v)
          end
          assert.are.equal(interleave(want, shape[1], shape[2] // 32), got)
          assert.are.equal("F32", (tensor(out .. "/model.safetensors", "model.norm.weight")))
          -- loaded as stored, it computes what quantizing on load computes
          local a = assert(mllm.load(out, { threads = 1 }))
          assert.are.equal(dt, a.config.dtype)
          assert.are.equal(dt, a.config.compute)
          if a.config.kernels ~= "neon" then  -- NEON's kernels take plain rows: moved out at load
            assert.are.equal(a.config.weight_bytes, a.config.mapped_bytes)
          end
          local b = assert(mllm.load(src, { threads = 1, dtype = dt }))
          local e = H.expected("f32-ls")
          local sa, sb = a:session(), b:session()
          assert(sa:eval(e.prompt))
          assert(sb:eval(e.prompt))
          assert.are.same(sb:logits(), sa:logits())
          H.rmdir(out:match("^(.*)/"))
        end)
    end

    it("converts bf16 to f16 with the tokenizer, and refuses to overwrite without --force", function()
      local dir = H.tmpdir()
      local code, _, err = run({ "convert", VOCAB32K, dir, "--dtype", "f16", "--threads", "1" })
      assert.are.equal(0, code, err)
      assert.are.equal(H.read(VOCAB32K .. "/tokenizer.model"), H.read(dir .. "/tokenizer.model"))
      local m = assert(mllm.load(dir, { threads = 1 }))
      assert.are.equal("f16", m.config.dtype)
      local want = greedy(assert(mllm.load(VOCAB32K, { threads = 1, dtype = "f16" })), "Hello", 8)
      assert.are.equal(want, greedy(m, "Hello", 8))
      code, _, err = run({ "convert", VOCAB32K, dir, "--dtype", "f32" })
      assert.are.equal(1, code)
      assert_one_error(err, dir .. "/model.safetensors already exists (--force replaces it)")
      code, _, err = run({ "convert", VOCAB32K, dir, "--dtype", "f32", "--force", "--threads", "1" })
      assert.are.equal(0, code, err)
      assert.are.equal("f32", assert(mllm.load(dir, { threads = 1 })).config.dtype)
      H.rmdir(dir)
    end)

    it("shows a progress bar while writing, on a terminal only", function()
      local dir = H.tmpdir()
      local code, _, err = run({ "convert", VOCAB32K, dir, "--dtype", "f16", "--threads", "1" }, { tty = true })
      assert.are.equal(0, code, err)
      assert.matches("\r\27%[Kwriting " .. lit(dir) .. "/model.safetensors [#%-]+ +%d+%% [%d.]+s", err)
      assert.matches("100%", err, 1, true)
      code, _, err = run({ "convert", VOCAB32K, dir, "--dtype", "f16", "--threads", "1", "--force" })
      assert.are.equal(0, code, err)
      assert.are.equal("", err)
      H.rmdir(dir)
    end)

    it("keeps the shipped model's copy pointer (copy_pointer.json)", function()
      local dir = H.tmpdir() .. "/q8"
      local code, _, err = run({ "convert", "models/mobilellm-tiny-api", dir, "--dtype", "q8", "--threads", "1" })
      assert.are.equal(0, code, err)
      for _, f in ipairs { "copy_pointer.json", "tokenizer.model", "config.json" } do
        assert.are.equal(H.read("models/mobilellm-tiny-api/" .. f), H.read(dir .. "/" .. f), f)
      end
      H.rmdir(dir)
    end)

    it("reads pytorch_model.bin checkpoints", function()
      local dir = H.tmpdir()
      local code, _, err = run({ "convert", "spec/fixtures/torch/f32", dir, "--dtype", "bf16", "--threads", "1" })
      assert.are.equal(0, code, err)
      assert.are.equal("bf16", assert(mllm.load(dir, { threads = 1 })).config.dtype)
      H.rmdir(dir)
    end)
  end)

  describe("bench", function()
    it("measures prompt and decode speed", function()
      local code, out, err = run({ "bench", VOCAB32K, "--prompt-tokens", "16", "--gen-tokens", "8", "--threads", "1" })
      assert.are.equal(0, code, err)
      local l = lines(out)
      assert.matches("^mobilellm.Model %(", l[1])
      assert.matches("^load      [%d.]+ s$", l[2])
      assert.matches("^prompt    16 tokens in [%d.]+ s: [%d.]+ tok/s$", l[3])
      assert.matches("^decode    8 tokens in [%d.]+ s: [%d.]+ tok/s$", l[4])
      assert.matches("^peak RSS  [%d.]+ [MG]iB$", l[5])  -- the in-process run: the spec process's peak (GiB under ASan)
    end)

    it("defaults to a 128-token prompt and 128 generated tokens, as JSON on request", function()
      local code, out = run({ "bench", VOCAB32K, "--json", "--threads", "1" })
      assert.are.equal(0, code)
      local r = assert(mllm.json_decode(out))
      assert.are.equal(128, r.prompt_tokens)
      assert.are.equal(128, r.generated_tokens)
      assert.is_true(r.decode_tps > 0 and r.prefill_tps > 0)
    end)

    it("says when the model's context is too short", function()
      local code, _, err = run({ "bench", VOCAB32K, "--prompt-tokens", "250", "--threads", "1" })
      assert.are.equal(1, code)
      assert_one_error(err, "the model's context (256 tokens) is smaller than 250 prompt + 128 generated tokens")
    end)
  end)

  describe("eval", function()
    it("prints the table of tools/eval.lua", function()
      local dir = H.tmpdir()
      local data = dir .. "/two.jsonl"
      H.write(data, table.concat({
        '{"id": "a", "messages": [{"role": "user", "content": "Good afternoon"}], '
          .. '"expected": {"call": null, "reply": "Hi! How can I help?"}}',
        '{"id": "b", "messages": [{"role": "user", "content": "wake me up at 6:15 am"}], '
          .. '"expected": {"call": {"name": "set_alarm", "args": {"time": "6:15 am"}}, "reply": "Alarm set."}}',
      }, "\n") .. "\n")
      local code, out, err = run({ "eval", VOCAB32K, "--data", data, "--apis", APIS, "--threads", "1", "--json" })
      assert.are.equal(0, code, err)
      local p = assert(io.popen("lua5.4 tools/eval.lua --model " .. VOCAB32K .. " --data " .. data
        .. " --apis " .. APIS .. " --threads 1 --json 2>&1"))
      local want = p:read("a")
      p:close()
      local function no_time(s) return (s:gsub(", [%d.]+ s\n", ", T s\n", 1)) end
      assert.are.equal(no_time(want), no_time(out))
      assert.matches("^model " .. lit(VOCAB32K) .. ", data " .. lit(data) .. ", 2 examples, decoding free, ", out)
      H.rmdir(dir)
    end)

    it("gives tools/eval.lua's numbers on the shipped model, by default and with each decoding flag", function()
      for _, flags in ipairs { {}, { "--free" }, { "--copy" }, { "--copy", "--no-pointer" } } do
        local argv = { "eval", SHIPPED_DIR, "--limit", "40", "--threads", "1", "--json" }
        for _, f in ipairs(flags) do argv[#argv + 1] = f end
        local code, out, err = run(argv)
        assert.are.equal(0, code, err)
        local p = assert(io.popen("lua5.4 tools/eval.lua --limit 40 --threads 1 --json " .. table.concat(flags, " ")
          .. " 2>&1"))
        local want = p:read("a")
        p:close()
        local last = function(s) return s:match("[^\n]*\n?$") end  -- the JSON line
        local w, o = assert(mllm.json_decode(last(want))), assert(mllm.json_decode(last(out)))
        assert.is_number(o.em_structure)
        assert.are.same(w, o)
      end
    end)

    it("takes every flag of tools/eval.lua", function()
      local p = assert(io.popen("lua5.4 tools/eval.lua --help"))
      local usage = p:read("a")
      p:close()
      local tool_flags, cli_flags = {}, { model = true }  -- --model DIR is the command's DIR
      for flag in usage:gmatch("%-%-([%w-]+)") do tool_flags[flag] = true end
      for _, c in ipairs(cli.COMMANDS) do
        if c.name == "eval" then for _, o in ipairs(c.options) do cli_flags[o[1]] = true end end
      end
      for _, flag in ipairs({ "model", "data", "apis", "dtype", "threads", "tokenizer", "limit", "free", "constrain",
                              "copy", "no-pointer", "json", "verbose" }) do
        assert.is_true(tool_flags[flag], "tools/eval.lua has no --" .. flag)
      end
      assert.are.same(tool_flags, cli_flags)
    end)

    it("defaults to the model directory's held-out set and tools, whatever the working directory holds", function()
      local dir = H.tmpdir() .. "/model"
      H.copy_dir(SHIPPED_DIR, dir)
      local kept = {}  -- its first 3 examples
      for line in H.read(SHIPPED_DIR .. "/eval/test.jsonl"):gmatch("[^\n]+") do
        if #kept < 3 then kept[#kept + 1] = line end
      end
      H.write(dir .. "/eval/test.jsonl", table.concat(kept, "\n") .. "\n")
      local code, out, err = run({ "eval", dir, "--threads", "1", "--json" })
      assert.are.equal(0, code, err)
      assert.matches("^model " .. lit(dir) .. ", data " .. lit(dir) .. "/eval/test.jsonl, 3 examples, ", out)
      assert.are.equal(100, assert(mllm.json_decode(out:match("[^\n]*\n$"))).em_intent)
      -- its own tool list: without the API of an example's call, that call cannot be right (the
      -- default decoding holds calls to the tools listed)
      local apis = assert(mllm.json_decode(H.read(APIS)))
      local first
      for _, line in ipairs(kept) do
        local call = assert(mllm.json_decode(line)).expected.call
        first = first or (type(call) == "table" and call.name)
      end
      assert.is_string(first)
      for i = #apis.apis, 1, -1 do if apis.apis[i].name == first then table.remove(apis.apis, i) end end
      H.write(dir .. "/apis.json", mllm.json_encode(apis))
      local out2
      code, out2, err = run({ "eval", dir, "--threads", "1", "--json" })
      assert.are.equal(0, code, err)
      assert.is_true(assert(mllm.json_decode(out2:match("[^\n]*\n$"))).em_intent < 100)
      H.rmdir(dir:match("^(.*)/"))
    end)

    it("uses the best decoding by default: --copy's on a directory with a copy pointer, none with --free", function()
      local eval = require("mobilellm.eval")
      local function eval_json(flags)
        local argv = { "eval", SHIPPED_DIR, "--limit", "20", "--threads", "1", "--json" }
        for _, f in ipairs(flags) do argv[#argv + 1] = f end
        local constraint = spy.on(mllm, "constraint")
        local ran = spy.on(eval, "run")
        local code, out, err = run(argv)
        mllm.constraint:revert()
        eval.run:revert()
        assert.are.equal(0, code, err)
        assert.spy(ran).was.called(1)
        return assert(mllm.json_decode(out:match("[^\n]*\n$"))), ran.calls[1].vals[1], #constraint.calls
      end
      local default, default_opts, default_constraints = eval_json({})
      local copy = eval_json({ "--copy" })
      assert.are.same(copy, default)
      assert.are.equal("constrain + copy + pointer + copy rule + reply rule", default.decoding)
      assert.are.equal(1, default_constraints)
      -- the reply rule: no reply holds a character of neither the request nor the model's replies
      local no_reply = eval_json({ "--no-reply-rule" })
      assert.are.equal("constrain + copy + pointer + copy rule", no_reply.decoding)
      assert.are.equal(0, default.foreign)
      assert.is_true(no_reply.foreign > 0, "without the rule some replies garble")
      local free, free_opts, free_constraints = eval_json({ "--free" })
      assert.are.equal("free", free.decoding)
      assert.are.equal(0, free_constraints)  -- no constraint at all
      assert.is_nil(default_opts.free)
      assert.is_true(free_opts.free)
      assert.are_not.same(default, free)
      -- without a copy pointer in the directory, the default is free decoding
      local dir = H.tmpdir()
      H.copy_dir(SHIPPED_DIR, dir)
      os.remove(dir .. "/copy_pointer.json")
      local code, out = run({ "eval", dir, "--limit", "2", "--threads", "1" })
      assert.are.equal(0, code)
      assert.matches(", 2 examples, decoding free, ", out, 1, true)
      H.rmdir(dir)
    end)

    it("shows a wrong answer beside the expected one with --verbose", function()
      local dir = H.tmpdir()
      local data = dir .. "/one.jsonl"
      H.write(data, '{"id": "b", "messages": [{"role": "user", "content": "wake me up at 6:15 am"}], '
        .. '"expected": {"call": {"name": "set_alarm", "args": {"time": "6:15 am"}}, "reply": "Alarm set."}}\n')
      -- random weights: the answer is not that call
      local code, _, err = run({ "eval", VOCAB32K, "--data", data, "--apis", APIS, "--threads", "1", "--verbose" })
      assert.are.equal(0, code, err)
      assert.matches("%[b%] wake me up at 6:15 am\n  got:  [^\n]*\n", err)
      assert.matches('\n  want: <tool_call>set_alarm%(time="6:15 am"%)</tool_call> Alarm set%.\n', err)
      H.rmdir(dir)
    end)
  end)
end)

-- The installed CLI, as a user runs it: its own copy of the modules, no LUA_PATH.
describe("mobilellm (installed)", function()
  local prefix, repo
  local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

  -- Runs the installed command from a directory outside the repository; returns
  -- the exit status, stdout and stderr.
  local function installed(args, input)
    local dir = H.tmpdir()
    local cmd = "cd " .. sh_quote(dir) .. " && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 "
      .. sh_quote(prefix .. "/bin/mobilellm") .. " " .. args .. " >out 2>err"
      .. (input and (" <" .. sh_quote(input)) or " </dev/null")
    local _, _, code = os.execute(cmd)
    local out, err = H.read(dir .. "/out"), H.read(dir .. "/err")
    H.rmdir(dir)
    return code, out, err
  end

  setup(function()
    repo = io.popen("pwd"):read("l")
    prefix = H.tmpdir() .. "/prefix with space"
    local ok = os.execute("make --no-print-directory -s install PREFIX=" .. sh_quote(prefix) .. " >/dev/null")
    assert(ok, "make install failed")
  end)

  teardown(function()
    if prefix then H.rmdir(prefix:match("^(.*)/")) end
  end)

  it("installs the module, the Lua files and the CLI", function()
    for _, f in ipairs({ "/bin/mobilellm", "/lib/lua/5.4/mobilellm/core.so", "/share/lua/5.4/mobilellm/init.lua",
                         "/share/lua/5.4/mobilellm/cli.lua", "/share/lua/5.4/mobilellm/chat.lua",
                         "/share/lua/5.4/mobilellm/eval.lua", "/share/lua/5.4/mobilellm/cli/common.lua",
                         "/share/lua/5.4/mobilellm/cli/args.lua" }) do
      assert.is_truthy(io.open(prefix .. f), prefix .. f .. " is missing")
    end
    for _, c in ipairs(cli.COMMANDS) do  -- one module per command
      local f = prefix .. "/share/lua/5.4/mobilellm/cli/" .. c.name .. ".lua"
      assert.is_truthy(io.open(f), f .. " is missing")
    end
  end)

  it("runs info, run and their errors from the prefix", function()
    local model = repo .. "/" .. VOCAB32K
    local code, out, err = installed("info " .. sh_quote(model) .. " --threads 1")
    assert.are.equal(0, code, err)
    assert.matches("layers        1 stored, 2 executed", out, 1, true)
    code, out, err = installed("run " .. sh_quote(model) .. " 'Once upon a time' --max-tokens 8 --threads 1")
    assert.are.equal(0, code, err)
    local m = assert(mllm.load(VOCAB32K, { threads = 1 }))
    assert.are.equal(greedy(m, "Once upon a time", 8) .. "\n", out)
    assert.matches("^%[prompt: 5 tokens", err)
    code, out, err = installed("run /nonexistent 'x'")
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal("mobilellm: /nonexistent: no such directory\n", err)
    code, out = installed("--help")
    assert.are.equal(0, code)
    assert.matches("^usage: mobilellm COMMAND", out)
  end)

  it("chats on a terminal (tmux): banner, prompt, answer, /reset, /quit", function()
    local sock = "mllm-spec-" .. tostring(os.time()) .. "-" .. tostring(math.random(1e9))
    local function tmux(args)
      local p = assert(io.popen("tmux -L " .. sock .. " " .. args .. " 2>&1"))
      local out = p:read("a")
      p:close()
      return out
    end
    local function screen() return tmux("capture-pane -p -J -t t") end
    local function wait_for(pred, what)
      for _ = 1, 300 do
        local s = screen()
        if pred(s) then return s end
        os.execute("sleep 0.1")
      end
      error("timed out waiting for " .. what .. "; screen:\n" .. screen())
    end
    local function prompts(s) local n = 0 for _ in s:gmatch("\n> ") do n = n + 1 end return n end
    local model = repo .. "/" .. VOCAB32K
    local dir = H.tmpdir()
    local cmd = "cd " .. sh_quote(dir) .. " && env -u LUA_PATH -u LUA_CPATH LANG=C.UTF-8 MOBILELLM_HISTORY=0 "
      .. sh_quote(prefix .. "/bin/mobilellm") .. " chat " .. sh_quote(model) .. " --threads 1 --max-tokens 8"
      .. "; echo \"[exit $?]\""
    tmux("-f /dev/null new-session -d -s t -x 120 -y 30 " .. sh_quote(cmd) .. " \\; set-option -t t remain-on-exit on")
    local ok, e = pcall(function()
      local s = wait_for(function(x) return prompts("\n" .. x) >= 1 end, "the first prompt")
      assert.matches("^mobilellm chat: mobilellm.Model %(mobilellm, 1 layers x2 shared", s)
      assert.matches("\n/reset clears the history, /quit %(or Ctrl%-D%) leaves\n> ", s)
      tmux("send-keys -t t hello Enter")
      s = wait_for(function(x) return prompts("\n" .. x) >= 2 end, "the answer")
      local l = lines(s)
      local at
      for i, line in ipairs(l) do if line == "> hello" then at = i end end
      assert.is_truthy(at, "no '> hello' line on the screen:\n" .. s)
      assert.is_true(#l[at + 1] > 0)
      assert.matches("^> ", l[at + 2])
      tmux("send-keys -t t /reset Enter")
      wait_for(function(x) return x:find("(history cleared)", 1, true) ~= nil end, "(history cleared)")
      tmux("send-keys -t t /quit Enter")
      s = wait_for(function(x) return x:find("[exit ", 1, true) ~= nil end, "the exit")
      assert.matches("\n> /quit\n%[exit 0%]\n", s)
    end)
    tmux("kill-server")
    H.rmdir(dir)
    if not ok then error(e, 0) end
  end)
end)
