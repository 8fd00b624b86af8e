--- The Jinja interpreter: walks the parser's tree with a variable scope per loop
-- iteration and per macro call (as jinja2 scopes them), under a step budget and a depth
-- limit so that no template runs forever or recurses without end.
-- @module mobilellm.jinja.render
local V = require("mobilellm.jinja.values")
local B = require("mobilellm.jinja.builtins")

local NONE, list, dict, dict_set = V.NONE, V.list, V.dict, V.dict_set
local is_list, is_dict, is_undefined, truthy = V.is_list, V.is_dict, V.is_undefined, V.truthy
local fail = B.fail

local M = {}

local Runtime = {}
Runtime.__index = Runtime

-- ------------------------------------------------------------------ budget

function Runtime:step(n)
  self.steps = self.steps + (n or 1)
  if self.steps > self.max_steps then
    fail("the template ran more than MAX_STEPS (" .. self.max_steps .. ") steps (loop iterations and calls)")
  end
end

function Runtime:too_long()
  fail("a string grew past MAX_OUTPUT_BYTES (" .. self.max_output .. ")")
end

function Runtime:check_string(s)
  if #s > self.max_output then self:too_long() end
  return s
end

-- ------------------------------------------------------------------ values

-- The attributes of a for loop's `loop`, computed when asked for (loops are hot).
local function loop_attr(l, name)
  local i, n = l.i, l.n
  if name == "index" then return i
  elseif name == "index0" then return i - 1
  elseif name == "first" then return i == 1
  elseif name == "last" then return i == n
  elseif name == "length" then return n
  elseif name == "revindex" then return n - i + 1
  elseif name == "revindex0" then return n - i
  elseif name == "depth" then return 1
  elseif name == "depth0" then return 0
  elseif name == "previtem" then
    return i > 1 and l.items[i - 1] or V.undefined(nil, "there is no previous item")
  elseif name == "nextitem" then
    return i < n and l.items[i + 1] or V.undefined(nil, "there is no next item")
  elseif name == "cycle" then
    return setmetatable({ name = "cycle", builtin = true, fn = function(_, a)
      if a.n == 0 then fail("no items for cycling given") end
      return a[(i - 1) % a.n + 1]
    end }, V.Callable)
  end
end

-- Raises the error an Undefined stands for.
local function misuse(u)
  fail(u.hint or ("'" .. tostring(u.name) .. "' is undefined"))
end

local function bound(fn, self_, name)
  return setmetatable({ fn = fn, self = self_, name = name }, V.Bound)
end

function Runtime.getattr(_, obj, name)
  if type(obj) == "string" then
    local m = B.methods.str[name]
    if m then return bound(m, obj, name) end
  elseif is_dict(obj) then
    local mt = getmetatable(obj)
    if mt == V.Dict then
      local m = B.methods.dict[name]
      if m then return bound(m, obj, name) end
    end
    local v = obj.map[name]
    if v ~= nil then return v end
  elseif getmetatable(obj) == V.Loop then
    local v = loop_attr(obj, name)
    if v ~= nil then return v end
  elseif is_undefined(obj) then
    misuse(obj)
  end
  local what = obj == NONE and "'None'" or ("'" .. V.type_name(obj) .. " object'")
  return V.undefined(nil, what .. " has no attribute '" .. V.str(name, 1 << 16) .. "'")
end

