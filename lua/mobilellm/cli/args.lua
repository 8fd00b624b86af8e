--- The command lines of `mobilellm`: a command's arguments and options, and its help.
--
-- A command is a table (see `mobilellm.cli`'s `COMMANDS`): `name`, `args` (the positional
-- arguments' names), `optional` (how many of the last ones may be left out), `options`,
-- `defaults` (shown for "%s" in an option's help), `summary`, `details`. An option is
-- `{ name, METAVAR, kind =, help = }`, its kind "int", "num" (with `min`, `max`), "str",
-- "flag", "list" (a repeatable string) or "choice" (with `values`); `required = true` makes
-- it compulsory. "--name value", "--name=value"; "--" ends the options.
-- @module mobilellm.cli.args
local common = require("mobilellm.cli.common")

local M = {}

local PROG, usage_error = common.PROG, common.usage_error

local function opt_key(name) return (name:gsub("-", "_")) end

local function find_opt(cmd, name)
  for _, o in ipairs(cmd.options) do
    if o[1] == name then return o end
  end
end

local function check_value(cmd, o, v)
  local flag = "--" .. o[1]
  if o.kind == "int" or o.kind == "num" then
    local n = tonumber(v)
    if o.kind == "int" then n = n and math.tointeger(n) end
    if not n then usage_error(cmd.name, string.format("%s expects %s, got '%s'", flag,
      o.kind == "int" and "an integer" or "a number", v)) end
    if (o.min and n < o.min) or (o.max and n > o.max) then
      usage_error(cmd.name, string.format("%s must be in [%s, %s], got %s", flag, tostring(o.min or "-inf"),
        tostring(o.max or "inf"), v))
    end
    return n
  elseif o.kind == "choice" then
    for _, c in ipairs(o.values) do
      if c == v then return v end
    end
    usage_error(cmd.name, string.format("%s must be one of %s, got '%s'", flag, table.concat(o.values, ", "), v))
  end
  return v
end

--- Reads argv[first..] for command `cmd`; a wrong command line raises (`common.usage_error`).
-- -h and --help set `help` and skip the checks of what is missing.
-- @tparam table cmd
-- @tparam {string,...} argv
-- @tparam integer first
-- @return the options (by name, "-" as "_": `max_tokens`), the positional arguments
function M.parse(cmd, argv, first)
  local opts, pos = {}, {}
  local i, only_pos = first, false
  while i <= #argv do
    local a = argv[i]
    if only_pos or a == "-" or a:sub(1, 1) ~= "-" then
      pos[#pos + 1] = a
    elseif a == "--" then
      only_pos = true
    elseif a == "-h" or a == "--help" then
      opts.help = true
    else
      local name, val = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:match("^%-%-(.+)$")
      local o = name and find_opt(cmd, name)
      if not o then usage_error(cmd.name, "unknown option " .. a) end
      local key = opt_key(o[1])
      if o.kind == "flag" then
        if val then usage_error(cmd.name, "--" .. o[1] .. " takes no value") end
        opts[key] = true
      else
        if not val then
          i = i + 1
          val = argv[i]
          if val == nil then usage_error(cmd.name, "--" .. o[1] .. " needs a value (" .. o[2] .. ")") end
        end
        val = check_value(cmd, o, val)
        if o.kind == "list" then
          opts[key] = opts[key] or {}
          table.insert(opts[key], val)
        else
          opts[key] = val
        end
      end
    end
    i = i + 1
  end
  if opts.help then return opts, pos end
  local want = cmd.args
  if #pos < #want - (cmd.optional or 0) then
    usage_error(cmd.name, "missing " .. want[#pos + 1])
  elseif #pos > #want then
    usage_error(cmd.name, "unexpected argument '" .. pos[#want + 1] .. "'")
  end
  for _, o in ipairs(cmd.options) do
    if o.required and opts[opt_key(o[1])] == nil then usage_error(cmd.name, "--" .. o[1] .. " is required") end
  end
  return opts, pos
end

-- Words of text in lines of at most width columns.
local function wrap(text, width)
  local lines, line = {}, ""
  for word in text:gmatch("%S+") do
    if line ~= "" and utf8.len(line) + 1 + utf8.len(word) > width then
      lines[#lines + 1] = line
      line = word
    else
      line = line == "" and word or (line .. " " .. word)
    end
  end
  if line ~= "" then lines[#lines + 1] = line end
  return table.concat(lines, "\n")
end

--- The text of `mobilellm CMD --help`.
-- @tparam table cmd
-- @treturn string
function M.help_text(cmd)
  local lines = { string.format("usage: %s %s %s%s", PROG, cmd.name, table.concat(cmd.args, " "),
    #cmd.options > 0 and " [options]" or ""), "", wrap(cmd.summary, 78) }
  if cmd.details then lines[#lines + 1] = ""; lines[#lines + 1] = wrap(cmd.details, 78) end
  if #cmd.options > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "options:"
    for _, o in ipairs(cmd.options) do
      local head = "  --" .. o[1] .. (o.kind == "flag" and "" or (" " .. o[2]))
      local help = o.help:gsub("%%s", tostring(cmd.defaults and cmd.defaults[opt_key(o[1])] or ""))
      lines[#lines + 1] = string.format("%-24s %s", head, help)
    end
  end
  lines[#lines + 1] = string.format("%-24s %s", "  -h, --help", "show this help")
  return table.concat(lines, "\n") .. "\n"
end

return M
