--- An agent: a model that answers requests by calling Lua functions (tools).
--
--     local agent = require("mobilellm.agent")
--     local a = agent.new(model, { tools = reg, constrain = true })   -- reg: mobilellm.tools
--     local r = a:run("wake me up at 7:30 tomorrow")
--     -- r.reply == "Alarm set for 7:30 tomorrow.", r.calls[1].name == "set_alarm",
--     -- r.calls[1].ok == true, r.calls[1].result == whatever set_alarm returned
--
-- The loop, for one assistant turn: generate → parse (the streaming call parser) → validate
-- the arguments against the tool's schema → call its function under pcall → feed the result
-- (or the error) back → continue generating, until the turn ends (EOS, a new line, the token
-- budget) or `max_steps` calls have run. Invalid arguments, unknown tools, malformed calls and
-- tool errors never stop the loop: they are recorded in `r.calls` and fed back as errors.
-- Nor does a result or an error object that cannot be shown (its `__tostring` raises): every
-- conversion of what a tool gives back runs under pcall. A tool that calls `run` (or `send`)
-- on its own agent gets an error, which becomes that call's error.
--
-- The prompt is `mobilellm.chat`'s format (the shipped model's). How a result is fed back —
-- the convention, chosen to stay inside that format: a turn is
--
--     Assistant: <tool_call>NAME(args)</tool_call> REPLY\n
--
-- and the tool's result, rendered as text, becomes the beginning of REPLY. Generation stops
-- right after `</tool_call>`, the tool runs, and then:
--   * the tool returned nil: nothing is added and the model writes its reply as it was
--     trained to (a confirmation such as "Alarm set for 7:30.");
--   * it returned a string: that string is added (" 21 °C and sunny in Porto.") and the model
--     continues after it; a table is added as JSON (else with tostring), other values with
--     tostring; a value that cannot be shown that way fails the call;
--   * the arguments were invalid, the tool raised, or the call was malformed:
--     "Error: <message>" is added.
-- `opts.feedback(call)` may render results differently (return a string, or nil for
-- nothing). What is added is one line of at most `max_result_bytes`: a longer text is cut at a
-- UTF-8 character boundary and says so ("... [result cut: 1048576 bytes, first 1000 kept]"), in
-- the prompt and in the turn's text alike, and the call gets `cut = { bytes =, kept = }`.
-- The whole turn text, results included, stays in the conversation, so later turns see them.
-- A model may write several calls in one turn; each is a step.
--
-- Prompt reuse: the tool list is the prompt's first line. It is evaluated once into a base
-- session; every request starts from `base:fork()` (a copy of its KV cache), so only the
-- request itself is prefilled. A conversation keeps its session between turns and re-uses
-- every token whose text did not change (it rewinds to the first difference).
-- `opts.prompt_cache = path` also saves the base session to a file and restores it next time.
--
-- Constrained decoding (`constrain = true`): while the model writes a call, only tokens that
-- keep it a valid call to a registered tool with valid arguments may be sampled
-- (`mllm.constraint`); `call = "required"` also makes every turn begin with a call.
--
-- Hooks (all optional): `on_text(text)` every piece of reply text as it comes (results fed
-- back included), `on_call(call)` before a tool runs (return false to refuse it),
-- `on_result(call)` after (call.ok, call.result or call.error), `on_token(piece, id)` after
-- each token (return false to stop the turn; a coroutine may yield here — see
-- examples/game_npc.lua). Errors raised by hooks propagate: they are the caller's bugs.
-- @module mobilellm.agent
local core = require("mobilellm.core")
local chat = require("mobilellm.chat")
local tools = require("mobilellm.tools")
local options = require("mobilellm.options")

local M = {}

--- Fed-back text longer than this many bytes is cut (the option `max_result_bytes`): a few
-- hundred tokens, so a result leaves room for the reply in the shipped model's 512.
M.MAX_RESULT_BYTES = 1000

-- A tool's result as the default feedback shows it: nil for nil, a string as it is, a table
-- as JSON (else with tostring), another value with tostring. Never raises: returns nil and why
-- for a value that cannot be shown.
local function result_text(v)
  if v == nil or type(v) == "string" then return v end
  if type(v) == "table" then
    local ok, json = pcall(core.json_encode, v)
    if ok and type(json) == "string" then return json end
  end
  return tools.to_text(v)
end

local function unshowable(name, why)
  return "tool '" .. (tools.to_text(name) or "?") .. "' returned a value that cannot be shown: " .. why
