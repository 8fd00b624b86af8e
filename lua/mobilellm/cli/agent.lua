--- `mobilellm agent DIR`: the assistant with tools, on `mobilellm.agent`. Each call the
-- model writes is shown (`[call] ...`), run by a demo function that pretends to act, and
-- its outcome shown (`[result] ...` or `[error] ...`); text results are fed back to the model.
-- @module mobilellm.cli.agent
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")
local common = require("mobilellm.cli.common")

local fail = common.fail
local concat_opts = common.concat_opts
local load_model = common.load_model
local need_tokenizer = common.need_tokenizer
local gen_options = common.gen_options
local find_apis = common.find_apis
local turn_error = common.turn_error
local converse = common.converse
local PROG = common.PROG
local LOAD_OPTS = common.LOAD_OPTS
local GEN_OPTS = common.GEN_OPTS

local M = {
  name = "agent", args = { "DIR" }, defaults = { max_tokens = 128 },
  brief = "the assistant with tools: shows each call and its result",
  summary = "The assistant with tools: each call the model writes is shown, run (demo functions that "
    .. "pretend to act) and its result shown.",
  details = "Tools come from --apis FILE, else DIR/apis.json. /reset, /quit as in chat.",
  options = concat_opts(
    { { "apis", "FILE", kind = "str", help = "the tools (apis.json format)" },
      { "free", kind = "flag", help = "free decoding: no constraint (the default, for a model that ships a copy "
        .. "pointer, is its best: constrained calls, values copied from the user's words, its pointer and its "
        .. "copy and reply rules)" },
      { "constrain", kind = "flag", help = "constrained calls only (no copy rule)" },
      { "copy", kind = "flag", help = "constrained calls with values copied from the user's words (with DIR's "
        .. "pointer, copy rule and reply rule when it ships them)" },
      { "no-pointer", kind = "flag", help = "without DIR's copy pointer" } },
    GEN_OPTS, LOAD_OPTS),
}

local function render_args(args)
  local ok, json = pcall(mllm.json_encode, args)
  return ok and json or tostring(args)
end

--- The demo tools of `mobilellm agent`: each API of the tool list gets a Lua
-- function that pretends to act. Information tools return text (fed back to
-- the model as the beginning of its reply); actions return a table (shown,
-- not fed back: the model writes its own confirmation).
-- @tparam table apis the APIs (apis.json format)
-- @treturn table name → function(args)
function M.demo_handlers(apis)
  local special = {
    get_weather = function(args)
      return string.format("21 °C and sunny in %s.", args.city or args.location or "your area")
    end,
    search_web = function(args)
      return "Top result for \"" .. tostring(args.query or "") .. "\": example.org."
    end,
  }
  local handlers = {}
  for _, a in ipairs(apis) do
    handlers[a.name] = special[a.name] or function(args)
      return { status = "done", tool = a.name, args = args }
    end
  end
  return handlers
end

-- How the agent shows a call (on a line of its own) and its outcome.
local function show_call(ctx, apis, call, midline)
  local ok, text = pcall(chat.render_call, { name = call.name, args = call.args }, apis)
  ctx.out:write(midline and "\n" or "", "[call] ", ok and text or tostring(call.raw or call.name), "\n")
end

local function show_result(ctx, rec)
  if rec.ok then
    local r = rec.result
    ctx.out:write("[result] ", r == nil and "ok" or type(r) == "table" and render_args(r) or tostring(r), "\n")
  else
    ctx.out:write("[error] ", tostring(rec.error), "\n")
  end
end

