--- The Jinja parser: tokens -> a tree of statements and expressions, with jinja2's
-- operator precedence. Filters and tests are looked up here, so a template that uses one
-- outside the subset fails when it is compiled, naming it and its line.
-- @module mobilellm.jinja.parser
local M = {}

-- Tags that end a block: the parser stops at them and lets the block's owner check.
local BLOCK_ENDS = { elif = true, ["else"] = true, endif = true, endfor = true, endmacro = true,
                     endset = true, endgeneration = true, endraw = true }

-- Tags of jinja2 outside the subset, named in the error.
local UNSUPPORTED_TAGS = { include = true, extends = true, import = true, from = true, block = true,
                           with = true, call = true, filter = true, autoescape = true, ["do"] = true,
                           trans = true, endblock = true, endcall = true, endfilter = true, endwith = true }

local COMPARE = { ["=="] = true, ["!="] = true, ["<"] = true, ["<="] = true, [">"] = true, [">="] = true }

local Parser = {}
Parser.__index = Parser

function Parser:fail(msg, line)
  self.on_fail(line or self:peek().line, msg)
end

function Parser:peek(k) return self.toks[self.i + (k or 0)] end

function Parser:next()
  local t = self.toks[self.i]
  self.i = self.i + 1
  return t
end

function Parser:is(type_, value, k)
  local t = self.toks[self.i + (k or 0)]
  return t.type == type_ and (value == nil or t.value == value)
end

function Parser:accept(type_, value)
  if self:is(type_, value) then return self:next() end
end

local function describe(t)
  if t.type == "eof" then return "end of template" end
  if t.type == "var_end" then return "'}}'" end
  if t.type == "block_end" then return "'%}'" end
  if t.value ~= nil then return "'" .. tostring(t.value) .. "'" end
  return t.type
end

function Parser:expect(type_, value)
  local t = self:peek()
  if t.type ~= type_ or (value ~= nil and t.value ~= value) then
    self:fail("expected " .. (value and ("'" .. value .. "'") or type_) .. ", got " .. describe(t))
  end
  return self:next()
end

function Parser:enter()
  self.depth = self.depth + 1
  if self.depth > self.max_depth then
    self:fail("the template nests deeper than MAX_DEPTH (" .. self.max_depth .. ")")
  end
end

function Parser:leave() self.depth = self.depth - 1 end

-- ------------------------------------------------------------------ expressions

function Parser:expression()
  self:enter()
  local e = self:condexpr()
  self:leave()
  return e
end

function Parser:condexpr()
  local e = self:or_expr()
  while self:is("name", "if") do
    local line = self:next().line
    local test = self:or_expr()
    local no = nil
    if self:accept("name", "else") then no = self:condexpr() end
    e = { k = "cond", test = test, yes = e, no = no, line = line }
  end
  return e
end

function Parser:or_expr()
  local e = self:and_expr()
  while self:is("name", "or") do
    local line = self:next().line
    e = { k = "or", a = e, b = self:and_expr(), line = line }
  end
  return e
end

function Parser:and_expr()
  local e = self:not_expr()
  while self:is("name", "and") do
    local line = self:next().line
    e = { k = "and", a = e, b = self:not_expr(), line = line }
  end
  return e
end

function Parser:not_expr()
  if self:is("name", "not") then
    local line = self:next().line
    self:enter()
    local e = { k = "not", a = self:not_expr(), line = line }
    self:leave()
    return e
  end
  return self:compare()
end