-- Python's slice indices for a sequence of n items: the 1-based positions picked.
local function slice_positions(n, start, stop, step)
  step = step == nil and 1 or step
  if step == 0 then fail("slice step cannot be zero") end
  local function clamp(v, default, lo, hi)
    if v == nil then return default end
    if v < 0 then v = v + n end
    if v < lo then return lo end
    if v > hi then return hi end
    return v
  end
  local out = {}
  if step > 0 then
    local i, j = clamp(start, 0, 0, n), clamp(stop, n, 0, n)
    while i < j do out[#out + 1] = i + 1; i = i + step end
  else
    local i, j = clamp(start, n - 1, -1, n - 1), clamp(stop, -1, -1, n - 1)
    if stop == nil then j = -1 end
    while i > j do out[#out + 1] = i + 1; i = i + step end
  end
  return out
end

local function index_arg(v, what)
  if v == nil or v == NONE then return nil end
  if type(v) == "boolean" then return v and 1 or 0 end
  if math.type(v) ~= "integer" then fail(what .. " indices must be integers or None, not " .. V.type_name(v)) end
  return v
end

function Runtime:slice(obj, start, stop, step)
  start, stop, step = index_arg(start, "slice"), index_arg(stop, "slice"), index_arg(step, "slice")
  if type(obj) == "string" then
    local cs = B.chars(obj)
    local out = {}
    for _, p in ipairs(slice_positions(#cs, start, stop, step)) do out[#out + 1] = cs[p] end
    return table.concat(out)
  elseif is_list(obj) then
    local out = {}
    self:step(obj.n)
    for _, p in ipairs(slice_positions(obj.n, start, stop, step)) do out[#out + 1] = obj[p] end
    local l = list(out)
    l.tuple = obj.tuple
    return l
  elseif is_undefined(obj) then
    misuse(obj)
  end
  -- jinja2's getitem turns a failed subscript into Undefined
  return V.undefined(nil, "'" .. V.type_name(obj) .. "' object is not subscriptable")
end

function Runtime:getitem(obj, key)
  if is_list(obj) or type(obj) == "string" then
    if type(key) == "boolean" then key = key and 1 or 0 end
    if math.type(key) == "integer" then
      local items = obj
      local n = obj.n
      if type(obj) == "string" then items = B.chars(obj); n = #items end
      local i = key < 0 and key + n or key
      if i < 0 or i >= n then
        return V.undefined(nil, "'" .. V.type_name(obj) .. " object' has no element " .. key)
      end
      return items[i + 1]
    end
  elseif is_dict(obj) then
    if key ~= NONE and key == key then
      local v = obj.map[key]
      if v ~= nil then return v end
    end
  elseif is_undefined(obj) then
    misuse(obj)
  end
  if type(key) == "string" then return self:getattr(obj, key) end
  local what = obj == NONE and "'None'" or ("'" .. V.type_name(obj) .. " object'")
  local shown = (type(key) == "string" or type(key) == "number") and V.repr(key, 1 << 16) or V.type_name(key)
  return V.undefined(nil, what .. " has no element " .. shown)
end

function Runtime.contains(_, container, item)
  if type(container) == "string" then
    if type(item) ~= "string" then
      fail("'in <string>' requires string as left operand, not " .. V.type_name(item))
    end
    return container:find(item, 1, true) ~= nil
  elseif is_list(container) then
    for i = 1, container.n do
      if V.equal(container[i], item) then return true end
    end
    return false
  elseif is_dict(container) then
    if item == NONE or item ~= item or type(item) == "table" then return false end
    return container.map[item] ~= nil
  elseif is_undefined(container) then
    return false
  end
  fail("argument of type '" .. V.type_name(container) .. "' is not iterable")
end

local function num(v)
  if type(v) == "boolean" then return v and 1 or 0 end
  return v
end

function Runtime:compare(op, a, b, cmp)
  if is_undefined(a) then misuse(a) end
  if is_undefined(b) then misuse(b) end
  local x, y = num(a), num(b)
  if (type(x) == "number" and type(y) == "number") or (type(x) == "string" and type(y) == "string") then
    return cmp(x, y)
  end
  if is_list(a) and is_list(b) then  -- Python: item by item, then the shorter first
    self:step(math.min(a.n, b.n))
    for i = 1, math.min(a.n, b.n) do
      if not V.equal(a[i], b[i]) then return self:compare(op, a[i], b[i], cmp) end
    end
    return cmp(a.n, b.n)
  end
  fail("'" .. op .. "' not supported between instances of '" .. V.type_name(a) .. "' and '" .. V.type_name(b) .. "'")
end

local CMP = {
  ["<"] = function(x, y) return x < y end, ["<="] = function(x, y) return x <= y end,
  [">"] = function(x, y) return x > y end, [">="] = function(x, y) return x >= y end,
}

local function operand_error(op, a, b)
  fail("unsupported operand type(s) for " .. op .. ": '" .. V.type_name(a) .. "' and '" .. V.type_name(b) .. "'")
end

function Runtime:binop(op, a, b)
  if op == "~" then return self:check_string(V.str(a, self.max_output) .. V.str(b, self.max_output)) end
  if is_undefined(a) then misuse(a) end
  if is_undefined(b) then misuse(b) end
  local x, y = num(a), num(b)
  local both_numbers = type(x) == "number" and type(y) == "number"
  if op == "+" then
    if both_numbers then return x + y end
    if type(a) == "string" and type(b) == "string" then return self:check_string(a .. b) end
    if is_list(a) and is_list(b) then
      self:step(a.n + b.n)
      local out = table.move(a, 1, a.n, 1, {})
      table.move(b, 1, b.n, a.n + 1, out)
      return list(out, a.n + b.n)
    end
  elseif op == "-" then
    if both_numbers then return x - y end
  elseif op == "*" then
    if both_numbers then return x * y end
    local s, n = a, y
    if type(b) == "string" or is_list(b) then s, n = b, x end
    if math.type(n) == "integer" and (type(s) == "string" or is_list(s)) then
      if n <= 0 then return type(s) == "string" and "" or list({}) end
      if type(s) == "string" then
        if #s * n > self.max_output then self:too_long() end
        return string.rep(s, n)
      end
      if s.n * n > self.max_steps then self:step(self.max_steps) end
      self:step(s.n * n)
      local out = {}
      for _ = 1, n do table.move(s, 1, s.n, #out + 1, out) end
      return list(out, s.n * n)
    end
  elseif op == "/" then
    if both_numbers then
      if y == 0 then fail("division by zero") end
      return x / y
    end
  elseif op == "//" then
    if both_numbers then
      if y == 0 then fail("integer division or modulo by zero") end
      return x // y
    end
  elseif op == "%" then
    if both_numbers then
      if y == 0 then fail("integer division or modulo by zero") end
      return x % y
    end
    if type(a) == "string" then fail("string formatting with '%' is not supported") end
  elseif op == "**" then
    if both_numbers then
      if math.type(x) == "integer" and math.type(y) == "integer" and y >= 0 then
        local r = 1
        for _ = 1, math.min(y, 64) do r = r * x end
        if y > 64 and x ~= 0 and x ~= 1 and x ~= -1 then fail("integer power too large") end
        if y > 64 and x == -1 then r = (y % 2 == 0) and 1 or -1 end
        return r
      end
      return (x + 0.0) ^ y
    end
  end
  operand_error(op, a, b)
end

-- ------------------------------------------------------------------ calls

function Runtime:call(fnv, args, kwargs, kw_order, line)
  local mt = getmetatable(fnv)
  if mt == V.Bound then
    return fnv.fn(self, fnv.self, args, kwargs)
  elseif mt == V.Callable then
    if fnv.builtin then return fnv.fn(self, args, kwargs, kw_order) end
    local lua_args = {}
    for i = 1, args.n do lua_args[i] = args[i] end
    return V.from_lua(fnv.fn(table.unpack(lua_args, 1, args.n)), nil, nil, self.max_depth)
  elseif mt == V.Macro then
    return self:call_macro(fnv, args, kwargs, line)
  elseif is_undefined(fnv) then
    misuse(fnv)
  end
  fail("'" .. V.type_name(fnv) .. "' object is not callable")
end

local function new_scope(parent) return { vars = {}, parent = parent } end

function Runtime:call_macro(m, args, kwargs, line)
  self:step()
  self.depth = self.depth + 1
  if self.depth > self.max_depth then
    fail("macro calls nest deeper than MAX_DEPTH (" .. self.max_depth .. ")")
  end
  if args.n > #m.params then
    fail("macro '" .. m.name .. "' takes " .. #m.params .. " arguments, got " .. args.n)
  end
  local scope = new_scope(m.scope)
  for name in pairs(kwargs) do
    local known = false
    for _, p in ipairs(m.params) do if p == name then known = true end end
    if not known then fail("macro '" .. m.name .. "' takes no keyword argument '" .. name .. "'") end
  end
  for i, p in ipairs(m.params) do
    local v = args[i]
    if v == nil then v = kwargs[p] end
    if v == nil then
      local d = m.defaults[p]
      v = d and self:eval(d, scope) or V.undefined(nil, "parameter '" .. p .. "' was not provided")
    end
    scope.vars[p] = v
  end
  local out = { n = 0, size = 0 }
  self:exec(m.body, scope, out)
  self.depth = self.depth - 1
  self.line = line or self.line
  return table.concat(out, "", 1, out.n)
end

-- ------------------------------------------------------------------ expressions

function Runtime.lookup(_, name, scope)
  local s = scope
  while s do
    local v = s.vars[name]
    if v ~= nil then return v end
    s = s.parent
  end
  return V.undefined(name)
end

function Runtime:eval_args(node, scope)
  local args = { n = #node.args }
  for i, a in ipairs(node.args) do args[i] = self:eval(a, scope) end
  local kwargs, kw_order = {}, {}
  for i, kv in ipairs(node.kwargs) do
    kwargs[kv[1]] = self:eval(kv[2], scope)
    kw_order[i] = kv[1]
  end
  return args, kwargs, kw_order
end

function Runtime:eval(node, scope)
  local k = node.k
  self.line = node.line or self.line
  if k == "lit" then return node.v
  elseif k == "name" then return self:lookup(node.name, scope)
  elseif k == "getattr" then return self:getattr(self:eval(node.obj, scope), node.name)
  elseif k == "getitem" then return self:getitem(self:eval(node.obj, scope), self:eval(node.key, scope))
  elseif k == "slice" then
    local obj = self:eval(node.obj, scope)
    return self:slice(obj, node.start and self:eval(node.start, scope), node.stop and self:eval(node.stop, scope),
      node.step and self:eval(node.step, scope))
  elseif k == "call" then
    local fnv = self:eval(node.fn, scope)
    local args, kwargs, kw_order = self:eval_args(node, scope)
    self.line = node.line
    return self:call(fnv, args, kwargs, kw_order, node.line)
  elseif k == "filter" then
    local v = self:eval(node.expr, scope)
    local args, kwargs = self:eval_args(node, scope)
    self.line = node.line
    return node.fn(self, v, args, kwargs)
  elseif k == "test" then
    local v = self:eval(node.expr, scope)
    local args = self:eval_args(node, scope)
    self.line = node.line
    local r = node.fn(self, v, args) and true or false
    if node.negate then return not r end
    return r
  elseif k == "bin" then
    local a = self:eval(node.a, scope)
    local b = self:eval(node.b, scope)
    self.line = node.line
    return self:binop(node.op, a, b)
  elseif k == "and" then
    local a = self:eval(node.a, scope)
    if not truthy(a) then return a end
    return self:eval(node.b, scope)
  elseif k == "or" then
    local a = self:eval(node.a, scope)
    if truthy(a) then return a end
    return self:eval(node.b, scope)
  elseif k == "not" then return not truthy(self:eval(node.a, scope))
  elseif k == "neg" or k == "pos" then
    local a = num(self:eval(node.a, scope))
    if type(a) ~= "number" then
      if is_undefined(a) then misuse(a) end
      fail("bad operand type for unary " .. (k == "neg" and "-" or "+") .. ": '" .. V.type_name(a) .. "'")
    end
    return k == "neg" and -a or a
  elseif k == "cmp" then
    local left = self:eval(node.first, scope)
    for _, o in ipairs(node.ops) do
      local right = self:eval(o.e, scope)
      local op, r = o.op
      if op == "==" then r = V.equal(left, right)
      elseif op == "!=" then r = not V.equal(left, right)
      elseif op == "in" then r = self:contains(right, left)
      elseif op == "not in" then r = not self:contains(right, left)
      else r = self:compare(op, left, right, CMP[op]) end
      if not r then return false end
      left = right
    end
    return true
  elseif k == "cond" then
    if truthy(self:eval(node.test, scope)) then return self:eval(node.yes, scope) end
    if node.no then return self:eval(node.no, scope) end
    return V.undefined(nil, "the condition was false and the conditional expression has no else")
  elseif k == "list" or k == "tuple" then
    local out = {}
    for i, e in ipairs(node.items) do out[i] = self:eval(e, scope) end
    local l = list(out, #node.items)
    if k == "tuple" then l.tuple = true end
    return l
  elseif k == "dict" then
    local d = dict()
    for _, kv in ipairs(node.pairs) do
      local key = self:eval(kv[1], scope)
      if type(key) == "table" or key ~= key then fail("unhashable type: '" .. V.type_name(key) .. "'") end
      dict_set(d, key, self:eval(kv[2], scope))
    end
    return d
  end
  error("unknown expression node " .. tostring(k))
end

-- ------------------------------------------------------------------ statements

local function write(self, out, s)
  if s == "" then return end
  out.size = out.size + #s
  if out.size > self.max_output then
    fail("the output grew past MAX_OUTPUT_BYTES (" .. self.max_output .. ")")
  end
  out.n = out.n + 1
  out[out.n] = s
end

local function assign(scope, names, v)
  if #names == 1 then scope.vars[names[1]] = v; return end
  if not is_list(v) then fail("cannot unpack a " .. V.type_name(v) .. " into " .. #names .. " names") end
  if v.n ~= #names then
    fail((v.n > #names and "too many" or "not enough") .. " values to unpack (expected " .. #names .. ", got "
      .. v.n .. ")")
  end
  for i, name in ipairs(names) do scope.vars[name] = v[i] end
end

function Runtime:exec_for(node, scope, out)
  local seq = self:eval(node.iter, scope)
  local items, n = B.items_of(seq)
  if node.cond then  -- the loop's filter runs first: loop.length counts what it keeps
    local kept = {}
    for i = 1, n do
      self:step()
      local s = new_scope(scope)
      assign(s, node.names, items[i])
      if truthy(self:eval(node.cond, s)) then kept[#kept + 1] = items[i] end
    end
    items, n = kept, #kept
  end
  if n == 0 then
    if node.else_body then return self:exec(node.else_body, scope, out) end
    return
  end
  for i = 1, n do
    self:step()
    local s = new_scope(scope)
    assign(s, node.names, items[i])
    s.vars.loop = setmetatable({ i = i, n = n, items = items }, V.Loop)
    local signal = self:exec(node.body, s, out)
    if signal == "break" then break end
  end
end

function Runtime:exec(nodes, scope, out)
  for _, node in ipairs(nodes) do
    local k = node.k
    self.line = node.line
    if k == "data" then
      write(self, out, node.text)
    elseif k == "output" then
      write(self, out, V.str(self:eval(node.expr, scope), self.max_output))
    elseif k == "if" then
      local done = false
      for _, br in ipairs(node.branches) do
        if truthy(self:eval(br[1], scope)) then
          local signal = self:exec(br[2], scope, out)
          if signal then return signal end
          done = true
          break
        end
      end
      if not done and node.else_body then
        local signal = self:exec(node.else_body, scope, out)
        if signal then return signal end
      end
    elseif k == "for" then
      self:exec_for(node, scope, out)
    elseif k == "set" then
      assign(scope, node.names, self:eval(node.expr, scope))
    elseif k == "setattr" then
      local ns = self:lookup(node.obj, scope)
      if getmetatable(ns) ~= V.Namespace then
        fail("cannot assign attribute on non-namespace object")
      end
      dict_set(ns, node.attr, self:eval(node.expr, scope))
    elseif k == "setblock" then
      local buf = { n = 0, size = 0 }
      self:exec(node.body, scope, buf)
      scope.vars[node.name] = table.concat(buf, "", 1, buf.n)
    elseif k == "macro" then
      scope.vars[node.name] = setmetatable({ name = node.name, params = node.params, defaults = node.defaults,
                                             body = node.body, scope = scope }, V.Macro)
    elseif k == "group" then
      local signal = self:exec(node.body, scope, out)
      if signal then return signal end
    elseif k == "break" or k == "continue" then
      return k
    else
      error("unknown statement node " .. tostring(k))
    end
  end
end

--- Renders a parsed template.
-- @tparam table nodes the statements (`parser.parse`)
-- @tparam table vars name -> value (the interpreter's values)
-- @tparam table limits `max_steps`, `max_depth`, `max_output`
-- @treturn string the text; raises `{ message = }` (with `line`) or `{ raise = }`
function M.render(nodes, vars, limits)
  local rt = setmetatable({ steps = 0, depth = 0, line = 1, max_steps = limits.max_steps,
                            max_depth = limits.max_depth, max_output = limits.max_output }, Runtime)
  local root = { vars = {} }
  for name, fn in pairs(B.globals) do
    root.vars[name] = setmetatable({ fn = fn, name = name, builtin = true }, V.Callable)
  end
  local scope = new_scope(root)
  for k, v in pairs(vars) do scope.vars[k] = v end
  local out = { n = 0, size = 0 }
  local ok, err = pcall(rt.exec, rt, nodes, scope, out)
  if not ok then
    if type(err) == "table" and err.message then err.line = rt.line
    elseif type(err) ~= "table" then err = { message = tostring(err), line = rt.line } end
    error(err, 0)
  end
  return table.concat(out, "", 1, out.n)
end

return M
