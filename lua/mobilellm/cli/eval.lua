--- `mobilellm eval DIR`: the API-calling metrics of `mobilellm.eval` (those of
-- tools/eval.lua) on a JSON Lines file (by default DIR's held-out set), under a progress
-- bar on a terminal.
-- @module mobilellm.cli.eval
local mllm = require("mobilellm")
local common = require("mobilellm.cli.common")

local fail = common.fail
local usage_error = common.usage_error
local new_bar = common.new_bar
local concat_opts = common.concat_opts
local load_model = common.load_model
local need_tokenizer = common.need_tokenizer
local LOAD_OPTS = common.LOAD_OPTS

--- The decoding flags of `eval`, and of `run` on a tool-calling model (`mobilellm.eval`'s
-- `decoding`); without them, the best decoding the model directory ships for.
local DECODING_OPTS = {
  { "free", kind = "flag", help = "decode without any constraint" },
  { "constrain", kind = "flag", help = "calls held to the tools' grammar, values decoded freely" },
  { "copy", kind = "flag", help = "--constrain, and string values copied from the user's words, with DIR's "
    .. "copy pointer and copy rule (copy_pointer.json, copy_rule.json) when it ships them" },
  { "no-pointer", kind = "flag", help = "the copy decoding without DIR's copy pointer" },
  { "no-reply-rule", kind = "flag", help = "the copy decoding without DIR's reply rule" },
}

local M = {
  name = "eval", args = { "DIR" },
  brief = "API-calling metrics on a JSON Lines file (tools/eval.lua)",
  summary = "The API-calling metrics of tools/eval.lua (EM_intent, EM_structure, ROUGE-1, ROUGE-L, calls "
    .. "that parse) of the model in DIR, by default on its held-out set.",
  details = "Every default is DIR's, never the working directory's: the examples DIR/eval/test.jsonl, the "
    .. "tools DIR/apis.json, and the decoding: when DIR ships copy_pointer.json, the best one (what --copy "
    .. "does: calls constrained, values copied with the pointer and the copy rule), else free decoding. "
    .. "The first line of the table names the decoding used. tools/eval.lua --model DIR takes the same flags.",
  options = concat_opts({
    { "data", "FILE", kind = "str", help = "the examples (default DIR/eval/test.jsonl)" },
    { "apis", "FILE", kind = "str", help = "the tools (default DIR/apis.json)" },
    { "limit", "N", kind = "int", min = 1, help = "evaluate the first N examples" },
    { "draft", "K", kind = "int", min = 0, max = mllm.max_draft,
      help = "copy drafts of up to K tokens (default 0: off; the answers are the same, the report adds what was "
        .. "drafted and kept)" },
  }, DECODING_OPTS, {
    { "json", kind = "flag", help = "a last line with the numbers as JSON" },
    { "verbose", kind = "flag", help = "show the examples whose call is wrong (standard error)" },
  }, LOAD_OPTS),
}
M.DECODING_OPTS = DECODING_OPTS

--- The decoding the command line asks for (`mobilellm.eval`'s `decoding`); contradicting
-- flags are a wrong command line (exit status 2), a bad file of DIR an error.
-- @tparam string cmd the command's name, for the usage error
-- @tparam string dir the model directory
-- @tparam table opts the command's options
-- @return the decoding
function M.decoding(cmd, dir, opts)
  local decoding, err, contradiction = require("mobilellm.eval").decoding(dir, M.decoding_flags(opts))
  if contradiction then usage_error(cmd, err) end
  if not decoding then fail(err) end
  return decoding
end

--- The flags of `mobilellm.eval`'s `decoding` from the command's options.
function M.decoding_flags(opts)
  local flags = { free = opts.free, constrain = opts.constrain, copy = opts.copy }
  if opts.no_pointer then flags.pointer = false end  -- else nil: DIR's pointer
  if opts.no_reply_rule then flags.reply_rule = false end
  return flags
end

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
  M.decoding(M.name, dir, opts)  -- contradicting flags, or a bad file of DIR, fail before the model loads
  local data = opts.data or (dir .. "/" .. eval.DATA_FILE)
  local model = load_model(ctx, dir, opts)
  need_tokenizer(model, dir, "eval")
  local limit = opts.limit or math.huge
  local bar = ctx.tty and new_bar(ctx, "evaluating", count_lines(data, limit, eval.MAX_DATA_BYTES)) or nil
  local run_opts = {
    model = dir, loaded = model, data = opts.data, apis = opts.apis, limit = limit, draft_tokens = opts.draft,
    verbose = opts.verbose, log = function(text) if bar then bar:finish() end ctx.err:write(text) end,
    on_example = bar and function(n) bar:update(n) end or nil,
  }
  for k, v in pairs(M.decoding_flags(opts)) do run_opts[k] = v end
  local result, err = eval.run(run_opts)
  if bar then bar:finish() end
  if not result then fail(err) end
  ctx.out:write(eval.report(result, opts.json))
  return 0
end

return M
