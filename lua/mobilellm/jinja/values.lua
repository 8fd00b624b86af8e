--- The values of the Jinja interpreter, with Python's semantics where chat templates rely
-- on them: None, Undefined, lists, dicts that keep their keys' order, truthiness, `str()`,
-- `repr()`, `==`, and `json.dumps` as Hugging Face's `tojson` calls it.
--
-- Strings, numbers (Lua integers are Python ints, Lua floats Python floats) and booleans are
-- themselves. A list is a table with metatable `List` (`n` items in 1..n; `tuple` marks a
-- tuple); a dict is a table with metatable `Dict` (`keys` in order, `map` key -> value).
-- @module mobilellm.jinja.values
local M = {}

--- Python's None.
M.NONE = setmetatable({}, { __name = "None", __tostring = function() return "None" end })

--- jinja2's Undefined: `M.undefined(name, hint)` makes one; `hint` says why for the error
-- its misuse raises.
M.Undefined = { __name = "Undefined" }
function M.undefined(name, hint)
  return setmetatable({ name = name, hint = hint }, M.Undefined)
end
function M.is_undefined(v) return getmetatable(v) == M.Undefined end

M.List = { __name = "list" }
M.Dict = { __name = "dict" }
M.Namespace = { __name = "Namespace" }
M.Loop = { __name = "LoopContext" }    -- a for loop's `loop`: attributes in `map`
M.Macro = { __name = "macro" }      -- { name, params, defaults, body, scope }
M.Bound = { __name = "method" }     -- { fn, self, name }
M.Callable = { __name = "function" } -- { fn, name }: a global or a Lua function

function M.list(items, n)
  items = items or {}
  items.n = n or #items
  return setmetatable(items, M.List)
end

function M.dict()
  return setmetatable({ keys = {}, map = {} }, M.Dict)
end

