--- `mobilellm chat DIR`: an interactive chat in the chat template of `mobilellm.chat`,
-- its history kept in one session so that earlier turns are not recomputed.
--
-- The answer is shown as the model writes it, a call included, and nothing is run:
-- `mobilellm agent` runs calls. That is why this command keeps its own history here
-- rather than using `mobilellm.agent`'s conversation, whose turns stop at each call to
-- run it and feed its result back.
-- @module mobilellm.cli.chat
local chat = require("mobilellm.chat")
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
  details = "The prompt is the chat template of mobilellm.chat (the shipped model's), with the tool list "
    .. "of --apis FILE, else DIR/apis.json. Each answer is one line.",
  options = concat_opts(
    { { "apis", "FILE", kind = "str", help = "tool list for the prompt (apis.json format)" },
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

local function new_history(model, apis, n_ctx, kv_type)
  return setmetatable({ model = model, apis = apis or {}, messages = {}, held = {},
                        session = new_session(model, n_ctx, nil, kv_type) }, History)
end

function History:reset()
  self.messages, self.held = {}, {}
  self.session:rewind(0)
end

function History:close()
  self.session:close()
end

-- Starts the assistant's answer to `text`; returns the stream table or nil, message.
function History:ask(ctx, text, gopts)
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
function History:answered(ids, text)
  for _, id in ipairs(ids) do self.held[#self.held + 1] = id end
  local pos = self.session:pos()
  for i = #self.held, pos + 1, -1 do self.held[i] = nil end  -- not evaluated: the context was full
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
  local gopts = gen_options(opts, { max_tokens = 128, stop = { "\n" } })
  local apis = find_apis(opts, dir)
  local model = load_model(ctx, dir, opts)
  need_tokenizer(model, dir, "chat")
  local banner = string.format("%s chat: %s", PROG, tostring(model))
  local history = new_history(model, apis, opts.n_ctx, opts.kv_type)
  return converse(ctx, history, banner, function(line)
    local st, err = history:ask(ctx, line, gopts)
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
    history:answered(ids, table.concat(parts))
  end)
end

return M