end

--- The default rendering of a call's outcome as text fed back to the model (nil: nothing).
-- Never raises, whatever the call holds.
function M.default_feedback(call)
  if not call.ok then
    local text, why = tools.to_text(call.error)
    return "Error: " .. (text or "an error that cannot be shown: " .. why)
  end
  local text, why = result_text(call.result)
  if why then return "Error: " .. unshowable(call.name, why) end
  return text
end

local Agent = {}
Agent.__index = Agent
Agent.__name = "mobilellm.Agent"

local GEN_KEYS = { "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n", "seed" }

-- Held while the agent runs a turn; its release (a to-be-closed value) runs on every exit.
local RunGuard = { __close = function(g) g.agent.running = nil end }

--- The options `agent.new` takes (any other key raises).
M.OPTIONS = { "tools", "handlers", "constrain", "call", "copy", "pointer", "max_string", "max_steps",
              "max_tokens", "max_result_bytes", "stop", "n_ctx", "kv_type", "temperature", "top_k", "top_p",
              "min_p", "repeat_penalty", "repeat_last_n", "seed", "on_text", "on_call", "on_result",
              "on_token", "on_session", "feedback", "prompt_cache", "fork", "copy_rule", "reply_rule", "free",
              "stop_after_error", "step", "async" }

--- The hooks `Agent:run` and `Conversation:send` take for one turn (any other key raises).
M.HOOKS = { "on_text", "on_call", "on_result", "on_token", "on_session" }

-- The directory a model was loaded from (`model.config.dir`), or nil (a scripted fake).
local function model_dir(model)
  local ok, dir = pcall(function() return model.config.dir end)
  return ok and type(dir) == "string" and dir or nil
end

-- The best decoding a model directory ships (chat.load_model_files), with the user's options
-- over it: constrain, copy, pointer, copy_rule and reply_rule as the agent will use them.
-- A model that ships a copy pointer gets constrain + copy + pointer + its copy and reply rules
-- unless the options say otherwise (`free`, or any of them set); a value set to false is off.
local function decoding(opts, files)
  local best = not opts.free and files ~= nil and files.pointer ~= nil
  local function pick(key, default)
    if opts[key] == false then return nil end
    if opts[key] ~= nil then return opts[key] end
    return default
  end
  local d = {}
  d.constrain = pick("constrain", best or nil)
  d.copy = pick("copy", (best and d.constrain) or nil)
  d.pointer = pick("pointer", d.copy and files and files.pointer or nil)
  d.copy_rule = pick("copy_rule", d.copy and files and files.copy_rule or nil)
  d.reply_rule = pick("reply_rule", d.copy and files and files.reply_rule or nil)
  return d
end

