-- eval.lua — the paper's API-calling metrics, through our own engine.
--
--   lua5.4 tools/eval.lua [--model DIR] [--data FILE.jsonl] [--apis FILE] [--dtype T] [--threads N]
--                         [--tokenizer FILE] [--limit N] [--free | --constrain | --copy] [--no-pointer]
--                         [--json] [--verbose]
--
-- Runs a model (default: the shipped one, models/mobilellm-tiny-api) over an evaluation file in
-- the shared format (default: the model directory's held-out set, DIR/eval/test.jsonl, with its
-- tool list DIR/apis.json) with the project's chat template and greedy decoding, and prints
-- EM_intent, EM_structure, ROUGE-1, ROUGE-L (F1 on the reply outside the call) and the share of
-- calls that parse. With --json the last line is one JSON object of those numbers (percentages).
--
-- The decoding defaults to the best the model directory ships for: when it has a
-- copy_pointer.json, calls constrained to the tools' grammar, string values copied from the
-- user's words, each value's first word chosen with the copy pointer's attention too, and the
-- copy rule's titles (copy_rule.json) — what --copy asks for. --free decodes without any
-- constraint, --constrain holds calls to the grammar only, --no-pointer leaves out the pointer.
--
-- The work is done by lua/mobilellm/eval.lua; `mobilellm eval DIR` takes the same flags.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath

local mllm = require("mobilellm")
local eval = require("mobilellm.eval")

local USAGE = "usage: lua5.4 tools/eval.lua [--model DIR] [--data FILE.jsonl] [--apis FILE] [--dtype T]"
  .. " [--threads N] [--tokenizer FILE] [--limit N] [--draft K] [--free | --constrain | --copy] [--no-pointer]"
  .. " [--no-reply-rule]"
  .. " [--json] [--verbose]"

-- the flags that take a value, and those that do not (option name, value)
local VALUE_FLAGS = { model = true, data = true, apis = true, dtype = true, threads = true, tokenizer = true,
                      limit = true, draft = true }
local BARE_FLAGS = { json = { "json", true }, verbose = { "verbose", true }, free = { "free", true },
                     constrain = { "constrain", true }, copy = { "copy", true }, ["no-pointer"] = { "pointer", false },
                     ["no-reply-rule"] = { "reply_rule", false } }

local function usage_error(msg)
  io.stderr:write("eval: " .. msg .. "\n" .. USAGE .. "\n")
  os.exit(2)
end

local opts = { model = "models/mobilellm-tiny-api" }
local i = 1
while i <= #arg do
  local a = arg[i]
  local name = a:match("^%-%-(.+)$")
  if a == "--help" or a == "-h" then
    print(USAGE)
    os.exit(0)
  elseif name and BARE_FLAGS[name] then
    local key, value = table.unpack(BARE_FLAGS[name])
    opts[key] = value
  elseif name and VALUE_FLAGS[name] then
    if arg[i + 1] == nil then usage_error(a .. " needs a value") end
    opts[name] = arg[i + 1]
    i = i + 1
  elseif name then
    usage_error("unknown option " .. a)
  else
    usage_error("unexpected argument " .. a)
  end
  i = i + 1
end
for k, least in pairs({ threads = 0, limit = 1, draft = 0 }) do
  if opts[k] then
    local n = math.tointeger(tonumber(opts[k]))
    if not n or n < least then
      usage_error(("--%s expects an integer of at least %d, got '%s'"):format(k, least, opts[k]))
    end
    opts[k] = n
  end
end
if opts.draft and opts.draft > mllm.max_draft then
  usage_error(("--draft expects at most %d (MLLM_MAX_DRAFT), got %d"):format(mllm.max_draft, opts.draft))
end
opts.draft_tokens, opts.draft = opts.draft, nil  -- eval.run's name
local _, why, contradiction = eval.decoding(opts.model, opts)
if contradiction then usage_error(why) end

local json = opts.json  -- for the report, not an option of eval.run
opts.json = nil
local result, err = eval.run(opts)
if not result then
  io.stderr:write("eval: " .. tostring(err) .. "\n")
  os.exit(1)
end
io.write(eval.report(result, json))
