--- What the commands of `mobilellm` share: errors, number formatting, progress on
-- standard error, the option lists of loading and generation, loading a model,
-- starting a generation and the read-answer loop of `chat` and `agent`.
--
-- `ctx`, handed to every command, is the run's context (`mobilellm.cli`'s `main`):
-- `out`, `err`, `inp` (streams), `tty` (draw progress), `interactive` (prompts and
-- banner), `utf8` (the terminal shows block characters), `getenv`.
-- @module mobilellm.cli.common
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")
local terminal = require("mobilellm.cli.terminal")

local M = {}

--- The program's name, at the head of every error line and usage.
M.PROG = "mobilellm"
local PROG = M.PROG
local CHUNK = 64        -- tokens per prefill step under a progress bar (the default n_batch)
local LONG_PROMPT = 64  -- prompts longer than this get a progress bar on a terminal

-- ------------------------------------------------------------ errors

--- Raises an error the user caused or can fix: `main` prints it as one line and exits with `code`.
-- @tparam string msg
-- @tparam[opt=1] integer code
function M.fail(msg, code)
  error({ cli = true, msg = msg, code = code or 1 }, 0)
end

--- Raises a wrong command line (exit status 2), pointing to the help of `cmd`.
-- @tparam ?string cmd the command's name, nil for the program's
-- @tparam string msg
function M.usage_error(cmd, msg)
  M.fail(string.format("%s%s (see '%s%s --help')", cmd and (cmd .. ": ") or "", msg, PROG,
    cmd and (" " .. cmd) or ""), 2)
end

-- ------------------------------------------------------------ formatting

--- A byte count as people read it ("1005.9 KiB").
function M.human_bytes(n)
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local u = 1
  while n >= 1024 and u < #units do n = n / 1024; u = u + 1 end
  return u == 1 and string.format("%d B", n) or string.format("%.1f %s", n, units[u])
end

--- A count as people read it ("514.4K").
function M.human_count(n)
  if n >= 1e9 then return string.format("%.2fB", n / 1e9) end
  if n >= 1e6 then return string.format("%.1fM", n / 1e6) end
  if n >= 1e3 then return string.format("%.1fK", n / 1e3) end
  return tostring(n)
end

--- "N tok/s", or "-" when no time passed.
function M.rate(tokens, seconds)
  if seconds <= 0 then return "-" end
  return string.format("%.1f tok/s", tokens / seconds)
end

-- ------------------------------------------------------------ progress

-- Progress is drawn on stderr with carriage returns, and only when ctx.tty.
local Bar = {}
Bar.__index = Bar

--- A progress bar on standard error, drawn at 0 at once (nothing is drawn unless `ctx.tty`).
-- @tparam table ctx
-- @tparam string label
-- @tparam integer total the count at 100%
-- @return the bar: `bar:update(done)`, `bar:finish()`
function M.new_bar(ctx, label, total)
  local b = setmetatable({ ctx = ctx, label = label, total = math.max(total, 1), t0 = mllm.clock(),
                           last = -1, shown = false }, Bar)
  b:update(0)
  return b
end

--- Redraws the bar (at most every 0.1 s, and always at the end).
function Bar:update(done)
  if not self.ctx.tty then return end
  local now = mllm.clock()
  if done < self.total and now - self.last < 0.1 then return end
  self.last = now
  local width = 30
  local frac = math.min(done / self.total, 1)
  local full = math.floor(frac * width + 0.5)
  local fill, empty = self.ctx.utf8 and "█" or "#", self.ctx.utf8 and "░" or "-"
  self.ctx.err:write(string.format("\r\27[K%s %s%s %3d%% %.1fs", self.label, fill:rep(full),
    empty:rep(width - full), math.floor(frac * 100), now - self.t0))
  self.ctx.err:flush()
  self.shown = true
end

--- Erases the bar.
function Bar:finish()
  if self.shown then
    self.ctx.err:write("\r\27[K")
    self.ctx.err:flush()
    self.shown = false
  end
end

--- A one-line status ("loading DIR ...") while a step that reports nothing runs.
-- @treturn function the function that erases it
function M.status(ctx, text)
  if not ctx.tty then return function() end end
  ctx.err:write("\r\27[K" .. text .. " ...")
  ctx.err:flush()
  return function()
    ctx.err:write("\r\27[K")
    ctx.err:flush()
  end
end

-- ------------------------------------------------------------ command lines

