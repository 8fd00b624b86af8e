--- The one check of Lua option tables (the Lua side's twin of the binding's
-- option reader, src/lua/opts.c): a key the call does not take raises, naming
-- it and the keys it takes, so a misspelled option is never silently ignored.
-- @module mobilellm.options
local M = {}

--- Raises when `opts` (nil or a table) holds a key not in `known` (an array of
-- names). `what` names the call in the message ("agent.new"); `level` is the
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
