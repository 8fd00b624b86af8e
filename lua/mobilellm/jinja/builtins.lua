--- The filters, tests, methods and globals of the Jinja subset, each as jinja2 (and
-- Python) behaves for the values chat templates hand them.
--
-- A filter is `f(rt, value, args, kwargs)`, a test `t(rt, value, args)`, a method
-- `m(rt, self, args, kwargs)`: `args` the positional arguments (a Lua array with `n`),
-- `kwargs` name -> value. They raise `{ message = ... }` (`rt.fail`) for misuse.
-- @module mobilellm.jinja.builtins
local V = require("mobilellm.jinja.values")

local NONE, list, dict, dict_set = V.NONE, V.list, V.dict, V.dict_set
local is_list, is_dict, is_undefined = V.is_list, V.is_dict, V.is_undefined

local M = { filters = {}, tests = {}, methods = { str = {}, dict = {}, list = {} }, globals = {} }
local F, T = M.filters, M.tests

local function fail(msg) error({ message = msg }, 0) end
M.fail = fail

-- The argument at position i, or named `name`, or `default`.
local function arg(args, kwargs, i, name, default)
  local v = args[i]
  if v == nil and kwargs then v = kwargs[name] end
  if v == nil then return default end
  return v
end

local function want_string(v, what)
  if type(v) ~= "string" then fail(what .. " needs a string, got " .. V.type_name(v)) end
  return v
end

local function want_int(v, what)
  if type(v) == "boolean" then return v and 1 or 0 end
  if math.type(v) ~= "integer" then fail(what .. " needs an integer, got " .. V.type_name(v)) end
  return v
end

