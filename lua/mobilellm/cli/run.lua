--- `mobilellm run DIR PROMPT`: continues PROMPT ("-": standard input), streaming the
-- text on standard output, then the prompt and decode speed on standard error. On a
-- tool-calling model (one whose directory ships a tool list, `apis.json`) PROMPT is a
-- request in the model's chat format instead, and the answer, call and reply, is printed.
-- With --chat, PROMPT is a user message in the checkpoint's own chat template.
-- @module mobilellm.cli.run
local chat = require("mobilellm.chat")
local chat_template = require("mobilellm.chat_template")
local common = require("mobilellm.cli.common")
local eval_cmd = require("mobilellm.cli.eval")

local fail = common.fail
local usage_error = common.usage_error
local concat_opts = common.concat_opts
local load_model = common.load_model
local new_session = common.new_session
local need_tokenizer = common.need_tokenizer
local gen_options = common.gen_options
local start_stream = common.start_stream
local stats_line = common.stats_line
local find_apis = common.find_apis
local LOAD_OPTS = common.LOAD_OPTS
local GEN_OPTS = common.GEN_OPTS

local M = {
  name = "run", args = { "DIR", "PROMPT" }, defaults = { max_tokens = 256 },
  brief = "continue a prompt (a tool-calling model: answer a request); then the speed",
  summary = "Continue PROMPT (\"-\": read it from standard input), streaming the text; then the prompt and "
    .. "decode speed on standard error.",
  details = "A model whose directory ships a tool list (DIR/apis.json, or --apis FILE) is a tool-calling "
    .. "model: PROMPT is then a user request in its chat format (mobilellm.chat, the tools' line first), "
    .. "and its answer, the call and the reply, is printed: run models/mobilellm-tiny-api \"wake me up at "
    .. "7 am\" prints <tool_call>set_alarm(time=\"7 am\")</tool_call> Alarm set for 7 am. The answer is "
    .. "decoded as eval decodes by default: the best DIR ships for (calls constrained, values copied from "
    .. "the request with the copy pointer and the copy rule when DIR has copy_pointer.json); --free, "
    .. "--constrain, --copy and --no-pointer choose another, as for eval. It ends with its line. --raw "
    .. "continues PROMPT as plain text instead, as for a model without tools. --chat makes PROMPT a user message "
    .. "in the checkpoint's own chat template (DIR/chat_template.jinja, or chat_template in "
    .. "DIR/tokenizer_config.json), after the system message of --system TEXT, with the tool list (--apis FILE, "
    .. "else DIR/apis.json) as its tools, and the answer ends at the model's end of sequence.",
  options = concat_opts({
    { "chat", kind = "flag", help = "PROMPT as a user message in DIR's chat template" },
    { "system", "TEXT", kind = "str", help = "the system message of --chat" },
    { "show-prompt", kind = "flag", help = "the whole prompt text on standard error first" },
    { "raw", kind = "flag", help = "plain continuation of PROMPT, even when DIR ships a tool list" },
    { "apis", "FILE", kind = "str", help = "the tool list (default DIR/apis.json)" },
  }, eval_cmd.DECODING_OPTS, GEN_OPTS, LOAD_OPTS),
}

local function read_all(inp)
  local t = inp:read("a")
  return t or ""
end

-- The decoding flags given on the command line, by name ("--free", ...).
local function decoding_flags_given(opts)
  local given = {}
  for _, o in ipairs(eval_cmd.DECODING_OPTS) do
    if opts[(o[1]:gsub("-", "_"))] then given[#given + 1] = "--" .. o[1] end
  end
  return given
end

--- Runs the command.
-- @tparam table ctx the run's context (`mobilellm.cli.common`)
-- @tparam table opts its options (`mobilellm.cli.args`)
-- @tparam {string,...} pos its positional arguments
-- @treturn integer the exit status
function M.run(ctx, opts, pos)
  local dir, prompt = common.model_dir(pos[1]), pos[2]
  local given = decoding_flags_given(opts)
  if opts.raw and (opts.apis or #given > 0) then
    usage_error(M.name, "--raw continues plain text: " .. (opts.apis and "--apis" or given[1]) .. " needs a request")
  end
  if opts.chat and (opts.raw or #given > 0) then
    usage_error(M.name, "--chat wraps PROMPT in DIR's chat template: " .. (opts.raw and "--raw" or given[1])
      .. " is for the answer to a request")
  end
  if opts.system and not opts.chat then usage_error(M.name, "--system needs --chat") end
  local template
  if opts.chat then
    local terr
    template, terr = chat_template.load(dir)
    if not template then fail(terr) end
  end
  local tools = opts.chat and find_apis(opts, dir) or nil  -- the template's tools (a tool-calling model's)
  local apis = not opts.raw and not opts.chat and find_apis(opts, dir) or nil
  if not apis and #given > 0 then
    fail(dir .. " ships no tool list (apis.json): " .. given[1] .. " needs one (--apis FILE names one)")
  end
  local decoding = apis and eval_cmd.decoding(M.name, dir, opts)
  if prompt == "-" then
    prompt = read_all(ctx.inp)
    if apis then prompt = prompt:gsub("%s+$", "") end  -- a request is one line
  end
  local gopts = gen_options(opts, { max_tokens = 256, stop = apis and { "\n" } or nil })
  local model = load_model(ctx, dir, opts)
  need_tokenizer(model, dir, "run")
  local s <close> = new_session(model, opts.n_ctx, nil, opts.kv_type)
  local ids
  if template then
    local messages = { { role = "user", content = prompt } }
    if opts.system then table.insert(messages, 1, { role = "system", content = opts.system }) end
    local ok, text = pcall(template.apply, template, messages, { add_generation_prompt = true, tools = tools })
    if not ok then fail(text) end
    if opts.show_prompt then ctx.err:write(text, "\n") end
    ids = template:encode(model, text)
  elseif apis then
    local messages = { { role = "user", content = prompt } }
    local text = chat.prompt_text(messages, apis)
    if opts.show_prompt then ctx.err:write(text, "\n") end
    ids = model:tokenize(text, { bos = true })
    local err
    gopts.constraint, err = decoding:start(model, apis, s, messages, ids)
    if err then fail(err) end
  else
    if opts.show_prompt then ctx.err:write(prompt, "\n") end
    ids = model:tokenize(prompt, { bos = true })
  end
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
