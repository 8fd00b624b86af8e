--- `mobilellm run DIR PROMPT`: continues PROMPT ("-": standard input), streaming the
-- text on standard output, then the prompt and decode speed on standard error.
-- @module mobilellm.cli.run
local common = require("mobilellm.cli.common")

local fail = common.fail
local concat_opts = common.concat_opts
local load_model = common.load_model
local new_session = common.new_session
local need_tokenizer = common.need_tokenizer
local gen_options = common.gen_options
local start_stream = common.start_stream
local stats_line = common.stats_line
local LOAD_OPTS = common.LOAD_OPTS
local GEN_OPTS = common.GEN_OPTS

local M = {
  name = "run", args = { "DIR", "PROMPT" }, defaults = { max_tokens = 256 },
  brief = "continue a prompt, streaming the text; then the speed",
  summary = "Continue PROMPT (\"-\": read it from standard input), streaming the text; then the prompt and "
    .. "decode speed on standard error.",
  options = concat_opts(GEN_OPTS, LOAD_OPTS),
}

local function read_all(inp)
  local t = inp:read("a")
  return t or ""
end

--- Runs the command.
-- @tparam table ctx the run's context (`mobilellm.cli.common`)
-- @tparam table opts its options (`mobilellm.cli.args`)
-- @tparam {string,...} pos its positional arguments
-- @treturn integer the exit status
function M.run(ctx, opts, pos)
  local dir, prompt = common.model_dir(pos[1]), pos[2]
  if prompt == "-" then prompt = read_all(ctx.inp) end
  local gopts = gen_options(opts, { max_tokens = 256 })
  local model = load_model(ctx, dir, opts)
  need_tokenizer(model, dir, "run")
  local ids = model:tokenize(prompt, { bos = true })
  local s <close> = new_session(model, opts.n_ctx, nil, opts.kv_type)
  local st, err = start_stream(ctx, s, ids, gopts)
  if not st then fail(err) end
  local last = ""
  for piece in st.iter, st.e2, st.e3, st.closer do
    if #piece > 0 then
      ctx.out:write(piece)
      ctx.out:flush()
      last = piece
    end
  end
  if last:sub(-1) ~= "\n" then ctx.out:write("\n") end
  ctx.out:flush()
  ctx.err:write(stats_line(st, st.closer:info()), "\n")
  return 0
end

return M