--- The feedback of the `agent` command: text results go back to the model, tables do not
-- (as `mobilellm.agent`'s `feedback` option).
function M.demo_feedback(call)
  if not call.ok then return "Error: " .. tostring(call.error) end
  if type(call.result) == "string" then return call.result end
  return nil
end

--- Runs the command.
-- @tparam table ctx the run's context (`mobilellm.cli.common`)
-- @tparam table opts its options (`mobilellm.cli.args`)
-- @tparam {string,...} pos its positional arguments
-- @treturn integer the exit status
function M.run(ctx, opts, pos)
  local dir = common.model_dir(pos[1])
  local gopts = gen_options(opts, { max_tokens = 128, stop = { "\n" } })
  local apis, apis_path = find_apis(opts, dir)
  if not apis then fail("no tool list: pass --apis FILE (the apis.json format), or put apis.json in " .. dir) end
  local model = load_model(ctx, dir, opts)
  need_tokenizer(model, dir, "agent")
  local banner = string.format("%s agent: %s\ntools (%s): %s", PROG, tostring(model), apis_path,
    chat.tools_line(apis):gsub("^Tools: ", ""):gsub("\n$", ""))
  -- mobilellm.agent runs the tools and feeds text results back; the decoding is the model
  -- directory's best unless the flags say otherwise
  local agent = require("mobilellm.agent")
  local modes = (opts.free and 1 or 0) + (opts.constrain and 1 or 0) + (opts.copy and 1 or 0)
  if modes > 1 then fail("--free, --constrain and --copy choose one decoding: give one of them") end
  local decoding = { free = opts.free or nil }
  if opts.constrain then decoding.constrain, decoding.copy = true, false end
  if opts.copy then decoding.constrain, decoding.copy = true, true end
  if opts.no_pointer then decoding.pointer = false end
  local files, ferr = chat.load_model_files(dir)
  if not files then fail(ferr) end
  if opts.copy and not opts.no_pointer then decoding.pointer = files.pointer end
  if opts.copy then decoding.copy_rule, decoding.reply_rule = files.copy_rule, files.reply_rule end
  local aopts = {
    tools = apis, handlers = M.demo_handlers(apis),
    max_tokens = gopts.max_tokens, temperature = gopts.temperature, top_k = gopts.top_k, top_p = gopts.top_p,
    min_p = gopts.min_p, repeat_penalty = gopts.repeat_penalty, seed = gopts.seed, stop = gopts.stop,
    n_ctx = opts.n_ctx, kv_type = opts.kv_type, feedback = M.demo_feedback,
  }
  for k, v in pairs(decoding) do aopts[k] = v end
  local a = agent.new(model, aopts)
  local d = a.decoding
  banner = banner .. "\ndecoding: " .. (not d.constrain and "free"
    or d.copy and ("constrained, values copied from your words" .. (d.pointer and ", copy pointer" or "")
      .. (d.reply_rule and ", reply rule" or ""))
    or "constrained")
  local conv = { c = a:conversation() }
  function conv.reset(self)
    self.c:close()
    self.c = a:conversation()
  end
  function conv.close(self)
    self.c:close()
    a:close()
  end
  local started = false  -- the first text of an answer, or after a result, loses its leading space
  local stop                -- the Ctrl-C of the answer under way
  local hooks = {
    on_text = function(text)
      if not started then text = text:gsub("^%s+", "") end
      if #text > 0 then
        started = true
        ctx.out:write(text)
        ctx.out:flush()
      end
    end,
    on_call = function(call) show_call(ctx, apis, call, started) end,
    on_result = function(rec) show_result(ctx, rec); started = false end,
    on_token = function()
      stop:watch(nil)  -- decoding: Ctrl-C is seen here, between tokens
      if stop:fired() then return false end
    end,
    -- a prefill (the tool list's, a turn's) is cancelled by Ctrl-C within one layer
    on_session = function(s) stop:watch(s) end,
  }
  return converse(ctx, conv, banner, function(line, turn_stop)
    started, stop = false, turn_stop
    local ok, r, err = pcall(conv.c.send, conv.c, line, hooks)
    if not ok then
      if stop:fired() then ctx.out:write("\n") return end
      error(r, 0)
    end
    if not r then
      if stop:fired() then return end  -- stopped in the prefill: the message is not kept
      return turn_error(ctx, err)
    end
    ctx.out:write("\n")
    if r.error then ctx.err:write(PROG .. ": " .. tostring(r.error) .. " (/reset starts over)\n") end  -- after a call
  end)
end

return M
