--- `mobilellm chat DIR`: an interactive chat in the checkpoint's own chat template (its
-- `chat_template`, `mobilellm.chat_template`) when it has one, else in the chat format of
-- `mobilellm.chat` (the shipped model's), its history kept in one session so that earlier
-- turns are not recomputed.
--
-- The answer is shown as the model writes it, a call included, and nothing is run:
-- `mobilellm agent` runs calls. That is why this command keeps its own history here
-- rather than using `mobilellm.agent`'s conversation, whose turns stop at each call to
-- run it and feed its result back.
-- @module mobilellm.cli.chat
local chat = require("mobilellm.chat")
local chat_template = require("mobilellm.chat_template")
local common = require("mobilellm.cli.common")

local concat_opts = common.concat_opts
local load_model = common.load_model
local new_session = common.new_session
local need_tokenizer = common.need_tokenizer
local gen_options = common.gen_options
local start_stream = common.start_stream
local stats_line = common.stats_line
local find_apis = common.find_apis
local turn_error = common.turn_error
local converse = common.converse
local PROG = common.PROG
local LOAD_OPTS = common.LOAD_OPTS
local GEN_OPTS = common.GEN_OPTS

local M = {
  name = "chat", args = { "DIR" }, defaults = { max_tokens = 128 },
  brief = "interactive chat, the history kept in the session",
  summary = "Chat with the model; the history stays in the session (earlier turns are not recomputed). "
    .. "/reset clears it, /quit leaves.",
  details = "A tool-calling model (a tool list: --apis FILE, else DIR/apis.json) chats in the format of "
    .. "mobilellm.chat (the shipped model's, which its chat_template.jinja renders too), each answer one line: "
    .. "a call and a reply. Another checkpoint chats in its own chat template (DIR/chat_template.jinja, or "
    .. "chat_template in DIR/tokenizer_config.json), the conversation opening with --system TEXT, an answer "
    .. "ending at the model's end of sequence; one without a template, in the format of mobilellm.chat. "
    .. "On a terminal lines are edited (libedit) with a history; Ctrl-C stops an answer, and on an empty prompt "
    .. "twice in a row leaves.",
  options = concat_opts(
    { { "system", "TEXT", kind = "str", help = "the system message (a checkpoint with a chat template)" },
      { "apis", "FILE", kind = "str", help = "tool list for the prompt (apis.json format)" },
      { "show-prompt", kind = "flag", help = "each turn's whole prompt text on standard error" },
      { "verbose", kind = "flag", help = "speed of each answer on standard error" } },
    GEN_OPTS, LOAD_OPTS),
}

local function common_prefix(a, b, limit)
  local n = math.min(#a, #b, limit)
  for i = 1, n do
    if a[i] ~= b[i] then return i - 1 end
  end
  return n
end

-- The chat's history, kept in one session: each turn re-renders the whole prompt with
-- the chat template, rewinds the session to the first token that changed and
-- evaluates only the rest, so earlier turns are not recomputed. `held` is the ids the
-- session holds.
local History = {}
History.__index = History

-- `prompt(messages)` renders the conversation: the text and its ids; `opening` is the
-- messages every conversation starts with (the system message).
local function new_history(model, prompt, opening, n_ctx, kv_type)
  local messages = table.move(opening, 1, #opening, 1, {})
  return setmetatable({ model = model, prompt = prompt, opening = opening, messages = messages, held = {},
                        session = new_session(model, n_ctx, nil, kv_type) }, History)
end

function History:reset()
  self.messages, self.held = table.move(self.opening, 1, #self.opening, 1, {}), {}
  self.session:rewind(0)
end

function History:close()
  self.session:close()
end

-- Starts the assistant's answer to `text`; returns the stream table or nil, message.
function History:ask(ctx, text, gopts)
  self.messages[#self.messages + 1] = { role = "user", content = text }
  local ok, prompt, ids = pcall(self.prompt, self.messages)
  if not ok then  -- the template refused the conversation (its raise_exception)
    self.messages[#self.messages] = nil
    return nil, prompt
  end
  if self.show_prompt then ctx.err:write(prompt, "\n") end
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
function History:answered(ids, text)
  for _, id in ipairs(ids) do self.held[#self.held + 1] = id end
  local pos = self.session:pos()
  for i = #self.held, pos + 1, -1 do self.held[i] = nil end  -- not evaluated: the context was full
  if self.template then  -- the template's own format: the text as the model wrote it
    self.messages[#self.messages + 1] = { role = "assistant", content = text }
    return
  end
  local call, reply, err = chat.parse_answer(text)
  if err then call, reply = nil, text end
  self.messages[#self.messages + 1] = { role = "assistant", content = reply, call = call }
end

--- Runs the command.
-- @tparam table ctx the run's context (`mobilellm.cli.common`)
-- @tparam table opts its options (`mobilellm.cli.args`)
-- @tparam {string,...} pos its positional arguments
-- @treturn integer the exit status
function M.run(ctx, opts, pos)
  local dir = common.model_dir(pos[1])
  -- a tool-calling model (a tool list: --apis, DIR/apis.json) chats in the format of
  -- mobilellm.chat, which parses its calls (the shipped model's template renders the same
  -- bytes); another checkpoint in its own template when it has one
  local apis = find_apis(opts, dir)
  local template
  if not apis then
    local terr
    template, terr = chat_template.find(dir)
    if terr then common.fail(terr) end
  end
  if opts.system and not template then
    common.usage_error(M.name, "--system needs a chat template: " .. (apis and "a tool-calling model's format has "
      .. "no system message" or (dir .. " has none (no chat_template in tokenizer_config.json, no "
      .. "chat_template.jinja)")))
  end
  -- the shipped format answers in one line; a template's answer ends at the end of sequence
  local gopts = gen_options(opts, { max_tokens = 128, stop = not template and { "\n" } or nil })
  local model = load_model(ctx, dir, opts)
  need_tokenizer(model, dir, "chat")
  local banner = string.format("%s chat: %s", PROG, tostring(model))
  local prompt, opening
  if template then
    opening = opts.system and { { role = "system", content = opts.system } } or {}
    prompt = function(messages)
      local text = template:apply(messages, { add_generation_prompt = true })
      return text, template:encode(model, text)
    end
  else
    opening = {}
    apis = apis or {}
    prompt = function(messages)
      local text = chat.prompt_text(messages, apis)
      return text, model:tokenize(text, { bos = true })
    end
  end
  local history = new_history(model, prompt, opening, opts.n_ctx, opts.kv_type)
  history.template, history.show_prompt = template, opts.show_prompt
  return converse(ctx, history, banner, function(line, stop)
    stop:watch(history.session)  -- Ctrl-C in the prefill cancels it
    local st, err = history:ask(ctx, line, gopts)
    if not st then
      if stop:fired() then return end  -- stopped in the prefill: the message is not kept
      return turn_error(ctx, err)
    end
    -- Ctrl-C in the answer: what was written so far is kept, in the history and the session
    local ids, parts = {}, {}
    local ok, gerr = pcall(function()
      for piece, id in st.iter, st.e2, st.e3, st.closer do
        if #ids == 0 then stop:watch(nil) end  -- decoding: Ctrl-C is seen here, between tokens
        if id then ids[#ids + 1] = id end
        if #piece > 0 then
          parts[#parts + 1] = piece
          ctx.out:write(piece)
          ctx.out:flush()
        end
        if stop:fired() then break end
      end
    end)
    if not ok and not stop:fired() then error(gerr, 0) end
    ctx.out:write("\n")
    if opts.verbose then ctx.err:write(stats_line(st, st.closer:info()), "\n") end
    history:answered(ids, table.concat(parts))
  end)
end

return M
