--- The one check of Lua option tables (the Lua side's twin of the binding's
-- option reader, src/lua/opts.c): a key the call does not take raises, naming
-- it and the name it most likely meant (else the keys it takes), so a misspelled
-- option is never silently ignored.
-- @module mobilellm.options
local M = {}

-- The edit distance from a to b: insertions, deletions, substitutions and swaps of two
-- neighbours count one each, and letters compare without case (optimal string alignment;
-- the twin of opts.c's).
local function edit_distance(a, b)
  a, b = a:lower(), b:lower()
  local d = { [0] = {} }
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    d[i] = { [0] = i }
    for j = 1, #b do
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a:byte(i) == b:byte(j) and 0 or 1))
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[#a][#b]
end

--- The name in `known` that `key` most likely meant, or nil: the nearest by edit distance
-- (letters without case, a swap of neighbours counting one; the first in `known` on a tie),
-- when that is at most 2 and at most a third of the key's length.
-- @tparam string key
-- @tparam {string,...} known
-- @treturn string|nil
function M.nearest(key, known)
  local best, best_d = nil, 3
  for _, name in ipairs(known) do
    if math.abs(#name - #key) <= 2 then -- else farther than 2
      local d = edit_distance(key, name)
      if d < best_d and 3 * d <= #key then best, best_d = name, d end
    end
  end
  return best
end

--- Raises when `opts` (nil or a table) holds a key not in `known` (an array of
-- names), naming the key and the name it most likely meant (`M.nearest`), else the
-- names it takes. `what` names the call in the message ("agent.new"); `level` is the
-- error level (default: the caller of the function that checks).
-- @tparam table|nil opts
-- @tparam {string,...} known
-- @tparam string what
-- @tparam[opt=3] integer level
-- @treturn table opts, or an empty table for nil
function M.check(opts, known, what, level)
  level = level or 3
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("%s: options must be a table, got %s"):format(what, type(opts)), level)
  end
  local set = {}
  for _, k in ipairs(known) do set[k] = true end
  for k in next, opts do  -- raw keys: a proxy's are read through __index
    if not set[k] then
      local meant = type(k) == "string" and M.nearest(k, known)
      if meant then
        error(("%s: unknown option '%s' (did you mean '%s'?)"):format(what, k, meant), level)
      end
      local sorted = {}
      for i, n in ipairs(known) do sorted[i] = n end
      table.sort(sorted)
      local name = type(k) == "string" and ("'" .. k .. "'") or ("key of type " .. type(k))
      error(("%s: unknown option %s (known: %s)"):format(what, name, table.concat(sorted, ", ")), level)
    end
  end
  return opts
end

return M