function M.dict_set(d, k, v)
  if d.map[k] == nil then d.keys[#d.keys + 1] = k end
  d.map[k] = v
end

function M.is_list(v) return getmetatable(v) == M.List end
function M.is_dict(v) local mt = getmetatable(v); return mt == M.Dict or mt == M.Namespace end

--- Python's type name of a value, for messages.
function M.type_name(v)
  local t = type(v)
  if t == "string" then return "str" end
  if t == "boolean" then return "bool" end
  if t == "number" then return math.type(v) == "integer" and "int" or "float" end
  if t == "function" then return "function" end
  local mt = getmetatable(v)
  if mt == M.List then return v.tuple and "tuple" or "list" end
  return mt and mt.__name or t
end

--- Python's truthiness.
function M.truthy(v)
  if v == nil or v == false or v == M.NONE or v == 0 or v == "" then return false end
  local mt = getmetatable(v)
  if mt == M.Undefined then return false end
  if mt == M.List then return v.n > 0 end
  if mt == M.Dict then return #v.keys > 0 end
  return true
end

-- The shortest digits that read back as x, in Python's repr layout.
local function float_repr(x)
  if x ~= x then return "nan" end
  if x == math.huge then return "inf" end
  if x == -math.huge then return "-inf" end
  if x == 0 then return (1 / x < 0) and "-0.0" or "0.0" end
  local s
  for p = 1, 17 do
    s = string.format("%." .. (p - 1) .. "e", x)
    if tonumber(s) == x then break end
  end
  local sign, int, frac, exp = s:match("^(-?)(%d)%.?(%d*)e([-+]%d+)$")
  local digits = (int .. frac):gsub("0+$", "")
  if digits == "" then digits = "0" end
  local decpt = tonumber(exp) + 1  -- digits are 0.DDD * 10^decpt
  if decpt > -4 and decpt <= 16 then
    if decpt <= 0 then return sign .. "0." .. string.rep("0", -decpt) .. digits end
    if #digits <= decpt then return sign .. digits .. string.rep("0", decpt - #digits) .. ".0" end
    return sign .. digits:sub(1, decpt) .. "." .. digits:sub(decpt + 1)
  end
  local e = decpt - 1
  local mant = #digits > 1 and (digits:sub(1, 1) .. "." .. digits:sub(2)) or digits
  return string.format("%s%se%s%02d", sign, mant, e < 0 and "-" or "+", math.abs(e))
end
M.float_repr = float_repr

local function number_str(v)
  if math.type(v) == "integer" then return tostring(v) end
  return float_repr(v)
end

-- Python's repr of a string: single quotes unless the text has one and no double quote.
local function string_repr(s)
  local q = (s:find("'", 1, true) and not s:find('"', 1, true)) and '"' or "'"
  return q .. s:gsub("[%c\\'\"]", function(c)
    if c == "\\" then return "\\\\" end
    if c == q then return "\\" .. c end
    if c == "'" or c == '"' then return c end
    if c == "\n" then return "\\n" end
    if c == "\t" then return "\\t" end
    if c == "\r" then return "\\r" end
    return string.format("\\x%02x", c:byte())
  end) .. q
end

local repr

-- Most bytes `str`, `repr` and `to_json` build when the caller sets no limit.
local UNLIMITED = math.maxinteger

local function too_long(limit)
  error({ message = "a string grew past MAX_OUTPUT_BYTES (" .. limit .. ")" })
end

--- Python's `str()` of a value (what `{{ }}` prints; Undefined prints nothing); a text of more
-- than `limit` bytes raises.
function M.str(v, limit)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return number_str(v) end
  if t == "boolean" then return v and "True" or "False" end
  if v == M.NONE or v == nil then return "None" end
  if M.is_undefined(v) then return "" end
  return repr(v, limit)
end

-- Appends the repr of v to out (out.size bytes so far, at most out.limit).
local function repr_into(v, out, depth)
  if depth > 200 then error({ message = "a value nests too deeply to print" }) end
  local function put(s)
    out.size = out.size + #s
    if out.size > out.limit then too_long(out.limit) end
    out[#out + 1] = s
  end
  if type(v) == "string" then put(string_repr(v)); return end
  local mt = getmetatable(v)
  if mt == M.List then
    put(v.tuple and "(" or "[")
    for i = 1, v.n do
      if i > 1 then put(", ") end
      repr_into(v[i], out, depth + 1)
    end
    put(v.tuple and (v.n == 1 and ",)" or ")") or "]")
  elseif mt == M.Dict then
    put("{")
    for i, k in ipairs(v.keys) do
      if i > 1 then put(", ") end
      repr_into(k, out, depth + 1)
      put(": ")
      repr_into(v.map[k], out, depth + 1)
    end
    put("}")
  elseif mt == M.Namespace then
    put("<Namespace>")
  elseif mt == M.Loop then
    put("<LoopContext>")
  elseif mt == M.Macro then
    put("<Macro '" .. v.name .. "'>")
  elseif mt == M.Bound or mt == M.Callable or type(v) == "function" then
    put("<function " .. (type(v) == "table" and v.name or "?") .. ">")
  else
    put(M.str(v))
  end
end

--- Python's `repr()` of a value; a text of more than `limit` bytes raises.
repr = function(v, limit)
  local out = { size = 0, limit = limit or UNLIMITED }
  repr_into(v, out, 0)
  return table.concat(out)
end
M.repr = repr

--- Python's `==` (lists and dicts compare item by item; 1 == 1.0; True == 1 as in Python).
function M.equal(a, b, depth)
  depth = (depth or 0) + 1
  if depth > 200 then error({ message = "a value nests too deeply to compare" }) end
  if type(a) == "boolean" then a = a and 1 or 0 end
  if type(b) == "boolean" then b = b and 1 or 0 end
  if a == b then return true end
  local ma, mb = getmetatable(a), getmetatable(b)
  if ma == M.List and mb == M.List then
    if a.n ~= b.n or (a.tuple or false) ~= (b.tuple or false) then return false end
    for i = 1, a.n do
      if not M.equal(a[i], b[i], depth) then return false end
    end
    return true
  elseif ma == M.Dict and mb == M.Dict then
    if #a.keys ~= #b.keys then return false end
    for _, k in ipairs(a.keys) do
      if b.map[k] == nil or not M.equal(a.map[k], b.map[k], depth) then return false end
    end
    return true
  elseif ma == M.Undefined and mb == M.Undefined then
    return true
  end
  return false
end

-- JSON string escapes as Python's json.dumps with ensure_ascii=False writes them.
local JSON_ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
                       ["\b"] = "\\b", ["\f"] = "\\f" }
local function json_string(s)
  return '"' .. s:gsub('[%z\1-\31"\\]', function(c)
    return JSON_ESCAPES[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

--- Python's `json.dumps(v, ensure_ascii=False, indent=indent, separators=seps)`: `indent`
-- nil or a number of spaces (or a string); `seps` nil or `{item, key}`. Raises (a table with
-- `message`) for what JSON cannot hold, and past `limit` bytes.
function M.to_json(v, indent, seps, limit)
  limit = limit or UNLIMITED
  if type(indent) == "number" then
    indent = math.max(0, math.floor(indent))
    if indent > limit then too_long(limit) end
    indent = string.rep(" ", indent)
  end
  local item_sep = seps and seps[1] or (indent and "," or ", ")
  local key_sep = seps and seps[2] or ": "
  local out, size = {}, 0
  local function put(s)
    size = size + #s
    if size > limit then too_long(limit) end
    out[#out + 1] = s
  end
  local function newline(level)
    if #indent * level > limit then too_long(limit) end
    return "\n" .. string.rep(indent, level)
  end
  local function emit(x, level)
    if level > 200 then error({ message = "tojson: a value nests too deeply" }) end
    local t = type(x)
    if t == "string" then put(json_string(x))
    elseif t == "boolean" then put(x and "true" or "false")
    elseif t == "number" then
      if x ~= x then put("NaN")
      elseif x == math.huge then put("Infinity")
      elseif x == -math.huge then put("-Infinity")
      else put(number_str(x)) end
    elseif x == M.NONE or x == nil then put("null")
    else
      local mt = getmetatable(x)
      local is_list = mt == M.List
      if not (is_list or mt == M.Dict) then
        error({ message = "tojson: Object of type " .. M.type_name(x) .. " is not JSON serializable" })
      end
      local count = is_list and x.n or #x.keys
      if count == 0 then put(is_list and "[]" or "{}"); return end
      put(is_list and "[" or "{")
      local nl = indent and newline(level + 1) or nil
      for i = 1, count do
        if i > 1 then put(item_sep) end
        if nl then put(nl) end
        if is_list then
          emit(x[i], level + 1)
        else
          local k = x.keys[i]
          local kt = type(k)
          if kt == "string" then put(json_string(k))
          elseif kt == "number" then put(json_string(number_str(k)))
          elseif kt == "boolean" then put(k and '"true"' or '"false"')
          else put('"null"') end
          put(key_sep)
          emit(x.map[k], level + 1)
        end
      end
      if nl then put(newline(level)) end
      put(is_list and "]" or "}")
    end
  end
  emit(v, 0)
  return table.concat(out)
end

--- Converts a Lua value handed to `render` into the interpreter's values: an array (or
-- an empty table) becomes a list, another table a dict whose keys are in the order
-- `keys_of(t)` gives (nil: sorted); `null` (nil or a sentinel) becomes None.
-- Functions become callables. Raises past `max_depth` levels (a cycle included).
function M.from_lua(v, keys_of, null, max_depth)
  local function conv(x, depth)
    if depth > max_depth then error({ message = "a variable nests deeper than " .. max_depth .. " levels" }) end
    local t = type(x)
    if t == "nil" or (null ~= nil and x == null) then return M.NONE end
    if t == "string" or t == "number" or t == "boolean" then return x end
    if t == "function" then return setmetatable({ fn = x, name = "function" }, M.Callable) end
    if t ~= "table" then error({ message = "a variable of Lua type " .. t .. " has no Jinja value" }) end
    local mt = getmetatable(x)
    if mt == M.List or mt == M.Dict or mt == M.Undefined or x == M.NONE or mt == M.Namespace then return x end
    local order = keys_of and keys_of(x)
    if not order then
      local n = 0
      for _ in pairs(x) do n = n + 1 end
      if n == #x then  -- an array, or empty
        local l = M.list({}, n)
        for i = 1, n do l[i] = conv(x[i], depth + 1) end
        return l
      end
      order = {}
      for k in pairs(x) do order[#order + 1] = k end
      table.sort(order, function(a, b)
        if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then return a < b end
        return type(a) < type(b)
      end)
    end
    local d = M.dict()
    for _, k in ipairs(order) do
      if x[k] ~= nil then M.dict_set(d, k, conv(x[k], depth + 1)) end
    end
    return d
  end
  return conv(v, 0)
end

return M
