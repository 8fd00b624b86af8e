-- busted --helper for `make test-asan` (issue 34, item 1): runs the whole
-- suite with every option table and token-id array that reaches the C binding
-- replaced by a proxy. A proxy has no keys of its own: each read goes through
-- __index, runs a full collection and hands out a fresh copy of a long string
-- that nothing else holds, so any pointer C keeps to a value it did not anchor
-- is freed under it and ASan reports the use-after-free. Specs tagged
-- "raw_keys" assert that unknown keys are refused, which only a table's own
-- keys can show: that run excludes them.
local core = require("mobilellm.core")

local function fresh(v)
  if type(v) == "string" and #v > 40 then return (v .. "#"):sub(1, -2) end -- long strings are not interned
  return v
end

local function proxy_opts(t)
  return setmetatable({}, {
    __index = function(_, k)
      local v = t[k]
      -- only a collectable value can be freed under C: numbers, booleans and nil need no collection
      if v ~= nil and type(v) ~= "number" and type(v) ~= "boolean" then collectgarbage() end
      return fresh(v)
    end,
    __pairs = function() return next, t, nil end,
    __name = "proxy options",
  })
end

local function proxy_ids(t)
  local n = 0
  return setmetatable({}, {
    __len = function() return #t end,
    -- a full collection on the first reads only: long prompts would take minutes
    __index = function(_, k) n = n + 1; if n <= 8 then collectgarbage() end; return t[k] end,
    __pairs = function() return next, t, nil end,
    __name = "proxy ids",
  })
end

local function plain(v) return type(v) == "table" and getmetatable(v) == nil end

--- Wraps fn (named `name`) so that its arguments at the positions in `opts`
-- (option tables) and `ids` (id arrays) reach it as proxies. The wrapper calls
-- fn through a local of the same name, so an argument error still names it.
local function wrap(name, fn, opts, ids)
  local call = assert(load(("local %s = ...; return function(...) return %s(...) end"):format(name, name)))(fn)
  return function(...)
    local args = table.pack(...)
    for _, i in ipairs(opts or {}) do if plain(args[i]) then args[i] = proxy_opts(args[i]) end end
    for _, i in ipairs(ids or {}) do if plain(args[i]) then args[i] = proxy_ids(args[i]) end end
    return call(table.unpack(args, 1, args.n))
  end
end

local function wrap_methods(methods, spec)
  for name, where in pairs(spec) do
    local fn = assert(methods[name], name)
    methods[name] = wrap(name, fn, where.opts, where.ids)
  end
end

core.load = wrap("load", core.load, { 2 })
core.parse_calls = wrap("parse_calls", core.parse_calls, { 2 })
core.call_parser = wrap("call_parser", core.call_parser, { 1 })
core.constraint = wrap("constraint", core.constraint, { 3 })

local reg = debug.getregistry()
wrap_methods(reg["mobilellm.Model"].methods, {
  tokenize = { opts = { 3 } }, detokenize = { ids = { 2 } }, session = { opts = { 2 } },
  generate = { opts = { 3 }, ids = { 2 } }, stream = { opts = { 3 }, ids = { 2 } }, save = { opts = { 3 } },
  sampler = { opts = { 2 } },
})
wrap_methods(reg["mobilellm.Sampler"].__index, { sample = { ids = { 3 } } })
wrap_methods(reg["mobilellm.Session"].__index, {
  eval = { ids = { 2 } }, score = { ids = { 2 } },
  generate = { opts = { 3 }, ids = { 2 } }, stream = { opts = { 3 }, ids = { 2 } },
})
wrap_methods(reg["mobilellm.Tokenizer"].__index, {
  encode = { opts = { 3 } }, tokenize = { opts = { 3 } }, decode = { ids = { 2 } }, detokenize = { ids = { 2 } },
})
print("[proxy_args] option tables and id arrays reach the binding as proxies")
