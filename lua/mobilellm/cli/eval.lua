--- `mobilellm eval DIR`: the API-calling metrics of `mobilellm.eval` (those of
-- tools/eval.lua) on a JSON Lines file, under a progress bar on a terminal.
-- @module mobilellm.cli.eval
local mllm = require("mobilellm")
local common = require("mobilellm.cli.common")

local fail = common.fail
local new_bar = common.new_bar
local concat_opts = common.concat_opts
local file_exists = common.file_exists
local load_model = common.load_model
local need_tokenizer = common.need_tokenizer
local LOAD_OPTS = common.LOAD_OPTS

local M = {
  name = "eval", args = { "DIR" },
  brief = "API-calling metrics on a JSON Lines file (tools/eval.lua)",
  summary = "The API-calling metrics of tools/eval.lua (EM_intent, EM_structure, ROUGE-1, ROUGE-L, calls "
    .. "that parse) of the model on a JSON Lines file.",
  options = concat_opts({
    { "data", "FILE", kind = "str", help = "the examples (default models/mobilellm-tiny-api/eval/test.jsonl)" },
    { "apis", "FILE", kind = "str", help = "the APIs (default DIR/apis.json or models/mobilellm-tiny-api/apis.json)" },
    { "limit", "N", kind = "int", min = 1, help = "evaluate the first N examples" },
    { "constrain", kind = "flag", help = "constrained decoding of calls" },
    { "copy", kind = "flag", help = "--constrain, and string arguments copied from the user's words "
      .. "(with DIR's copy pointer and copy rule, as tools/eval.lua --copy)" },
    { "no-pointer", kind = "flag", help = "with --copy: without DIR's copy pointer" },
    { "json", kind = "flag", help = "a last line with the numbers as JSON" },
    { "verbose", kind = "flag", help = "show the examples whose call is wrong (standard error)" },
  }, LOAD_OPTS),
}

-- The examples in an evaluation file, up to limit, for the progress bar: 0 when it cannot
-- be read (eval.run then says why).
local function count_lines(path, limit, max_bytes)
  local text = mllm.read_file(path, max_bytes)
  if not text then return 0 end
  local n = 0
  for line in text:gmatch("[^\n]+") do
    if line:match("%S") then n = n + 1 end
    if n >= limit then break end
  end
  return n
end

--- Runs the command.
-- @tparam table ctx the run's context (`mobilellm.cli.common`)
-- @tparam table opts its options (`mobilellm.cli.args`)
-- @tparam {string,...} pos its positional arguments
-- @treturn integer the exit status
function M.run(ctx, opts, pos)
  local eval = require("mobilellm.eval")
  local dir = common.model_dir(pos[1])
  local data = opts.data or eval.DEFAULTS.data
  local apis = opts.apis
  if not apis then
    local present, err = file_exists(dir .. "/apis.json")
    if present == nil then fail(err) end
    apis = present and dir .. "/apis.json" or eval.DEFAULTS.apis
  end
  local model = load_model(ctx, dir, opts)
  need_tokenizer(model, dir, "eval")
  local limit = opts.limit or math.huge
  local bar = ctx.tty and new_bar(ctx, "evaluating", count_lines(data, limit, eval.MAX_DATA_BYTES)) or nil
  local no_pointer = nil  -- false: eval.run leaves out DIR's copy pointer
  if opts.no_pointer then no_pointer = false end
  local result, err = eval.run({
    model = dir, loaded = model, data = data, apis = apis, limit = limit,
    constrain = (opts.constrain or opts.copy) or nil, copy = opts.copy or nil,
    pointer = no_pointer,
    verbose = opts.verbose, log = function(text) if bar then bar:finish() end ctx.err:write(text) end,
    on_example = bar and function(n) bar:update(n) end or nil,
  })
  if bar then bar:finish() end
  if not result then fail(err) end
  ctx.out:write(eval.report(result, opts.json))
  return 0
end

return M