function Parser:compare()
  local first = self:math1()
  local ops = {}
  while true do
    local t = self:peek()
    if t.type == "op" and COMPARE[t.value] then
      self:next()
      ops[#ops + 1] = { op = t.value, e = self:math1() }
    elseif t.type == "name" and t.value == "in" then
      self:next()
      ops[#ops + 1] = { op = "in", e = self:math1() }
    elseif t.type == "name" and t.value == "not" and self:is("name", "in", 1) then
      self:next(); self:next()
      ops[#ops + 1] = { op = "not in", e = self:math1() }
    else
      break
    end
  end
  if #ops == 0 then return first end
  return { k = "cmp", first = first, ops = ops, line = first.line }
end

function Parser:binary(ops, sub)
  local e = sub(self)
  while self:is("op") and ops[self:peek().value] do
    local t = self:next()
    e = { k = "bin", op = t.value, a = e, b = sub(self), line = t.line }
  end
  return e
end

local MATH1, CONCAT, MATH2, POW = { ["+"] = true, ["-"] = true }, { ["~"] = true },
  { ["*"] = true, ["/"] = true, ["//"] = true, ["%"] = true }, { ["**"] = true }

function Parser:math1() return self:binary(MATH1, Parser.concat) end
function Parser:concat() return self:binary(CONCAT, Parser.math2) end
function Parser:math2() return self:binary(MATH2, Parser.pow) end
function Parser:pow() return self:binary(POW, Parser.unary) end

function Parser:unary(with_filter)
  local t = self:peek()
  local e
  if t.type == "op" and (t.value == "-" or t.value == "+") then
    self:next()
    self:enter()
    e = { k = t.value == "-" and "neg" or "pos", a = self:unary(false), line = t.line }
    self:leave()
  else
    e = self:postfix(self:primary())
  end
  if with_filter ~= false then e = self:filter_expr(e) end
  return e
end

function Parser:primary()
  local t = self:next()
  if t.type == "name" then
    local v = t.value
    if v == "true" or v == "True" then return { k = "lit", v = true, line = t.line } end
    if v == "false" or v == "False" then return { k = "lit", v = false, line = t.line } end
    if v == "none" or v == "None" then return { k = "lit", v = self.NONE, line = t.line } end
    return { k = "name", name = v, line = t.line }
  elseif t.type == "string" then
    local s = t.value
    while self:is("string") do s = s .. self:next().value end  -- "a" "b" is "ab", as in Python
    return { k = "lit", v = s, line = t.line }
  elseif t.type == "integer" or t.type == "float" then
    return { k = "lit", v = t.value, line = t.line }
  elseif t.type == "op" and t.value == "(" then
    self:enter()
    if self:accept("op", ")") then self:leave(); return { k = "tuple", items = {}, line = t.line } end
    local e = self:expression()
    if self:is("op", ",") then
      local items = { e }
      while self:accept("op", ",") do
        if self:is("op", ")") then break end
        items[#items + 1] = self:expression()
      end
      e = { k = "tuple", items = items, line = t.line }
    end
    self:expect("op", ")")
    self:leave()
    return e
  elseif t.type == "op" and t.value == "[" then
    self:enter()
    local items = {}
    while not self:is("op", "]") do
      if #items > 0 then self:expect("op", ",") end
      if self:is("op", "]") then break end
      items[#items + 1] = self:expression()
    end
    self:expect("op", "]")
    self:leave()
    return { k = "list", items = items, line = t.line }
  elseif t.type == "op" and t.value == "{" then
    self:enter()
    local pairs_ = {}
    while not self:is("op", "}") do
      if #pairs_ > 0 then self:expect("op", ",") end
      if self:is("op", "}") then break end
      local key = self:expression()
      self:expect("op", ":")
      pairs_[#pairs_ + 1] = { key, self:expression() }
    end
    self:expect("op", "}")
    self:leave()
    return { k = "dict", pairs = pairs_, line = t.line }
  end
  self.i = self.i - 1
  self:fail("unexpected " .. describe(t) .. " in an expression", t.line)
end

-- Arguments of a call: positional, then name=value.
function Parser:call_args()
  local args, kwargs = {}, {}
  self:expect("op", "(")
  self:enter()
  while not self:is("op", ")") do
    if #args + #kwargs > 0 then self:expect("op", ",") end
    if self:is("op", ")") then break end
    if self:is("op", "*") or self:is("op", "**") then self:fail("*args and **kwargs in a call are not supported") end
    if self:is("name") and self:is("op", "=", 1) then
      local name = self:next().value
      self:next()
      kwargs[#kwargs + 1] = { name, self:expression() }
    else
      if #kwargs > 0 then self:fail("a positional argument follows a keyword argument") end
      args[#args + 1] = self:expression()
    end
  end
  self:expect("op", ")")
  self:leave()
  return args, kwargs
end

function Parser:subscript(obj, line)
  -- obj[ ... ]: an index or a slice a:b:c
  local parts, cur = {}, nil
  local is_slice = false
  while true do
    if self:is("op", ":") then
      is_slice = true
      self:next()
      parts[#parts + 1] = cur or false
      cur = nil
    elseif self:is("op", "]") then
      parts[#parts + 1] = cur or false
      break
    else
      if cur then self:fail("expected ']' or ':'") end
      cur = self:expression()
      if self:is("op", ",") then self:fail("a tuple as an index is not supported") end
    end
  end
  self:expect("op", "]")
  if not is_slice then
    if not parts[1] then self:fail("an empty index []", line) end
    return { k = "getitem", obj = obj, key = parts[1], line = line }
  end
  if #parts > 3 then self:fail("a slice has at most three parts", line) end
  return { k = "slice", obj = obj, start = parts[1] or nil, stop = parts[2] or nil, step = parts[3] or nil,
           line = line }
end

function Parser:postfix(e)
  while true do
    local t = self:peek()
    if t.type == "op" and t.value == "." then
      self:next()
      local name = self:next()
      if name.type == "name" then
        e = { k = "getattr", obj = e, name = name.value, line = t.line }
      elseif name.type == "integer" then
        e = { k = "getitem", obj = e, key = { k = "lit", v = name.value, line = t.line }, line = t.line }
      else
        self:fail("expected a name after '.'", t.line)
      end
    elseif t.type == "op" and t.value == "[" then
      self:next()
      self:enter()
      e = self:subscript(e, t.line)
      self:leave()
    elseif t.type == "op" and t.value == "(" then
      local args, kwargs = self:call_args()
      e = { k = "call", fn = e, args = args, kwargs = kwargs, line = t.line }
    else
      return e
    end
  end
end

function Parser:filter_expr(e)
  while true do
    local t = self:peek()
    if t.type == "op" and t.value == "|" then
      self:next()
      local name = self:expect("name").value
      while self:is("op", ".") do self:next(); name = name .. "." .. self:expect("name").value end
      local fn = self.filters[name]
      if not fn then self:fail("filter '" .. name .. "' is not supported", t.line) end
      local args, kwargs = {}, {}
      if self:is("op", "(") then args, kwargs = self:call_args() end
      e = { k = "filter", expr = e, name = name, fn = fn, args = args, kwargs = kwargs, line = t.line }
    elseif t.type == "name" and t.value == "is" then
      self:next()
      local negate = self:accept("name", "not") ~= nil
      local nt = self:next()
      local name = nt.value
      if nt.type ~= "name" then
        if nt.type == "op" or nt.type == "var_end" or nt.type == "block_end" or nt.type == "eof" then
          self.i = self.i - 1
          self:fail("expected the name of a test after 'is'", t.line)
        end
      end
      if name == "none" or name == "None" then name = "none" end
      if name == "true" or name == "True" then name = "true" end
      if name == "false" or name == "False" then name = "false" end
      local fn = self.tests[name]
      if not fn then self:fail("test '" .. tostring(name) .. "' is not supported", t.line) end
      local args, kwargs = {}, {}
      if self:is("op", "(") then
        args, kwargs = self:call_args()
      else
        local p = self:peek()
        -- one bare argument, as jinja2 reads `x is divisibleby 3` / `x is sameas false`
        if (p.type == "name" and not ({ ["else"] = true, ["or"] = true, ["and"] = true, ["if"] = true,
            ["is"] = true, ["in"] = true, ["not"] = true })[p.value]) or p.type == "string"
            or p.type == "integer" or p.type == "float" or (p.type == "op" and (p.value == "[" or p.value == "{")) then
          args = { self:postfix(self:primary()) }
        end
      end
      e = { k = "test", expr = e, name = name, fn = fn, args = args, kwargs = kwargs, negate = negate,
            line = t.line }
    else
      return e
    end
  end
end

-- ------------------------------------------------------------------ statements

-- Target of for / set: a name, or names separated by commas (optionally in parentheses).
function Parser:targets()
  local names = {}
  local paren = self:accept("op", "(")
  repeat
    names[#names + 1] = self:expect("name").value
  until not self:accept("op", ",")
  if paren then self:expect("op", ")") end
  return names
end

-- Parses statements until a tag named in `ends` (its name token left unread) or eof.
function Parser:body(ends)
  self:enter()
  local nodes = {}
  while true do
    local t = self:peek()
    if t.type == "eof" then
      if ends then
        local names = {}
        for name in pairs(ends) do names[#names + 1] = name end
        table.sort(names)
        self:fail("unexpected end of template, expected '" .. table.concat(names, "' or '") .. "'")
      end
      break
    elseif t.type == "data" then
      self:next()
      nodes[#nodes + 1] = { k = "data", text = t.value, line = t.line }
    elseif t.type == "var_begin" then
      self:next()
      local e = self:expression()
      self:expect("var_end")
      nodes[#nodes + 1] = { k = "output", expr = e, line = t.line }
    elseif t.type == "block_begin" then
      local nt = self:peek(1)
      if nt.type ~= "name" then self:fail("expected a tag name after '{%'", t.line) end
      if BLOCK_ENDS[nt.value] then
        if ends and ends[nt.value] then break end
        self:fail("unexpected '" .. nt.value .. "'", nt.line)
      end
      self:next()
      nodes[#nodes + 1] = self:statement()
    else
      self:fail("unexpected " .. describe(t))
    end
  end
  self:leave()
  return nodes
end

-- Reads `{% name` ... `%}` for an end tag the body stopped at.
function Parser:end_tag(name)
  self:expect("block_begin")
  self:expect("name", name)
  self:expect("block_end")
end

function Parser:statement()
  local t = self:next()  -- the tag name
  local tag, line = t.value, t.line
  if tag == "if" then
    local branches = {}
    local cond = self:expression()
    self:expect("block_end")
    local ends = { elif = true, ["else"] = true, endif = true }
    branches[1] = { cond, self:body(ends) }
    local else_body
    while true do
      self:expect("block_begin")
      local which = self:next().value
      if which == "elif" then
        local c = self:expression()
        self:expect("block_end")
        branches[#branches + 1] = { c, self:body(ends) }
      elseif which == "else" then
        self:expect("block_end")
        else_body = self:body({ endif = true })
        self:end_tag("endif")
        break
      else -- endif
        self:expect("block_end")
        break
      end
    end
    return { k = "if", branches = branches, else_body = else_body, line = line }
  elseif tag == "for" then
    local names = self:targets()
    self:expect("name", "in")
    local iter = self:or_expr()  -- an "if" after it filters the loop: no conditional expression here
    local cond
    if self:accept("name", "if") then cond = self:expression() end
    if self:is("name", "recursive") then self:fail("recursive loops are not supported") end
    self:expect("block_end")
    self.loops = self.loops + 1
    local body = self:body({ ["else"] = true, endfor = true })
    self.loops = self.loops - 1
    local else_body
    self:expect("block_begin")
    if self:next().value == "else" then
      self:expect("block_end")
      else_body = self:body({ endfor = true })
      self:end_tag("endfor")
    else
      self:expect("block_end")
    end
    return { k = "for", names = names, iter = iter, cond = cond, body = body, else_body = else_body, line = line }
  elseif tag == "set" then
    local first = self:expect("name").value
    if self:accept("op", ".") then
      local attr = self:expect("name").value
      self:expect("op", "=")
      local e = self:expression()
      self:expect("block_end")
      return { k = "setattr", obj = first, attr = attr, expr = e, line = line }
    end
    local names = { first }
    while self:accept("op", ",") do names[#names + 1] = self:expect("name").value end
    if self:accept("op", "=") then
      local e = self:expression()
      if #names > 1 or self:is("op", ",") then
        local items = { e }
        while self:accept("op", ",") do items[#items + 1] = self:expression() end
        if #items > 1 then e = { k = "tuple", items = items, line = line } end
      end
      self:expect("block_end")
      return { k = "set", names = names, expr = e, line = line }
    end
    if #names > 1 then self:fail("a block set takes one name") end
    if self:is("op", "|") then self:fail("a filter on a block set is not supported") end
    self:expect("block_end")
    local body = self:body({ endset = true })
    self:end_tag("endset")
    return { k = "setblock", name = first, body = body, line = line }
  elseif tag == "macro" then
    local name = self:expect("name").value
    self:expect("op", "(")
    local params, defaults = {}, {}
    while not self:is("op", ")") do
      if #params > 0 then self:expect("op", ",") end
      if self:is("op", ")") then break end
      local p = self:expect("name").value
      params[#params + 1] = p
      if self:accept("op", "=") then defaults[p] = self:expression() end
    end
    self:expect("op", ")")
    self:expect("block_end")
    local saved = self.loops
    self.loops = 0
    local body = self:body({ endmacro = true })
    self.loops = saved
    self:end_tag("endmacro")
    return { k = "macro", name = name, params = params, defaults = defaults, body = body, line = line }
  elseif tag == "break" or tag == "continue" then
    if self.loops == 0 then self:fail("'" .. tag .. "' outside a loop", line) end
    self:expect("block_end")
    return { k = tag, line = line }
  elseif tag == "generation" then  -- transformers' AssistantTracker tag: the text as is
    self:expect("block_end")
    local body = self:body({ endgeneration = true })
    self:end_tag("endgeneration")
    return { k = "group", body = body, line = line }
  elseif UNSUPPORTED_TAGS[tag] then
    self:fail("tag '" .. tag .. "' is not supported", line)
  end
  self:fail("unknown tag '" .. tostring(tag) .. "'", line)
end

--- Parses tokens into the template's statement list.
-- @tparam table toks from `lexer.tokenize`
-- @tparam table env `filters`, `tests` (name -> function), `NONE`, `max_depth`, `fail(line, msg)`
-- @treturn table the statements
function M.parse(toks, env)
  local p = setmetatable({ toks = toks, i = 1, depth = 0, loops = 0, filters = env.filters, tests = env.tests,
                           NONE = env.NONE, max_depth = env.max_depth, on_fail = env.fail }, Parser)
  local nodes = p:body(nil)
  return nodes
end

return M
