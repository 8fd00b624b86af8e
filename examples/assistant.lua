-- assistant.lua — the shipped model as a phone assistant, through mobilellm.agent: each
-- request becomes a call to one of the phone's functions (the APIs the model directory ships in
-- apis.json), validated against its schema and run. The agent decodes as the model directory says
-- is best (constrained calls, values copied from the request, its copy pointer, copy rule and
-- reply rule), so every call is well formed and no reply garbles what it repeats.
--
--   lua5.4 examples/assistant.lua [MODEL_DIR] [--free]      (--free: no constrained decoding)
--
-- The phone below is a simulation: alarms, messages and events go into Lua tables, the weather
-- comes from a fixed table. Actions return nothing, so the model writes its own confirmation;
-- questions (weather, web search) return text, which becomes the start of the reply.
if not os.getenv("LUA_PATH") then package.path = "lua/?.lua;lua/?/init.lua;" .. package.path end
if not os.getenv("LUA_CPATH") then package.cpath = "build/?.so;" .. package.cpath end

local mllm = require("mobilellm")
local core = require("mobilellm.core")
local tools = require("mobilellm.tools")
local agent = require("mobilellm.agent")

local dir, free = "models/mobilellm-tiny-api", core.constraint == nil
for _, a in ipairs(arg or {}) do
  if a == "--free" then free = true else dir = a end
end
local trained = io.open(dir .. "/config.json") ~= nil
if not trained then
  dir = "spec/fixtures/models/bf16-vocab32k"
  print("(the shipped model is not in models/mobilellm-tiny-api yet: this runs the random-weight")
  print(" fixture with the real vocabulary, forcing a call per request, so the calls are valid but")
  print(" random and the replies are noise)")
end

-- ------------------------------------------------------------------ the phone
local phone = { alarms = {}, timers = {}, reminders = {}, outbox = {}, calls = {}, events = {}, log = {},
                volume = 30, settings = { wifi = true, bluetooth = false, flashlight = false,
                                          do_not_disturb = false, airplane_mode = false } }
local WEATHER = { lisbon = "19 °C, sunny", porto = "16 °C, light rain", paris = "12 °C, cloudy" }

local function push(list, v) list[#list + 1] = v end

local handlers = {
  set_alarm = function(a) push(phone.alarms, a) end,
  set_timer = function(a) push(phone.timers, a) end,
  create_reminder = function(a) push(phone.reminders, a) end,
  send_message = function(a) push(phone.outbox, a) end,
  call_contact = function(a) push(phone.calls, a) end,
  create_event = function(a) push(phone.events, a) end,
  play_music = function(a) phone.playing = a.query end,
  set_volume = function(a) phone.volume = a.level end,
  navigate = function(a) phone.route = a.destination .. " (" .. a.mode .. ")" end,
  toggle_setting = function(a) phone.settings[a.setting] = a.on end,
  get_weather = function(a)
    local w = WEATHER[a.city:lower()]
    if not w then error("no forecast for " .. a.city, 0) end
    return string.format("%s in %s %s.", w, a.city, a.day or "today")
  end,
  search_web = function(a) return "Top result for \"" .. a.query .. "\": example.org." end,
}

-- ------------------------------------------------------------------ the agent
local model = assert(mllm.load(dir))
local reg = assert(tools.from_apis("models/mobilellm-tiny-api/apis.json", handlers))
local a = agent.new(model, {
  tools = reg,
  free = free or nil,  -- otherwise the model directory's best decoding
  constrain = (not free and not trained) or nil,  -- the fixture ships no decoding of its own
  call = (not free and not trained) and "required" or nil,
  max_steps = 1,
  max_tokens = trained and 64 or 96,
  max_string = not trained and 16 or nil, -- random weights ramble inside strings
  on_call = function(c) io.write("  [call]   ", c.raw, "\n") end,
  on_result = function(c)
    local shown = c.ok and (c.result == nil and "done" or tostring(c.result)) or tostring(c.error)
    io.write("  [", c.ok and "result" or "error", "]  ", shown, "\n")
  end,
})
print(tostring(model))
local d = a.decoding
print("decoding: " .. (not d.constrain and "free" or d.copy and "constrained, values copied from the request"
  .. (d.pointer and ", copy pointer" or "") .. (d.reply_rule and ", reply rule" or "") or "constrained"))

local requests = {
  "wake me up at 6:45 am tomorrow please",
  "send a whatsapp to Priya saying I'm on my way",
  "what's the weather like in Porto on saturday?",
  "turn the volume up to 70",
  "turn on do not disturb",
  "remind me to buy milk at 6 pm",
  "thanks, that's all!",
}

local t_all = os.clock()
for _, request in ipairs(requests) do
  print()
  print("User:      " .. request)
  local t0 = os.clock()
  local r = assert(a:run(request))
  local dt = os.clock() - t0
  print("Assistant: " .. r.reply)
  print(string.format("  (%d tokens of prompt reused from the tool list, %d prefilled, %d generated; %.0f ms)",
    r.info.reused_tokens, r.info.prompt_tokens, r.info.generated_tokens, dt * 1e3))
end
t_all = os.clock() - t_all

print()
print(string.format("The tool list (%d tokens) was evaluated once, in %.0f ms; every request started from a fork",
  a.stats.base_tokens, a.stats.base_seconds * 1e3))
print(string.format("of it instead of prefilling it again. %d requests in %.2f s.", #requests, t_all))
if a.constraint then
  local st = a.constraint:stats()
  local st1 = a.first_constraint and a.first_constraint:stats() or { seconds = 0, masks = 0, free = 0 }
  local n = st.masks + st.free + st1.masks + st1.free
  print(string.format("Constrained decoding: %d tokens checked, %.1f us per token on average.", n,
    n > 0 and (st.seconds + st1.seconds) / n * 1e6 or 0))
end

print()
print("The phone now:")
for _, al in ipairs(phone.alarms) do print("  alarm    " .. al.time .. (al.day and (" " .. al.day) or "")) end
for _, m in ipairs(phone.outbox) do print("  message  to " .. m.recipient .. " via " .. m.app .. ": " .. m.text) end
for _, r in ipairs(phone.reminders) do print("  reminder " .. r.text .. " at " .. r.time) end
print("  volume   " .. phone.volume)
print("  do not disturb " .. tostring(phone.settings.do_not_disturb))
a:close()
