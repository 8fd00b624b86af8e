--- The `mobilellm` command line: `info`, `run`, `chat`, `agent`, `serve`, `convert`, `bench`, `eval`, `list`.
--
-- `bin/mobilellm` only finds the modules and calls `main`; each command is a module of
-- `mobilellm.cli` (`lua/mobilellm/cli/<command>.lua`), what they share is
-- `mobilellm.cli.common` and `mobilellm.cli.args`, so the specs can run every command
-- in-process with their own streams.
--
--     mobilellm info DIR
--     mobilellm run DIR "Once upon a time" --max-tokens 64
--     mobilellm chat DIR
--     mobilellm agent mobilellm-tiny-api     (a model named, found by `mobilellm list`)
--
-- Conventions: `--help` on every command; results on standard output; progress
-- (a bar while loading, for long prompts and for eval, a status line while
-- convert writes) on standard error, only when standard output and standard error are both
-- terminals (`MOBILELLM_PROGRESS=0` or `1` overrides); an error is one line
-- on standard error, `mobilellm: ...`, and a non-zero exit status (2 for a
-- command line that is wrong, 1 for anything else).
-- @module mobilellm.cli
local mllm = require("mobilellm")
local common = require("mobilellm.cli.common")
local args = require("mobilellm.cli.args")
local agent_cmd = require("mobilellm.cli.agent")

local M = {}

local PROG = common.PROG

--- The commands, in the order `mobilellm --help` lists them: each the module
-- `mobilellm.cli.<name>`, a table with its name, positional arguments, summary, options and
-- `run(ctx, opts, pos)` (see `mobilellm.cli.args`).
M.COMMANDS = {}
for i, name in ipairs({ "info", "run", "chat", "agent", "serve", "convert", "bench", "eval", "list" }) do
  M.COMMANDS[i] = require("mobilellm.cli." .. name)
end

--- The demo tools of `mobilellm agent` (`mobilellm.cli.agent.demo_handlers`).
M.demo_handlers = agent_cmd.demo_handlers

--- The feedback of `mobilellm agent` (`mobilellm.cli.agent.demo_feedback`).
M.demo_feedback = agent_cmd.demo_feedback

local function main_help()
  local lines = { string.format("usage: %s COMMAND [arguments] [options]", PROG), "",
                  "Run MobileLLM models on this machine (mobilellm " .. mllm.version .. ").", "", "commands:" }
  for _, c in ipairs(M.COMMANDS) do
    lines[#lines + 1] = string.format("  %-8s %s", c.name, c.brief)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "DIR is a model directory, or the name of a model that 'list' shows."
  lines[#lines + 1] = string.format("'%s COMMAND --help' shows a command's arguments and options.", PROG)
  return table.concat(lines, "\n") .. "\n"
end

local function is_tty(fd)
  return os.execute("test -t " .. fd) == true
end

-- The context of a run: streams and whether they are terminals.
local function make_ctx(env)
  env = env or {}
  local ctx = { out = env.out or io.stdout, err = env.err or io.stderr, inp = env.inp or io.stdin }
  local getenv = env.getenv or os.getenv
  ctx.getenv = getenv
  local force = getenv("MOBILELLM_PROGRESS")
  if env.tty ~= nil then ctx.tty = env.tty
  elseif force == "0" or force == "1" then ctx.tty = force == "1"
  else ctx.tty = (getenv("TERM") or "dumb") ~= "dumb" and is_tty(1) and is_tty(2) end
  if env.interactive ~= nil then ctx.interactive = env.interactive
  else ctx.interactive = is_tty(0) and is_tty(1) end
  local lang = (getenv("LC_ALL") or "") .. (getenv("LC_CTYPE") or "") .. (getenv("LANG") or "")
  ctx.utf8 = lang:upper():find("UTF%-?8") ~= nil
  return ctx
end

--- Runs the command line `argv` (an array of strings, without the program name).
-- @tparam {string,...} argv
-- @tparam[opt] table env `out`, `err`, `inp` (file-like streams; default the
--   standard ones), `tty` (draw progress; default: stdout and stderr are
--   terminals), `interactive` (chat prompts and banner; default: stdin and
--   stdout are terminals), `getenv`
-- @treturn integer the exit status: 0, 1 (a failure), 2 (a wrong command line), 130 (interrupted)
function M.main(argv, env)
  local ctx = make_ctx(env)
  local function run()
    local name = argv[1]
    if name == nil then
      ctx.err:write(main_help())
      return 2
    elseif name == "-h" or name == "--help" or name == "help" then
      local topic = argv[2]
      for _, c in ipairs(M.COMMANDS) do
        if c.name == topic then ctx.out:write(args.help_text(c)) return 0 end
      end
      ctx.out:write(main_help())
      return 0
    elseif name == "--version" or name == "version" then
      ctx.out:write(PROG, " ", mllm.version, "\n")
      return 0
    end
    for _, c in ipairs(M.COMMANDS) do
      if c.name == name then
        local opts, pos = args.parse(c, argv, 2)
        if opts.help then ctx.out:write(args.help_text(c)) return 0 end
        return c.run(ctx, opts, pos)
      end
    end
    common.usage_error(nil, "unknown command '" .. name .. "'")
  end
  local ok, res = xpcall(run, function(e)
    if type(e) == "table" and e.cli then return e end
    local msg = tostring(e)
    if msg:find("interrupted!", 1, true) then return { cli = true, msg = "interrupted", code = 130 } end
    local debug_on = (env and env.getenv or os.getenv)("MOBILELLM_DEBUG")
    if debug_on and debug_on ~= "" then msg = debug.traceback(msg, 2) end
    -- a misuse error from the engine names what is wrong; its Lua position does not help here
    return { cli = true, msg = (msg:gsub("^[^\n]-%.lua:%d+: ", "")), code = 1 }
  end)
  if ok then return res or 0 end
  pcall(ctx.out.flush, ctx.out)
  if res.code == 130 then
    ctx.err:write("\n")
    return 130
  end
  ctx.err:write(PROG, ": ", (res.msg:gsub("\n", " ")), "\n")
  return res.code
end

return M