-- Option kinds: "int", "num", "str", "flag", "list" (repeatable string), "choice".
--- The options of every command that loads a model.
M.LOAD_OPTS = {
  { "dtype", "T", kind = "choice", values = { "auto", table.unpack(mllm.dtypes) },
    help = "compute format: auto (as stored), f32, f16, bf16, q8, q4 (quantized on load)" },
  { "threads", "N", kind = "int", min = 0, max = 1024, help = "threads (default: all cores)" },
  { "tokenizer", "FILE", kind = "str", help = "a tokenizer.model or tokenizer.json to use instead of DIR's" },
}

--- The options of every command that generates.
M.GEN_OPTS = {
  { "max-tokens", "N", kind = "int", min = 0, max = 131072, help = "tokens to generate (default %s)" },
  { "temperature", "T", kind = "num", min = 0, max = 1e6, help = "0 = greedy (default 0)" },
  { "top-k", "K", kind = "int", min = 0, max = 1048576, help = "keep the K likeliest tokens (0 = off)" },
  { "top-p", "P", kind = "num", min = 1e-9, max = 1, help = "nucleus sampling (1 = off)" },
  { "min-p", "P", kind = "num", min = 0, max = 0.999999, help = "drop tokens below P x the likeliest (0 = off)" },
  { "repeat-penalty", "R", kind = "num", min = 1e-6, max = 1e6, help = "penalty for repeated tokens (1 = off)" },
  { "seed", "S", kind = "int", help = "random seed for sampling" },
  { "stop", "S", kind = "list", help = "stop at this string (repeatable)" },
  { "n-ctx", "N", kind = "int", min = 1, max = 131072, help = "context length (default: the model's)" },
  { "kv-type", "T", kind = "choice", values = mllm.kv_types,
    help = "KV cache element: f32 (exact) or f16 (half the memory); auto (default): f16 for q8/q4" },
}

