-- The terminal of `mobilellm chat` and `agent` (issue 38): a typed line is cleaned of control
-- characters before it becomes a turn, piped lines are echoed, Ctrl-C stops an answer
-- (core.on_interrupt), and the commands are driven through a pseudo-terminal as a person types
-- (spec/support/ptydrive.c, built beside mobilellm/core.so): editing keys, the history and
-- its file, Ctrl-C in an answer, in a prefill and at the prompt, Ctrl-D.
--
-- No assertion is on time: each wait of the driver is bounded (it fails the test, never hangs).
-- The answers that Ctrl-C stops are long (thousands of tokens, seconds), and Ctrl-C is sent
-- once the answer (or the prompt's prefill) has visibly started.
local mllm = require("mobilellm")
local terminal = require("mobilellm.cli.terminal")
local H = require("support.helpers")

local FIXTURE = H.FIXTURES .. "/bf16-vocab32k"  -- random weights: greedy text that runs to max_tokens
local SHIPPED = "models/mobilellm-tiny-api"

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- The build in use: mobilellm/core.so's directory on package.cpath holds ptydrive too.
local CORE = assert(package.searchpath("mobilellm.core", package.cpath))
local BUILD = CORE:gsub("/mobilellm/core%.so$", "")
local PTYDRIVE = BUILD .. "/ptydrive"
local REPO = io.popen("pwd"):read("l")

-- A copy of the fixture with a long context and the ChatML template: `chat` renders every
-- turn with it and ends an answer only at the end of sequence, so answers are long.
local function long_model()
  local dir = H.tmpdir()
  for _, f in ipairs({ "model.safetensors", "tokenizer.model" }) do
    assert(os.execute(("cp '%s/%s' '%s/'"):format(FIXTURE, f, dir)))
  end
  local cfg = H.read(FIXTURE .. "/config.json"):gsub('"max_position_embeddings": 256', '"max_position_embeddings": 16384')
  H.write(dir .. "/config.json", cfg)
  H.write(dir .. "/chat_template.jinja", H.read("spec/fixtures/jinja/chatml.jinja"))
  return dir
end

-- Sends SIGINT to this process (the busted runner), as Ctrl-C does: through popen, since
-- os.execute's system() ignores SIGINT while it waits.
local PID = assert(io.open("/proc/self/stat")):read("a"):match("^(%d+)")
local function ctrl_c_to_self()
  local p = assert(io.popen("kill -INT " .. PID))
  p:read("a")
  p:close()
end

describe("the terminal of chat and agent", function()
  describe("a line is cleaned before it becomes a turn", function()
    local cases = {
      { "plain text stays", "wake me up at 7 am", "wake me up at 7 am" },
      { "tab stays (text: a pasted table)", "a\tb", "a\tb" },
      { "C0 controls go", "he\1l\2l\3o\7\8\11\12\14\31!", "hello!" },
      { "DEL goes", "abc\127d", "abcd" },
      { "NUL goes", "a\0b", "ab" },
      { "a carriage return (CRLF input) goes", "hello\r", "hello" },
      { "CSI sequences go (arrows, colours, bracketed paste)", "\27[Ared\27[31m text\27[0m\27[200~x\27[201~",
        "red textx" },
      { "OSC strings go (BEL or ST ended)", "a\27]0;title\7b\27]8;;http://x\27\\c", "abc" },
      { "an unended OSC goes to the end", "ok\27]0;title", "ok" },
      { "ESC and one byte go (SS3, alt-key)", "a\27OPb\27xc\27", "abc" },
      { "C1 controls (UTF-8) go, an 8-bit CSI with its sequence", "a\194\133b\194\155" .. "31mc", "abc" },
      { "other UTF-8 stays", "21 °C in Zürich — 東京", "21 °C in Zürich — 東京" },
      { "white space at the ends goes", "  \t hi there \t ", "hi there" },
      { "only controls: an empty line", "\27[A\27[B\3", "" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function() assert.are.equal(c[3], terminal.clean(c[2])) end)
    end
  end)

  describe("the history file", function()
    local function env(t) return function(k) return t[k] end end
    local cases = {
      { "XDG_STATE_HOME first", { XDG_STATE_HOME = "/s", HOME = "/h" }, "/s/mobilellm/history" },
      { "else ~/.local/state", { HOME = "/h" }, "/h/.local/state/mobilellm/history" },
      { "a relative XDG_STATE_HOME is ignored (the spec)", { XDG_STATE_HOME = "s", HOME = "/h" },
        "/h/.local/state/mobilellm/history" },
      { "MOBILELLM_HISTORY names another file", { MOBILELLM_HISTORY = "/tmp/h", HOME = "/h" }, "/tmp/h" },
      { "MOBILELLM_HISTORY=0 turns it off", { MOBILELLM_HISTORY = "0", HOME = "/h" }, nil },
      { "so does an empty one", { MOBILELLM_HISTORY = "", HOME = "/h" }, nil },
      { "no home, no file", {}, nil },
    }
    for _, c in ipairs(cases) do
      it(c[1], function() assert.are.equal(c[3], terminal.history_path(env(c[2]))) end)
    end
  end)

  describe("piped input", function()
    it("reaches the model cleaned, and is echoed after '> '", function()
      local code, out, err = H.cli({ "chat", FIXTURE, "--show-prompt", "--max-tokens", "2", "--threads", "1" },
        "he\1llo\27[31m th\127ere\r\n\n\3\n/reset\n")
      assert.are.equal(0, code, err)
      local l = {}
      for line in out:gmatch("([^\n]*)\n") do l[#l + 1] = line end
      assert.are.equal("> hello there", l[1])  -- the line as the model got it; blank lines are not turns
      assert.are.same({ "> /reset", "(history cleared)" }, { l[#l - 1], l[#l] })
      assert.truthy(err:find("User: hello there\n", 1, true), err)
      assert.is_nil(err:find("[\1\3\27\127\r]"))
    end)

    it("is echoed by agent too, each line before its answer", function()
      local code, out, err = H.cli({ "agent", SHIPPED, "--threads", "1" }, "what is the weather in Lisbon\n/quit\n")
      assert.are.equal(0, code, err)
      assert.matches("^> what is the weather in Lisbon\n%[call%] get_weather%(", out)
      assert.matches("\n> /quit\n$", out)
    end)
  end)

  describe("core.on_interrupt", function()
    local model = assert(mllm.load(FIXTURE, { threads = 1 }))

    it("takes SIGINT: the flag is set and the watched session's work is cancelled", function()
      local s = model:session()
      local guard <close> = mllm.on_interrupt()
      guard:watch(s)
      ctrl_c_to_self()
      assert.is_true(guard:fired())
      assert.is_false(guard:fired())  -- read once
      -- the request waits for the session's next work (none ran), which stops at once
      local ok, err = s:eval({ 1, 5, 6, 7 })
      assert.is_nil(ok)
      assert.matches("^cancelled", err)
      assert.are.equal(0, s:pos())
      assert.is_true(s:eval({ 1, 5, 6, 7 }))  -- taken: the next work runs
      s:close()
    end)

    it("drops a request nothing took when the session is no longer watched", function()
      local s = model:session()
      local guard <close> = mllm.on_interrupt()
      guard:watch(s)
      ctrl_c_to_self()
      guard:watch(nil)  -- Ctrl-C just after the answer ended must not stop the next one
      assert.is_true(s:eval({ 1, 5, 6, 7 }))
      assert.are.equal(4, s:pos())
      assert.is_true(guard:fired())
      s:close()
    end)

    it("stops watching a session that is closed: Ctrl-C after the close touches nothing freed", function()
      local s = model:session()
      local guard <close> = mllm.on_interrupt()
      guard:watch(s)
      s:close()
      ctrl_c_to_self()  -- under ASan, a cancel of the freed session would be a use after free
      assert.is_true(guard:fired())
      local s2 = model:session()
      guard:watch(s2)
      assert.is_true(s2:eval({ 1, 5, 6, 7 }))  -- the earlier Ctrl-C does not reach the new session
      s2:close()
    end)

    it("is one at a time, released once, and checks what it watches", function()
      local guard = mllm.on_interrupt()
      assert.are.equal("mobilellm.InterruptGuard (installed)", tostring(guard))
      assert.has_error(function() mllm.on_interrupt() end,
        "on_interrupt: an interrupt guard is already installed (release it first)")
      assert.has_error(function() guard:watch("session") end)
      local s = model:session()
      s:close()
      assert.has_error(function() guard:watch(s) end, "attempt to use a closed session")
      guard:release()
      guard:release()  -- idempotent
      assert.has_error(function() guard:fired() end, "attempt to use a released interrupt guard")
      assert.are.equal("mobilellm.InterruptGuard (released)", tostring(guard))
      local again <close> = mllm.on_interrupt()  -- free again
      assert.is_false(again:fired())
    end)

    -- A stand-in model whose answers are long (1000 tokens): `ctrl_c_at` the token of each
    -- answer during which Ctrl-C comes (nil: none), `ctrl_c_on_close` Ctrl-C while the first
    -- session to close closes (the conversation's, at /reset). `counts.generated` counts the tokens handed out.
    local function fake_model(ctrl_c_at, ctrl_c_on_close, counts)
      return H.fake_chat_model {
        answers = setmetatable({}, { __index = function() return string.rep("a", 1000) end }),
        stop = "length",
        on_token = function(n)
          counts.generated = counts.generated + 1
          if n == ctrl_c_at then ctrl_c_to_self() end
        end,
        on_close = function()
          if ctrl_c_on_close then ctrl_c_to_self() end
          ctrl_c_on_close = false  -- the first close only: the conversation's, at /reset
        end,
      }
    end

    -- `mobilellm agent` on the fake model, fed `input` through a pipe
    local function agent_on(fake, input)
      local real = mllm.load
      mllm.load = function() return fake end
      local ok, code, out, err = pcall(H.cli, { "agent", FIXTURE, "--apis", SHIPPED .. "/apis.json", "--free" }, input)
      mllm.load = real
      assert(ok, code)
      return code, out, err
    end

    it("stops an agent's answer between tokens (on_token), and the loop goes on", function()
      local counts = { generated = 0 }
      local code, out, err = agent_on(fake_model(5, false, counts), "hello\nagain\n")
      assert.are.equal(0, code, err)
      assert.are.equal("> hello\naaaaa\n(answer stopped)\n> again\naaaaa\n(answer stopped)\n", out)
      assert.are.equal(10, counts.generated)
    end)

    it("takes a Ctrl-C that comes between answers (during /reset): the program goes on", function()
      local counts = { generated = 0 }
      local code, out, err = agent_on(fake_model(3, true, counts), "hello\n/reset\nagain\n")
      assert.are.equal(0, code, err)
      assert.are.equal("> hello\naaa\n(answer stopped)\n> /reset\n(history cleared)\n> again\naaa\n"
        .. "(answer stopped)\n", out)
    end)
  end)

  describe("on a pseudo-terminal", function()
    local have = io.open(PTYDRIVE, "rb")
    if have then have:close() end
    assert(have, PTYDRIVE .. " is missing: `make test` builds it (spec/support/ptydrive.c)")

    -- Runs argv (after bin/mobilellm) on a terminal, playing script; returns the driver's
    -- result line ("ok STATUS" or "fail: ...") and the transcript (CR LF made LF).
    local function drive(script, argv, vars)
      local dir = H.tmpdir()
      H.write(dir .. "/script", script)
      local env = { "TERM=xterm", "LANG=C.UTF-8", "MOBILELLM_PROGRESS=0", "MOBILELLM_HISTORY=0" }
      for k, v in pairs(vars or {}) do env[#env + 1] = k .. "=" .. v end
      local args = {}
      for i, a in ipairs(argv) do args[i] = sh_quote(a) end
      local cmd = table.concat({ "cd", sh_quote(REPO), "&&", "env", "-u", "LC_ALL", "-u", "XDG_STATE_HOME",
        table.concat(env, " "), sh_quote(PTYDRIVE), "-t", "120", "-o", sh_quote(dir .. "/transcript"),
        sh_quote(dir .. "/script"), "--", "lua5.4", "bin/mobilellm", table.concat(args, " ") }, " ")
      local p = assert(io.popen(cmd))
      local result = p:read("a")
      p:close()
      local transcript = (H.read(dir .. "/transcript") or ""):gsub("\r\n", "\n")
      H.rmdir(dir)
      return result, transcript
    end

    -- The prompts --show-prompt wrote, in order: each from its start (the system message) to
    -- the next one's, its answer included.
    local function prompts(transcript)
      local t, at = {}, transcript:find("<|im_start|>system\n", 1, true)
      while at do
        local next_at = transcript:find("<|im_start|>system\n", at + 1, true)
        t[#t + 1] = transcript:sub(at, (next_at or #transcript + 1) - 1)
        at = next_at
      end
      return t
    end

    local function count(s, sub)
      local n, at = 0, 1
      while true do
        local i = s:find(sub, at, true)
        if not i then return n end
        n, at = n + 1, i + #sub
      end
    end

    local dir = long_model()
    teardown(function() H.rmdir(dir) end)

    it("chat: edited lines arrive as edited, Ctrl-C stops an answer, clears a line, and twice quits", function()
      local hist = H.tmpdir() .. "/state/history"
      local result, tr = drive(table.concat({
        "expect /reset clears the history, /quit (or Ctrl-D) leaves",
        "expect > ", "raw",
        -- Ctrl-A to the start, Ctrl-E to the end
        "send hello world\\x01X\\x05!\\r",
        "expect <|im_start|>assistant", "more 60",  -- the answer streams
        "send \\x03",
        "expect (answer stopped)", "expect > ", "raw",
        -- a line dropped by Ctrl-C: a new prompt, no hint
        "send partial", "expect partial", "send \\x03", "expect ^C", "expect > ", "raw",
        -- arrows and Ctrl-K; Ctrl-V puts a raw escape sequence and a BEL in the line; a tab
        "send abcdef\\e[D\\e[D\\x0bZ\\x16\\e[31m\\x16\\x07\\tend\\r",
        "expect <|im_start|>user\\r\\nabcdZ",
        "expect > ", "raw",  -- answered in full (raw: the prompt, not a "> " in the answer)
        -- Up twice: the first line again
        "send \\e[A\\e[A\\r",
        "expect Xhello world!<|im_end|>\\r\\n\\r\\n<|im_start|>assistant",  -- turn 1 in the prompt
        "expect Xhello world!<|im_end|>\\r\\n\\r\\n<|im_start|>assistant",  -- turn 3, at its end
        "more 60", "send \\x03",
        "expect (answer stopped)", "expect > ", "raw",
        "send \\x03", "expect (Ctrl-C again, Ctrl-D or /quit leaves)", "expect > ", "raw",
        "send \\x03",
        "eof",
      }, "\n") .. "\n", { "chat", dir, "--threads", "1", "--max-tokens", "3000", "--show-prompt" },
        { MOBILELLM_HISTORY = hist })
      assert.are.equal("ok 0\n", result, tr)
      local p = prompts(tr)
      assert.are.equal(3, #p, tr)
      -- turn 1 as edited
      assert.truthy(p[1]:find("<|im_start|>user\nXhello world!<|im_end|>", 1, true), p[1])
      -- turn 2: the partial answer of turn 1 kept, the dropped line nowhere, the line cleaned (tab kept)
      local partial = p[2]:match("Xhello world!<|im_end|>\n\n<|im_start|>assistant\n(.-)<|im_end|>")
      assert.truthy(partial and #partial > 0, p[2])
      assert.truthy(tr:find(partial, 1, true))
      assert.truthy(p[2]:find("<|im_start|>user\nabcdZ\tend<|im_end|>", 1, true), p[2])
      assert.is_nil(tr:find("user\npartial", 1, true))
      assert.is_nil(p[2]:find("[\7\27]"))
      -- turn 3: the first line from the history
      assert.are.equal(2, count(p[3], "<|im_start|>user\nXhello world!<|im_end|>"))
      -- turns 1 and 3 stopped, turn 2 ran to its end
      assert.are.equal(2, count(tr, "(answer stopped)"))
      assert.are.equal(1, count(tr, "(Ctrl-C again, Ctrl-D or /quit leaves)"))
      -- the history file: the three lines sent, the dropped one not
      local saved = H.read(hist)
      assert.truthy(saved, "no history file at " .. hist)
      assert.truthy(saved:find("Xhello\\040world!", 1, true), saved)
      assert.truthy(saved:find("abcdZ", 1, true), saved)
      assert.is_nil(saved:find("partial", 1, true))
      -- a second run finds it: Up recalls the last line; Ctrl-D on the empty prompt leaves
      result, tr = drive(table.concat({
        "expect > ", "raw", "send \\e[A\\r", "expect <|im_start|>assistant", "expect > ", "raw",
        "send \\x04", "eof" }, "\n") .. "\n",
        { "chat", dir, "--threads", "1", "--max-tokens", "3", "--show-prompt" }, { MOBILELLM_HISTORY = hist })
      assert.are.equal("ok 0\n", result, tr)
      assert.truthy(prompts(tr)[1]:find("<|im_start|>user\nXhello world!<|im_end|>", 1, true), tr)
      H.rmdir(hist:match("^(.*)/state/history$"))
    end)

    for _, progress in ipairs({ "0", "1" }) do
      it("chat: Ctrl-C in a long prefill stops it, and the message is not kept (progress bars " .. progress .. ")",
        function()
          local words = {}
          for i = 1, 4000 do words[i] = ("w%d"):format(i % 97) end
          local result, tr = drive(table.concat({
            "expect > ", "raw", "send hi\\r",
            "expect <|im_start|>assistant",  -- the prompt is shown, its prefill starts
            "send \\x03",
            "expect (answer stopped)", "expect > ", "raw",
            "send again\\r", "expect <|im_start|>assistant", "expect > ", "raw",
            "send \\x04", "eof" }, "\n") .. "\n",
            { "chat", dir, "--threads", "1", "--max-tokens", "4", "--show-prompt",
              "--system", table.concat(words, " ") }, { MOBILELLM_PROGRESS = progress })
          assert.are.equal("ok 0\n", result, tr:sub(-2000))
          local p = prompts(tr)
          assert.are.equal(2, #p)
          -- the stopped message is not in the next prompt: no answer was written to keep
          assert.are.equal(1, count(tr, "(answer stopped)"))
          assert.is_nil(p[2]:find("user\nhi<|im_end|>", 1, true), p[2]:sub(-300))
          assert.truthy(p[2]:find("<|im_start|>user\nagain<|im_end|>", 1, true))
        end)
    end

    it("agent: the banner, an edited request and its call, Ctrl-C hints at the prompt, Ctrl-D leaves", function()
      local result, tr = drive(table.concat({
        "expect decoding: ", "expect > ", "raw",
        "send what is the weather in Lisn\\e[Dbo\\r",  -- Left, the missing letters
        "expect [call] get_weather", "expect > ", "raw",
        "send \\x03", "expect (Ctrl-C again, Ctrl-D or /quit leaves)", "expect > ", "raw",
        "send \\x04", "eof" }, "\n") .. "\n", { "agent", SHIPPED, "--threads", "1" })
      assert.are.equal("ok 0\n", result, tr)
      assert.matches('%[call%] get_weather%(city="Lisbon"%)', tr)
    end)
  end)
end)
