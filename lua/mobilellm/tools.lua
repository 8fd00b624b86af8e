--- A registry of tools a model may call: names, descriptions, typed parameters and the Lua
-- functions behind them, with validation of the arguments a model writes.
--
--     local tools = require("mobilellm.tools")
--     local reg = tools.registry()
--     reg:add {
--       name = "set_alarm", description = "Set an alarm.",
--       params = {
--         { name = "time", type = "string", required = true },
--         { name = "day", type = "string", default = "today" },
--         { name = "volume", type = "integer", min = 0, max = 10 },
--       },
--       fn = function(args) return "Alarm set for " .. args.time .. " " .. args.day .. "." end,
--     }
--     local args, err = reg:validate({ name = "set_alarm", args = { time = "7:30 am" } })
--     -- args == { time = "7:30 am", day = "today" }
--
-- Parameter types: `string`, `integer`, `number`, `boolean`, `enum` (with `values`), `array`
-- (with optional `items`, a parameter schema), `object` (with optional `properties`, a map
-- of schemas) and `any`. A parameter is optional unless `required = true`; an optional one
-- may have a `default`, filled in by `validate`. `min`/`max` bound integers and numbers.
--
-- A registry can also be read from the shared apis.json format (`tools.from_apis`), and
-- gives it back (`reg:apis()`, in declared parameter order, for `mobilellm.chat`). A registry
-- is accepted wherever tools are: `mllm.constraint(reg, model)` reads `reg.tools`.
--
-- Errors: a malformed tool definition raises (the message names the tool and parameter);
-- arguments that do not fit return `nil, message`. A tool's function reports a failure by
-- raising `error("message")` or `error({ message = "..." })`: the call's error is
-- "name: message", without the "file.lua:12: " position error() adds (`tools.error_message`).
-- @module mobilellm.tools
local core = require("mobilellm.core")
local chat = require("mobilellm.chat")  -- for MAX_APIS_BYTES, the cap on an apis.json read
local options = require("mobilellm.options")

local M = {}

--- The parameter types.
M.TYPES = { "string", "integer", "number", "boolean", "enum", "array", "object", "any" }
local IS_TYPE = {}
for _, t in ipairs(M.TYPES) do IS_TYPE[t] = true end

local NULL = core.null
local TYPE_WORDS = { string = "a string", integer = "an integer", number = "a number", boolean = "true or false",
                     enum = "one of its values", array = "an array", object = "an object" }

local function is_ident(s, dots)
  if type(s) ~= "string" then return false end
  local pat = "^[%a_][%w_]*$"
  if s:match(pat) then return true end
  if not dots then return false end
  for part in (s .. "."):gmatch("(.-)%.") do
    if not part:match(pat) then return false end
  end
  return true
end

local function show(v)
  if v == NULL then return "null" end
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then return "a table" end
  return tostring(v)
end

--- Checks a value against a schema. Returns the value (integers normalized), or nil, message.
-- `what` names the value in messages ("argument 'level'").
function M.check_value(schema, v, what)
  local t = schema.type or "any"
  if t == "any" then return v end
  if v == nil or v == NULL then return nil, what .. " must be " .. TYPE_WORDS[t] .. ", got null" end
  if t == "string" then
    if type(v) ~= "string" then return nil, what .. " must be a string, got " .. show(v) end
    return v
  elseif t == "integer" or t == "number" then
    if type(v) ~= "number" then return nil, what .. " must be " .. TYPE_WORDS[t] .. ", got " .. show(v) end
    if t == "integer" and math.type(v) ~= "integer" then
      local i = math.tointeger(v)
      if not i then return nil, what .. " must be an integer, got " .. show(v) end
      v = i
    end
    if schema.min and v < schema.min then
      return nil, what .. " must be at least " .. schema.min .. ", got " .. show(v)
    end
    if schema.max and v > schema.max then
      return nil, what .. " must be at most " .. schema.max .. ", got " .. show(v)
    end
    return v
  elseif t == "boolean" then
    if type(v) ~= "boolean" then return nil, what .. " must be true or false, got " .. show(v) end
    return v
  elseif t == "enum" then
    for _, x in ipairs(schema.values) do
      if v == x then return v end
    end
    return nil, what .. " must be one of " .. table.concat(schema.values, ", ") .. ", got " .. show(v)
  elseif t == "array" then
    if type(v) ~= "table" then return nil, what .. " must be an array, got " .. show(v) end
    local n = #v
    for k in pairs(v) do
      if math.type(k) ~= "integer" or k < 1 or k > n then return nil, what .. " must be an array, got an object" end
    end
    if not schema.items then return v end
    local out = {}
    for i = 1, n do
      local x, err = M.check_value(schema.items, v[i], what .. " item " .. i)
      if err then return nil, err end
      out[i] = x
    end
    return out
  elseif t == "object" then
    if type(v) ~= "table" then return nil, what .. " must be an object, got " .. show(v) end
    if not schema.properties then return v end
    local out = {}
    for k, x in pairs(v) do out[k] = x end
    for k, ps in pairs(schema.properties) do
      if v[k] == nil or v[k] == NULL then
        if ps.required then return nil, what .. " needs the key '" .. k .. "'" end
      else
        local x, err = M.check_value(ps, v[k], what .. " key '" .. k .. "'")
        if err then return nil, err end
        out[k] = x
      end
    end
    return out
  end
  return nil, what .. ": unknown type '" .. tostring(t) .. "'"