--- One option list made of several, in order.
function M.concat_opts(...)
  local out = {}
  for _, list in ipairs({ ... }) do
    for _, o in ipairs(list) do out[#out + 1] = o end
  end
  return out
end

-- ------------------------------------------------------------ shared steps

--- Whether a regular file is at path: true, false when nothing is there, or nil and a message
-- naming the path when something else is (a FIFO, a directory, a device, no permission).
-- io.open would block on a FIFO; mllm.read_file with a limit of 0 bytes opens without
-- blocking, checks what the file is and its size, and reads nothing.
function M.file_exists(path)
  local empty, err = mllm.read_file(path, 0)
  if empty or err:find(" bytes, larger than the limit of 0 bytes %(max_bytes%)$") then return true end
  if chat.is_missing(err) then return false end
  return nil, err
end

--- The directory of the model a command names (its DIR): `name` itself when it is a path,
-- else the directory of the model of that name (`mllm.find_model`: `$MOBILELLM_MODELS`, then
-- the installed models). Every command resolves DIR once, first, and uses the result for the
-- model and its companion files (apis.json, copy_pointer.json, ...).
-- @tparam string name
-- @treturn string the directory; an unknown name fails, naming it and the places searched
function M.model_dir(name)
  local dir, err = mllm.find_model(name)
  if not dir then M.fail(err) end
  return dir
end

--- Loads the model in dir under a status line (a bar once the loader reports progress); a
-- directory that is missing or holds no config.json fails naming it.
-- @tparam table ctx
-- @tparam string dir a directory (as `model_dir` returns), or the name of a model
-- @tparam table opts the command's options (`threads`, `dtype`, `tokenizer`)
-- @tparam[opt] table extra more options for mllm.load (info's `check`)
-- @return the model, and the seconds the load took
function M.load_model(ctx, dir, opts, extra)
  dir = M.model_dir(dir)
  local present, cerr = M.file_exists(dir .. "/config.json")
  if present == nil then M.fail(cerr) end
  if not present then
    local _, derr = mllm.read_file(dir, 0)  -- "not a regular file (a directory)" when it is one
    if derr and chat.is_missing(derr) then M.fail(dir .. ": no such directory") end
    local kind = derr and derr:match(": not a regular file %(([^()]*)%)$")
    if kind and kind ~= "a directory" then M.fail(dir .. ": not a directory (" .. kind .. ")") end
    M.fail(dir .. ": not a model directory (no config.json)")
  end
  local done = M.status(ctx, "loading " .. dir)
  local bar  -- drawn over the status line once the loader reports progress (a fraction)
  local t0 = mllm.clock()
  local load_opts = { threads = opts.threads, dtype = opts.dtype, tokenizer = opts.tokenizer,
                      require_tokenizer = opts.tokenizer ~= nil, on_progress = ctx.tty and function(f)
    bar = bar or M.new_bar(ctx, "loading", 1000)
    bar:update(math.floor(f * 1000 + 0.5))
  end or nil }
  for k, v in pairs(extra or {}) do load_opts[k] = v end
  local model, err = mllm.load(dir, load_opts)
  if bar then bar:finish() end
  done()
  if not model then M.fail(err) end
  return model, mllm.clock() - t0
end

--- A session of model, or the command fails with the engine's message.
function M.new_session(model, n_ctx, n_batch, kv_type)
  local s, err = model:session({ n_ctx = n_ctx, n_batch = n_batch, kv_type = kv_type })
  if not s then M.fail(err) end
  return s
end

--- Fails unless the model has a tokenizer (`what` names the command that needs it).
function M.need_tokenizer(model, dir, what)
  if not model.config.has_tokenizer then
    M.fail(dir .. ": no tokenizer.model or tokenizer.json; " .. what .. " needs one (--tokenizer FILE names one)")
  end
end

--- Generation options from the command line.
-- @tparam table opts the command's options
-- @tparam table defaults `max_tokens`, and `stop` strings that come before the --stop ones
function M.gen_options(opts, defaults)
  local g = {
    max_tokens = opts.max_tokens or defaults.max_tokens, temperature = opts.temperature or 0,
    top_k = opts.top_k, top_p = opts.top_p, min_p = opts.min_p, repeat_penalty = opts.repeat_penalty,
    seed = opts.seed,
  }
  local stop = {}
  for _, s in ipairs(defaults.stop or {}) do stop[#stop + 1] = s end
  for _, s in ipairs(opts.stop or {}) do
    if s == "" then M.fail("--stop needs a non-empty string", 2) end
    stop[#stop + 1] = s
  end
  if #stop > 16 then M.fail("at most 16 --stop strings", 2) end
  if #stop > 0 then g.stop = stop end
  return g
end

--- Feeds ids to session s and starts a generation. On a terminal a long prompt is
-- evaluated in chunks under a progress bar first.
-- @return `{ iter =, e2 =, e3 =, closer =, pre_tokens =, pre_seconds = }` (the generic `for`'s
--   values, and the prompt tokens and seconds spent before the generator started), or nil, message
function M.start_stream(ctx, s, ids, gopts)
  local pre_tokens, pre_seconds = 0, 0
  if ctx.tty and #ids > LONG_PROMPT then
    local n = #ids - 1
    local bar = M.new_bar(ctx, "prompt", n)
    local t0 = mllm.clock()
    while pre_tokens < n do
      local k = math.min(CHUNK, n - pre_tokens)
      local ok, err = s:eval(table.move(ids, pre_tokens + 1, pre_tokens + k, 1, {}))
      if not ok then bar:finish() return nil, err end
      pre_tokens = pre_tokens + k
      bar:update(pre_tokens)
    end
    bar:finish()
    pre_seconds = mllm.clock() - t0
    ids = { ids[#ids] }
  end
  local iter, e2, e3, closer = s:stream(ids, gopts)
  if not iter then return nil, e2 end
  return { iter = iter, e2 = e2, e3 = e3, closer = closer, pre_tokens = pre_tokens, pre_seconds = pre_seconds }
end

--- "[prompt: N tokens, X tok/s | generated: M tokens, Y tok/s | stop: ...]" of a stream that ended.
-- @tparam table st `start_stream`'s table
-- @tparam table info its closer's `info()`
function M.stats_line(st, info)
  local pt, ps = st.pre_tokens + info.prompt_tokens, st.pre_seconds + info.prefill_seconds
  return string.format("[prompt: %d tokens, %s | generated: %d tokens, %s | stop: %s]", pt, M.rate(pt, ps),
    info.generated_tokens, M.rate(info.generated_tokens, info.decode_seconds), info.stop)
end

--- Tools for chat and agent: --apis, else DIR/apis.json (the model directory's own, never the working directory's).
-- Only a file that is not there at all passes to the next; any other failure is reported.
-- @return the APIs and the path they came from, or nil when none of the defaults is there
function M.find_apis(opts, dir)
  local candidates = opts.apis and { opts.apis } or { dir .. "/apis.json" }
  for _, path in ipairs(candidates) do
    local apis, err = chat.load_apis(path)
    if apis then return apis, path end
    if opts.apis or not chat.is_missing(err) then M.fail(err) end
  end
  return nil
end

-- ------------------------------------------------------------ chat and agent

local CHAT_HELP = "/reset clears the history, /quit (or Ctrl-D) leaves"
local CTRL_C_HINT = "(Ctrl-C again, Ctrl-D or /quit leaves)"
local STOPPED = "(answer stopped)"

--- A turn of chat or agent that could not run (the conversation outgrew its context, ...):
-- one line on stderr, and the loop goes on with the history as it was (the message is not kept).
function M.turn_error(ctx, err)
  ctx.err:write(PROG .. ": " .. tostring(err) .. " (the message was not kept: send a shorter one, or /reset "
    .. "to start over)\n")
end

-- The Ctrl-C of one answer: `stop:watch(s)` names the session whose work Ctrl-C cancels
-- (a prefill stops within one layer; nil: none, Ctrl-C is only noted), `stop:fired()`
-- whether Ctrl-C came during this answer.
local function new_stop(guard)
  local stop = { hit = false }
  function stop.watch(_, s)
    guard:watch(type(s) == "userdata" and s or nil)  -- a stand-in session (the specs' fakes) is not watched
  end
  function stop.fired()
    stop.hit = stop.hit or guard:fired()
    return stop.hit
  end
  return stop
end

-- One answer, Ctrl-C taken by `guard`: it stops the answer, not the program.
local function answer_turn(ctx, answer, line, guard)
  guard:fired()  -- a Ctrl-C before the answer began stopped nothing
  local stop = new_stop(guard)
  answer(line, stop)
  guard:watch(nil)
  if stop:fired() then ctx.out:write(STOPPED, "\n") end
end

-- The Ctrl-C guard of one pass of the loop (`pass:take()` installs it; closing the pass
-- releases it): a Ctrl-C while the program works (an answer, /reset) is taken, not fatal.
local function new_pass()
  return setmetatable({}, {
    __index = { take = function(p) p.guard = p.guard or mllm.on_interrupt() return p.guard end },
    __close = function(p) if p.guard then p.guard:release() end end,
  })
end

--- The read-answer loop of chat and agent: a banner and prompts when interactive, /reset,
-- /help, /quit, until the end of input.
--
-- Lines come from `mobilellm.cli.terminal`'s reader (edited on a terminal) and are
-- cleaned (`terminal.clean`) before they become turns; when the prompt is not shown
-- (input from a pipe or a file) each line is echoed after "> ", so that the output reads
-- as a typed conversation. Ctrl-C during an answer stops it (`answer` sees it through
-- `stop`) and the loop goes on; at the prompt it drops the line being typed, and on an
-- empty prompt prints a hint the first time and leaves the second time in a row (exit
-- status 0, as /quit and Ctrl-D).
-- @tparam table ctx
-- @param conv has `reset` and `close` (called at the end)
-- @tparam string banner
-- @tparam function answer `answer(line, stop)` prints the answer to one user line;
--   `stop:watch(session)` names the session Ctrl-C cancels, `stop:fired()` says whether it came
-- @treturn integer 0
function M.converse(ctx, conv, banner, answer)
  if ctx.interactive then ctx.out:write(banner, "\n", CHAT_HELP, "\n") end
  local reader <close> = setmetatable({ r = terminal.reader(ctx, ctx.getenv) },
    { __close = function(self) self.r:close() end })
  local input = reader.r
  local ctrl_c = false  -- the last thing read was a Ctrl-C on an empty prompt
  while true do
    local pass <close> = new_pass()
    -- on a terminal, the line editor has a handler of its own while it reads, and ours
    -- takes Ctrl-C at any other time; reading a pipe, Ctrl-C ends the program as usual
    if input.editing then pass:take() end
    local line, why, typed
    if input.editing then
      ctx.out:flush()
      line, why, typed = input:read("> ")
    else
      if ctx.interactive then
        ctx.out:write("> ")
        ctx.out:flush()
      end
      line, why = input:read()
    end
    local guard = pass:take()
    if why == "interrupted" then
      ctx.out:write("^C\n")
      if typed and typed ~= "" then
        ctrl_c = false  -- the line was dropped
      elseif ctrl_c then
        break
      else
        ctx.out:write(CTRL_C_HINT, "\n")
        ctrl_c = true
      end
    elseif line == nil then
      if ctx.interactive then ctx.out:write("\n") end
      break
    else
      ctrl_c = false
      line = terminal.clean(line)
      if line ~= "" then
        if not ctx.interactive then ctx.out:write("> ", line, "\n") end
        input:add(line)
      end
      if line == "/quit" or line == "/exit" then
        break
      elseif line == "/reset" then
        conv:reset()
        ctx.out:write("(history cleared)\n")
      elseif line == "/help" then
        ctx.out:write(CHAT_HELP, "\n")
      elseif line:match("^/%a") then
        ctx.out:write("unknown command " .. line .. "; " .. CHAT_HELP .. "\n")
      elseif line ~= "" then
        answer_turn(ctx, answer, line, guard)
      end
    end
    ctx.out:flush()
  end
  conv:close()
  return 0
end

return M
