-- Agents: the tool registry, argument validation, and the loop (generate → parse → validate →
-- call → feed back → continue) with scripted fake models and with a real model.
local mllm = require("mobilellm")
local core = require("mobilellm.core")
local chat = require("mobilellm.chat")
local tools = require("mobilellm.tools")
local agent = require("mobilellm.agent")
local H = require("support.helpers")

local APIS = "models/mobilellm-tiny-api/apis.json"

-- ---------------------------------------------------------------- a scripted fake model
-- Token ids are bytes + 3 (0 <unk>, 1 <s>, 2 </s>). Each generation plays the next entry of
-- the script (a string, or a function of the whole context text returning one) one byte per
-- token, then EOS; like the real generator it honours max_tokens and stop strings and drops
-- the leading space of the first piece it hands out.
local function fake_model(script, opts)
  opts = opts or {}
  local model = { contexts = {}, prompts = {}, evals = 0, sessions = 0, forks = 0 }
  local function detok(ids)
    local t = {}
    for _, id in ipairs(ids) do if id > 2 then t[#t + 1] = string.char(id - 3) end end
    return table.concat(t)
  end
  model.detok = detok
  function model.tokenize(_, text, o)
    local ids = (o and o.bos) and { 1 } or {}
    for i = 1, #text do ids[#ids + 1] = text:byte(i) + 3 end
    return ids
  end
  function model.token_piece(_, id) return id > 2 and string.char(id - 3) or "" end
  local Session = {}
  Session.__index = Session
  Session.__close = function(s) s.closed = true end
  local function new_session(ids)
    model.sessions = model.sessions + 1
    return setmetatable({ ids = ids or {} }, Session)
  end
  function model.session() return new_session() end
  function Session:pos() return #self.ids end
  function Session:rewind(n) for i = #self.ids, n + 1, -1 do self.ids[i] = nil end end
  function Session:eval(ids)
    model.evals = model.evals + 1
    for _, id in ipairs(ids) do self.ids[#self.ids + 1] = id end
    return true
  end
  function Session:close() self.closed = true end
  if not opts.no_fork then
    function Session:fork()
      model.forks = model.forks + 1
      local copy = {}
      for i, id in ipairs(self.ids) do copy[i] = id end
      return new_session(copy)
    end
  end
  function Session:stream(prompt, o)
    assert(not self.closed, "stream on a closed session")
    for _, id in ipairs(prompt) do self.ids[#self.ids + 1] = id end
    model.prompts[#model.prompts + 1] = detok(prompt)
    local context = detok(self.ids)
    model.contexts[#model.contexts + 1] = context
    model.last_opts = o
    local entry = table.remove(script, 1) or ""
    if type(entry) == "function" then entry = entry(context) end
    local info = { prompt_tokens = #prompt, generated_tokens = 0, prefill_seconds = 0, decode_seconds = 0 }
    local stops = type(o.stop) == "table" and o.stop or { o.stop }
    local i, seen, done = 1, false, false
    local stream = setmetatable({}, { __index = { info = function() return info end }, __close = function() end })
    local function step()
      if done then return nil end
      if info.generated_tokens >= (o.max_tokens or 256) then done, info.stop = true, "length" return nil end
      for _, st in ipairs(stops) do
        if entry:sub(i, i + #st - 1) == st then done, info.stop = true, "stop" return nil end
      end
      info.generated_tokens = info.generated_tokens + 1
      if i > #entry then
        self.ids[#self.ids + 1] = 2
        done, info.stop = true, "eos"
        return "", 2
      end
      local c = entry:sub(i, i)
      i = i + 1
      self.ids[#self.ids + 1] = c:byte() + 3
      if not seen then
        seen = true
        if c == " " then return "", c:byte() + 3 end
      end
      return c, c:byte() + 3
    end
    return step, nil, nil, stream
  end
  return model
end

local function alarm_registry(log)
  local reg = tools.registry()
  reg:add {
    name = "set_alarm", description = "Set an alarm.",
    params = {
      { name = "time", type = "string", required = true },
      { name = "day", type = "string", default = "today" },
      { name = "loud", type = "boolean", default = false },
    },
    fn = function(args) log[#log + 1] = args end,
  }
  reg:add {
    name = "get_weather",
    params = { { name = "city", type = "string", required = true } },
    fn = function(args) return "21 C and sunny in " .. args.city .. "." end,
  }
  reg:add { name = "fail", params = {}, fn = function() error("the phone is locked", 0) end }
  reg:add {
    name = "set_volume",
    params = { { name = "level", type = "integer", required = true, min = 0, max = 100 } },
    fn = function(args) return { level = args.level } end,
  }
  return reg
end

-- ---------------------------------------------------------------- the registry

describe("tools registry", function()
  it("stores tools in order with normalized parameters", function()
    local reg = alarm_registry({})
    assert.are.same({ "set_alarm", "get_weather", "fail", "set_volume" }, reg:names())
    local t = reg:get("set_alarm")
    assert.are.equal("time", t.params[1].name)
    assert.is_true(t.params[1].required)
    assert.are.equal("today", t.params[2].default)
    assert.is_nil(reg:get("nope"))
  end)

  local bad_defs = {
    { "a bad name", { name = "1x" }, "is not an identifier" },
    { "a bad type", { name = "t", params = { { name = "p", type = "float" } } }, "tool 't', parameter \"p\": unknown type 'float'" },
    { "an enum without values", { name = "t", params = { { name = "p", type = "enum" } } }, "an enum needs 'values'" },
    { "an enum value with a quote", { name = "t", params = { { name = "p", type = "enum", values = { 'a"b' } } } }, "enum value 1" },
    { "a bad default", { name = "t", params = { { name = "n", type = "integer", default = "x" } } }, "the default must be an integer" },
    { "min > max", { name = "t", params = { { name = "n", type = "integer", min = 5, max = 1 } } }, "min 5 > max 1" },
    { "a duplicate parameter", { name = "t", params = { { name = "a" }, { name = "a" } } }, "duplicate parameter 'a'" },
    { "a bad parameter name", { name = "t", params = { { name = "a b" } } }, "not an identifier" },
    { "a non-function fn", { name = "t", fn = 3 }, "fn must be a function" },
  }
  for _, case in ipairs(bad_defs) do
    it("rejects " .. case[1], function()
      local reg = tools.registry()
      local ok, err = pcall(reg.add, reg, case[2])
      assert.is_false(ok)
      assert.truthy(err:find(case[3], 1, true), err)
    end)
  end

  it("rejects a duplicate tool", function()
    local reg = alarm_registry({})
    assert.error_matches(function() reg:add { name = "fail" } end, "duplicate tool 'fail'")
  end)

  local cases = {
    { "a valid call, defaults filled", { name = "set_alarm", args = { time = "7:30 am" } },
      { time = "7:30 am", day = "today", loud = false } },
    { "positional arguments fill parameters in order", { name = "set_alarm", args = {}, positional = { "6 am", "monday" } },
      { time = "6 am", day = "monday", loud = false } },
    { "null for an optional argument is its default", { name = "set_alarm", args = { time = "7", day = core.null } },
      { time = "7", day = "today", loud = false } },
    { "an integral float is an integer", { name = "set_volume", args = { level = 40.0 } }, { level = 40 } },
    { "an unknown tool", { name = "set_clock", args = {} }, "unknown tool 'set_clock' (tools: set_alarm, get_weather, fail, set_volume)" },
    { "a missing required argument", { name = "set_alarm", args = { day = "monday" } }, "set_alarm: missing required argument 'time'" },
    { "an unknown argument", { name = "set_alarm", args = { time = "7", hour = 7 } }, "set_alarm: unknown argument 'hour' (parameters: time, day, loud)" },
    { "a wrong type", { name = "set_alarm", args = { time = 7 } }, "set_alarm: argument 'time' must be a string, got 7" },
    { "a boolean", { name = "set_alarm", args = { time = "7", loud = "yes" } }, "set_alarm: argument 'loud' must be true or false, got \"yes\"" },
    { "a float for an integer", { name = "set_volume", args = { level = 2.5 } }, "set_volume: argument 'level' must be an integer, got 2.5" },
    { "over max", { name = "set_volume", args = { level = 101 } }, "set_volume: argument 'level' must be at most 100, got 101" },
    { "under min", { name = "set_volume", args = { level = -1 } }, "set_volume: argument 'level' must be at least 0, got -1" },
    { "null for a required argument", { name = "set_volume", args = { level = core.null } }, "set_volume: argument 'level' must be an integer, got null" },
    { "too many positional arguments", { name = "set_volume", args = {}, positional = { 1, 2 } }, "set_volume: 2 positional arguments for 1 parameters" },
    { "an argument given twice", { name = "set_volume", args = { level = 1 }, positional = { 2 } }, "set_volume: argument 'level' given twice" },
  }
  for _, case in ipairs(cases) do
    it("validates: " .. case[1], function()
      local reg = alarm_registry({})
      local args, err = reg:validate(case[2])
      if type(case[3]) == "table" then
        assert.are.same(case[3], args, err)
      else
        assert.is_nil(args)
        assert.are.equal(case[3], err)
      end
    end)
  end

  it("validates enums, arrays and objects", function()
    local reg = tools.registry {
      { name = "t", params = {
        { name = "mode", type = "enum", values = { "a", "b" } },
        { name = "tags", type = "array", items = { type = "string" } },
        { name = "pos", type = "object", properties = { x = { type = "number", required = true } } },
        { name = "free", type = "any" },
      } },
    }
    assert.are.same({ mode = "b", tags = { "x" }, pos = { x = 1.5, y = 2 }, free = { 1, "x" } },
      (reg:validate { name = "t", args = { mode = "b", tags = { "x" }, pos = { x = 1.5, y = 2 }, free = { 1, "x" } } }))
    local checks = {
      { { mode = "c" }, "argument 'mode' must be one of a, b, got \"c\"" },
      { { tags = { "x", 2 } }, "argument 'tags' item 2 must be a string, got 2" },
      { { tags = { a = 1 } }, "argument 'tags' must be an array, got an object" },
      { { pos = { y = 1 } }, "argument 'pos' needs the key 'x'" },
      { { pos = { x = "1" } }, "argument 'pos' key 'x' must be a number, got \"1\"" },
      { { pos = 3 }, "argument 'pos' must be an object, got 3" },
    }
    for _, c in ipairs(checks) do
      local args, err = reg:validate { name = "t", args = c[1] }
      assert.is_nil(args)
      assert.are.equal("t: " .. c[2], err)
    end
  end)

  it("runs a tool under pcall", function()
    local reg = alarm_registry({})
    assert.are.same({ true, "21 C and sunny in Porto." }, { reg:call { name = "get_weather", args = { city = "Porto" } } })
    assert.are.same({ false, "fail: the phone is locked" }, { reg:call { name = "fail", args = {} } })
    assert.are.same({ false, "set_volume: missing required argument 'level'" }, { reg:call { name = "set_volume", args = {} } })
    reg:add { name = "nofn" }
    assert.are.same({ false, "nofn: the tool has no function" }, { reg:call { name = "nofn", args = {} } })
  end)

  it("reads apis.json and gives back the same tool line, in parameter order", function()
    local reg = assert(tools.from_apis(APIS))
    local apis = assert(chat.load_apis(APIS))
    assert.are.equal(#apis, #reg.tools)
    assert.are.equal(chat.tools_line(apis), chat.tools_line(reg:apis()))
    assert.are.same({ "recipient", "text", "app" }, chat.param_names(reg:apis()[4]))
    local send = reg:get("send_message")
    assert.are.same({ "sms", "whatsapp", "email" }, send.by_name.app.values)
    assert.are.equal("sms", send.by_name.app.default)
    assert.are.same({ nil, "no.json: cannot open: No such file or directory" }, { tools.from_apis("no.json") })
  end)
end)

-- ---------------------------------------------------------------- the loop

describe("agent loop (scripted model)", function()
  local CALL = '<tool_call>set_alarm(time="7:30 am")</tool_call>'

  it("runs a call, lets the model reply, and calls the hooks in order", function()
    local log, events = {}, {}
    local model = fake_model { " " .. CALL .. " ignored", " Alarm set for 7:30 am." }
    local a = agent.new(model, {
      tools = alarm_registry(log),
      on_text = function(t) events[#events + 1] = "text:" .. t end,
      on_call = function(c) events[#events + 1] = "call:" .. c.name end,
      on_result = function(c) events[#events + 1] = "result:" .. tostring(c.ok) end,
    })
    local r = a:run("wake me up at 7:30")
    assert.are.same({ { time = "7:30 am", day = "today", loud = false } }, log)
    assert.are.equal("Alarm set for 7:30 am.", r.reply)
    assert.are.equal(CALL .. " Alarm set for 7:30 am.", r.text)
    assert.are.equal(1, r.steps)
    assert.are.equal("eos", r.stop)
    assert.is_true(r.calls[1].ok)
    assert.are.equal("set_alarm", r.calls[1].name)
    assert.are.same({ "call:set_alarm", "result:true" }, { events[1], events[2] })
    assert.are.equal(" Alarm set for 7:30 am.", table.concat(events, "", 3):gsub("text:", ""))
    -- the second stretch continued the turn right after the call
    assert.truthy(model.contexts[2]:find("Assistant: " .. CALL, 1, true))
  end)

  it("feeds a string result back as the start of the reply", function()
    local model = fake_model { ' <tool_call>get_weather(city="Porto")</tool_call>', " Enjoy!" }
    local a = agent.new(model, { tools = alarm_registry({}) })
    local r = a:run("weather in Porto?")
    assert.are.equal("21 C and sunny in Porto. Enjoy!", r.reply)
    assert.are.equal('<tool_call>get_weather(city="Porto")</tool_call> 21 C and sunny in Porto. Enjoy!', r.text)
    assert.truthy(model.contexts[2]:find('</tool_call> 21 C and sunny in Porto.$'))
    assert.are.equal("21 C and sunny in Porto.", r.calls[1].result)
  end)

  it("feeds a table result back as JSON, on one line", function()
    local model = fake_model { " <tool_call>set_volume(level=40)</tool_call>", "" }
    local a = agent.new(model, { tools = alarm_registry({}), feedback = function(c) return "ok\n" .. core.json_encode(c.result) end })
    local r = a:run("volume 40")
    assert.are.equal('ok {"level":40}', r.reply)
    assert.are.same({ level = 40 }, r.calls[1].result)
  end)

  local failures = {
    { "a tool error", '<tool_call>fail()</tool_call>', "fail: the phone is locked" },
    { "an unknown tool", '<tool_call>set_clock(time="7")</tool_call>', "unknown tool 'set_clock'" },
    { "invalid arguments", '<tool_call>set_volume(level=200)</tool_call>', "set_volume: argument 'level' must be at most 100, got 200" },
    { "a malformed call", '<tool_call>set_volume(level=)</tool_call>', "malformed call: " },
  }
  for _, case in ipairs(failures) do
    it("reports " .. case[1] .. " to the model and to the caller, and goes on", function()
      local model = fake_model { " " .. case[2], " Sorry." }
      local results = {}
      local a = agent.new(model, { tools = alarm_registry({}), on_result = function(c) results[#results + 1] = c end })
      local r = a:run("do it")
      assert.are.equal(1, #r.calls)
      assert.is_false(r.calls[1].ok)
      assert.truthy(r.calls[1].error:find(case[3], 1, true), r.calls[1].error)
      assert.are.equal(r.calls[1], results[1])
      assert.truthy(model.contexts[2]:find("</tool_call> Error: " .. case[3], 1, true), model.contexts[2])
      assert.truthy(r.reply:find("^Error: "))
      assert.truthy(r.reply:find("Sorry.$"))
      assert.are.equal("eos", r.stop)
    end)
  end

  it("stops calling at max_steps and lets the model finish its reply", function()
    local n = 0
    local reg = tools.registry { { name = "ping", fn = function() n = n + 1 end } }
    local script = {}
    for i = 1, 10 do script[i] = "<tool_call>ping()</tool_call>" end
    script[4] = " done <tool_call>ping()</tool_call>"
    local model = fake_model(script)
    local a = agent.new(model, { tools = reg, max_steps = 3 })
    local r = a:run("ping a lot")
    assert.are.equal(3, n)
    assert.are.equal(3, r.steps)
    assert.are.equal("steps", r.stop)
    assert.are.equal("done", r.reply)
    assert.are.same({ "\n", "<tool_call>" }, model.last_opts.stop)
  end)

  it("lets on_call refuse a call", function()
    local log = {}
    local model = fake_model { " " .. CALL, " OK." }
    local a = agent.new(model, { tools = alarm_registry(log), on_call = function() return false end })
    local r = a:run("alarm")
    assert.are.same({}, log)
    assert.are.equal("the call was refused", r.calls[1].error)
  end)

  it("stops when on_token returns false", function()
    local model = fake_model { "one two three four" }
    local n = 0
    local a = agent.new(model, { tools = alarm_registry({}) })
    local r = a:run("count", { on_token = function() n = n + 1 return n < 5 end })
    assert.are.equal("cancelled", r.stop)
    assert.are.equal("one t", r.reply)
  end)

  it("stops at the end of the line and at max_tokens", function()
    local a = agent.new(fake_model { "first line\nUser: more" }, { tools = alarm_registry({}) })
    local r = a:run("x")
    assert.are.same({ "first line", "stop" }, { r.reply, r.stop })
    a = agent.new(fake_model { "a long answer" }, { tools = alarm_registry({}), max_tokens = 6 })
    r = a:run("x")
    assert.are.same({ "a long", "length" }, { r.reply, r.stop })
  end)

  it("evaluates the tool list once and starts every request from a fork of it", function()
    local model = fake_model { "A.", "B.", "C." }
    local a = agent.new(model, { tools = alarm_registry({}) })
    for _ = 1, 3 do a:run("hello") end
    assert.are.equal(1, model.evals)
    assert.are.equal(3, model.forks)
    local base = a:base_text()
    assert.are.equal(base, model.detok(a.base_ids))
    assert.truthy(base:find("^Tools: set_alarm%(time,day%?,loud%?%) get_weather%(city%)"))
    -- each request prefilled only its own part
    assert.are.equal("User: hello\nAssistant:", model.prompts[1])
    assert.are.equal(3, a.stats.requests)
    assert.are.equal(3 * #a.base_ids, a.stats.reused_tokens)
  end)

  it("works without fork, recomputing the prompt", function()
    local model = fake_model({ "A.", "B." }, { no_fork = true })
    local a = agent.new(model, { tools = alarm_registry({}) })
    assert.are.equal("A.", a:run("hello").reply)
    assert.are.equal("B.", a:run("hello").reply)
    assert.truthy(model.prompts[2]:find("^Tools: "))
  end)

  it("keeps a conversation in one session and reuses its tokens", function()
    local model = fake_model { " " .. CALL, " Done.", " You're welcome." }
    local a = agent.new(model, { tools = alarm_registry({}) })
    local conv = a:conversation()
    local r1 = conv:send("wake me at 7:30")
    local r2 = conv:send("thanks")
    assert.are.equal("Done.", r1.reply)
    assert.are.equal("You're welcome.", r2.reply)
    assert.are.equal(4, #conv.messages)
    assert.are.equal(CALL .. " Done.", conv.messages[2].content)
    local expected = chat.prompt_text(conv.messages, a.apis)
    assert.truthy(expected:find("Assistant: " .. CALL .. " Done.\nUser: thanks\n", 1, true))
    -- the second turn prefilled only what changed: from the end of the first answer on
    assert.are.equal("\nUser: thanks\nAssistant:", model.prompts[3])
    assert.is_true(r2.info.reused_tokens > #a.base_ids)
    conv:close()
    assert.error_matches(function() conv:send("x") end, "closed conversation")
  end)

  it("prepares a conversation's session before its first message (a game's loading screen)", function()
    local model = fake_model { " Done.", " Again." }
    local a = agent.new(model, { tools = alarm_registry({}) })
    local conv = a:conversation()
    local seen = {}
    assert.are.equal(conv, conv:prepare({ on_session = function(s) seen[#seen + 1] = s end }))
    -- the tool list was evaluated, and the conversation has its fork of it
    assert.are.same({ 1, 1, 1 }, { model.evals, model.forks, #seen })
    assert.are.equal(#a.base_ids, conv.session:pos())
    assert.are.equal(conv, conv:prepare())  -- already prepared: nothing more
    assert.are.same({ 1, 1 }, { model.evals, model.forks })
    local r = conv:send("hello")
    assert.are.equal("Done.", r.reply)
    assert.are.equal(1, model.forks)  -- send used the prepared session
    assert.are.equal("User: hello\nAssistant:", model.prompts[#model.prompts])
    assert.error_matches(function() conv:prepare({ on_sesion = print }) end, "on_sesion")
    conv:close()
    assert.error_matches(function() conv:prepare() end, "closed conversation")
  end)
end)

-- ---------------------------------------------------------------- edge cases of the loop

describe("agent loop edge cases (scripted model)", function()
  -- an object whose __tostring raises `raised` (an error value), or returns it (not a string)
  local function raising(raised) return setmetatable({}, { __tostring = function() error(raised, 0) end }) end
  local function returning(v) return setmetatable({}, { __tostring = function() return v end }) end
  local no_json = function() end -- cjson cannot encode a function

  -- { description, what the tool does, the call's error (nil: the call succeeds), fed back }
  local cases = {
    { "an error object whose __tostring raises", function() error(raising("no text for you")) end,
      "tool 'odd' raised an error that cannot be shown: no text for you" },
    { "an error object whose __tostring raises a table", function() error(raising({})) end,
      "tool 'odd' raised an error that cannot be shown: (a table was raised)" },
    { "an error object whose __tostring returns a table", function() error(returning({})) end,
      "tool 'odd' raised an error that cannot be shown: '__tostring' must return a string" },
    { "a result cjson cannot encode whose __tostring raises",
      function() return setmetatable({ f = no_json }, getmetatable(raising("nope"))) end,
      "tool 'odd' returned a value that cannot be shown: nope" },
    { "a result cjson cannot encode whose __tostring returns a table",
      function() return setmetatable({ f = no_json }, getmetatable(returning({}))) end,
      "tool 'odd' returned a value that cannot be shown: '__tostring' must return a string" },
    { "a table cjson can encode, as JSON whatever its __tostring does",
      function() return setmetatable({ n = 1 }, getmetatable(raising("nope"))) end, nil, '{"n":1}' },
    { "a result cjson cannot encode, shown with its __tostring",
      function() return setmetatable({ f = no_json }, getmetatable(returning("a thing"))) end,
      nil, "a thing" },
  }
  for _, case in ipairs(cases) do
    it("reports " .. case[1] .. " and goes on", function()
      local model = fake_model { " <tool_call>odd()</tool_call>", " Sorry." }
      local reg = tools.registry { { name = "odd", fn = case[2] } }
      local a = agent.new(model, { tools = reg })
      local r = a:run("do it")
      assert.are.equal(1, #r.calls)
      assert.are.equal("eos", r.stop)
      local fed = case[4]
      if case[3] then
        assert.is_false(r.calls[1].ok)
        assert.are.equal(case[3], r.calls[1].error)
        fed = "Error: " .. case[3]
      else
        assert.is_true(r.calls[1].ok, r.calls[1].error)
      end
      assert.are.equal(fed .. " Sorry.", r.reply)
      assert.truthy(model.contexts[2]:find("</tool_call> " .. fed, 1, true), model.contexts[2])
    end)
  end

  it("never raises from default_feedback or the registry's call, whatever the tool gives back", function()
    local odd = setmetatable({ f = no_json }, getmetatable(raising("boom")))
    assert.are.equal("Error: an error that cannot be shown: boom", agent.default_feedback { ok = false, error = odd })
    assert.are.equal("Error: tool 'x' returned a value that cannot be shown: boom",
      agent.default_feedback { ok = true, name = "x", result = odd })
    local reg = tools.registry { { name = "odd", fn = function() error(odd) end } }
    assert.are.same({ false, "tool 'odd' raised an error that cannot be shown: boom" },
      { reg:call { name = "odd", args = {} } })
  end)

  it("reports a feedback value that cannot be shown as the text fed back", function()
    local model = fake_model { " <tool_call>ping()</tool_call>", " OK." }
    local reg = tools.registry { { name = "ping", fn = function() return "pong" end } }
    local a = agent.new(model, { tools = reg, feedback = function() return raising("bad") end })
    local r = a:run("ping")
    assert.are.equal("Error: the feedback for this call cannot be shown: bad OK.", r.reply)
  end)

  it("refuses a run from inside its own run: the tool's call fails and the outer run completes", function()
    local a, inner
    local reg = tools.registry {
      { name = "again", fn = function() return a:run("again") end },
      { name = "talk", fn = function() return a:conversation():send("hi") end },
    }
    local model = fake_model { " <tool_call>again()</tool_call>", " <tool_call>talk()</tool_call>", " Done.", "Next." }
    a = agent.new(model, { tools = reg, on_result = function(c) inner = inner or c.error end })
    local r = a:run("go")
    assert.are.equal(2, #r.calls)
    assert.is_false(r.calls[1].ok)
    assert.truthy(r.calls[1].error:find("^again: .*agent:run called from inside its own run %(a tool called it%?%)$"),
      r.calls[1].error)
    assert.is_false(r.calls[2].ok)
    assert.truthy(r.calls[2].error:find("conversation:send called from inside its agent's run (a tool called it?)", 1, true),
      r.calls[2].error)
    assert.are.equal(r.calls[1].error, inner)
    assert.truthy(r.reply:find("Done.$"))
    assert.are.equal("eos", r.stop)
    assert.are.equal(3, #model.contexts) -- the refused runs generated nothing
    -- the guard was released: the agent runs again
    assert.are.equal("Next.", a:run("next").reply)
  end)

  it("releases the run guard when a run raises", function()
    local model = fake_model { "first", "second" }
    local a = agent.new(model, { tools = tools.registry() })
    assert.error_matches(function() a:run("x", { on_text = function() error("hook failed") end }) end, "hook failed")
    assert.are.equal("second", a:run("y").reply)
  end)

  it("refuses a run while another coroutine's run is suspended, until that one is closed", function()
    local model = fake_model { "slow answer", "quick" }
    local a = agent.new(model, { tools = tools.registry() })
    local co = coroutine.create(function() return a:run("x", { on_token = function() coroutine.yield() end }) end)
    assert.is_true(coroutine.resume(co))
    assert.has_error(function() a:run("y") end,
      "agent:run called while the agent runs in another coroutine (one run at a time)")
    assert.is_true(coroutine.close(co))
    assert.are.equal("quick", a:run("y").reply)
  end)

  it("cuts a 1 MB result to max_result_bytes and says so in the prompt and the transcript", function()
    local big = ("x"):rep(1024 * 1024)
    local model = fake_model { " <tool_call>dump()</tool_call>", " That is all." }
    local reg = tools.registry { { name = "dump", fn = function() return big end } }
    local seen = {}
    local a = agent.new(model, { tools = reg, on_text = function(t) seen[#seen + 1] = t end })
    assert.are.equal(1000, agent.MAX_RESULT_BYTES)
    local r = a:run("dump it all")
    local fed = ("x"):rep(1000) .. "... [result cut: 1048576 bytes, first 1000 kept]"
    assert.are.equal(" " .. fed, model.prompts[2]) -- the prompt stays small
    assert.are.equal("<tool_call>dump()</tool_call> " .. fed .. " That is all.", r.text)
    assert.are.equal(fed .. " That is all.", r.reply)
    assert.are.equal(" " .. fed .. " That is all.", table.concat(seen))
    assert.are.same({ bytes = 1048576, kept = 1000 }, r.calls[1].cut)
    assert.is_true(r.calls[1].result == big) -- the caller still gets the whole value
  end)

  it("cuts at a UTF-8 character boundary, and only past the limit", function()
    local cuts = {
      { "ééé", 5, "éé... [result cut: 6 bytes, first 4 kept]", { bytes = 6, kept = 4 } },
      { "a€b", 3, "a... [result cut: 5 bytes, first 1 kept]", { bytes = 5, kept = 1 } },
      { "€", 2, "... [result cut: 3 bytes, first 0 kept]", { bytes = 3, kept = 0 } },
      { "ééé", 6, "ééé", nil },
      { "a\nb", 3, "a b", nil }, -- new lines become spaces first
    }
    for _, case in ipairs(cuts) do
      local model = fake_model { " <tool_call>say()</tool_call>", "" }
      local reg = tools.registry { { name = "say", fn = function() return case[1] end } }
      local r = agent.new(model, { tools = reg, max_result_bytes = case[2] }):run("say")
      assert.are.equal(case[3], r.reply)
      assert.are.same(case[4], r.calls[1].cut)
    end
  end)

  it("rejects a max_result_bytes that is not a positive integer", function()
    for _, v in ipairs({ 0, -1, 1.5, "10", true }) do
      assert.has_error(function() agent.new(fake_model {}, { max_result_bytes = v }) end,
        "agent.new: option 'max_result_bytes' must be a positive integer")
    end
  end)
end)

-- ---------------------------------------------------------------- a real model

describe("agent loop (real model, random weights)", function()
  local model = assert(mllm.load(H.FIXTURES .. "/bf16-vocab32k", { threads = 1 }))
  local reg = tools.from_apis(APIS, setmetatable({}, { __index = function(_, name)
    return function() return name .. " ok" end
  end }))

  it("runs end to end from a fork of the tool prompt", function()
    local a = agent.new(model, { tools = reg, max_tokens = 24 })
    local r = a:run("wake me up at 7")
    assert.is_string(r.text)
    assert.are.equal(#a.base_ids, r.info.reused_tokens)
    assert.is_true(r.info.prompt_tokens > 0 and r.info.prompt_tokens < 20)
    assert.truthy(({ eos = true, stop = true, length = true, steps = true })[r.stop])
  end)

  it("keeps its sessions' KV cache in f16 with kv_type = \"f16\"", function()
    local a = agent.new(model, { tools = reg, max_tokens = 4, kv_type = "f16" })
    local conv = a:conversation()
    conv:send("wake me up at 7")
    assert.matches("kv f16", tostring(a.base_session), 1, true)
    assert.matches("kv f16", tostring(conv.session), 1, true)
    conv:close()
    a:close()
  end)

  it("copies string values from the user's words with copy = true (even with random weights)", function()
    assert.has_error(function() agent.new(model, { tools = reg, copy = true }) end,
      "agent.new: option 'copy' needs 'constrain'")
    local a = agent.new(model, { tools = reg, constrain = true, copy = true, call = "required", max_tokens = 48 })
    local conv = a:conversation()
    local said = {}
    for _, req in ipairs({ "text Ana on WhatsApp saying see you at noon", "weather in Porto tomorrow" }) do
      said[#said + 1] = req
      local r = conv:send(req)
      assert.is_true(#r.calls >= 1, r.text)
      local words = table.concat(said, "\n")
      for _, c in ipairs(r.calls) do
        local params = (reg:get(c.name) or {}).by_name or {}
        for k, v in pairs(c.args or {}) do
          local free = type(v) == "string" and params[k] and params[k].type == "string"  -- not enums
          if free then assert.is_truthy(words:find(v, 1, true), k .. "=" .. v) end
        end
      end
    end
    conv:close()
    a:close()
  end)

  it("hands on_session each session before computing on it: a cancel there stops the prefill", function()
    for _, step in ipairs({ false, true }) do
      local seen = {}
      local a = agent.new(model, { tools = reg, max_tokens = 4,
                                   step = step and function(job) return job:step(1000) end or nil,
                                   on_session = function(s) seen[#seen + 1] = s end })
      local conv = a:conversation()
      -- the first turn: the tool list's prefill is cancelled; nothing is kept, no base either
      local r, err = conv:send("wake me up at 7", { on_session = function(s) s:cancel() end })
      assert.is_nil(r)
      assert.matches("cancelled", err)
      assert.is_nil(a.base_session)
      assert.are.same({}, conv.messages)
      -- the next one runs, the agent's own hook sees the base session, then the conversation's
      assert(conv:send("wake me up at 7"))
      assert.are.equal(2, #seen)
      assert.are.equal(a.base_session, seen[1])
      assert.are.equal(conv.session, seen[2])
      -- a turn whose own prefill is cancelled: refused, the history as it was
      r, err = conv:send("and at 8", { on_session = function(s) s:cancel() end })
      assert.is_nil(r)
      assert.matches("cancelled", err)
      assert.are.equal(2, #conv.messages)
      conv:close()
      a:close()
    end
  end)

  it("saves the tool prompt's session and restores it in a new agent (prompt_cache)", function()
    local dir = H.tmpdir()
    local path = dir .. "/tools.session"
    local a1 = agent.new(model, { tools = reg, max_tokens = 4, prompt_cache = path })
    local r1 = a1:run("hello")
    assert.is_falsy(a1.stats.base_restored)
    local a2 = agent.new(model, { tools = reg, max_tokens = 4, prompt_cache = path })
    local r2 = a2:run("hello")
    assert.is_true(a2.stats.base_restored)
    assert.are.equal(r1.text, r2.text)
    assert.are.equal(#a2.base_ids, r2.info.reused_tokens)
    -- another tool list does not take the saved state
    local other = tools.registry { { name = "ping" } }
    local a3 = agent.new(model, { tools = other, max_tokens = 4, prompt_cache = dir .. "/other.session" })
    H.write(dir .. "/other.session.txt", a2:base_text()) -- a stale text file: refused
    os.execute("cp '" .. path .. "' '" .. dir .. "/other.session'")
    a3:run("hello")
    assert.is_falsy(a3.stats.base_restored)
    a1:close() a2:close() a3:close()
    H.rmdir(dir)
  end)

  it("with constraint and call = 'required', every call validates and runs (random weights)", function()
    assert.is_function(core.constraint, "mobilellm.core has no 'constraint': this build lacks constrained decoding")
    H.assert_constraint_consulted(model, core.constraint(reg, model))
    -- greedy (sampling is slow on this tiny model); the requests vary the calls
    local a = agent.new(model, { tools = reg, constrain = true, call = "required", max_steps = 1,
                                 max_tokens = 120, max_string = 12 })
    for i = 1, 8 do
      local r = a:run("request number " .. i)
      assert.is_true(#r.calls >= 1, r.text)
      local c = r.calls[1]
      assert.is_true(c.ok, tostring(c.error) .. " in " .. r.text)
      assert.are.equal(c.name .. " ok", c.result)
      assert.truthy(r.text:find("^<tool_call>" .. c.name .. "%("))
    end
    assert.are.same({ 0, 0 }, { a.constraint:stats().dead_ends, a.first_constraint:stats().dead_ends })
  end)
end)

describe("agent loop, async stretches (the shipped model)", function()
  local model = assert(mllm.load("models/mobilellm-tiny-api", { threads = 1 }))
  local weather = function(a) return "Sunny, 21 C in " .. a.city .. "." end

  it("makes the turns and the session of step mode, tool results fed back, polled without waiting", function()
    local polls = 0
    local function make(async)
      local handlers = setmetatable({ get_weather = weather }, { __index = function() return function() end end })
      return agent.new(model, {
        tools = "models/mobilellm-tiny-api/apis.json", handlers = handlers, async = async or nil,
        step = async and function(job) polls = polls + 1 return job:poll() end
          or function(job) return job:step(5) end })
    end
    local stepped, polled = make(false), make(true)
    local c1, c2 = stepped:conversation(), polled:conversation()
    for _, q in ipairs({ "set an alarm for 7 am tomorrow", "what's the weather in Lisbon", "hello there",
                         "turn the volume to 150" }) do
      local r1, r2 = assert(c1:send(q)), assert(c2:send(q))
      assert.are.equal(r1.text, r2.text)
      assert.are.equal(r1.stop, r2.stop)
      assert.are.equal(#r1.calls, #r2.calls)
      for i, c in ipairs(r1.calls) do
        assert.are.same({ c.name, c.ok, c.result, c.error }, { r2.calls[i].name, r2.calls[i].ok, r2.calls[i].result,
                                                               r2.calls[i].error })
      end
    end
    assert.matches("Sunny, 21 C in Lisbon.", c2.messages[4].content, 1, true)  -- a result fed back
    -- the session holds what the agent thinks it holds: the next turn reuses it all
    assert.are.same(c1.held, c2.held)
    assert.are.equal(#c2.held, c2.session:pos())
    assert.is_true(polls > 4)
    c1:close() c2:close() stepped:close() polled:close()
  end)

  it("prepares a conversation without a step (outside the frame loop); its turns are those of one not prepared", function()
    local polls = 0
    local a = agent.new(model, { tools = "models/mobilellm-tiny-api/apis.json", async = true,
      handlers = setmetatable({ get_weather = weather }, { __index = function() return function() end end }),
      step = function(job) polls = polls + 1 return job:poll() end })
    local prepared = assert(a:conversation():prepare())
    assert.are.equal(0, polls)  -- the tool list's prefill was one call
    assert.are.equal(#a.base_ids, prepared.session:pos())
    local plain = a:conversation()
    for _, q in ipairs({ "what's the weather in Lisbon", "set an alarm for 7 am tomorrow" }) do
      local r1, r2 = assert(prepared:send(q)), assert(plain:send(q))
      assert.are.same({ r1.text, r1.stop }, { r2.text, r2.stop })
    end
    assert.are.same(plain.held, prepared.held)
    assert.is_true(polls > 0)
    prepared:close() plain:close() a:close()
  end)

  it("refuses async without step, and with on_token", function()
    assert.has_error(function() agent.new(model, { async = true }) end,
      "agent.new: option 'async' needs 'step' (a function that polls the job: job:poll())")
    assert.has_error(function() agent.new(model, { async = true, step = function() end, on_token = function() end }) end,
      "agent.new: option 'on_token' cannot be used with 'async' (the worker thread never calls Lua)")
  end)
end)

-- ---------------------------------------------------------------- the examples

describe("examples", function()
  it("game_npc.lua thinks over several frames within its budget and acts through the game", function()
    local npcm = dofile("examples/game_npc.lua")
    local model = assert(mllm.load(H.FIXTURES .. "/bf16-vocab32k", { threads = 1 }))
    local acts, out = {}, {}
    local game = {
      give_item = function(item, count) acts[#acts + 1] = "give " .. item .. " " .. count return "given" end,
      move_to = function(place) acts[#acts + 1] = "move " .. place end,
    }
    local ticks = 0
    local summary = npcm.run_demo(model, game, {
      call = "required", budget = 0.0005, print = function(l) out[#out + 1] = l end, mode = "yield",
      clock = function() ticks = ticks + 1 return ticks * 0.001 end, -- every token spends the budget
    })
    assert.are.equal(2, summary.answered)
    assert.is_true(summary.busy_frames >= 10, "generation is spread over frames")
    -- one token per frame, plus the frame that finishes each answer
    assert.are.equal(summary.tokens + summary.answered, summary.busy_frames, table.concat(out, "\n"))
    -- the example decodes under a constraint, so each answer is a call the game runs
    assert.is_true(#out >= 6, table.concat(out, "\n"))
    local calls = 0
    for _, l in ipairs(out) do if l:find("^%[frame +%d+%]   [%w_]+%(") then calls = calls + 1 end end
    assert.is_true(calls >= 2, table.concat(out, "\n"))
  end)

  it("the C host (make examples) runs the NPC script frame by frame", function()
    assert.is_true(os.execute("make --no-print-directory -s examples >/dev/null"))
    local p = io.popen("build/examples/host " .. H.FIXTURES .. "/bf16-vocab32k 2 2>&1; echo \"exit $?\"")
    local out = p:read("a")
    p:close()
    assert.truthy(out:find("exit 0\n$"), out)
    assert.truthy(out:find("2 of 2 lines answered", 1, true), out)
    assert.is_true(tonumber(out:match("(%d+) spent thinking")) >= 2, out)
    -- every line is a call that parses; random weights may write a count out of its bounds,
    -- which validation reports (the grammar never cuts a number into another one)
    local _, calls = out:gsub("call <tool_call>[%w_]+%b()</tool_call>: ok", "")
    for err in out:gmatch("NPC: Error: ([^\n]*)") do
      assert.truthy(err:find("must be at least 1, got", 1, true) or err:find("must be at most", 1, true), err)
      calls = calls + 1
    end
    assert.are.equal(2, calls, out)
  end)
end)
