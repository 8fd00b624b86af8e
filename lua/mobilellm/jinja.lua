--- A Jinja interpreter for the subset that chat templates use, rendering as Hugging Face
-- does (jinja2's sandboxed environment with `trim_blocks` and `lstrip_blocks`, its
-- `tojson`, `raise_exception` and `strftime_now`).
--
--     local jinja = require("mobilellm.jinja")
--     local t = assert(jinja.compile("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"))
--     print(t:render({ messages = { { role = "user", content = "hi" } } }))
--
-- The subset and the limits are in docs/formats-and-limits.md. Anything outside it fails
-- with a message naming the construct and the template's line. Pure Lua: no C module.
-- @module mobilellm.jinja
local lexer = require("mobilellm.jinja.lexer")
local parser = require("mobilellm.jinja.parser")
local render = require("mobilellm.jinja.render")
local builtins = require("mobilellm.jinja.builtins")
local values = require("mobilellm.jinja.values")

local M = {}

--- Most steps one rendering may take: loop iterations (a loop's filter included), macro
-- calls, and items that filters and `range` go through.
M.MAX_STEPS = 200000

--- Deepest nesting: of blocks and expressions in the source, of macro calls while
-- rendering, and of the variables handed to `render`.
M.MAX_DEPTH = 64

--- Largest text one rendering may produce, and the largest string it may build, in bytes.
M.MAX_OUTPUT_BYTES = 16 << 20

--- Largest template source, in bytes.
M.MAX_SOURCE_BYTES = 1 << 20

--- Python's None, as a value to pass in `vars` (nil in a Lua array would end it).
M.none = values.NONE

local Template = {}
Template.__index = Template

local function raise_at(name, line, message)
  error(string.format("%s line %d: %s", name, line, message), 0)
end

--- Compiles a template.
-- @tparam string source the template's text
-- @tparam[opt="template"] string name how messages name it ("chat template")
-- @treturn table a template (`:render(vars)`), or nil and a message naming the construct
--   outside the subset (or the syntax error) and its line
function M.compile(source, name)
  if type(source) ~= "string" then
    error("bad argument #1 to 'compile' (string expected, got " .. type(source) .. ")", 2)
  end
  if name ~= nil and type(name) ~= "string" then
    error("bad argument #2 to 'compile' (string expected, got " .. type(name) .. ")", 2)
  end
  name = name or "template"
  if #source > M.MAX_SOURCE_BYTES then
    return nil, string.format("%s: the source is %d bytes, over MAX_SOURCE_BYTES (%d)", name, #source,
      M.MAX_SOURCE_BYTES)
  end
  local function fail(line, msg) raise_at(name, line, msg) end
  local ok, nodes = pcall(function()
    local toks = lexer.tokenize(source, fail)
    return parser.parse(toks, { filters = builtins.filters, tests = builtins.tests, NONE = values.NONE,
                                max_depth = M.MAX_DEPTH, fail = fail })
  end)
  if not ok then return nil, tostring(nodes) end
  return setmetatable({ nodes = nodes, name = name }, Template)
end

--- Renders the template.
-- @tparam table vars name -> value: strings, numbers, booleans, arrays (lists), other tables
--   (dicts), `jinja.none` (or the `null` option) for None
-- @tparam[opt] table opts `keys_of` (`t -> {key,...}` or nil: the order of a dict's keys,
--   as `mobilellm.json_keys` gives it; default sorted), `null` (a sentinel that stands for
--   None), and lower bounds than the module's: `max_steps`, `max_depth`, `max_output`
-- @treturn string the text
-- @raise "NAME line N: message" for an error while rendering (an undefined value misused,
--   a limit hit...); the bare message of `raise_exception(message)`
function Template:render(vars, opts)
  if type(vars) ~= "table" then
    error("bad argument #1 to 'render' (table expected, got " .. type(vars) .. ")", 2)
  end
  opts = opts or {}
  local limits = {
    max_steps = math.min(opts.max_steps or M.MAX_STEPS, M.MAX_STEPS),
    max_depth = math.min(opts.max_depth or M.MAX_DEPTH, M.MAX_DEPTH),
    max_output = math.min(opts.max_output or M.MAX_OUTPUT_BYTES, M.MAX_OUTPUT_BYTES),
  }
  local ok, res = pcall(function()
    local converted = {}
    for k, v in pairs(vars) do
      if type(k) == "string" then converted[k] = values.from_lua(v, opts.keys_of, opts.null, limits.max_depth) end
    end
    return render.render(self.nodes, converted, limits)
  end)
  if ok then return res end
  if type(res) == "table" and res.raise then error(res.raise, 0) end
  if type(res) == "table" then raise_at(self.name, res.line or 1, tostring(res.message)) end
  error(res, 0)
end

return M
