-- eval.lua — the paper's API-calling metrics, through our own engine.
--
--   lua5.4 tools/eval.lua [--model DIR] [--data FILE.jsonl] [--apis FILE] [--dtype T]
--                         [--threads N] [--limit N] [--constrain] [--copy [--no-pointer]] [--json] [--verbose]
--
-- --constrain restricts calls to the tools' grammar; --copy adds that string
-- values must be runs of whole words of the conversation's user messages
-- (chat.copy_source, as the agent's copy = true), and, when the model directory
-- has a copy_pointer.json, chooses each value's first word with the attention of
-- the heads it names too (--no-pointer: without).
--
-- Runs a model (default: the shipped one) over an evaluation file in the shared
-- format (default: the held-out test set) with the project's chat template and
-- greedy decoding, and prints EM_intent, EM_structure, ROUGE-1, ROUGE-L (F1 on
-- the reply outside the call) and the share of calls that parse. With --json the
-- last line is one JSON object of those numbers (percentages).
--
-- The work is done by lua/mobilellm/eval.lua (also `mobilellm eval`); this is
-- its command line.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath

local eval = require("mobilellm.eval")

local opts = {}
for k, v in pairs(eval.DEFAULTS) do opts[k] = v end
local json = false -- for the report, not an option of eval.run
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--json" then json = true
  elseif a == "--verbose" then opts.verbose = true
  elseif a == "--constrain" then opts.constrain = true
  elseif a == "--copy" then opts.constrain, opts.copy = true, true
  elseif a == "--no-pointer" then opts.pointer = false
  elseif a == "--help" or a == "-h" then
    print("usage: lua5.4 tools/eval.lua [--model DIR] [--data FILE.jsonl] [--apis FILE] [--dtype T] [--threads N]"
      .. " [--limit N] [--constrain] [--copy [--no-pointer]] [--json] [--verbose]")
    os.exit(0)
  elseif a:match("^%-%-") and arg[i + 1] then
    local k = a:sub(3)
    if opts[k] == nil and k ~= "dtype" then io.stderr:write("eval: unknown option " .. a .. "\n") os.exit(2) end
    opts[k] = arg[i + 1]
    i = i + 1
  else
    io.stderr:write("eval: unexpected argument " .. a .. "\n")
    os.exit(2)
  end
  i = i + 1
end
opts.threads = tonumber(opts.threads)
opts.limit = tonumber(opts.limit)

local result, err = eval.run(opts)
if not result then
  io.stderr:write("eval: " .. tostring(err) .. "\n")
  os.exit(1)
end
io.write(eval.report(result, json))