-- Code points of a string (bytes when it is not valid UTF-8).
local function chars(s)
  local out = {}
  if utf8.len(s) then
    for _, c in utf8.codes(s) do out[#out + 1] = utf8.char(c) end
  else
    for i = 1, #s do out[i] = s:sub(i, i) end
  end
  return out
end
M.chars = chars

--- The items a value iterates over: a list's items, a dict's keys, a string's characters;
-- nothing for Undefined. Raises for what Python cannot iterate.
function M.items_of(v)
  if is_list(v) then return v, v.n end
  if is_dict(v) then return v.keys, #v.keys end
  if type(v) == "string" then local c = chars(v); return c, #c end
  if is_undefined(v) then return {}, 0 end
  fail("'" .. V.type_name(v) .. "' object is not iterable")
end
local items_of = M.items_of

local function to_list(v)
  local items, n = items_of(v)
  return list(table.move(items, 1, n, 1, {}), n)
end

function M.length(v)
  if type(v) == "string" then return utf8.len(v) or #v end
  if is_list(v) then return v.n end
  if is_dict(v) then return #v.keys end
  if is_undefined(v) then return 0 end
  fail("object of type '" .. V.type_name(v) .. "' has no len()")
end

-- Python's str.strip family: whitespace, or the characters of `set`.
local function strip(s, set, left, right)
  if set == nil or set == NONE then
    if left then s = s:gsub("^%s+", "") end
    if right then s = s:gsub("%s+$", "") end
    return s
  end
  set = want_string(set, "strip")
  local member = {}
  for _, c in ipairs(chars(set)) do member[c] = true end
  local cs = chars(s)
  local i, j = 1, #cs
  if left then while i <= j and member[cs[i]] do i = i + 1 end end
  if right then while j >= i and member[cs[j]] do j = j - 1 end end
  return table.concat(cs, "", i, j)
end

-- Python's str.replace; the result may not pass `limit` bytes.
local function replace(s, old, new, count, limit)
  local size = #s
  local function grow()
    size = size + #new - #old
    if size > limit then fail("a string grew past MAX_OUTPUT_BYTES (" .. limit .. ")") end
  end
  if old == "" then
    local cs, out = chars(s), {}
    for i, c in ipairs(cs) do
      if count < 0 or i <= count then grow(); out[#out + 1] = new end
      out[#out + 1] = c
    end
    if count < 0 or #cs < count then grow(); out[#out + 1] = new end
    return table.concat(out)
  end
  local out, i, done = {}, 1, 0
  while count < 0 or done < count do
    local a, b = s:find(old, i, true)
    if not a then break end
    grow()
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = new
    i, done = b + 1, done + 1
  end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

local function split(s, sep, maxsplit)
  local out = {}
  if sep == nil or sep == NONE then
    local rest = s:gsub("^%s+", "")
    while rest ~= "" do
      if maxsplit >= 0 and #out >= maxsplit then out[#out + 1] = rest:gsub("%s+$", ""); break end
      local word, after = rest:match("^(%S+)%s*(.*)$")
      out[#out + 1] = word
      rest = after
    end
    return list(out)
  end
  sep = want_string(sep, "split")
  if sep == "" then fail("split: empty separator") end
  local i = 1
  while maxsplit < 0 or #out < maxsplit do
    local a, b = s:find(sep, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    i = b + 1
  end
  out[#out + 1] = s:sub(i)
  return list(out)
end

-- Python's str.title(): a letter after a non-letter is upper case, others lower case.
local function py_title(s)
  return (s:gsub("(%a?)(%a*)", function(first, rest) return first:upper() .. rest:lower() end))
end

local function capitalize(s)
  return s:sub(1, 1):upper() .. s:sub(2):lower()
end

local function startswith(s, prefix, at_end)
  local function one(p)
    p = want_string(p, at_end and "endswith" or "startswith")
    if at_end then return p == "" or s:sub(-#p) == p end
    return s:sub(1, #p) == p
  end
  if is_list(prefix) then
    for i = 1, prefix.n do if one(prefix[i]) then return true end end
    return false
  end
  return one(prefix)
end

-- ------------------------------------------------------------------ methods

local S, D = M.methods.str, M.methods.dict
S.strip = function(_, s, a) return strip(s, a[1], true, true) end
S.lstrip = function(_, s, a) return strip(s, a[1], true, false) end
S.rstrip = function(_, s, a) return strip(s, a[1], false, true) end
S.upper = function(_, s) return s:upper() end
S.lower = function(_, s) return s:lower() end
S.title = function(_, s) return py_title(s) end
S.capitalize = function(_, s) return capitalize(s) end
S.startswith = function(_, s, a) return startswith(s, a[1]) end
S.endswith = function(_, s, a) return startswith(s, a[1], true) end
S.split = function(_, s, a, kw)
  return split(s, arg(a, kw, 1, "sep"), want_int(arg(a, kw, 2, "maxsplit", -1), "split"))
end
S.splitlines = function(_, s)
  local out = {}
  for line in (s .. "\n"):gmatch("(.-)\r?\n") do out[#out + 1] = line end
  if s == "" or s:sub(-1) == "\n" then out[#out] = nil end
  return list(out)
end
S.replace = function(rt, s, a)
  return replace(s, want_string(a[1], "replace"), want_string(a[2], "replace"),
    want_int(a[3] == nil and -1 or a[3], "replace"), rt.max_output)
end
S.find = function(_, s, a)
  local i = s:find(want_string(a[1], "find"), 1, true)
  return i and (utf8.len(s:sub(1, i - 1)) or (i - 1)) or -1
end
S.count = function(_, s, a)
  local sub, n, i = want_string(a[1], "count"), 0, 1
  if sub == "" then return (utf8.len(s) or #s) + 1 end
  while true do
    local x, y = s:find(sub, i, true)
    if not x then return n end
    n, i = n + 1, y + 1
  end
end
-- Joins strings, never building more than `limit` bytes.
local function join(parts, sep, limit)
  local size = 0
  for i, p in ipairs(parts) do
    size = size + #p + (i > 1 and #sep or 0)
    if size > limit then fail("a string grew past MAX_OUTPUT_BYTES (" .. limit .. ")") end
  end
  return table.concat(parts, sep)
end

S.join = function(rt, s, a)
  local items, n = items_of(a[1])
  local parts = {}
  for i = 1, n do parts[i] = want_string(items[i], "join") end
  return join(parts, s, rt.max_output)
end

D.items = function(_, d)
  local out = {}
  for i, k in ipairs(d.keys) do out[i] = list({ k, d.map[k] }); out[i].tuple = true end
  return list(out)
end
D.keys = function(_, d) return list(table.move(d.keys, 1, #d.keys, 1, {})) end
D.values = function(_, d)
  local out = {}
  for i, k in ipairs(d.keys) do out[i] = d.map[k] end
  return list(out, #d.keys)
end
D.get = function(_, d, a, kw)
  local v = d.map[a[1]]
  if v == nil then return arg(a, kw, 2, "default", NONE) end
  return v
end

-- ------------------------------------------------------------------ filters

F.trim = function(rt, v, a) return strip(V.str(v, rt.max_output), a[1], true, true) end
F.length = function(_, v) return M.length(v) end
F.count = F.length
F.upper = function(rt, v) return V.str(v, rt.max_output):upper() end
F.lower = function(rt, v) return V.str(v, rt.max_output):lower() end
-- jinja2's title: each word (split at spaces, dashes and opening brackets) capitalized
F.title = function(rt, v)
  return (V.str(v, rt.max_output):gsub("([^%s%-%(%{%[<]+)", function(w) return capitalize(w) end))
end
F.capitalize = function(rt, v) return capitalize(V.str(v, rt.max_output)) end
F.string = function(rt, v) return V.str(v, rt.max_output) end
F.safe = function(_, v) return v end
F.default = function(_, v, a, kw)
  local default = arg(a, kw, 1, "default_value", "")
  local boolean = arg(a, kw, 2, "boolean", false)
  if is_undefined(v) or (V.truthy(boolean) and not V.truthy(v)) then return default end
  return v
end
F.d = F.default
F.join = function(rt, v, a, kw)
  local sep = V.str(arg(a, kw, 1, "d", ""), rt.max_output)
  local attribute = arg(a, kw, 2, "attribute")
  local items, n = items_of(v)
  local parts = {}
  for i = 1, n do
    local x = items[i]
    if attribute ~= nil then x = rt:getattr(x, attribute) end
    parts[i] = V.str(x, rt.max_output)
    rt:step()
  end
  return join(parts, sep, rt.max_output)
end
F.replace = function(rt, v, a, kw)
  local count = arg(a, kw, 3, "count", NONE)
  local limit = rt.max_output
  return replace(V.str(v, limit), V.str(arg(a, kw, 1, "old"), limit), V.str(arg(a, kw, 2, "new"), limit),
    count == NONE and -1 or want_int(count, "replace"), limit)
end
F.first = function(_, v)
  local items, n = items_of(v)
  if n == 0 then return V.undefined("No first item, sequence was empty.") end
  return items[1]
end
F.last = function(_, v)
  local items, n = items_of(v)
  if n == 0 then return V.undefined("No last item, sequence was empty.") end
  return items[n]
end
F.reverse = function(_, v)
  if type(v) == "string" then
    local cs = chars(v)
    local out = {}
    for i = #cs, 1, -1 do out[#out + 1] = cs[i] end
    return table.concat(out)
  end
  local items, n = items_of(v)
  local out = {}
  for i = n, 1, -1 do out[#out + 1] = items[i] end
  return list(out, n)
end
F.list = function(_, v) return to_list(v) end
F.items = function(rt, v)
  if is_undefined(v) then return list({}) end
  if not is_dict(v) then fail("items: can only get item pairs from a mapping, not " .. V.type_name(v)) end
  return D.items(rt, v)
end
F.int = function(_, v, a, kw)
  local default = arg(a, kw, 1, "default", 0)
  if type(v) == "boolean" then return v and 1 or 0 end
  if math.type(v) == "integer" then return v end
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return default end
    return math.tointeger(v < 0 and math.ceil(v) or math.floor(v)) or default
  end
  if type(v) == "string" then
    local s = v:match("^%s*(.-)%s*$"):gsub("_", "")
    local n = s:match("^[-+]?%d+$") and math.tointeger(tonumber(s))
    if n then return n end
    local f = tonumber(s)
    if f and f == f and f ~= math.huge and f ~= -math.huge then
      return math.tointeger(f < 0 and math.ceil(f) or math.floor(f)) or default
    end
  end
  return default
end
F.float = function(_, v, a, kw)
  local default = arg(a, kw, 1, "default", 0.0)
  if type(v) == "number" then return v + 0.0 end
  if type(v) == "boolean" then return v and 1.0 or 0.0 end
  if type(v) == "string" then
    local f = tonumber(v:match("^%s*(.-)%s*$"))
    if f then return f + 0.0 end
  end
  return default
end
F.abs = function(_, v)
  if type(v) == "boolean" then return v and 1 or 0 end
  if type(v) ~= "number" then fail("abs: bad operand type " .. V.type_name(v)) end
  return math.abs(v)
end
F.tojson = function(rt, v, a, kw)
  local indent = arg(a, kw, 1, "indent")
  if indent == NONE then indent = nil end
  if indent ~= nil and type(indent) ~= "number" and type(indent) ~= "string" then
    fail("tojson: indent must be a number or a string")
  end
  local seps = kw and kw.separators
  if seps ~= nil and seps ~= NONE then
    if not is_list(seps) or seps.n ~= 2 or type(seps[1]) ~= "string" or type(seps[2]) ~= "string" then
      fail("tojson: separators must be a pair of strings")
    end
  else
    seps = nil
  end
  return V.to_json(v, indent, seps, rt.max_output)
end
F.indent = function(rt, v, a, kw)
  local s = V.str(v, rt.max_output)
  local width = arg(a, kw, 1, "width", 4)
  local first = V.truthy(arg(a, kw, 2, "first", false))
  local blank = V.truthy(arg(a, kw, 3, "blank", false))
  if type(width) ~= "string" and want_int(width, "indent") > rt.max_output then rt:too_long() end
  local pad = type(width) == "string" and width or string.rep(" ", math.max(0, width))
  -- every line may take the pad: check the size before building the text
  local lines_count = select(2, s:gsub("\n", "")) + 1
  if #s + #pad * lines_count > rt.max_output then rt:too_long() end
  local lines, out = {}, {}
  for line in (s .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  if s:sub(-1) == "\n" then lines[#lines] = nil end
  for i, line in ipairs(lines) do
    if i > 1 and (blank or line ~= "") then line = pad .. line end
    out[i] = line
  end
  local r = table.concat(out, "\n")
  if s:sub(-1) == "\n" then r = r .. "\n" end
  if first then r = pad .. r end
  return r
end
-- jinja2's sort: stable, strings compared without case unless case_sensitive, by an attribute
F.sort = function(rt, v, a, kw)
  local reverse = V.truthy(arg(a, kw, 1, "reverse", false))
  local case_sensitive = V.truthy(arg(a, kw, 2, "case_sensitive", false))
  local attribute = arg(a, kw, 3, "attribute")
  local items, n = items_of(v)
  rt:step(n)
  local keyed = {}
  for i = 1, n do
    local key = items[i]
    if attribute ~= nil then key = rt:getattr(key, attribute) end
    if type(key) == "string" and not case_sensitive then key = key:lower() end
    keyed[i] = { key = key, item = items[i], at = i }
  end
  local less = function(x, y) return x < y end
  table.sort(keyed, function(p, q)
    if V.equal(p.key, q.key) then return p.at < q.at end
    local before = rt:compare("<", p.key, q.key, less)
    if reverse then return not before end
    return before
  end)
  local out = {}
  for i, k in ipairs(keyed) do out[i] = k.item end
  return list(out, n)
end
F.unique = function(_, v)
  local items, n = items_of(v)
  local out = {}
  for i = 1, n do
    local seen = false
    for _, o in ipairs(out) do if V.equal(o, items[i]) then seen = true; break end end
    if not seen then out[#out + 1] = items[i] end
  end
  return list(out)
end

-- select/reject, selectattr/rejectattr: `keep` is true for select.
local function select(rt, v, a, keep, by_attr)
  if not V.truthy(v) then return list({}) end  -- jinja2 iterates only a true value
  local items, n = items_of(v)
  local attr = by_attr and a[1]
  local first_arg = by_attr and 2 or 1
  local test_name = a[first_arg]
  local test
  if test_name ~= nil then
    test = T[test_name]
    if not test then fail("test '" .. V.str(test_name) .. "' is not supported") end
  end
  local test_args = list(table.move(a, first_arg + 1, math.max(a.n or #a, first_arg), 1, {}))
  local out = {}
  for i = 1, n do
    rt:step()
    local x = items[i]
    local subject = x
    if by_attr then subject = rt:getattr(x, attr) end
    local ok
    if test then ok = test(rt, subject, test_args) else ok = V.truthy(subject) end
    if ok == keep then out[#out + 1] = x end
  end
  return list(out)
end
F.select = function(rt, v, a) return select(rt, v, a, true, false) end
F.reject = function(rt, v, a) return select(rt, v, a, false, false) end
F.selectattr = function(rt, v, a) return select(rt, v, a, true, true) end
F.rejectattr = function(rt, v, a) return select(rt, v, a, false, true) end
F.map = function(rt, v, a, kw)
  if not V.truthy(v) then return list({}) end  -- jinja2 iterates only a true value
  local items, n = items_of(v)
  local out = {}
  if kw and kw.attribute ~= nil then
    local default = kw.default
    for i = 1, n do
      rt:step()
      local x = rt:getattr(items[i], kw.attribute)
      if is_undefined(x) and default ~= nil then x = default end
      out[i] = x
    end
  else
    local name = a[1]
    local f = F[name]
    if not f then fail("map: filter '" .. V.str(name) .. "' is not supported") end
    local rest = list(table.move(a, 2, math.max(a.n or #a, 2), 1, {}))
    for i = 1, n do rt:step(); out[i] = f(rt, items[i], rest, kw or {}) end
  end
  return list(out, n)
end

-- ------------------------------------------------------------------ tests

T.defined = function(_, v) return not is_undefined(v) end
T.undefined = function(_, v) return is_undefined(v) end
T.none = function(_, v) return v == NONE end
T.string = function(_, v) return type(v) == "string" end
T.mapping = function(_, v) return is_dict(v) end
-- Undefined is iterable (as empty) and has a length, as jinja2's
T.sequence = function(_, v) return type(v) == "string" or is_list(v) or is_dict(v) or is_undefined(v) end
T.iterable = T.sequence
T.number = function(_, v) return type(v) == "number" or type(v) == "boolean" end  -- bool is an int in Python
T.integer = function(_, v) return math.type(v) == "integer" end
T.float = function(_, v) return math.type(v) == "float" end
T.boolean = function(_, v) return type(v) == "boolean" end
T["true"] = function(_, v) return v == true end
T["false"] = function(_, v) return v == false end
local function number(v, what)
  if type(v) == "boolean" then return v and 1 or 0 end
  if type(v) ~= "number" then fail(what .. " needs a number, got " .. V.type_name(v)) end
  return v
end
T.even = function(_, v) return number(v, "even") % 2 == 0 end
T.odd = function(_, v) return number(v, "odd") % 2 == 1 end
T.divisibleby = function(_, v, a)
  local d = want_int(a[1], "divisibleby")
  if d == 0 then fail("divisibleby: division by zero") end
  return want_int(v, "divisibleby") % d == 0
end
T.eq = function(_, v, a) return V.equal(v, a[1]) end
T.equalto, T["=="] = T.eq, T.eq
T.ne = function(_, v, a) return not V.equal(v, a[1]) end
T["!="] = T.ne
T.sameas = function(_, v, a) return v == a[1] end
T.callable = function(_, v)
  local mt = getmetatable(v)
  return mt == V.Macro or mt == V.Bound or mt == V.Callable
end
-- Python's islower/isupper: at least one cased letter, and none of the other case
T.lower = function(_, v) return type(v) == "string" and v:find("%a") ~= nil and v:lower() == v end
T.upper = function(_, v) return type(v) == "string" and v:find("%a") ~= nil and v:upper() == v end
T["in"] = function(rt, v, a) return rt:contains(a[1], v) end
local function ordered(name, cmp)
  return function(rt, v, a) return rt:compare(name, v, a[1], cmp) end
end
T.lt, T.le = ordered("<", function(x, y) return x < y end), ordered("<=", function(x, y) return x <= y end)
T.gt, T.ge = ordered(">", function(x, y) return x > y end), ordered(">=", function(x, y) return x >= y end)
T["<"], T["<="], T[">"], T[">="] = T.lt, T.le, T.gt, T.ge

-- ------------------------------------------------------------------ globals

M.globals.range = function(rt, a)
  local start, stop, step
  if (a.n or #a) <= 1 then start, stop, step = 0, a[1], 1
  else start, stop, step = a[1], a[2], a[3] or 1 end
  start, stop, step = want_int(start, "range"), want_int(stop, "range"), want_int(step, "range")
  if step == 0 then fail("range() arg 3 must not be zero") end
  local out, n = {}, 0
  local i = start
  while (step > 0 and i < stop) or (step < 0 and i > stop) do
    rt:step()
    n = n + 1
    out[n] = i
    i = i + step
  end
  return list(out, n)
end
M.globals.namespace = function(_, a, kw, kw_order)
  local ns = setmetatable({ keys = {}, map = {} }, V.Namespace)
  if a[1] ~= nil then
    if not is_dict(a[1]) then fail("namespace() takes a mapping or keyword arguments") end
    for _, k in ipairs(a[1].keys) do dict_set(ns, k, a[1].map[k]) end
  end
  for _, k in ipairs(kw_order or {}) do dict_set(ns, k, kw[k]) end
  return ns
end
M.globals.raise_exception = function(_, a)
  error({ raise = V.str(a[1] == nil and "" or a[1], 1 << 16) }, 0)
end
M.globals.strftime_now = function(_, a)
  return os.date(want_string(a[1], "strftime_now"))
end
M.globals.dict = function(_, _, kw, kw_order)
  local d = dict()
  for _, k in ipairs(kw_order or {}) do dict_set(d, k, kw[k]) end
  return d
end

return M