end

-- A parameter (or item) schema, checked and copied. Raises naming `where`.
local function norm_schema(p, where, depth)
  if type(p) ~= "table" then error(where .. ": the schema must be a table, got " .. type(p), 0) end
  if depth > 8 then error(where .. ": nested deeper than 8", 0) end
  local s = {
    type = p.type or ((p.values or p.enum) and "enum") or "any",
    description = p.description,
    required = p.required and true or false,
  }
  if s.type == "string" and (p.values or p.enum) then s.type = "enum" end
  if not IS_TYPE[s.type] then
    error(where .. ": unknown type '" .. tostring(s.type) .. "' (" .. table.concat(M.TYPES, ", ") .. ")", 0)
  end
  if s.type == "enum" then
    local vals = p.values or p.enum
    if type(vals) ~= "table" or #vals == 0 then error(where .. ": an enum needs 'values' (an array of strings)", 0) end
    s.values = {}
    for i, v in ipairs(vals) do
      if type(v) ~= "string" or v == "" or v:find('[%c"\\]') then
        error(where .. ": enum value " .. i
          .. " must be a non-empty string without quotes, backslashes or control characters", 0)
      end
      s.values[i] = v
    end
  end
  if s.type == "integer" or s.type == "number" then
    s.min = p.min or p.minimum
    s.max = p.max or p.maximum
    for _, k in ipairs { "min", "max" } do
      if s[k] ~= nil and type(s[k]) ~= "number" then error(where .. ": '" .. k .. "' must be a number", 0) end
      if s.type == "integer" and s[k] ~= nil then
        s[k] = math.tointeger(s[k]) or error(where .. ": '" .. k .. "' must be an integer", 0)
      end
    end
    if s.min and s.max and s.min > s.max then error(where .. ": min " .. s.min .. " > max " .. s.max, 0) end
  end
  if s.type == "array" and p.items ~= nil then s.items = norm_schema(p.items, where .. " items", depth + 1) end
  if s.type == "object" and p.properties ~= nil then
    if type(p.properties) ~= "table" then error(where .. ": 'properties' must be a table", 0) end
    s.properties = {}
    for k, ps in pairs(p.properties) do
      s.properties[k] = norm_schema(ps, where .. " key '" .. tostring(k) .. "'", depth + 1)
    end
  end
  if p.default ~= nil then
    local v, err = M.check_value(s, p.default, where .. ": the default")
    if err then error(err, 0) end
    s.default = v
  end
  return s
end

