-- demo.lua — the shipped model as a phone assistant: each request becomes a real API call,
-- parsed into a Lua table by the C call parser, checked against the API's schema and run;
-- the model then writes its reply.
--
--   lua5.4 examples/demo.lua [MODEL_DIR]      (make demo runs it)
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath

local mllm = require("mobilellm")
local agent = require("mobilellm.agent")

local dir = arg[1] or "models/mobilellm-tiny-api"
local model, load_err = mllm.load(dir)
if not model then
  io.stderr:write("demo: " .. load_err .. "\n")
  os.exit(1)
end
print(tostring(model))

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

-- The phone: every API of the model directory's apis.json does its job here by recording the
-- call; the weather comes back as text, which the model's reply then starts with.
local done = {}
local handlers = setmetatable({
  get_weather = function(args)
    done[#done + 1] = { name = "get_weather", args = args }
    return "Sunny, 21 °C in " .. args.city .. "."
  end,
}, { __index = function(_, name) return function(args) done[#done + 1] = { name = name, args = args } end end })

-- The model directory ships what its best decoding needs, and the agent uses it by default
-- (a.decoding): inside a call only a valid call to a tool that exists, string values copied from
-- the request (with the copy pointer's attention heads and the copy rule's titles), and the
-- reply rule (every word of the reply a word of the model's replies or of the request, so a
-- reply never garbles the values it repeats). A value out of its range is never changed: it
-- reaches validation, which refuses the call, and the assistant says so.
local a = agent.new(model, {
  handlers = handlers, max_steps = 1, max_tokens = 96,
  on_result = function(call)
    if call.ok then
      print("  call  -> " .. show({ name = call.name, args = call.args }))
    else
      print("  call  -> refused: " .. call.error)
    end
  end,
})
local d = a.decoding
print("decoding: " .. (not d.constrain and "free" or table.concat({ "constrained calls",
  d.copy and "values copied from the request" or nil, d.pointer and "copy pointer" or nil,
  d.reply_rule and "reply rule" or nil }, ", ")))
print()

local requests = {
  "wake me at 7",
  "wake me up at 6:45 am tomorrow please",
  "send a whatsapp to Priya saying I'm on my way",
  "what's the weather like in Porto on saturday?",
  "turn the volume up to 70",
  "turn the volume to 150",
  "remind me to buy milk at 6 pm",
  "thanks, that's all!",
}

for _, request in ipairs(requests) do
  print("User:      " .. request)
  local r = assert(a:run(request))
  print("Assistant: " .. r.text)
  if #r.calls == 0 then print("  (no call)") end
  print(string.format("  [%d prompt tokens (%d reused from the tool list), %d generated, %.0f tok/s decode]",
    r.info.prompt_tokens + r.info.reused_tokens, r.info.reused_tokens, r.info.generated_tokens,
    r.info.generated_tokens / math.max(r.info.decode_seconds, 1e-9)))
  print()
end
print(string.format("The phone ran %d calls.", #done))
a:close()
