--- The prompt format of the API-calling assistant (the shipped model's chat template).
--
-- Mirrors `tools/chat_template.py` byte for byte (the model was trained on
-- exactly this); change both or neither.
--
--     Tools: set_alarm(time,day?,label?) set_timer(duration,label?) ...\n
--     User: wake me up at 7\n
--     Assistant: <tool_call>set_alarm(time="7")</tool_call> Alarm set for 7.\n
--     User: thanks\n
--     Assistant:
--
-- The prompt is encoded with BOS; the model answers with one optional call and
-- a reply, then `</s>`.
-- @module mobilellm.chat
local core = require("mobilellm.core")

local M = {}

--- Reads an APIs file in the shared format (`{"syntax": ..., "apis": [...]}`).
-- @tparam string path
-- @return the array of APIs (parameter order kept, see `core.json_keys`), or nil, message
function M.load_apis(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  local doc, jerr = core.json_decode(text)
  if not doc then return nil, path .. ": " .. jerr end
  if type(doc) ~= "table" or type(doc.apis) ~= "table" then
    return nil, path .. ": no \"apis\" array"
  end
  return doc.apis
end

--- The parameter names of an API in their declared order.
function M.param_names(api)
  local keys = core.json_keys(api.parameters or {})
  if keys then return keys end
  keys = {}
  for k in pairs(api.parameters or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

--- `name(a,b?,c?)`: optional parameters carry a question mark.
function M.api_line(api)
  local parts = {}
  for i, p in ipairs(M.param_names(api)) do
    parts[i] = p .. (api.parameters[p].required and "" or "?")
  end
  return api.name .. "(" .. table.concat(parts, ",") .. ")"
end

--- The first line of every prompt: the tools the model may call.
function M.tools_line(apis)
  local lines = {}
  for i, a in ipairs(apis) do lines[i] = M.api_line(a) end
  return "Tools: " .. table.concat(lines, " ") .. "\n"
end

local function render_value(v)
  local t = math.type(v)
  if type(v) == "boolean" then return v and "true" or "false" end
  if t == "integer" then return tostring(v) end
  if t == "float" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  if type(v) == "string" then return '"' .. v:gsub("\\", "\\\\"):gsub('"', '\\"') .. '"' end
  error("cannot render argument value of type " .. type(v))
end

--- `name(k="v", n=3)`: arguments in the API's parameter order, then any others sorted.
function M.render_call(call, apis)
  local order, seen = {}, {}
  for _, a in ipairs(apis or {}) do
    if a.name == call.name then order = M.param_names(a) end
  end
  local args, keys = call.args or {}, {}
  for _, k in ipairs(order) do
    if args[k] ~= nil then keys[#keys + 1] = k; seen[k] = true end
  end
  local rest = {}
  for k in pairs(args) do if not seen[k] then rest[#rest + 1] = k end end
  table.sort(rest)
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. render_value(args[k]) end
  return call.name .. "(" .. table.concat(parts, ", ") .. ")"
end

--- An assistant turn: the optional call, then the reply.
function M.render_assistant(call, reply, apis)
  local head = call and ("<tool_call>" .. M.render_call(call, apis) .. "</tool_call> ") or ""
  return head .. (reply or "")
end

--- The prompt text for a conversation (an array of `{role=, content=, call=}`).
function M.prompt_text(messages, apis)
  local parts = { M.tools_line(apis) }
  for _, m in ipairs(messages) do
    if m.role == "user" then
      parts[#parts + 1] = "User: " .. m.content .. "\n"
    elseif m.role == "assistant" then
      parts[#parts + 1] = "Assistant: " .. M.render_assistant(m.call, m.content, apis) .. "\n"
    else
      error("unknown role '" .. tostring(m.role) .. "'")
    end
  end
  parts[#parts + 1] = "Assistant:"
  return table.concat(parts)
end

--- The text a call's string values may be copied from (the copy constraint's source,
-- `c:set_source`): the conversation's user messages, latest first, joined by newlines while
-- they fit in `limit` bytes (default 256, the constraint's limit); nil when even the last one
-- does not. Earlier messages count: a request may name the recipient in one turn and the
-- message in the next.
-- @tparam table messages the conversation (`{ role =, content = }`)
-- @tparam[opt=256] integer limit
-- @treturn ?string
function M.copy_source(messages, limit)
  limit = limit or 256
  local parts, len = {}, 0
  for i = #messages, 1, -1 do
    local m = messages[i]
    if m.role == "user" then
      local add = #m.content + (#parts > 0 and 1 or 0)
      if len + add > limit then break end
      table.insert(parts, 1, m.content)
      len = len + add
    end
  end
  return #parts > 0 and table.concat(parts, "\n") or nil
end

--- Splits a model answer into its call (via the C parser) and its reply text.
-- @return call table or nil, reply text, and an error message when the call is malformed
function M.parse_answer(text)
  local calls, rest, pos = core.parse_calls(text)
  if not calls then return nil, text, rest, pos end
  local reply = (rest or ""):gsub("^%s+", ""):gsub("%s+$", "")
  return calls[1], reply
end

return M