-- The parameter list of a definition: an array of { name = ... } or a map name -> schema
-- (in the order json_keys knows for a decoded JSON object, else sorted).
local function param_list(def, where)
  local ps = def.params or def.parameters
  if ps == nil then return {} end
  if type(ps) ~= "table" then error(where .. ": parameters must be a table", 0) end
  local list = {}
  if #ps > 0 then
    for i, p in ipairs(ps) do
      if type(p) ~= "table" then error(where .. ": parameter " .. i .. " must be a table", 0) end
      list[i] = { p.name, p }
    end
  else
    local keys = core.json_keys(ps)
    if not keys then
      keys = {}
      for k in pairs(ps) do keys[#keys + 1] = k end
      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    end
    for i, k in ipairs(keys) do list[i] = { k, ps[k] } end
  end
  return list
end

local Registry = {}
Registry.__index = Registry
Registry.__name = "mobilellm.tools.Registry"

--- A new registry, optionally with tools (an array of definitions for `add`).
-- @tparam[opt] table defs
-- @return a registry: `reg.tools` is the array of tools in the order they were added
function M.registry(defs)
  local reg = setmetatable({ tools = {}, by_name = {} }, Registry)
  for _, d in ipairs(defs or {}) do reg:add(d) end
  return reg
end

--- Adds a tool.
-- @tparam table def `name` (an identifier; dots allowed between identifiers), `description`,
--   `params` (an array of `{ name =, type =, required =, default =, values =, min =, max =,
--   items =, properties =, description = }`, or `parameters`, a map name -> schema) and `fn`
--   (called as `fn(args, call)` with the validated arguments; its return value is the result)
-- @return the tool, as stored
-- @raise on a malformed definition or a duplicate name
--- The keys of a tool definition (`Registry:add`; any other raises).
M.TOOL_KEYS = { "name", "description", "params", "parameters", "fn" }

function Registry:add(def)
  if type(def) ~= "table" then error("tools: a tool definition must be a table, got " .. type(def), 2) end
  local what = type(def.name) == "string" and ("tools: tool '" .. def.name .. "'") or "tools: tool definition"
  options.check(def, M.TOOL_KEYS, what, 3)
  local name = def.name
  if not is_ident(name, true) or #name > 64 then
    error("tools: the tool name " .. show(name) .. " is not an identifier", 2)
  end
  if self.by_name[name] then error("tools: duplicate tool '" .. name .. "'", 2) end
  if def.fn ~= nil and type(def.fn) ~= "function" and not (getmetatable(def.fn) or {}).__call then
    error("tools: tool '" .. name .. "': fn must be a function", 2)
  end
  local tool = { name = name, description = def.description, fn = def.fn, params = {}, by_name = {} }
  local ok, err = pcall(function()
    for _, pair in ipairs(param_list(def, "tool '" .. name .. "'")) do
      local pname, p = pair[1], pair[2]
      local where = "tool '" .. name .. "', parameter " .. show(pname)
      if not is_ident(pname) then error(where .. ": the name is not an identifier", 0) end
      if tool.by_name[pname] then error("tool '" .. name .. "': duplicate parameter '" .. pname .. "'", 0) end
      local s = norm_schema(p, where, 1)
      s.name = pname
      tool.params[#tool.params + 1] = s
      tool.by_name[pname] = s
    end
    if #tool.params > 64 then error("tool '" .. name .. "': more than 64 parameters", 0) end
  end)
  if not ok then error("tools: " .. err, 2) end
  self.tools[#self.tools + 1] = tool
  self.by_name[name] = tool
  return tool
end

--- The tool called `name`, or nil.
function Registry:get(name)
  return self.by_name[name]
end

--- The tool names, in order.
function Registry:names()
  local t = {}
  for i, tool in ipairs(self.tools) do t[i] = tool.name end
  return t
end

local function param_names(tool)
  local t = {}
  for i, p in ipairs(tool.params) do t[i] = p.name end
  return #t > 0 and table.concat(t, ", ") or "none"
end

--- Validates a parsed call (`{ name =, args =, positional = }`, as from `mllm.parse_calls`):
-- the tool exists, every argument is a parameter (positional arguments fill the parameters
-- in order), given once, of the right type, and every required parameter is there.
-- @return the arguments with defaults filled in, and the tool; or nil, message
function Registry:validate(call)
  if type(call) ~= "table" or type(call.name) ~= "string" then return nil, "not a call" end
  local tool = self.by_name[call.name]
  if not tool then
    return nil, "unknown tool '" .. call.name .. "' (tools: " .. table.concat(self:names(), ", ") .. ")"
  end
  local given = {}
  for k, v in pairs(call.args or {}) do given[k] = v end
  local pos = call.positional or {}
  if #pos > #tool.params then
    return nil, string.format("%s: %d positional arguments for %d parameters", tool.name, #pos, #tool.params)
  end
  for i, v in ipairs(pos) do
    local p = tool.params[i].name
    if given[p] ~= nil then return nil, tool.name .. ": argument '" .. p .. "' given twice" end
    given[p] = v
  end
  local out = {}
  for k in pairs(given) do
    if not tool.by_name[k] then
      return nil, tool.name .. ": unknown argument '" .. tostring(k) .. "' (parameters: " .. param_names(tool) .. ")"
    end
  end
  for _, p in ipairs(tool.params) do
    local v = given[p.name]
    if v == nil or (v == NULL and not p.required) then
      if p.required then return nil, tool.name .. ": missing required argument '" .. p.name .. "'" end
      out[p.name] = p.default
    else
      local x, err = M.check_value(p, v, tool.name .. ": argument '" .. p.name .. "'")
      if err then return nil, err end
      out[p.name] = x
    end
  end
  return out, tool
end

--- The text of a value that may refuse to become text: a string as it is, anything else
-- through `tostring` under pcall (a `__tostring` may raise, or return a table).
-- @return the text; or nil and why it cannot be shown
function M.to_text(v)
  if type(v) == "string" then return v end
  local ok, s = pcall(tostring, v)
  if ok then return type(s) == "string" and s or tostring(s) end -- __tostring may return a number
  return nil, type(s) == "string" and s or "(a " .. type(s) .. " was raised)"
end

-- The "chunkname:line: " that error() puts before a string raised at level 1 or more, as Lua
-- writes the chunk name: `[string "..."]`, `(command line)`, a path ending in .lua, or a run of
-- non-space characters without a colon that holds a letter (a name given with "=name"). A
-- message that merely holds a colon ("time must look like 7:30", "at 7:30: too early") matches
-- none of them.
local POSITIONS = { '^%[string "[^\n]-"%]:%d+: ', "^%([^)\n]*%):%d+: ", "^[^:\n]-%.lua:%d+: ",
                    "^[^%s:]*%a[^%s:]*:%d+: " }

local function drop_position(msg)
  for _, pattern in ipairs(POSITIONS) do
    local _, last = msg:find(pattern)
    if last then return msg:sub(last + 1) end
  end
  return msg
end

--- The message of an error raised by tool `name`, as "name: message"; never raises. A tool
-- reports failure with `error("message")` (the position error() adds is dropped) or
-- `error({ message = "..." })` (a table with a string `message`); any other value is shown with
-- `tostring`, and one whose `__tostring` fails gives "tool 'name' raised an error that cannot be
-- shown: why".
function M.error_message(name, e)
  if type(e) == "string" then return name .. ": " .. drop_position(e) end
  if type(e) == "table" then
    local ok, msg = pcall(function() return e.message end) -- __index may raise
    if ok and type(msg) == "string" then return name .. ": " .. msg end
  end
  local text, why = M.to_text(e)
  if text then return name .. ": " .. text end
  return "tool '" .. name .. "' raised an error that cannot be shown: " .. why
end

--- Validates a call and runs its tool under pcall.
-- @return true, result (the function's first return value); or false, message (invalid
--   arguments, no function, or the error the function raised)
function Registry:call(call)
  local args, tool = self:validate(call)
  if not args then return false, tool end
  if not tool.fn then return false, tool.name .. ": the tool has no function" end
  local ok, res = pcall(tool.fn, args, call)
  if not ok then return false, M.error_message(tool.name, res) end
  return true, res
end

-- A table whose key order json_keys knows (chat.lua lists parameters in that order).
local function ordered(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = core.json_encode(k) .. ":null" end
  return core.json_decode("{" .. table.concat(parts, ",") .. "}")
end

local function export_schema(s)
  local e = { type = s.type, description = s.description, values = s.values, min = s.min, max = s.max,
              default = s.default }
  if s.required then e.required = true end
  if s.items then e.items = export_schema(s.items) end
  if s.properties then
    e.properties = {}
    for k, ps in pairs(s.properties) do e.properties[k] = export_schema(ps) end
  end
  return e
end

--- The tools in the apis.json format (`{ name =, description =, parameters = { p = {...} } }`,
-- parameters in declared order), for `mobilellm.chat` and `mllm.constraint`.
function Registry:apis()
  local out = {}
  for i, tool in ipairs(self.tools) do
    local names = {}
    for j, p in ipairs(tool.params) do names[j] = p.name end
    local params = ordered(names)
    for _, p in ipairs(tool.params) do params[p.name] = export_schema(p) end
    out[i] = { name = tool.name, description = tool.description, parameters = params }
  end
  return out
end

--- A registry from APIs in the shared format: an array of `{ name =, description =,
-- parameters = { p = { type =, required =, values =, default =, min =, max = } } }`, a
-- document `{ apis = [...] }`, or the path of an apis.json file (a regular file of at most
-- `chat.MAX_APIS_BYTES`: a FIFO or a device is refused, never waited on).
-- @tparam[opt] table handlers `handlers[name]` is the function of tool `name`
-- @return a registry, or nil, message (naming the file) when the file cannot be read
-- @raise on malformed APIs
function M.from_apis(apis, handlers)
  if type(apis) == "string" then
    local text, err = core.read_file(apis, chat.MAX_APIS_BYTES)
    if not text then return nil, err end
    local doc, jerr = core.json_decode(text)
    if not doc then return nil, apis .. ": " .. jerr end
    apis = doc
  end
  if type(apis) ~= "table" then error("tools.from_apis: expected an array of APIs, a document or a path", 2) end
  if apis.apis then apis = apis.apis end
  local reg = M.registry()
  for i, a in ipairs(apis) do
    if type(a) ~= "table" then error("tools.from_apis: API " .. i .. " must be a table", 2) end
    reg:add { name = a.name, description = a.description, parameters = a.parameters,
              fn = handlers and handlers[a.name] }
  end
  return reg
end

--- Whether v is a registry.
function M.is_registry(v)
  return getmetatable(v) == Registry
end

return M
