--- A chat completion as a task of the slots (`mobilellm.server.slots`): the prompt, the
-- decoding, the generation and the mapping of what the model writes to OpenAI's answer.
--
-- With tools, what the model writes goes through the streaming call parser: text outside calls
-- is the answer's `content`; a call that validates against the request's tools ends the
-- generation at once, as the agent stops to run a tool, and comes back in `tool_calls`
-- (finish_reason "tool_calls"); a call that does not validate, or malformed call text, is
-- left in the content as written. Without tools the text is the content as written.
--
-- The answer goes to a sink, which the server writes to the client: `sink.start()` (a slot
-- took the request), `sink.delta(delta)` (a stream's piece), `sink.finish(result)` and
-- `sink.fail(status, message)`.
-- @module mobilellm.server.completion
local core = require("mobilellm.core")
local eval = require("mobilellm.eval")
local generation = require("mobilellm.server.generation")
local openai = require("mobilellm.server.openai")

local M = {}

local Task = {}
Task.__index = Task

--- A task for one request.
-- @tparam table app the server's model and settings: `model`, `dir`, `batch`
-- @tparam table req the request (`openai.read_request`)
-- @tparam table plan its prompt: `ids`, `stop`, `registry` (nil: no tools), `apis`,
--   `chat_messages`, `partial` (`mobilellm.server.prompt`)
-- @tparam table sink
function M.new(app, req, plan, sink)
  return setmetatable({ app = app, req = req, plan = plan, sink = sink, content = {}, calls = {} }, Task)
end

-- The decoding of a tool list on a slot, made once per slot and tool list (a constraint holds
-- the state of one generation, so slots never share one): the best the model directory ships
-- (`eval.decoding`), and at least constrained calls.
local function slot_decoding(app, slot, plan, choice)
  local key = core.json_encode(plan.apis) .. "\0" .. tostring(choice == "required" or type(choice) == "table")
  if slot.decoding_key == key then return slot.decoding end
  if slot.decoding and slot.decoding.constraint then slot.decoding.constraint:close() end
  slot.decoding, slot.decoding_key = nil, nil
  local d, err = eval.decoding(app.dir)
  if d and d.name == "free" then d, err = eval.decoding(app.dir, { constrain = true }) end
  if not d then return nil, err end
  if choice == "required" or type(choice) == "table" then
    local opts = {}
    for k, v in pairs(eval.CONSTRAINT_OPTS) do opts[k] = v end
    opts.call = "required"
    d.constraint = core.constraint(plan.apis, app.model, opts)
    if d.reply then d.constraint:set_reply_rule(d.reply) end
  end
  slot.decoding, slot.decoding_key = d, key
  return d
end

-- How many of the prompt's first ids the slot's session can keep: the longest prefix it holds of
-- them, cut to whole batches (and short of the whole prompt: generation needs one new token), so
-- that the rest is evaluated in the very batches a fresh generation would use, and the answer is
-- the same as from a fresh session. Only prompts are remembered, never what was generated: those
-- tokens were evaluated one by one.
local function reusable(slot, ids, batch)
  local held, s = slot.held or {}, slot.session
  local limit = math.min(#held, #ids - 1, s:pos())
  local n = 0
  while n < limit and held[n + 1] == ids[n + 1] do n = n + 1 end
  return n - n % batch
end

--- Begins on a slot: the session keeps what it can of the prompt (`reusable`), the decoding is
-- readied and the generation started.
-- @return true, or nil after telling the sink why not
function Task:begin(slot)
  local req, plan, app = self.req, self.plan, self.app
  local s = slot.session
  local keep = reusable(slot, plan.ids, app.batch)
  if s:pos() ~= keep then s:rewind(keep) end
  slot.held = plan.ids
  self.cached = keep
  local gopts = { max_tokens = req.max_tokens, temperature = req.temperature or 0, top_p = req.top_p,
                  top_k = req.top_k, min_p = req.min_p, repeat_penalty = req.repeat_penalty, seed = req.seed,
                  stop = #plan.stop > 0 and plan.stop or nil }
  if plan.registry then
    local d, err = slot_decoding(app, slot, plan, req.tool_choice)
    if not d then self.sink.fail(500, err) return nil end
    local c, cerr = d:start(app.model, plan.apis, s, plan.chat_messages or {}, plan.ids)
    if cerr then self.sink.fail(500, cerr) return nil end
    if c then
      if c.set_prefix then c:set_prefix(plan.partial or "") end
      gopts.constraint = c
    end
    self.parser = core.call_parser()
  end
  local gen, gerr = generation.start(s, table.move(plan.ids, keep + 1, #plan.ids, 1, {}), gopts)
  if not gen then self.sink.fail(400, gerr) return nil end
  self.gen = gen
  self.sink.start()
  return true
end

-- Text for the answer's content.
function Task:emit(text)
  if text == "" then return end
  self.content[#self.content + 1] = text
  if self.req.stream then self.sink.delta({ content = text }) end
end

-- The parser's events: text is content; a call that validates ends the answer.
function Task:events(events)
  for _, ev in ipairs(events) do
    if self.passthrough then return end
    if ev.type == "text" then
      self:emit(ev.text)
    elseif ev.type == "call" then
      local args = self.plan.registry:validate(ev.call)
      if args then
        local call = { id = openai.new_id("call_"), name = ev.call.name, args = args }
        self.calls[#self.calls + 1] = call
        if self.req.stream then self.sink.delta({ tool_calls = { openai.tool_call(call, 0) } }) end
        return true
      end
      self:emit(ev.call.raw or "")
    elseif ev.type == "error" then
      -- not a call after all: from here on the text is the content as written
      self.passthrough = true
      local shown = #table.concat(self.content)
      local raw = table.concat(self.raw or {})
      self:emit(raw:sub(shown + 1))
    end
  end
end

--- Advances one step.
-- @treturn boolean whether there is more to do
function Task:step()
  local piece, done = self.gen:step()
  if piece == nil then
    self.sink.fail(500, "generation failed: " .. tostring(done))
    return false
  end
  local called
  if piece ~= "" then
    if self.parser and not self.passthrough then
      self.raw = self.raw or {}
      self.raw[#self.raw + 1] = piece
      called = self:events(self.parser:feed(piece))
    else
      self:emit(piece)
    end
  end
  if called then
    self:finish("tool_calls")
    return false
  end
  if done then
    if self.parser and not self.passthrough and self:events(self.parser:finish()) then
      self:finish("tool_calls") -- a call that ended with the generation
      return false
    end
    local stop = self.gen:info().stop
    self:finish((stop == "length" or stop == "context") and "length" or "stop")
    return false
  end
  return true
end

-- Hands the answer to the sink.
function Task:finish(reason)
  local info = self.gen:info()
  self.gen:close()
  local content = table.concat(self.content)
  self.sink.finish({ content = (content ~= "" or #self.calls == 0) and content or nil, calls = self.calls,
                     finish_reason = reason,
                     usage = { prompt = #self.plan.ids, completion = info.generated_tokens, cached = self.cached } })
end

--- A Lua error inside the task (a bug): the client gets a 500 with it.
function Task:crashed(err)
  self.sink.fail(500, "internal error: " .. tostring(err))
end

--- Stops the generation (the slot's session is free again); idempotent.
function Task:close()
  if self.gen then self.gen:close() end
  if self.parser then self.parser:close() end
  self.parser = nil
end

return M