--- A new agent.
-- @param model a model (`mllm.load`), or any object with the same `tokenize`, `session`
--   and `token_piece` methods (the specs use scripted fakes)
-- @tparam table opts
--   `tools`: a registry (`mobilellm.tools`), an array of APIs in the apis.json format, or the
--   path of an apis.json file (then `handlers[name]` gives each tool's function);
--   The best decoding is the default: for a model whose directory ships a copy pointer (the
--   shipped one does), `constrain`, `copy`, `pointer`, `copy_rule` and `reply_rule` default to
--   what the directory ships (`chat.load_model_files`); `free = true` turns all of them off,
--   and each may be set (false: off). Without such a directory they default to off.
--   `tools` defaults to the directory's apis.json (with `handlers`).
--   `constrain`: constrained decoding of calls; `call` ("auto" or "required");
--   `copy` (needs `constrain`): string arguments, and enum arguments that are not one of
--   their values, must be copied from the user's words (the conversation's user messages,
--   latest first, up to 256 bytes; a longer last message lifts the rule for that turn);
--   `pointer` (needs `copy`): `{ heads = {{layer, head}, ...}, weight = w }`, the copy
--   pointer (`chat.load_pointer` reads the one a model directory ships): a value's first
--   word is chosen with the attention of those heads too (`constraint:set_source`);
--   `copy_rule` (needs `copy`): `{ titles = {...} }`, the words whose period stays in a copied
--   name ("Dr. Megan"; `chat.load_copy_rule` reads the one a model directory ships);
--   `reply_rule` (needs `copy`): `{ words = {...}, gaps = {...} }`, every word of a reply is
--   one of these or one of the user's (`chat.load_reply_rule`, `constraint:set_reply_rule`);
--   `free` (false): none of the five;
--   `stop_after_error` (true with a reply rule, else false): a failed call ends the turn, its
--   "Error: ..." the reply, rather than the model going on after it (`r.stop` "error");
--   `max_string` (256): longest string argument under constraint;
--   `max_steps` (4): tool calls per turn; `max_tokens` (128): tokens per turn;
--   `max_result_bytes` (`MAX_RESULT_BYTES`, 1000): longest text fed back after a call;
--   `stop` ({"\n"}): strings that end a turn; `n_ctx`, `kv_type`: context and cache type of the sessions;
--   generation options `temperature` (0), `top_k`, `top_p`, `min_p`, `repeat_penalty`, `seed`;
--   hooks `on_text`, `on_call`, `on_result`, `on_token`; `on_session(s)`, called with each
--   session just before the agent computes on it (the base session before the tool list's
--   prefill, a conversation's before each turn): what a caller needs to cancel that work from
--   elsewhere (`s:cancel()`, a Ctrl-C guard's `watch`); `feedback(call)`;
--   `prompt_cache` (a path for the base session), `fork` (true: use `s:fork()` when available);
--   `step(job)`: run each stretch of generation as a stepwise job (`Session:start`, prefill
--   included) and call `step(job)` until it is done; it advances the job (`job:step(budget_ms)`)
--   and may yield to a frame loop between steps (on_token must not yield then: it runs inside
--   `job:step`). It returns what `job:step` returned (nil, message raises);
--   `async` (needs `step`): each stretch is an async job (`async = true`: a worker thread
--   generates, the caller never waits for the model) that `step(job)` polls (`job:poll()`,
--   a yield between polls); a stretch then ends at a call's `</tool_call>` by a stop string,
--   and its text reaches the hooks once it is done. `on_token` cannot be used with it (no Lua
--   runs on the worker)
-- @raise on bad options or tools
function M.new(model, opts)
  opts = options.check(opts, M.OPTIONS, "agent.new")
  if model == nil then error("agent.new: a model is required", 2) end
  if opts.free and (opts.constrain or opts.copy or opts.pointer or opts.copy_rule or opts.reply_rule) then
    error("agent.new: option 'free' turns off constrain, copy, pointer, copy_rule and reply_rule: "
      .. "set one or the other", 2)
  end
  local dir, files = model_dir(model), nil
  if dir then
    local err
    files, err = chat.load_model_files(dir)
    if not files then error("agent.new: " .. err, 2) end
  end
  local reg = opts.tools
  if reg == nil and files and files.apis then reg = files.apis end
  if type(reg) == "string" or (type(reg) == "table" and not tools.is_registry(reg)) then
    local r, err = tools.from_apis(reg, opts.handlers)
    if not r then error("agent.new: " .. err, 2) end
    reg = r
  elseif reg == nil then
    reg = tools.registry()
  end
  if opts.call ~= nil and opts.call ~= "auto" and opts.call ~= "required" then
    error("agent.new: option 'call' must be \"auto\" or \"required\"", 2)
  end
  if opts.async and not opts.step then
    error("agent.new: option 'async' needs 'step' (a function that polls the job: job:poll())", 2)
  end
  if opts.async and opts.on_token then
    error("agent.new: option 'on_token' cannot be used with 'async' (the worker thread never calls Lua)", 2)
  end
  local d = decoding(opts, files)
  local self = setmetatable({
    model = model,
    decoding = d,
    registry = reg,
    apis = reg:apis(),
    opts = opts,
    max_steps = opts.max_steps or 4,
    max_tokens = opts.max_tokens or 128,
    stop = opts.stop or { "\n" },
    feedback = opts.feedback or M.default_feedback,
    max_result_bytes = opts.max_result_bytes or M.MAX_RESULT_BYTES,
    stop_after_error = opts.stop_after_error,
    stats = { requests = 0, base_tokens = 0, base_seconds = 0, reused_tokens = 0, prefilled_tokens = 0 },
  }, Agent)
  self.guard = setmetatable({ agent = self }, RunGuard)
  if math.type(self.max_result_bytes) ~= "integer" or self.max_result_bytes < 1 then
    error("agent.new: option 'max_result_bytes' must be a positive integer", 2)
  end
  if type(self.stop) == "string" then self.stop = { self.stop } end
  if self.stop_after_error == nil then self.stop_after_error = d.reply_rule ~= nil end
  if d.copy and not d.constrain then error("agent.new: option 'copy' needs 'constrain'", 2) end
  if d.copy_rule then
    if not d.copy then error("agent.new: option 'copy_rule' needs 'copy'", 2) end
    if type(d.copy_rule) ~= "table" or type(d.copy_rule.titles) ~= "table" then
      error("agent.new: option 'copy_rule' must be { titles = {...} }", 2)
    end
  end
  if d.reply_rule then
    if not d.copy then error("agent.new: option 'reply_rule' needs 'copy'", 2) end
    if type(d.reply_rule) ~= "table" or type(d.reply_rule.words) ~= "table" or type(d.reply_rule.gaps) ~= "table" then
      error("agent.new: option 'reply_rule' must be { words = {...}, gaps = {...}, ... } (chat.load_reply_rule)", 2)
    end
  end
  if d.pointer then
    local p = d.pointer
    if not d.copy then error("agent.new: option 'pointer' needs 'copy'", 2) end
    if type(p) ~= "table" or type(p.heads) ~= "table" or type(p.weight) ~= "number" then
      error("agent.new: option 'pointer' must be { heads = {{layer, head}, ...}, weight = number }", 2)
    end
  end
  if d.constrain then
    if not core.constraint then error("agent.new: this build has no constrained decoding (mllm.constraint)", 2) end
    self.constraint = core.constraint(reg, model, { max_string = opts.max_string })
    if opts.call == "required" and #reg.tools > 0 then
      self.first_constraint = core.constraint(reg, model, { max_string = opts.max_string, call = "required" })
    end
    if d.reply_rule then
      for _, c in ipairs { self.constraint, self.first_constraint } do
        if c.set_reply_rule then c:set_reply_rule(d.reply_rule) end
      end
    end
  end
  return self
end

--- An agent (`agent.new`): `run` answers one request, `conversation` keeps turns.
-- @type Agent

--- The text of the base prompt: the tool list (the first line of every prompt).
function Agent:base_text()
  return chat.tools_line(self.apis)
end

-- The text saved beside a prompt cache (the tool line its session holds), if it can be
-- `text`: nil when the file is absent, unreadable or longer than `text` (then the cache is
-- rebuilt and the file rewritten). Something there that is not a regular file (a FIFO
-- would block the read and the rewrite) raises, naming it.
local function cached_text(path, text)
  local saved, err = core.read_file(path, #text)
  if saved then return saved end
  if err:find(": not a regular file (", 1, true) then error("agent: prompt_cache: " .. err, 0) end
  return nil
end

-- The base session (the tool list evaluated once) and its ids.
-- Step mode: opts.step(job) until the job is done; a failure it returns raises.
function Agent:run_job(job)
  while not job:done() do
    local ok, err = self.opts.step(job)
    if ok == nil and err then error(err, 0) end
  end
end

-- `on_session` (a hook) sees the session before its prefill; when that prefill is cancelled
-- or fails, the session is closed and nil, message returned (the next request starts over).
-- `now`: evaluate in one call even with a `step` function (Conversation:prepare, which runs
-- outside any frame loop).
function Agent:base(on_session, now)
  if self.base_session then return self.base_session, self.base_ids end
  local model, text = self.model, self:base_text()
  local ids = model:tokenize(text, { bos = true })
  local t0 = os.clock()
  local s
  local path = self.opts.prompt_cache
  if path and cached_text(path .. ".txt", text) == text then
    local r = model:session({ n_ctx = self.opts.n_ctx, kv_type = self.opts.kv_type, restore = path })
    if r and r:pos() == #ids then s = r elseif r then r:close() end
    self.stats.base_restored = s ~= nil
  end
  if not s then
    s = assert(model:session({ n_ctx = self.opts.n_ctx, kv_type = self.opts.kv_type }))
    if on_session then on_session(s) end
    local ok, err
    if self.opts.step and not now then  -- the tools' line too is evaluated step by step (a job that generates nothing)
      local job
      job, err = s:start(ids, { max_tokens = 0, async = self.opts.async or nil })
      if job then
        local _ <close> = job
        self:run_job(job)
        ok, err = s:pos() == #ids, "the tool list's prefill was " .. tostring(job:info().stop)
      end
    else
      ok, err = s:eval(ids)
    end
    if not ok then  -- half a tool list is no base
      s:close()
      return nil, "agent: " .. tostring(err)
    end
    if path and s.save and s:save(path) then
      local f = io.open(path .. ".txt", "wb")
      if f then f:write(text) f:close() end
    end
  end
  self.stats.base_tokens = #ids
  self.stats.base_seconds = os.clock() - t0
  self.base_session, self.base_ids = s, ids
  return s, ids
end

local function common_prefix(a, b, limit)
  local n = math.min(#a, #b, limit or math.huge)
  for i = 1, n do
    if a[i] ~= b[i] then return i - 1 end
  end
  return n
end

local function slice(t, from)
  local out = {}
  for i = from, #t do out[#out + 1] = t[i] end
  return out
end

-- A session for a new conversation and the ids it holds: a fork of the base when the base
-- is a prefix of the prompt (or no prompt is given yet) and forks exist, else a fresh one.
-- `now` as in Agent:base.
function Agent:new_session(prompt_ids, on_session, now)
  local use_fork = self.opts.fork ~= false
  if use_fork then
    local base, base_ids = self:base(on_session, now)
    if not base then return nil, base_ids end
    local extends = not prompt_ids or common_prefix(base_ids, prompt_ids) == #base_ids and #prompt_ids > #base_ids
    if base.fork and extends then
      local s = base:fork()
      if s then
        local held = {}
        for i = 1, #base_ids do held[i] = base_ids[i] end
        return s, held
      end
    end
  end
  return assert(self.model:session({ n_ctx = self.opts.n_ctx, kv_type = self.opts.kv_type })), {}
end

-- Brings session s (holding ids `held`) to the prompt ids: rewinds to the longest common
-- prefix and returns the ids still to evaluate.
local function align(s, held, ids)
  local n = common_prefix(held, ids, s:pos())
  if n >= #ids then n = #ids - 1 end -- generation needs at least one new token
  if n < s:pos() then s:rewind(n) end
  for i = #held, n + 1, -1 do held[i] = nil end
  return slice(ids, n + 1), n
end

-- Takes the run guard for `what` ("agent:run"); to be held in a to-be-closed variable.
-- Raises when a run is under way: from a tool of this agent (a run inside the same coroutine),
-- or in another coroutine (a run left suspended there holds the agent until it is resumed to
-- its end or closed with coroutine.close).
function Agent:enter(what, whose)
  local co = coroutine.running()
  if self.running == co then
    error(what .. " called from inside " .. whose .. " run (a tool called it?)", 3)
  elseif self.running then
    error(what .. " called while the agent runs in another coroutine (one run at a time)", 3)
  end
  self.running = co
  return self.guard
end

-- The bytes of s that fit in max without splitting a UTF-8 sequence.
local function utf8_fit(s, max)
  local n = max
  while n > 0 and ((s:byte(n + 1) or 0) & 0xC0) == 0x80 do n = n - 1 end
  return n
end

-- The text fed back after call `rec`: the feedback's rendering on one line (a turn is one
-- line), cut to max_result_bytes; nil for nothing.
function Agent:feedback_text(rec)
  local fb = self.feedback(rec)
  if fb == nil or fb == "" then return nil end
  local text, why = tools.to_text(fb)
  if not text then text = "Error: the feedback for this call cannot be shown: " .. why end
  text = text:gsub("[\r\n]+", " ")
  local n = #text
  if n > self.max_result_bytes then
    local kept = utf8_fit(text, self.max_result_bytes)
    rec.cut = { bytes = n, kept = kept }
    text = string.format("%s... [result cut: %d bytes, first %d kept]", text:sub(1, kept), n, kept)
  end
  return text
end

-- Generation options for one stretch of a turn.
function Agent:gen_opts(first, budget, no_more_calls)
  local o = { max_tokens = budget, temperature = self.opts.temperature or 0 }
  for _, k in ipairs(GEN_KEYS) do
    if self.opts[k] ~= nil and k ~= "temperature" then o[k] = self.opts[k] end
  end
  local stop = {}
  for i, x in ipairs(self.stop) do stop[i] = x end
  if no_more_calls then stop[#stop + 1] = "<tool_call>" end
  if #stop > 0 then o.stop = stop end
  -- past max_steps the constraint still holds the reply (its reply rule); a call ends the turn
  local c = (first and self.first_constraint) or self.constraint
  if c and (not no_more_calls or self.decoding.reply_rule) then o.constraint = c end
  return o
end

-- An async stretch's outcome, once its job is done, through `consume` as if it had come token
-- by token: its ids (each in the session), then its text, with the "</tool_call>" that ended it
-- (a stop string, which the text leaves out) put back.
local function consume_job(job, info, consume)
  local ids, text = job:ids(), job:text()
  local _, opened = text:gsub("<tool_call>", "")
  local _, closed = text:gsub("</tool_call>", "")
  if info.stop == "stop" and opened > closed then text = text .. "</tool_call>" end
  for i = 1, #ids - 1 do consume("", ids[i]) end
  consume(text, ids[#ids])
end

-- The hook `name` for one turn: the turn's own (`hooks`), else the agent's option.
function Agent:hook(hooks, name)
  if hooks and hooks[name] ~= nil then return hooks[name] end
  return self.opts[name]
end

-- Runs one assistant turn on session s: `prompt` ids are evaluated first; `held` (the ids in
-- s) grows with everything evaluated. Returns the result table.
function Agent:turn(s, held, prompt, hooks)
  local function hook(name) return self:hook(hooks, name) end
  local model, reg = self.model, self.registry
  local on_text, on_token, on_call, on_result = hook("on_text"), hook("on_token"), hook("on_call"), hook("on_result")
  local r = { text = "", reply = "", calls = {}, steps = 0, stop = nil,
              info = { prompt_tokens = 0, generated_tokens = 0, prefill_seconds = 0, decode_seconds = 0 } }
  local turn, reply = {}, {}
  local budget = self.max_tokens
  local first = true
  local function add_text(t)
    if t == "" then return end
    reply[#reply + 1] = t
    if on_text then on_text(t) end
  end
  local written = {}  -- what the model wrote this turn: the constraint's prefix for later stretches
  while true do
    local no_more = r.steps >= self.max_steps
    for _, id in ipairs(prompt) do held[#held + 1] = id end
    local gopts = self:gen_opts(first, budget, no_more)
    if gopts.constraint and gopts.constraint.set_prefix then gopts.constraint:set_prefix(table.concat(written)) end
    local parser <close> = core.call_parser()
    local call, perr, cancelled = nil, nil, false
    -- The generator drops the leading space of the first text it hands out (right for the
    -- start of a turn, after "Assistant:"); later stretches continue the turn, so put it back.
    local space = first and "done" or "watch"
    local function feed(events)
      for _, ev in ipairs(events) do
        if ev.type == "text" then add_text(ev.text)
        elseif ev.type == "call" then call = call or ev.call
        elseif ev.type == "error" and not call then perr = ev end
      end
    end
    -- one piece of the model's output; true when the stretch ends here
    local function consume(piece, id)
      if id then held[#held + 1] = id end
      written[#written + 1] = piece
      if space == "watch" and id and model.token_piece then
        local tp = model:token_piece(id)
        if #tp > 0 then space = tp:sub(1, 1) == " " and "add" or "done" end
      end
      if space == "add" and #piece > 0 then
        piece = " " .. piece
        space = "done"
      end
      turn[#turn + 1] = piece
      feed(parser:feed(piece))
      if on_token and on_token(piece, id) == false then cancelled = true end
      return call or perr or cancelled
    end
    local stream, e2, info
    local async = self.opts.async
    if self.opts.step then
      -- stepwise (a frame loop): the stretch is a job, prefill included, that opts.step(job)
      -- advances (job:step(budget), and a yield to the game between steps); async: a worker
      -- generates, opts.step(job) polls, and since no Lua runs there a call's end is a stop string
      if async then
        gopts.async = true
        gopts.stop = { "</tool_call>", table.unpack(gopts.stop or {}) }
      else
        gopts.on_token = function(piece, id) return not consume(piece, id) end
      end
      stream, e2 = s:start(prompt, gopts)
      if stream then
        local job <close> = stream
        self:run_job(job)
        info = job:info()
        if async then consume_job(job, info, consume) end
        if info.stop == "cancelled" and info.prompt_tokens < #prompt then
          -- cancelled in the prefill: as when a stream's prefill is, the prompt was not taken
          s:rewind(#held - #prompt)
          stream, e2 = nil, ("cancelled: %d of %d tokens evaluated"):format(info.prompt_tokens, #prompt)
        end
      end
    else
      local iter, e3
      iter, e2, e3, stream = s:stream(prompt, gopts)
      if iter then
        for piece, id in iter, e2, e3, stream do
          if consume(piece, id) then break end
        end
        info = stream:info()
      else
        stream = nil
      end
    end
    if not stream then
      for _ = 1, #prompt do held[#held] = nil end
      if first then return nil, e2 end  -- nothing ran: the request is refused (run/send return nil, e2)
      r.stop, r.error = tostring(e2):match("^cancelled") and "cancelled" or "context", e2
      break
    end
    for k, v in pairs(r.info) do r.info[k] = v + (info[k] or 0) end
    budget = budget - info.generated_tokens
    if s:pos() < #held then -- tokens that did not fit the context were not evaluated
      for i = #held, s:pos() + 1, -1 do held[i] = nil end
    end
    local ended = not (call or perr or cancelled)
    feed(parser:finish())
    first = false
    local rec
    if call then
      rec = { name = call.name, args = call.args, positional = call.positional, raw = call.raw }
      local args, tool = reg:validate(call)
      if not args then
        rec.ok, rec.error = false, tool
      else
        rec.args = args
        if on_call and on_call(rec) == false then
          rec.ok, rec.error = false, "the call was refused"
        elseif not tool.fn then
          rec.ok, rec.error = false, call.name .. ": the tool has no function"
        else
          local ok, res = pcall(tool.fn, args, rec)
          rec.ok = ok
          if not ok then
            rec.error = tools.error_message(call.name, res)
          else
            rec.result = res
            local _, why = result_text(res)
            if why then rec.ok, rec.error = false, unshowable(call.name, why) end
          end
        end
      end
    elseif perr then
      rec = { ok = false, error = "malformed call: " .. perr.message }
    end
    if rec then
      r.calls[#r.calls + 1] = rec
      r.steps = r.steps + 1
      if on_result then on_result(rec) end
    end
    if not rec or ended then -- the turn is over (an unclosed call at its end is only reported)
      r.stop = cancelled and "cancelled" or info.stop
      if no_more and info.stop == "stop" then r.stop = "steps" end
      break
    end
    if cancelled then r.stop = "cancelled" break end
    if budget <= 0 then r.stop = "length" break end
    -- feed the outcome back as the beginning of the reply, then continue
    local fb = self:feedback_text(rec)
    prompt = {}
    if fb then
      -- the template has a space after "</tool_call>": sentencepiece's dummy prefix gives it;
      -- a tokenizer without one gets it written out
      local text
      for _, t in ipairs { fb, " " .. fb } do
        prompt = model:tokenize(t, { bos = false })
        local parts = {}
        for i, id in ipairs(prompt) do parts[i] = model:token_piece(id) end
        text = table.concat(parts)
        if text:sub(1, 1) == " " then break end
      end
      turn[#turn + 1] = text
      add_text(text)
    end
    -- a model that never saw an error in training answers it with noise: the error is the answer
    if not rec.ok and self.stop_after_error then r.stop = "error" break end
  end
  r.text = table.concat(turn)
  r.reply = table.concat(reply):gsub("^%s+", ""):gsub("%s+$", "")
  return r
end

-- A turn of the conversation `messages` on session s (holding `held`).
function Agent:respond(s, held, messages, hooks)
  local text = chat.prompt_text(messages, self.apis)
  local ids = self.model:tokenize(text, { bos = true })
  local d = self.decoding
  if d.copy then
    chat.set_copy_rule({ self.constraint, self.first_constraint }, s, messages, ids,
      function(id) return self.model:token_piece(id) end, self.apis, d.pointer, d.copy_rule)
  end
  local prompt, reused = align(s, held, ids)
  self.stats.requests = self.stats.requests + 1
  self.stats.reused_tokens = self.stats.reused_tokens + reused
  self.stats.prefilled_tokens = self.stats.prefilled_tokens + #prompt
  local on_session = self:hook(hooks, "on_session")
  if on_session then on_session(s) end
  local r, err = self:turn(s, held, prompt, hooks)
  if not r then return nil, err end
  r.info.reused_tokens = reused
  return r
end

--- Answers one request in a fresh conversation (started from a fork of the base session).
-- @tparam string request the user's words
-- @tparam[opt] table hooks overrides of the agent's hooks for this request
-- @return `{ reply =, text =, calls = { { name =, args =, ok =, result =, error =, raw =,
--   cut = } }, steps =, stop =, info = }`: `reply` the text outside calls (results included),
--   `text` the turn as written, `stop` "eos", "stop" (a stop string: the end of the line),
--   "length", "context" (a result fed back did not fit: `error` says so), "error" (a call failed
--   and `stop_after_error` ended the turn), "steps" (max_steps
--   reached) or "cancelled" (on_token returned false, or the session was cancelled while a
--   result was fed back); a call's `cut` is `{ bytes =, kept = }`
--   when its fed-back text was cut to max_result_bytes; or nil and a message when the request
--   cannot be answered at all (the prompt does not fit the context, or its prefill was
--   cancelled: nothing was kept)
-- @raise when the agent is already running: called by one of its tools ("agent:run called
--   from inside its own run (a tool called it?)", which that call then reports as its error),
--   or from another coroutine while a run is suspended there
function Agent:run(request, hooks)
  hooks = options.check(hooks, M.HOOKS, "agent:run")
  if type(request) ~= "string" then error("agent:run: the request must be a string, got " .. type(request), 2) end
  local _ <close> = self:enter("agent:run", "its own") -- released on every exit
  local messages = { { role = "user", content = request } }
  local ids = self.model:tokenize(chat.prompt_text(messages, self.apis), { bos = true })
  local s <close>, held = self:new_session(ids, self:hook(hooks, "on_session"))
  if not s then return nil, held end
  return self:respond(s, held, messages, hooks)
end

local Conversation = {}
Conversation.__index = Conversation
Conversation.__name = "mobilellm.agent.Conversation"

--- A conversation: turns share one session, so the KV cache of earlier turns is reused.
-- `conv.messages` is the history (`mobilellm.chat` messages; an assistant message's content is
-- the turn as written, calls and results included).
function Agent:conversation()
  return setmetatable({ agent = self, messages = {}, session = nil, held = nil }, Conversation)
end

--- A conversation (`Agent:conversation`): turns share one session.
-- @type Conversation

--- Sends a user message; returns the result of the assistant's turn (as `Agent:run`), or nil
-- and a message when the turn cannot run (the message does not fit the context with the
-- conversation so far): the message is then not kept, the history stays as it was, and the
-- next message goes on from there (or start over: a new conversation).
function Conversation:send(text, hooks)
  if self.closed then error("attempt to use a closed conversation", 2) end
  if type(text) ~= "string" then error("conversation:send: the message must be a string, got " .. type(text), 2) end
  hooks = options.check(hooks, M.HOOKS, "conversation:send")
  local a = self.agent
  local _ <close> = a:enter("conversation:send", "its agent's")
  self.messages[#self.messages + 1] = { role = "user", content = text }
  if not self.session then
    local ids = a.model:tokenize(chat.prompt_text(self.messages, a.apis), { bos = true })
    local s, held = a:new_session(ids, a:hook(hooks, "on_session"))
    if not s then
      self.messages[#self.messages] = nil
      return nil, held
    end
    self.session, self.held = s, held
  end
  local r, err = a:respond(self.session, self.held, self.messages, hooks)
  if not r then
    self.messages[#self.messages] = nil
    return nil, err
  end
  self.messages[#self.messages + 1] = { role = "assistant", content = r.text }
  return r
end

--- Makes the conversation's session now, with the agent's base session (the tool list's
-- prefill, in one call even with a `step` function) when it has none: the first `send` then
-- only evaluates its message. A game calls it while loading, so that the frame where the
-- first line starts does not make sessions (a fork's fresh KV-cache pages cost milliseconds).
-- Returns the conversation, or nil and a message (the base could not be made); a
-- conversation that has its session already is returned as it is.
-- @tparam[opt] table hooks `on_session`, as `send`
function Conversation:prepare(hooks)
  if self.closed then error("attempt to use a closed conversation", 2) end
  hooks = options.check(hooks, M.HOOKS, "conversation:prepare")
  if self.session then return self end
  local a = self.agent
  local _ <close> = a:enter("conversation:prepare", "its agent's")
  local s, held = a:new_session(nil, a:hook(hooks, "on_session"), true)
  if not s then return nil, held end
  self.session, self.held = s, held
  return self
end

--- Frees the conversation's session.
function Conversation:close()
  if self.session then self.session:close() end
  self.session, self.held, self.closed = nil, nil, true
end
Conversation.__close = Conversation.close
Conversation.__gc = Conversation.close

--- Frees the base session and the constraints.
function Agent:close()
  if self.base_session then self.base_session:close() end
  if self.constraint then self.constraint:close() end
  if self.first_constraint then self.first_constraint:close() end
  self.base_session, self.constraint, self.first_constraint = nil, nil, nil
end
Agent.__close = Agent.close

return M
