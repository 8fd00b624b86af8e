--- The `mobilellm` command line: `info`, `run`, `chat`, `agent`, `convert`, `bench`, `eval`.
--
-- `bin/mobilellm` only finds the modules and calls `main`; everything else is
-- here, so the specs can run every command in-process with their own streams.
--
--     mobilellm info DIR
--     mobilellm run DIR "Once upon a time" --max-tokens 64
--     mobilellm chat DIR
--
-- Conventions: `--help` on every command; results on standard output; progress
-- (a bar while loading, for long prompts and for eval, a status line while
-- convert writes) on standard error, only when standard output and standard error are both
-- terminals (`MOBILELLM_PROGRESS=0` or `1` overrides); an error is one line
-- on standard error, `mobilellm: ...`, and a non-zero exit status (2 for a
-- command line that is wrong, 1 for anything else).
-- @module mobilellm.cli
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")

local M = {}

local PROG = "mobilellm"
local CHUNK = 64        -- tokens per prefill step under a progress bar (the default n_batch)
local LONG_PROMPT = 64  -- prompts longer than this get a progress bar on a terminal

-- ------------------------------------------------------------ errors

-- An error the user caused or can fix: printed as one line, exit status `code`.
local function fail(msg, code)
  error({ cli = true, msg = msg, code = code or 1 }, 0)
end

local function usage_error(cmd, msg)
  fail(string.format("%s%s (see '%s%s --help')", cmd and (cmd .. ": ") or "", msg, PROG,
    cmd and (" " .. cmd) or ""), 2)
end

-- ------------------------------------------------------------ formatting

local function human_bytes(n)
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local u = 1
  while n >= 1024 and u < #units do n = n / 1024; u = u + 1 end
  return u == 1 and string.format("%d B", n) or string.format("%.1f %s", n, units[u])
end

local function human_count(n)
  if n >= 1e9 then return string.format("%.2fB", n / 1e9) end
  if n >= 1e6 then return string.format("%.1fM", n / 1e6) end
  if n >= 1e3 then return string.format("%.1fK", n / 1e3) end
  return tostring(n)
end

local function rate(tokens, seconds)
  if seconds <= 0 then return "-" end
  return string.format("%.1f tok/s", tokens / seconds)
end

-- ------------------------------------------------------------ progress

-- Progress is drawn on stderr with carriage returns, and only when ctx.tty.
local Bar = {}
Bar.__index = Bar

local function new_bar(ctx, label, total)
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

-- A one-line status ("loading DIR ...") while a step that reports nothing runs.
local function status(ctx, text)
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
local LOAD_OPTS = {
  { "dtype", "T", kind = "choice", values = { "auto", "f32", "f16", "bf16", "q8", "q4" },
    help = "compute format: auto (as stored), f32, f16, bf16, q8, q4 (quantized on load)" },
  { "threads", "N", kind = "int", min = 0, max = 1024, help = "threads (default: all cores)" },
  { "tokenizer", "FILE", kind = "str", help = "a tokenizer.model to use instead of DIR's" },
}

local GEN_OPTS = {
  { "max-tokens", "N", kind = "int", min = 0, max = 131072, help = "tokens to generate (default %s)" },
  { "temperature", "T", kind = "num", min = 0, max = 1e6, help = "0 = greedy (default 0)" },
  { "top-k", "K", kind = "int", min = 0, max = 1048576, help = "keep the K likeliest tokens (0 = off)" },
  { "top-p", "P", kind = "num", min = 1e-9, max = 1, help = "nucleus sampling (1 = off)" },
  { "min-p", "P", kind = "num", min = 0, max = 0.999999, help = "drop tokens below P x the likeliest (0 = off)" },
  { "repeat-penalty", "R", kind = "num", min = 1e-6, max = 1e6, help = "penalty for repeated tokens (1 = off)" },
  { "seed", "S", kind = "int", help = "random seed for sampling" },
  { "stop", "S", kind = "list", help = "stop at this string (repeatable)" },
  { "n-ctx", "N", kind = "int", min = 1, max = 131072, help = "context length (default: the model's)" },
  { "kv-type", "T", kind = "choice", values = { "auto", "f32", "f16" },
    help = "KV cache element: f32 (exact) or f16 (half the memory); auto (default): f16 for q8/q4" },
}

