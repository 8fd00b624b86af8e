--- The prompt of a chat completion request, in the model's own format, as `mobilellm chat`
-- chooses it: a tool-calling model (its directory ships `apis.json`), or one without a chat
-- template, in the format of `mobilellm.chat` (the shipped model's); another checkpoint in its
-- own chat template.
--
-- The request's `tools` (OpenAI function tools, JSON-schema parameters) become a tool registry
-- (`mobilellm.tools`): the tools' line of the prompt, the constraint of the calls and the check
-- of the calls the model writes. In the format of `mobilellm.chat` an assistant turn is one
-- line, `<tool_call>NAME(args)</tool_call> REPLY`, and a tool's result is fed back as the agent
-- feeds it (`mobilellm.agent`): its text right after the call, the model's reply after it. So
-- an assistant message with `tool_calls`, the tool messages after it and the assistant message
-- that answers them make one line; a conversation that ends with tool results ends inside that
-- line, and the model goes on from the result.
-- @module mobilellm.server.prompt
local core = require("mobilellm.core")
local chat = require("mobilellm.chat")
local tools = require("mobilellm.tools")

local M = {}

local NULL = core.null

local function bad(param, msg) error({ param = param, message = msg }, 0) end

local function is_array(v) return type(v) == "table" and core.json_keys(v) == nil end

local function is_object(v) return type(v) == "table" and core.json_keys(v) ~= nil end

-- A JSON schema (one property) as a parameter schema of `mobilellm.tools`.
local function schema(s, where, depth)
  if depth > 8 then bad(where, where .. ": nested deeper than 8") end
  if not is_object(s) then bad(where, where .. ": the schema must be an object") end
  local t = s.type
  if is_array(t) then -- ["string", "null"]: a string that may be left out
    local picked
    for _, x in ipairs(t) do
      if x ~= "null" then
        if picked then bad(where, where .. ": a type of several kinds is not supported") end
        picked = x
      end
    end
    t = picked
  end
  local out = { type = t, description = type(s.description) == "string" and s.description or nil }
  if s.enum ~= nil and s.enum ~= NULL then
    if not is_array(s.enum) then bad(where, where .. ": 'enum' must be an array") end
    for _, v in ipairs(s.enum) do
      if type(v) ~= "string" then bad(where, where .. ": only enums of strings are supported") end
    end
    out.type, out.values = "enum", s.enum
  elseif t == nil then
    out.type = "any"
  elseif t == "integer" or t == "number" then
    out.min = type(s.minimum) == "number" and s.minimum or nil
    out.max = type(s.maximum) == "number" and s.maximum or nil
  elseif t == "array" then
    if s.items ~= nil and s.items ~= NULL then out.items = schema(s.items, where .. ".items", depth + 1) end
  elseif t == "object" then
    if is_object(s.properties) then
      out.properties = {}
      local required = {}
      for _, k in ipairs(is_array(s.required) and s.required or {}) do required[k] = true end
      for k, ps in pairs(s.properties) do
        out.properties[k] = schema(ps, where .. ".properties." .. k, depth + 1)
        out.properties[k].required = required[k] or nil
      end
    end
  elseif t ~= "string" and t ~= "boolean" then
    bad(where, where .. ": type '" .. tostring(t) .. "' is not supported (string, integer, number, boolean, "
      .. "array, object)")
  end
  if s.default ~= nil and s.default ~= NULL then out.default = s.default end
  return out
end

--- The tools of a request as a registry.
-- @tparam table list the request's `tools` (checked by `openai.read_request`)
-- @param choice its `tool_choice`: a table `{ name = }` keeps that tool alone
-- @return the registry (`mobilellm.tools`); raises `{ param =, message = }` for a tool it cannot take
function M.registry(list, choice)
  local reg = tools.registry()
  for i, t in ipairs(list) do
    local f, where = t["function"], string.format("tools[%d].function", i - 1)
    if type(choice) ~= "table" or choice.name == f.name then
      local params = core.json_decode("{}")
      local p = f.parameters
      if is_object(p) and is_object(p.properties) then
        params = p.properties -- changed in place: the decoded table keeps the order of its keys
        local required = {}
        for _, k in ipairs(is_array(p.required) and p.required or {}) do required[k] = true end
        for k, ps in pairs(p.properties) do
          local s = schema(ps, where .. ".parameters.properties." .. k, 1)
          s.required = required[k] or nil
          params[k] = s
        end
      end
      local ok, err = pcall(reg.add, reg, { name = f.name, description = f.description, parameters = params })
      if not ok then bad(where, where .. ": " .. tostring(err):gsub("^tools: ", "")) end
    end
  end
  if type(choice) == "table" and #reg.tools == 0 then
    bad("tool_choice", "'tool_choice' names the function '" .. choice.name .. "', which 'tools' does not hold")
  end
  return reg
end

-- One line of feedback, as the agent feeds a result back (a turn is one line).
local function one_line(text)
  return (text:gsub("[\r\n]+", " "))
end

--- The conversation in the format of `mobilellm.chat`.
-- @tparam table messages the request's messages (`openai.read_request`)
-- @tparam table apis the tools (`reg:apis()`)
-- @return the prompt text, the messages in `mobilellm.chat`'s form (the copy rule's source) and
--   the assistant line it ends inside (nil when it ends with "Assistant:"); raises `{ param =,
--   message = }` for a conversation the format cannot hold
function M.chat_format(messages, apis)
  local out, turn = {}, nil -- turn: the assistant line being built (calls, results, reply)
  local function close_turn()
    if turn.reply then turn.parts[#turn.parts + 1] = turn.reply end
    out[#out + 1] = { role = "assistant", content = table.concat(turn.parts, " ") }
    turn = nil
  end
  for i, m in ipairs(messages) do
    local p = string.format("messages[%d]", i - 1)
    if m.role == "system" then
      bad(p .. ".role", p .. ": this model's chat format has no system message")
    elseif m.role == "user" then
      if turn then
        if turn.waiting then bad(p, p .. ": the tool_calls before it have no tool result") end
        close_turn()
      end
      out[#out + 1] = { role = "user", content = one_line(m.content) }
    elseif m.role == "tool" then
      if not turn or not turn.ids then
        bad(p .. ".role", p .. ": a tool result must follow an assistant's tool_calls")
      end
      if m.tool_call_id and not turn.ids[m.tool_call_id] then
        bad(p .. ".tool_call_id", p .. ": no tool call before it has the id '" .. m.tool_call_id .. "'")
      end
      turn.waiting = false
      if m.content ~= "" then turn.parts[#turn.parts + 1] = one_line(m.content) end
    elseif m.role == "assistant" then
      if turn and turn.waiting then bad(p, p .. ": the tool_calls before it have no tool result") end
      if m.tool_calls then
        if turn then close_turn() end
        turn = { parts = {}, ids = {}, waiting = true }
        for j, c in ipairs(m.tool_calls) do
          local ok, text = pcall(chat.render_call, { name = c.name, args = c.args }, apis)
          if not ok then
            bad(string.format("%s.tool_calls[%d].function.arguments", p, j - 1), string.format(
              "%s.tool_calls[%d]: the arguments must be strings, numbers or booleans in this chat format", p, j - 1))
          end
          turn.parts[#turn.parts + 1] = "<tool_call>" .. text .. "</tool_call>"
          if c.id then turn.ids[c.id] = true end
        end
        if m.content and m.content ~= "" then turn.reply = one_line(m.content) end
      elseif turn then -- the reply after the results
        turn.parts[#turn.parts + 1] = one_line(m.content)
        close_turn()
      else
        out[#out + 1] = { role = "assistant", content = one_line(m.content) }
      end
    end
  end
  local last = string.format("messages[%d]", #messages - 1)
  local partial
  if turn then
    if turn.waiting then bad(last, last .. ": the tool_calls have no tool result after them") end
    partial = table.concat(turn.parts, " ")
  elseif out[#out].role ~= "user" then
    bad(last .. ".role", last .. ": the last message must be from the user or a tool")
  end
  local text = chat.prompt_text(out, apis)
  if partial then text = text .. " " .. partial end
  return text, out, partial
end

--- The conversation for a checkpoint's chat template: the messages as Hugging Face's templates
-- read them (a call's `arguments` an object), the tools as OpenAI gives them.
-- @tparam table messages the request's messages
-- @return the messages for `template:apply`
function M.template_messages(messages)
  local out = {}
  for i, m in ipairs(messages) do
    local t = { role = m.role, content = m.content or "", tool_call_id = m.tool_call_id }
    if m.tool_calls then
      t.tool_calls = {}
      for j, c in ipairs(m.tool_calls) do
        t.tool_calls[j] = { id = c.id, type = "function", ["function"] = { name = c.name, arguments = c.args } }
      end
    end
    out[i] = t
  end
  return out
end

return M
