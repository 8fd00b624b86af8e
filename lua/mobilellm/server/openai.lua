--- The OpenAI chat completions API as `mobilellm serve` speaks it: a request body checked and
-- turned into one plain table, and the shapes of what goes back (a completion, a stream's
-- chunks, an error).
--
-- A request field of the wrong type or out of range is refused with a 400 whose message and
-- `param` name it (`messages[1].role`, 0-based as in the JSON); an unknown field too (with the
-- field it most likely meant), except the few that OpenAI clients send on their own and that
-- change nothing here (`IGNORED`). `docs/server.md` lists every field.
-- @module mobilellm.server.openai
local core = require("mobilellm.core")
local chat = require("mobilellm.chat")
local options = require("mobilellm.options")
local limits = require("mobilellm.server.limits")

local M = {}

local NULL = core.null

--- Fields taken and ignored: what clients send by default and what would change nothing here
-- (`user` and `metadata` label a request, `store` asks OpenAI to keep it, `service_tier`
-- picks OpenAI's hardware, `parallel_tool_calls`: an answer holds at most one call anyway).
M.IGNORED = { "user", "metadata", "store", "service_tier", "parallel_tool_calls" }

--- The fields of a chat completion request, by name: each a checker `(value, name, cfg)` that
-- returns the value to keep, or raises `{ param =, message = }`.
local FIELDS = {}

local function bad(param, msg) error({ param = param, message = msg }, 0) end

--- `s` cut to at most `n` bytes on a character boundary, with "..." when cut: an error quotes a
-- client's string (a field name, a role) without echoing a 100 KB one back.
function M.shorten(s, n)
  n = n or limits.MAX_QUOTE_BYTES
  if #s <= n then return s end
  local cut = n
  while cut > 0 and (s:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end -- not inside a character
  return s:sub(1, cut) .. "..."
end

local function absent(v) return v == nil or v == NULL end

local function is_object(v) return type(v) == "table" and core.json_keys(v) ~= nil end

local function is_array(v) return type(v) == "table" and core.json_keys(v) == nil end

local function describe(v)
  if v == NULL then return "null" end
  if is_object(v) then return "an object" end
  if is_array(v) then return "an array" end
  if type(v) == "string" then return "a string" end
  if type(v) == "boolean" then return "a boolean" end
  return "a " .. type(v)
end

local function want(cond, param, what, v)
  if not cond then bad(param, string.format("'%s' must be %s, got %s", param, what, describe(v))) end
  return v
end

local function number_in(lo, hi, lo_open)
  return function(v, name)
    want(type(v) == "number", name, "a number", v)
    if v ~= v or v > hi or v < lo or (lo_open and v == lo) then
      bad(name, string.format("'%s' must be in %s%s, %s], got %s", name, lo_open and "(" or "[", lo, hi, v))
    end
    return v
  end
end

local function integer_in(lo, hi)
  return function(v, name)
    local i = type(v) == "number" and math.tointeger(v)
    want(i, name, "an integer", v)
    if i < lo or i > hi then bad(name, string.format("'%s' must be in [%d, %d], got %d", name, lo, hi, i)) end
    return i
  end
end

local function max_tokens(v, name, cfg)
  return integer_in(1, cfg.max_tokens_limit)(v, name)
end

FIELDS.model = function(v, name) return want(type(v) == "string", name, "a string", v) end
FIELDS.messages = function(v, name)
  want(is_array(v), name, "an array of messages", v)
  if #v == 0 then bad(name, "'messages' must hold at least one message") end
  if #v > limits.MAX_MESSAGES then
    bad(name, string.format("'messages' holds %d messages, more than the limit of %d (MAX_MESSAGES)", #v,
      limits.MAX_MESSAGES))
  end
  return v -- each message is read by `messages`
end
FIELDS.temperature = number_in(0, 2)
FIELDS.top_p = number_in(0, 1, true)
FIELDS.top_k = integer_in(0, 1048576)
FIELDS.min_p = number_in(0, 0.999999)
FIELDS.repeat_penalty = number_in(1e-6, 1e6)
FIELDS.max_tokens = max_tokens
FIELDS.max_completion_tokens = max_tokens
FIELDS.seed = function(v, name)
  local i = type(v) == "number" and math.tointeger(v)
  return want(i, name, "an integer", v) and i
end
FIELDS.stream = function(v, name) return want(type(v) == "boolean", name, "true or false", v) end
FIELDS.stream_options = function(v, name)
  want(is_object(v), name, "an object", v)
  for k, x in pairs(v) do
    if k ~= "include_usage" then bad(name .. "." .. k, "unknown field '" .. name .. "." .. k .. "' (include_usage)") end
    want(type(x) == "boolean", name .. ".include_usage", "true or false", x)
  end
  return v
end
FIELDS.stop = function(v, name)
  local list = type(v) == "string" and { v } or v
  want(is_array(list), name, "a string or an array of strings", v)
  if #list > limits.MAX_STOP then
    bad(name, string.format("'stop' holds %d strings, more than %d (MAX_STOP)", #list, limits.MAX_STOP))
  end
  for i, s in ipairs(list) do
    local p = string.format("%s[%d]", name, i - 1)
    want(type(s) == "string", p, "a string", s)
    if s == "" or #s > limits.MAX_STOP_BYTES or s:find("%z") then
      bad(p, string.format("'%s' must be 1 to %d bytes without NUL (MAX_STOP_BYTES)", p, limits.MAX_STOP_BYTES))
    end
  end
  return list
end
FIELDS.n = function(v, name)
  local i = type(v) == "number" and math.tointeger(v)
  if i ~= 1 then bad(name, "'n' must be 1: one choice per request") end
  return i
end
-- penalties of OpenAI's kind are not implemented: 0 (what clients send by default) is taken
for _, k in ipairs { "frequency_penalty", "presence_penalty" } do
  FIELDS[k] = function(v, name)
    want(type(v) == "number", name, "a number", v)
    if v ~= 0 then bad(name, "'" .. name .. "' is not supported (only 0); repeat_penalty is") end
    return nil
  end
end
FIELDS.logprobs = function(v, name)
  if v ~= false then bad(name, "'logprobs' is not supported (only false)") end
  return nil
end
FIELDS.response_format = function(v, name)
  if not is_object(v) or v.type ~= "text" then
    bad(name, "'response_format' must be {\"type\": \"text\"}: other formats are not supported")
  end
  return nil
end
FIELDS.tools = function(v, name)
  want(is_array(v), name, "an array of tools", v)
  if #v > limits.MAX_TOOLS then
    bad(name, string.format("'tools' holds %d tools, more than %d (MAX_TOOLS)", #v, limits.MAX_TOOLS))
  end
  for i, t in ipairs(v) do
    local p = string.format("%s[%d]", name, i - 1)
    want(is_object(t), p, "an object", t)
    if t.type ~= "function" then bad(p .. ".type", "'" .. p .. ".type' must be \"function\"") end
    local f = t["function"]
    want(is_object(f), p .. ".function", "an object", f)
    want(type(f.name) == "string", p .. ".function.name", "a string", f.name)
    if not absent(f.description) then want(type(f.description) == "string", p .. ".function.description",
      "a string", f.description) end
    if not absent(f.parameters) then want(is_object(f.parameters), p .. ".function.parameters",
      "a JSON schema object", f.parameters) end
  end
  return v
end
FIELDS.tool_choice = function(v, name)
  if v == "none" or v == "auto" or v == "required" then return v end
  if is_object(v) and v.type == "function" and is_object(v["function"]) and type(v["function"].name) == "string" then
    return { name = v["function"].name }
  end
  bad(name, "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": "
    .. "{\"name\": ...}}")
end
for _, k in ipairs(M.IGNORED) do FIELDS[k] = function() return nil end end

local FIELD_NAMES = {}
for k in pairs(FIELDS) do FIELD_NAMES[#FIELD_NAMES + 1] = k end
table.sort(FIELD_NAMES)

-- The text of a message's content: a string, null, or an array of text parts.
local function content_text(v, p)
  if absent(v) then return nil end
  if type(v) == "string" then return v end
  want(is_array(v), p, "a string, an array of text parts or null", v)
  local parts = {}
  for i, part in ipairs(v) do
    local pp = string.format("%s[%d]", p, i - 1)
    want(is_object(part), pp, "an object", part)
    if part.type ~= "text" then
      bad(pp .. ".type", "'" .. pp .. ".type' must be \"text\": " .. (type(part.type) == "string" and
        ("'" .. M.shorten(part.type) .. "' parts are") or "other parts are") .. " not supported")
    end
    parts[i] = want(type(part.text) == "string", pp .. ".text", "a string", part.text)
  end
  return table.concat(parts)
end

local ROLES = { system = true, developer = true, user = true, assistant = true, tool = true }
local MESSAGE_KEYS = { "role", "content", "name", "tool_calls", "tool_call_id", "refusal" }

-- One message, checked: `{ role =, content =, tool_calls = { { id =, name =, args = } }, tool_call_id = }`.
local function read_message(m, i)
  local p = string.format("messages[%d]", i - 1)
  want(is_object(m), p, "an object", m)
  for k in pairs(m) do
    local known = false
    for _, n in ipairs(MESSAGE_KEYS) do known = known or n == k end
    if not known then bad(p .. "." .. k, string.format("unknown field '%s.%s' (%s)", p, k,
      table.concat(MESSAGE_KEYS, ", "))) end
  end
  local role = m.role
  if type(role) ~= "string" or not ROLES[role] then
    bad(p .. ".role", string.format("'%s.role' must be \"system\", \"developer\", \"user\", \"assistant\" or "
      .. "\"tool\", got %s", p, type(role) == "string" and ("\"" .. M.shorten(role) .. "\"") or describe(role)))
  end
  local out = { role = role == "developer" and "system" or role, content = content_text(m.content, p .. ".content") }
  if not absent(m.name) then want(type(m.name) == "string", p .. ".name", "a string", m.name) end
  if role ~= "assistant" and out.content == nil then
    bad(p .. ".content", "'" .. p .. ".content' must be given for a " .. role .. " message")
  end
  if role == "tool" then
    if not absent(m.tool_call_id) then
      out.tool_call_id = want(type(m.tool_call_id) == "string", p .. ".tool_call_id", "a string", m.tool_call_id)
    end
  elseif not absent(m.tool_call_id) then
    bad(p .. ".tool_call_id", "'" .. p .. ".tool_call_id' belongs to a tool message")
  end
  if not absent(m.tool_calls) then
    if role ~= "assistant" then bad(p .. ".tool_calls", "'" .. p .. ".tool_calls' belongs to an assistant message") end
    want(is_array(m.tool_calls), p .. ".tool_calls", "an array", m.tool_calls)
    out.tool_calls = {}
    for j, c in ipairs(m.tool_calls) do
      local cp = string.format("%s.tool_calls[%d]", p, j - 1)
      want(is_object(c), cp, "an object", c)
      local f = c["function"]
      want(is_object(f), cp .. ".function", "an object", f)
      want(type(f.name) == "string", cp .. ".function.name", "a string", f.name)
      want(type(f.arguments) == "string", cp .. ".function.arguments", "a string (JSON)", f.arguments)
      local ok, args = pcall(core.json_decode, f.arguments)
      if not ok or not is_object(args) then
        bad(cp .. ".function.arguments", "'" .. cp .. ".function.arguments' must be a JSON object")
      end
      out.tool_calls[j] = { id = type(c.id) == "string" and c.id or nil, name = f.name, args = args }
    end
    if #out.tool_calls == 0 then out.tool_calls = nil end
  end
  if role == "assistant" and out.content == nil and not out.tool_calls then
    bad(p .. ".content", "'" .. p .. ".content' must be given for an assistant message without tool_calls")
  end
  return out
end

--- Reads a chat completion request.
-- @param doc the decoded JSON body
-- @tparam table cfg `max_tokens_limit` (the largest max_tokens taken), `max_tokens` (the default)
-- @return `{ messages =, temperature =, top_p =, top_k =, min_p =, repeat_penalty =,
--   max_tokens =, stop =, seed =, stream =, include_usage =, tools =, tool_choice = }`; or nil
--   and `{ param =, message = }`
function M.read_request(doc, cfg)
  local ok, res = pcall(function()
    if not is_object(doc) then bad(nil, "the request body must be a JSON object, got " .. describe(doc)) end
    local r = {}
    for k, v in pairs(doc) do
      local check = FIELDS[k]
      if not check then
        local meant = #k <= 64 and options.nearest(k, FIELD_NAMES)
        bad(M.shorten(k), string.format("unknown field '%s'%s", M.shorten(k),
          meant and (" (did you mean '" .. meant .. "'?)") or ""))
      end
      if not absent(v) then r[k] = check(v, k, cfg) end
    end
    if r.messages == nil then bad("messages", "'messages' is required") end
    local msgs = {}
    for i, m in ipairs(r.messages) do msgs[i] = read_message(m, i) end
    r.messages = msgs
    r.max_tokens = r.max_tokens or r.max_completion_tokens or cfg.max_tokens
    r.max_completion_tokens = nil
    r.include_usage = r.stream_options and r.stream_options.include_usage or false
    r.stream_options = nil
    r.stream = r.stream or false
    if r.tool_choice and not r.tools then bad("tool_choice", "'tool_choice' needs 'tools'") end
    return r
  end)
  if ok then return res end
  if type(res) == "table" and res.message then return nil, res end
  error(res, 0)
end

-- ------------------------------------------------------------ responses

local serial = 0

--- A fresh id with a prefix ("chatcmpl-", "call_").
function M.new_id(prefix)
  serial = serial + 1
  return string.format("%s%08x%06x%04x", prefix, os.time() & 0xffffffff, serial & 0xffffff, math.random(0, 0xffff))
end

--- The `tool_calls` entry of a call: the arguments as a JSON string.
-- @tparam table call `{ id =, name =, args = }`
-- @tparam[opt] integer index for a stream's delta
function M.tool_call(call, index)
  local args = call.args or {}
  return { index = index, id = call.id, type = "function",
           ["function"] = { name = call.name, arguments = next(args) == nil and "{}" or core.json_encode(args) } }
end

local function usage(u)
  return { prompt_tokens = u.prompt, completion_tokens = u.completion, total_tokens = u.prompt + u.completion,
           prompt_tokens_details = { cached_tokens = u.cached or 0 } }
end

--- A whole completion (`object` "chat.completion").
-- @tparam table c `id`, `created`, `model`, `content` (nil: null), `calls` (an array for
--   `tool_call`), `finish_reason`, `usage = { prompt =, completion =, cached = }` (cached: the
--   prompt tokens the session kept from an earlier request)
function M.completion(c)
  local msg = { role = "assistant", content = c.content or NULL }
  if c.calls and #c.calls > 0 then
    msg.tool_calls = {}
    for i, call in ipairs(c.calls) do msg.tool_calls[i] = M.tool_call(call) end
  end
  return { id = c.id, object = "chat.completion", created = c.created, model = c.model,
           choices = { { index = 0, message = msg, finish_reason = c.finish_reason, logprobs = NULL } },
           usage = usage(c.usage) }
end

--- A chunk of a stream (`object` "chat.completion.chunk").
-- @tparam table c `id`, `created`, `model`
-- @tparam table delta the choice's delta (`{ role = }`, `{ content = }`, `{ tool_calls = }`, `{}`)
-- @tparam[opt] string finish_reason
function M.chunk(c, delta, finish_reason)
  local d = delta
  if next(d) == nil then d = core.json_decode("{}") end -- an object, not []
  return { id = c.id, object = "chat.completion.chunk", created = c.created, model = c.model,
           choices = { { index = 0, delta = d, finish_reason = finish_reason or NULL, logprobs = NULL } } }
end

--- The last chunk of a stream that asked for `stream_options.include_usage`: no choices, the usage.
function M.usage_chunk(c, u)
  return { id = c.id, object = "chat.completion.chunk", created = c.created, model = c.model,
           choices = core.json_decode("[]"), usage = usage(u) }
end

local ERROR_TYPES = { [400] = "invalid_request_error", [404] = "not_found_error", [405] = "invalid_request_error",
                      [413] = "invalid_request_error", [503] = "server_error", [500] = "server_error" }

--- An error's body in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
-- @tparam integer status the HTTP status
-- @tparam string message
-- @tparam[opt] string param the field at fault
function M.error_body(status, message, param)
  -- whatever quoted a client's value at length is cut here (a message is read by a person)
  message = M.shorten(message, limits.MAX_ERROR_BYTES)
  param = param and M.shorten(param, limits.MAX_ERROR_BYTES)
  return core.json_encode({ error = { message = message, type = ERROR_TYPES[status] or "invalid_request_error",
                                      param = param or NULL, code = NULL } })
end

--- A tool list in the apis.json format (`chat.load_apis`) as OpenAI function tools, what a
-- client of the server sends as `tools` (enums as strings with `enum`).
-- @tparam table apis
-- @treturn table an array of `{ type = "function", ["function"] = { name, description, parameters } }`
function M.tools_of_apis(apis)
  local out = {}
  for i, api in ipairs(apis) do
    local props, required = core.json_decode("{}"), {}  -- an object that keeps its keys' order
    for _, name in ipairs(chat.param_names(api)) do
      local p = api.parameters[name]
      props[name] = { type = p.type == "enum" and "string" or p.type, enum = p.values, default = p.default }
      if p.required then required[#required + 1] = name end
    end
    out[i] = { type = "function", ["function"] = { name = api.name, description = api.description,
      parameters = { type = "object", properties = props, required = required } } }
  end
  return out
end

return M