local function concat_opts(...)
  local out = {}
  for _, list in ipairs({ ... }) do
    for _, o in ipairs(list) do out[#out + 1] = o end
  end
  return out
end

local function opt_key(name) return (name:gsub("-", "_")) end

local function find_opt(cmd, name)
  for _, o in ipairs(cmd.options) do
    if o[1] == name then return o end
  end
end

local function check_value(cmd, o, v)
  local flag = "--" .. o[1]
  if o.kind == "int" or o.kind == "num" then
    local n = tonumber(v)
    if o.kind == "int" then n = n and math.tointeger(n) end
    if not n then usage_error(cmd.name, string.format("%s expects %s, got '%s'", flag,
      o.kind == "int" and "an integer" or "a number", v)) end
    if (o.min and n < o.min) or (o.max and n > o.max) then
      usage_error(cmd.name, string.format("%s must be in [%s, %s], got %s", flag, tostring(o.min or "-inf"),
        tostring(o.max or "inf"), v))
    end
    return n
  elseif o.kind == "choice" then
    for _, c in ipairs(o.values) do
      if c == v then return v end
    end
    usage_error(cmd.name, string.format("%s must be one of %s, got '%s'", flag, table.concat(o.values, ", "), v))
  end
  return v
end

-- argv[first..] → options, positional arguments. "--name value", "--name=value", "--" ends options.
local function parse_args(cmd, argv, first)
  local opts, pos = {}, {}
  local i, only_pos = first, false
  while i <= #argv do
    local a = argv[i]
    if only_pos or a == "-" or a:sub(1, 1) ~= "-" then
      pos[#pos + 1] = a
    elseif a == "--" then
      only_pos = true
    elseif a == "-h" or a == "--help" then
      opts.help = true
    else
      local name, val = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:match("^%-%-(.+)$")
      local o = name and find_opt(cmd, name)
      if not o then usage_error(cmd.name, "unknown option " .. a) end
      local key = opt_key(o[1])
      if o.kind == "flag" then
        if val then usage_error(cmd.name, "--" .. o[1] .. " takes no value") end
        opts[key] = true
      else
        if not val then
          i = i + 1
          val = argv[i]
          if val == nil then usage_error(cmd.name, "--" .. o[1] .. " needs a value (" .. o[2] .. ")") end
        end
        val = check_value(cmd, o, val)
        if o.kind == "list" then
          opts[key] = opts[key] or {}
          table.insert(opts[key], val)
        else
          opts[key] = val
        end
      end
    end
    i = i + 1
  end
  if opts.help then return opts, pos end
  local want = cmd.args
  if #pos < #want - (cmd.optional or 0) then
    usage_error(cmd.name, "missing " .. want[#pos + 1])
  elseif #pos > #want then
    usage_error(cmd.name, "unexpected argument '" .. pos[#want + 1] .. "'")
  end
  for _, o in ipairs(cmd.options) do
    if o.required and opts[opt_key(o[1])] == nil then usage_error(cmd.name, "--" .. o[1] .. " is required") end
  end
  return opts, pos
end

-- Words of text in lines of at most width columns.
local function wrap(text, width)
  local lines, line = {}, ""
  for word in text:gmatch("%S+") do
    if line ~= "" and utf8.len(line) + 1 + utf8.len(word) > width then
      lines[#lines + 1] = line
      line = word
    else
      line = line == "" and word or (line .. " " .. word)
    end
  end
  if line ~= "" then lines[#lines + 1] = line end
  return table.concat(lines, "\n")
end

local function help_text(cmd)
  local lines = { string.format("usage: %s %s %s%s", PROG, cmd.name, table.concat(cmd.args, " "),
    #cmd.options > 0 and " [options]" or ""), "", wrap(cmd.summary, 78) }
  if cmd.details then lines[#lines + 1] = ""; lines[#lines + 1] = wrap(cmd.details, 78) end
  if #cmd.options > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "options:"
    for _, o in ipairs(cmd.options) do
      local head = "  --" .. o[1] .. (o.kind == "flag" and "" or (" " .. o[2]))
      local help = o.help:gsub("%%s", tostring(cmd.defaults and cmd.defaults[opt_key(o[1])] or ""))
      lines[#lines + 1] = string.format("%-24s %s", head, help)
    end
  end
  lines[#lines + 1] = string.format("%-24s %s", "  -h, --help", "show this help")
  return table.concat(lines, "\n") .. "\n"
end

-- ------------------------------------------------------------ shared steps

-- Whether a regular file is at path: true, false when nothing is there, or nil and a message
-- naming the path when something else is (a FIFO, a directory, a device, no permission).
-- io.open would block on a FIFO; mllm.read_file with a limit of 0 bytes opens without
-- blocking, checks what the file is and its size, and reads nothing.
local function file_exists(path)
  local empty, err = mllm.read_file(path, 0)
  if empty or err:find(" bytes, larger than the limit of 0 bytes %(max_bytes%)$") then return true end
  if chat.is_missing(err) then return false end
  return nil, err
end

-- Loads the model in dir under a status line.
-- extra: more options for mllm.load (info's `check`).
local function load_model(ctx, dir, opts, extra)
  local present, cerr = file_exists(dir .. "/config.json")
  if present == nil then fail(cerr) end
  if not present then
    local _, derr = mllm.read_file(dir, 0)  -- "not a regular file (a directory)" when it is one
    if derr and chat.is_missing(derr) then fail(dir .. ": no such directory") end
    local kind = derr and derr:match(": not a regular file %(([^()]*)%)$")
    if kind and kind ~= "a directory" then fail(dir .. ": not a directory (" .. kind .. ")") end
    fail(dir .. ": not a model directory (no config.json)")
  end
  local done = status(ctx, "loading " .. dir)
  local bar  -- drawn over the status line once the loader reports progress (a fraction)
  local t0 = mllm.clock()
  local load_opts = { threads = opts.threads, dtype = opts.dtype, tokenizer = opts.tokenizer,
                      require_tokenizer = opts.tokenizer ~= nil, on_progress = ctx.tty and function(f)
    bar = bar or new_bar(ctx, "loading", 1000)
    bar:update(math.floor(f * 1000 + 0.5))
  end or nil }
  for k, v in pairs(extra or {}) do load_opts[k] = v end
  local model, err = mllm.load(dir, load_opts)
  if bar then bar:finish() end
  done()
  if not model then fail(err) end
  return model, mllm.clock() - t0
end

local function new_session(model, n_ctx, n_batch, kv_type)
  local s, err = model:session({ n_ctx = n_ctx, n_batch = n_batch, kv_type = kv_type })
  if not s then fail(err) end
  return s
end

local function need_tokenizer(model, dir, what)
  if not model.config.has_tokenizer then
    fail(dir .. ": no tokenizer.model; " .. what .. " needs one (--tokenizer FILE names one)")
  end
end

-- Generation options from the command line.
local function gen_options(opts, defaults)
  local g = {
    max_tokens = opts.max_tokens or defaults.max_tokens, temperature = opts.temperature or 0,
    top_k = opts.top_k, top_p = opts.top_p, min_p = opts.min_p, repeat_penalty = opts.repeat_penalty,
    seed = opts.seed,
  }
  local stop = {}
  for _, s in ipairs(defaults.stop or {}) do stop[#stop + 1] = s end
  for _, s in ipairs(opts.stop or {}) do
    if s == "" then fail("--stop needs a non-empty string", 2) end
    stop[#stop + 1] = s
  end
  if #stop > 16 then fail("at most 16 --stop strings", 2) end
  if #stop > 0 then g.stop = stop end
  return g
end

-- Feeds ids to session s and starts a generation. On a terminal a long prompt is
-- evaluated in chunks under a progress bar first. Returns the iterator, its
-- closer, and the prompt tokens and seconds spent before the generator started.
local function start_stream(ctx, s, ids, gopts)
  local pre_tokens, pre_seconds = 0, 0
  if ctx.tty and #ids > LONG_PROMPT then
    local n = #ids - 1
    local bar = new_bar(ctx, "prompt", n)
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

local function stats_line(st, info)
  local pt, ps = st.pre_tokens + info.prompt_tokens, st.pre_seconds + info.prefill_seconds
  return string.format("[prompt: %d tokens, %s | generated: %d tokens, %s | stop: %s]", pt, rate(pt, ps),
    info.generated_tokens, rate(info.generated_tokens, info.decode_seconds), info.stop)
end

-- Tools for chat and agent: --apis, else DIR/apis.json, else the repository's task file.
-- Only a file that is not there at all passes to the next; any other failure is reported.
local function find_apis(opts, dir)
  local candidates = opts.apis and { opts.apis } or { dir .. "/apis.json", "data/api-calling/apis.json" }
  for _, path in ipairs(candidates) do
    local apis, err = chat.load_apis(path)
    if apis then return apis, path end
    if opts.apis or not chat.is_missing(err) then fail(err) end
  end
  return nil
end

-- ------------------------------------------------------------ info

local function cmd_info(ctx, opts, pos)
  local dir = pos[1]
  -- every weight is read once for NaN and infinity: a corrupt checkpoint fails
  -- here with the tensor and index, not later as "⁇ ⁇ ⁇" text
  local model, load_s = load_model(ctx, dir, opts, { check = true })
  local c = model.config
  if opts.json then
    local t = {}
    for k, v in pairs(c) do t[k] = v end
    t.path, t.load_seconds, t.weights_checked = dir, load_s, true
    ctx.out:write(mllm.json_encode(t), "\n")
    return 0
  end
  local kv_dim = c.kv_heads * c.head_dim
  local kv_per_token = 2 * c.executed_layers * kv_dim * 4
  local rows = {
    { "model", dir },
    { "architecture", string.format("%s: dim %d, %d heads / %d KV heads (head_dim %d), FFN %d",
      c.model_type, c.dim, c.heads, c.kv_heads, c.head_dim, c.ffn_dim) },
    { "layers", c.layer_sharing
      and string.format("%d stored, %d executed (layer sharing: each block runs twice)", c.layers, c.executed_layers)
      or string.format("%d (no layer sharing)", c.layers) },
    { "parameters", string.format("%s (%d)", human_count(c.params), c.params) },
    { "embedding", c.share_embedding and "shared with the output head" or "separate output head (lm_head)" },
    { "vocabulary", string.format("%d tokens, bos %d, eos %d, tokenizer: %s", c.vocab_size, c.bos, c.eos,
      c.has_tokenizer and "tokenizer.model" or "none") },
    { "context", string.format("%d tokens, rope theta %g", c.max_seq_len, c.rope_theta) },
    { "dtype", string.format("stored %s, computing in %s%s", c.dtype, c.compute,
      c.compute == c.dtype and " (used as stored)" or " (converted on load)") },
    { "kernels", string.format("%s, %d thread%s", c.kernels, c.threads, c.threads == 1 and "" or "s") },
    { "memory", string.format("weights %s; KV cache %s per token, %s at the full context", human_bytes(c.weight_bytes),
      human_bytes(kv_per_token), human_bytes(kv_per_token * c.max_seq_len)) },
    { "weights", "checked: no NaN or infinity" },
    { "load time", string.format("%.2f s (with the weight check)", load_s) },
  }
  for _, r in ipairs(rows) do ctx.out:write(string.format("%-13s %s\n", r[1], r[2])) end
  model:close()
  return 0
end

-- ------------------------------------------------------------ run

local function read_all(inp)
  local t = inp:read("a")
  return t or ""
end

local function cmd_run(ctx, opts, pos)
  local dir, prompt = pos[1], pos[2]
  if prompt == "-" then prompt = read_all(ctx.inp) end
  local gopts = gen_options(opts, { max_tokens = 256 })
  local model = load_model(ctx, dir, opts)
  need_tokenizer(model, dir, "run")
  local ids = model:tokenize(prompt, { bos = true })
  local s <close> = new_session(model, opts.n_ctx, nil, opts.kv_type)
  local st, err = start_stream(ctx, s, ids, gopts)
  if not st then fail(err) end
  local last = ""
  for piece in st.iter, st.e2, st.e3, st.closer do
    if #piece > 0 then
      ctx.out:write(piece)
      ctx.out:flush()
      last = piece
    end
  end
  if last:sub(-1) ~= "\n" then ctx.out:write("\n") end
  ctx.out:flush()
  ctx.err:write(stats_line(st, st.closer:info()), "\n")
  return 0
end

-- ------------------------------------------------------------ chat

local function common_prefix(a, b, limit)
  local n = math.min(#a, #b, limit)
  for i = 1, n do
    if a[i] ~= b[i] then return i - 1 end
  end
  return n
end

-- A conversation kept in one session: each turn re-renders the whole prompt with
-- the chat template, rewinds the session to the first token that changed and
-- evaluates only the rest, so earlier turns are not recomputed.
local Conversation = {}
Conversation.__index = Conversation

local function new_conversation(model, apis, n_ctx, kv_type)
  return setmetatable({ model = model, apis = apis or {}, messages = {}, held = {}, kv_type = kv_type,
                        session = new_session(model, n_ctx, nil, kv_type) }, Conversation)
end

function Conversation:reset()
  self.messages, self.held = {}, {}
  self.session:rewind(0)
end

function Conversation:close()
  self.session:close()
end

-- Starts the assistant's answer to `text`; returns the stream table or nil, message.
function Conversation:ask(ctx, text, gopts)
  self.messages[#self.messages + 1] = { role = "user", content = text }
  local ids = self.model:tokenize(chat.prompt_text(self.messages, self.apis), { bos = true })
  local s = self.session
  local n = common_prefix(self.held, ids, s:pos())
  if n >= #ids then n = #ids - 1 end  -- generation needs at least one new token
  if n < s:pos() then s:rewind(n) end
  local feed = table.move(ids, n + 1, #ids, 1, {})
  local st, err = start_stream(ctx, s, feed, gopts)
  if not st then
    self.messages[#self.messages] = nil
    self.held = table.move(ids, 1, s:pos(), 1, {})  -- what the session holds now
    return nil, err
  end
  self.held = table.move(ids, 1, #ids, 1, {})
  return st
end

-- Records the answer (ids generated, text) once its stream has ended.
function Conversation:answered(ids, text)
  for _, id in ipairs(ids) do self.held[#self.held + 1] = id end
  local pos = self.session:pos()
  for i = #self.held, pos + 1, -1 do self.held[i] = nil end  -- not evaluated: the context was full
  local call, reply, err = chat.parse_answer(text)
  if err then call, reply = nil, text end
  self.messages[#self.messages + 1] = { role = "assistant", content = reply, call = call }
end

local CHAT_HELP = "/reset clears the history, /quit (or Ctrl-D) leaves"

-- A turn of chat or agent that could not run (the conversation outgrew its context, ...):
-- one line on stderr, and the loop goes on.
local function turn_error(ctx, err)
  ctx.err:write(PROG .. ": " .. tostring(err) .. " (/reset starts over)\n")
end

-- The read-answer loop of chat and agent. `conv` has `reset` and `close`;
-- `answer(text)` prints the answer to one user line.
local function converse(ctx, conv, banner, answer)
  if ctx.interactive then ctx.out:write(banner, "\n", CHAT_HELP, "\n") end
  while true do
    if ctx.interactive then
      ctx.out:write("> ")
      ctx.out:flush()
    end
    local line = ctx.inp:read("l")
    if line == nil then
      if ctx.interactive then ctx.out:write("\n") end
      break
    end
    line = line:gsub("^%s+", ""):gsub("%s+$", "")
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
      answer(line)
    end
    ctx.out:flush()
  end
  conv:close()
  return 0
end

local function cmd_chat(ctx, opts, pos)
  local dir = pos[1]
  local gopts = gen_options(opts, { max_tokens = 128, stop = { "\n" } })
  local apis = find_apis(opts, dir)
  local model = load_model(ctx, dir, opts)
  need_tokenizer(model, dir, "chat")
  local banner = string.format("%s chat: %s", PROG, tostring(model))
  local conv = new_conversation(model, apis, opts.n_ctx, opts.kv_type)
  return converse(ctx, conv, banner, function(line)
    local st, err = conv:ask(ctx, line, gopts)
    if not st then return turn_error(ctx, err) end
    local ids, parts = {}, {}
    for piece, id in st.iter, st.e2, st.e3, st.closer do
      if id then ids[#ids + 1] = id end
      if #piece > 0 then
        parts[#parts + 1] = piece
        ctx.out:write(piece)
        ctx.out:flush()
      end
    end
    ctx.out:write("\n")
    if opts.verbose then ctx.err:write(stats_line(st, st.closer:info()), "\n") end
    conv:answered(ids, table.concat(parts))
  end)
end

-- ------------------------------------------------------------ agent

local function render_args(args)
  local ok, json = pcall(mllm.json_encode, args)
  return ok and json or tostring(args)
end

--- The demo tools of `mobilellm agent`: each API of the tool list gets a Lua
-- function that pretends to act. Information tools return text (fed back to
-- the model as the beginning of its reply); actions return a table (shown,
-- not fed back: the model writes its own confirmation).
-- @tparam table apis the APIs (apis.json format)
-- @treturn table name → function(args)
function M.demo_handlers(apis)
  local special = {
    get_weather = function(args)
      return string.format("21 °C and sunny in %s.", args.city or args.location or "your area")
    end,
    search_web = function(args)
      return "Top result for \"" .. tostring(args.query or "") .. "\": example.org."
    end,
  }
  local handlers = {}
  for _, a in ipairs(apis) do
    handlers[a.name] = special[a.name] or function(args)
      return { status = "done", tool = a.name, args = args }
    end
  end
  return handlers
end

-- How the agent shows a call (on a line of its own) and its outcome.
local function show_call(ctx, apis, call, midline)
  local ok, text = pcall(chat.render_call, { name = call.name, args = call.args }, apis)
  ctx.out:write(midline and "\n" or "", "[call] ", ok and text or tostring(call.raw or call.name), "\n")
end

local function show_result(ctx, rec)
  if rec.ok then
    local r = rec.result
    ctx.out:write("[result] ", r == nil and "ok" or type(r) == "table" and render_args(r) or tostring(r), "\n")
  else
    ctx.out:write("[error] ", tostring(rec.error), "\n")
  end
end

--- The feedback of the `agent` command: text results go back to the model, tables do not
-- (as `mobilellm.agent`'s `feedback` option).
function M.demo_feedback(call)
  if not call.ok then return "Error: " .. tostring(call.error) end
  if type(call.result) == "string" then return call.result end
  return nil
end

local function cmd_agent(ctx, opts, pos)
  local dir = pos[1]
  local gopts = gen_options(opts, { max_tokens = 128, stop = { "\n" } })
  local apis, apis_path = find_apis(opts, dir)
  if not apis then fail("no tool list: pass --apis FILE (the apis.json format), or put apis.json in " .. dir) end
  local model = load_model(ctx, dir, opts)
  need_tokenizer(model, dir, "agent")
  local banner = string.format("%s agent: %s\ntools (%s): %s", PROG, tostring(model), apis_path,
    chat.tools_line(apis):gsub("^Tools: ", ""):gsub("\n$", ""))
  -- mobilellm.agent runs the tools and feeds text results back
  local agent = require("mobilellm.agent")
  local pointer = nil
  if opts.copy then  -- the copy pointer the model directory ships, if any
    local err
    pointer, err = chat.load_pointer(dir)
    if err then fail(err) end
  end
  local a = agent.new(model, {
    tools = apis, handlers = M.demo_handlers(apis), constrain = (opts.constrain or opts.copy) or nil,
    copy = opts.copy or nil, pointer = pointer,
    max_tokens = gopts.max_tokens, temperature = gopts.temperature, top_k = gopts.top_k, top_p = gopts.top_p,
    min_p = gopts.min_p, repeat_penalty = gopts.repeat_penalty, seed = gopts.seed, stop = gopts.stop,
    n_ctx = opts.n_ctx, kv_type = opts.kv_type, feedback = M.demo_feedback,
  })
  local conv = { c = a:conversation() }
  function conv.reset(self)
    self.c:close()
    self.c = a:conversation()
  end
  function conv.close(self)
    self.c:close()
    a:close()
  end
  local started = false  -- the first text of an answer, or after a result, loses its leading space
  local hooks = {
    on_text = function(text)
      if not started then text = text:gsub("^%s+", "") end
      if #text > 0 then
        started = true
        ctx.out:write(text)
        ctx.out:flush()
      end
    end,
    on_call = function(call) show_call(ctx, apis, call, started) end,
    on_result = function(rec) show_result(ctx, rec); started = false end,
  }
  return converse(ctx, conv, banner, function(line)
    started = false
    local r = conv.c:send(line, hooks)
    ctx.out:write("\n")
    if r.error then turn_error(ctx, r.error) end
  end)
end

-- ------------------------------------------------------------ convert

-- The files of a checkpoint directory, other than its weights, that travel with it.
local COMPANIONS = { "config.json", "tokenizer.model", "generation_config.json", "tokenizer_config.json",
                     "special_tokens_map.json", "apis.json" }

-- Largest companion file copied, in bytes: the engine's own cap on tokenizer.model
-- (MLLM_MAX_TOKENIZER_BYTES), the largest of them.
local MAX_COMPANION_BYTES = 64 << 20

-- The companion files of dir that are there (name -> contents), read before anything is
-- written, each a regular file at most MAX_COMPANION_BYTES long whose destination in out is
-- absent or a regular file: a FIFO would block the read, or the write when it is the
-- destination, so either fails the command naming it.
local function read_companions(dir, out)
  local found = {}
  for _, name in ipairs(COMPANIONS) do
    local data, err = mllm.read_file(dir .. "/" .. name, MAX_COMPANION_BYTES)
    if data then
      local present, terr = file_exists(out .. "/" .. name)
      if present == nil then fail(terr) end
      found[name] = data
    elseif not chat.is_missing(err) then
      fail(err)
    end
  end
  return found
end

local function write_file(path, data)
  local f, oerr = io.open(path, "wb")
  if not f then fail(oerr) end
  local ok, werr = f:write(data)
  if ok then ok, werr = f:close() else f:close() end
  if not ok then fail(path .. ": " .. tostring(werr)) end
end

local function same_dir(a, b)
  local function norm(p) return (p:gsub("/+$", ""):gsub("/%./", "/")) end
  return norm(a) == norm(b)
end

-- Loads DIR in the requested format and saves its weights as they are in memory
-- (model:save), so the new checkpoint loads in place: no conversion, no quantization.
local function cmd_convert(ctx, opts, pos)
  local dir, out = pos[1], pos[2]
  local target = out .. "/model.safetensors"
  local present, terr = file_exists(target)
  if present == nil then fail(terr) end
  if present and not opts.force then fail(target .. " already exists (--force replaces it)") end
  local companions = not same_dir(dir, out) and read_companions(dir, out) or {}
  local model = load_model(ctx, dir, { dtype = opts.dtype, threads = opts.threads })
  if not os.execute("mkdir -p '" .. out:gsub("'", "'\\''") .. "'") then fail(out .. ": cannot create the directory") end
  local bar = new_bar(ctx, "writing " .. target, 1000)
  local ok, err = model:save(target, { on_progress = function(f) bar:update(math.floor(f * 1000)) end })
  bar:finish()
  if not ok then fail(err) end
  for _, name in ipairs(COMPANIONS) do
    if companions[name] then write_file(out .. "/" .. name, companions[name]) end
  end
  local params = model.config.params
  model:close()
  local check, lerr = mllm.load(out, { threads = 1 })
  if not check then fail(out .. " was written but does not load: " .. lerr) end
  local f = io.open(target, "rb")
  local size = f and f:seek("end") or 0
  if f then f:close() end
  ctx.out:write(string.format("wrote %s: %s parameters in %s, %s; loads as %s without conversion\n", target,
    human_count(params), check.config.dtype, human_bytes(size), check.config.compute))
  check:close()
  return 0
end

-- ------------------------------------------------------------ bench

local function peak_rss()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  local kb = tonumber(s:match("VmHWM:%s*(%d+)"))
  return kb and kb * 1024
end

-- n deterministic token ids (BOS first), as tools/bench.lua makes them (tiny
-- vocabularies, as in the test fixtures, use all their ids from 3 on).
local function bench_prompt(n, vocab)
  local ids, x = { 1 }, 12345
  local first, span = 100, vocab - 200
  if vocab <= 300 then first, span = 3, vocab - 3 end
  for i = 2, n do
    x = (x * 1103515245 + 12345) % 2147483648
    ids[i] = first + x % span
  end
  return ids
end

local function cmd_bench(ctx, opts, pos)
  local dir = pos[1]
  local np, ng = opts.prompt_tokens or 128, opts.gen_tokens or 128
  local model, load_s = load_model(ctx, dir, opts)
  local c = model.config
  if np + ng > c.max_seq_len then
    fail(string.format("the model's context (%d tokens) is smaller than %d prompt + %d generated tokens",
      c.max_seq_len, np, ng))
  end
  local s <close> = new_session(model, np + ng, math.min(np, 128))
  local done = status(ctx, string.format("running %d + %d tokens", np, ng))
  local text, info = s:generate(bench_prompt(np, c.vocab_size),
    { max_tokens = ng, stop_at_eos = false, temperature = 0 })
  done()
  if not text then fail(info) end
  local rss = peak_rss()
  if opts.json then
    ctx.out:write(mllm.json_encode({
      model = dir, compute = c.compute, kernels = c.kernels, threads = c.threads, load_s = load_s,
      prompt_tokens = info.prompt_tokens, prefill_tps = info.prefill_tps,
      generated_tokens = info.generated_tokens, decode_tps = info.decode_tps, rss_bytes = rss,
    }), "\n")
    return 0
  end
  ctx.out:write(string.format("%s\n", tostring(model)))
  ctx.out:write(string.format("load      %.2f s\n", load_s))
  ctx.out:write(string.format("prompt    %d tokens in %.3f s: %.1f tok/s\n", info.prompt_tokens,
    info.prefill_seconds, info.prefill_tps))
  ctx.out:write(string.format("decode    %d tokens in %.3f s: %.1f tok/s\n", info.generated_tokens,
    info.decode_seconds, info.decode_tps))
  if rss then ctx.out:write(string.format("peak RSS  %s\n", human_bytes(rss))) end
  return 0
end

-- ------------------------------------------------------------ eval

-- The examples in an evaluation file, up to limit, for the progress bar: 0 when it cannot
-- be read (eval.run then says why).
local function count_lines(path, limit, max_bytes)
  local text = mllm.read_file(path, max_bytes)
  if not text then return 0 end
  local n = 0
  for line in text:gmatch("[^\n]+") do
    if line:match("%S") then n = n + 1 end
    if n >= limit then break end
  end
  return n
end

local function cmd_eval(ctx, opts, pos)
  local eval = require("mobilellm.eval")
  local dir = pos[1]
  local data = opts.data or eval.DEFAULTS.data
  local apis = opts.apis
  if not apis then
    local present, err = file_exists(dir .. "/apis.json")
    if present == nil then fail(err) end
    apis = present and dir .. "/apis.json" or eval.DEFAULTS.apis
  end
  local model = load_model(ctx, dir, opts)
  need_tokenizer(model, dir, "eval")
  local limit = opts.limit or math.huge
  local bar = ctx.tty and new_bar(ctx, "evaluating", count_lines(data, limit, eval.MAX_DATA_BYTES)) or nil
  local result, err = eval.run({
    model = dir, loaded = model, data = data, apis = apis, limit = limit, constrain = opts.constrain,
    verbose = opts.verbose, log = function(text) if bar then bar:finish() end ctx.err:write(text) end,
    on_example = bar and function(n) bar:update(n) end or nil,
  })
  if bar then bar:finish() end
  if not result then fail(err) end
  ctx.out:write(eval.report(result, opts.json))
  return 0
end

-- ------------------------------------------------------------ commands

--- The commands: name, positional arguments, summary, options and the function.
M.COMMANDS = {
  { name = "info", args = { "DIR" }, run = cmd_info,
    brief = "architecture, parameters, layer sharing, dtype, kernels, memory",
    summary = "Show a model's architecture, parameters, layer sharing, dtype, kernels and memory.",
    details = "Every weight is checked for NaN and infinity as the model loads: a corrupt checkpoint "
      .. "fails with the tensor and the index of the first bad value.",
    options = concat_opts(LOAD_OPTS, { { "json", kind = "flag", help = "print the configuration as JSON" } }) },
  { name = "run", args = { "DIR", "PROMPT" }, run = cmd_run, defaults = { max_tokens = 256 },
    brief = "continue a prompt, streaming the text; then the speed",
    summary = "Continue PROMPT (\"-\": read it from standard input), streaming the text; then the prompt and "
      .. "decode speed on standard error.",
    options = concat_opts(GEN_OPTS, LOAD_OPTS) },
  { name = "chat", args = { "DIR" }, run = cmd_chat, defaults = { max_tokens = 128 },
    brief = "interactive chat, the history kept in the session",
    summary = "Chat with the model; the history stays in the session (earlier turns are not recomputed). "
      .. "/reset clears it, /quit leaves.",
    details = "The prompt is the chat template of mobilellm.chat (the shipped model's), with the tool list "
      .. "of --apis FILE, DIR/apis.json or data/api-calling/apis.json. Each answer is one line.",
    options = concat_opts(
      { { "apis", "FILE", kind = "str", help = "tool list for the prompt (apis.json format)" },
        { "verbose", kind = "flag", help = "speed of each answer on standard error" } },
      GEN_OPTS, LOAD_OPTS) },
  { name = "agent", args = { "DIR" }, run = cmd_agent, defaults = { max_tokens = 128 },
    brief = "the assistant with tools: shows each call and its result",
    summary = "The assistant with tools: each call the model writes is shown, run (demo functions that "
      .. "pretend to act) and its result shown.",
    details = "Tools come from --apis FILE, DIR/apis.json or data/api-calling/apis.json. /reset, /quit as in chat.",
    options = concat_opts(
      { { "apis", "FILE", kind = "str", help = "the tools (apis.json format)" },
        { "constrain", kind = "flag", help = "constrained decoding of calls (needs mobilellm.agent)" },
        { "copy", kind = "flag", help = "--constrain, and string arguments copied from the user's words" } },
      GEN_OPTS, LOAD_OPTS) },
  { name = "convert", args = { "DIR", "OUT" }, run = cmd_convert,
    brief = "write a checkpoint in another dtype (loads without conversion)",
    summary = "Write the checkpoint in DIR (safetensors or pytorch_model.bin, sharded or not) to the "
      .. "directory OUT with its weights in another format, so that it loads without conversion or "
      .. "quantization.",
    details = "OUT gets model.safetensors (matrices in the new format; q8 and q4 as the Q8_0 and Q4_0 "
      .. "block dtypes of the README; norms in F32) and copies of config.json, tokenizer.model and the "
      .. "other small files of DIR. OUT may be DIR itself (with --force).",
    options = {
      { "dtype", "T", kind = "choice", values = { "f32", "f16", "bf16", "q8", "q4" }, required = true,
        help = "format of the weights: f32, f16, bf16, q8, q4" },
      { "force", kind = "flag", help = "replace OUT/model.safetensors if it exists" },
      { "threads", "N", kind = "int", min = 0, max = 1024, help = "threads (default: all cores)" },
    } },
  { name = "bench", args = { "DIR" }, run = cmd_bench,
    brief = "prompt and decode speed (128-token prompt, 128 generated)",
    summary = "Measure the prompt (prefill) and decode speed of the model: a 128-token prompt, 128 generated "
      .. "tokens, greedy.",
    options = concat_opts({
      { "prompt-tokens", "N", kind = "int", min = 1, max = 131072, help = "prompt length (default 128)" },
      { "gen-tokens", "N", kind = "int", min = 1, max = 131072, help = "tokens generated (default 128)" },
      { "json", kind = "flag", help = "one JSON line" },
    }, LOAD_OPTS) },
  { name = "eval", args = { "DIR" }, run = cmd_eval,
    brief = "API-calling metrics on a JSON Lines file (tools/eval.lua)",
    summary = "The API-calling metrics of tools/eval.lua (EM_intent, EM_structure, ROUGE-1, ROUGE-L, calls "
      .. "that parse) of the model on a JSON Lines file.",
    options = concat_opts({
      { "data", "FILE", kind = "str", help = "the examples (default data/api-calling/test.jsonl)" },
      { "apis", "FILE", kind = "str", help = "the APIs (default DIR/apis.json or data/api-calling/apis.json)" },
      { "limit", "N", kind = "int", min = 1, help = "evaluate the first N examples" },
      { "constrain", kind = "flag", help = "constrained decoding of calls" },
      { "json", kind = "flag", help = "a last line with the numbers as JSON" },
      { "verbose", kind = "flag", help = "show the examples whose call is wrong (standard error)" },
    }, LOAD_OPTS) },
}

local function main_help()
  local lines = { string.format("usage: %s COMMAND [arguments] [options]", PROG), "",
                  "Run MobileLLM models on this machine (mobilellm " .. mllm.version .. ").", "", "commands:" }
  for _, c in ipairs(M.COMMANDS) do
    lines[#lines + 1] = string.format("  %-8s %s", c.name, c.brief)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = string.format("'%s COMMAND --help' shows a command's arguments and options.", PROG)
  return table.concat(lines, "\n") .. "\n"
end

local function is_tty(fd)
  return os.execute("test -t " .. fd) == true
end

-- The context of a run: streams and whether they are terminals.
local function make_ctx(env)
  env = env or {}
  local ctx = { out = env.out or io.stdout, err = env.err or io.stderr, inp = env.inp or io.stdin }
  local getenv = env.getenv or os.getenv
  local force = getenv("MOBILELLM_PROGRESS")
  if env.tty ~= nil then ctx.tty = env.tty
  elseif force == "0" or force == "1" then ctx.tty = force == "1"
  else ctx.tty = (getenv("TERM") or "dumb") ~= "dumb" and is_tty(1) and is_tty(2) end
  if env.interactive ~= nil then ctx.interactive = env.interactive
  else ctx.interactive = is_tty(0) and is_tty(1) end
  local lang = (getenv("LC_ALL") or "") .. (getenv("LC_CTYPE") or "") .. (getenv("LANG") or "")
  ctx.utf8 = lang:upper():find("UTF%-?8") ~= nil
  return ctx
end

--- Runs the command line `argv` (an array of strings, without the program name).
-- @tparam {string,...} argv
-- @tparam[opt] table env `out`, `err`, `inp` (file-like streams; default the
--   standard ones), `tty` (draw progress; default: stdout and stderr are
--   terminals), `interactive` (chat prompts and banner; default: stdin and
--   stdout are terminals), `getenv`
-- @treturn integer the exit status: 0, 1 (a failure), 2 (a wrong command line), 130 (interrupted)
function M.main(argv, env)
  local ctx = make_ctx(env)
  local function run()
    local name = argv[1]
    if name == nil then
      ctx.err:write(main_help())
      return 2
    elseif name == "-h" or name == "--help" or name == "help" then
      local topic = argv[2]
      for _, c in ipairs(M.COMMANDS) do
        if c.name == topic then ctx.out:write(help_text(c)) return 0 end
      end
      ctx.out:write(main_help())
      return 0
    elseif name == "--version" or name == "version" then
      ctx.out:write(PROG, " ", mllm.version, "\n")
      return 0
    end
    for _, c in ipairs(M.COMMANDS) do
      if c.name == name then
        local opts, pos = parse_args(c, argv, 2)
        if opts.help then ctx.out:write(help_text(c)) return 0 end
        return c.run(ctx, opts, pos)
      end
    end
    usage_error(nil, "unknown command '" .. name .. "'")
  end
  local ok, res = xpcall(run, function(e)
    if type(e) == "table" and e.cli then return e end
    local msg = tostring(e)
    if msg:find("interrupted!", 1, true) then return { cli = true, msg = "interrupted", code = 130 } end
    local debug_on = (env and env.getenv or os.getenv)("MOBILELLM_DEBUG")
    if debug_on and debug_on ~= "" then msg = debug.traceback(msg, 2) end
    -- a misuse error from the engine names what is wrong; its Lua position does not help here
    return { cli = true, msg = (msg:gsub("^[^\n]-%.lua:%d+: ", "")), code = 1 }
  end)
  if ok then return res or 0 end
  pcall(ctx.out.flush, ctx.out)
  if res.code == 130 then
    ctx.err:write("\n")
    return 130
  end
  ctx.err:write(PROG, ": ", (res.msg:gsub("\n", " ")), "\n")
  return res.code
end

return M
