-- demo.lua — the shipped model as a phone assistant: each request becomes a
-- real API call, parsed into a Lua table by the C call parser.
--
--   lua5.4 examples/demo.lua [MODEL_DIR]      (make demo runs it)
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath

local mllm = require("mobilellm")
local chat = require("mobilellm.chat")

local SHIPPED = "models/mobilellm-tiny-api"
local dir = arg[1] or SHIPPED

local model, load_err = mllm.load(dir)
if not model then
  io.stderr:write("demo: " .. load_err .. "\n")
  os.exit(1)
end
-- The model directory ships what its best decoding needs: its tools (apis.json), the copy
-- pointer, the copy rule's titles and the reply rule (chat.load_model_files).
local files = assert(chat.load_model_files(dir))
local apis = assert(files.apis, dir .. " ships no apis.json")
print(tostring(model))
print()

-- Renders a Lua value as Lua source, keys sorted, so the table is shown as the program sees it.
local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. " = " .. show(v[k]) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

-- Constrained decoding: inside a call the model can only write a call to a tool
-- that exists, with valid argument names and types, and (set_source) string
-- values copied from the request, as the task wants them; one call per answer at most.
-- Outside the call, the reply rule: every word of the reply is a word of the model's
-- training replies or of the request, so a reply never garbles the values it repeats.
local constraint = mllm.constraint(apis, model, { max_string = 96, max_calls = 1 })
if files.reply_rule then constraint:set_reply_words(files.reply_rule.words, files.reply_rule.gaps, files.reply_rule.repeatable) end
-- The copy pointer the model ships (copy_pointer.json): attention heads that look at the word
-- a value starts with, read from the session's attention probe while it generates.
local pointer = files.pointer
-- The copy rule's titles (copy_rule.json): "Dr." stays inside a copied name.
local rule = files.copy_rule
-- Validation: a value out of its range reaches it whole and is reported, never changed.
local tools = require("mobilellm.tools")
local registry = assert(tools.from_apis(apis))
local tok = model:tokenizer()
local piece = function(id) return tok:piece(id) end

local requests = {
  "wake me up at 6:45 am tomorrow please",
  "send a whatsapp to Priya saying I'm on my way",
  "what's the weather like in Porto on saturday?",
  "turn the volume up to 70",
  "turn the volume to 150",
  "thanks, that's all!",
}

for _, request in ipairs(requests) do
  local messages = { { role = "user", content = request } }
  local ids = tok:encode(chat.prompt_text(messages, apis), { bos = true })
  local session <close> = model:session()
  chat.set_copy_rule({ constraint }, session, messages, ids, piece, apis, pointer, rule)
  local answer, info = session:generate(ids, { max_tokens = 96, temperature = 0, constraint = constraint })
  local call, _, err = chat.parse_answer(answer)
  print("User:      " .. request)
  print("Assistant: " .. answer)
  local valid, why = nil, nil
  if call then valid, why = registry:validate(call) end
  if call and not valid then
    print("  call  -> refused by validation: " .. why)
  elseif call then
    print("  call  -> " .. show({ name = call.name, args = call.args }))
  elseif err then
    print("  (malformed call: " .. err .. ")")
  else
    print("  (no call)")
  end
  print(string.format("  [%d prompt tokens, %d generated, %.0f tok/s prefill, %.0f tok/s decode]",
    info.prompt_tokens, info.generated_tokens, info.prefill_tps, info.decode_tps))
  print()
end
