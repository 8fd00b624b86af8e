-- Constrained decoding: the grammar of calls (mllm.constraint), masks over the 32000-piece
-- LLaMA-2 vocabulary, and generation with random weights where every call must come out valid.
local mllm = require("mobilellm")
local core = require("mobilellm.core")
local chat = require("mobilellm.chat")
local tools = require("mobilellm.tools")
local H = require("support.helpers")

local APIS = "models/mobilellm-tiny-api/apis.json"
-- a build without constrained decoding fails here, by name
local constraint = assert(core.constraint, "mobilellm.core has no 'constraint': this build lacks constrained decoding")

describe("mllm.constraint", function()
  local apis = assert(chat.load_apis(APIS))
  local reg = assert(tools.from_apis(APIS))

  describe("checks text against the tools' grammar", function()
    local c = constraint(apis)
    local cases = {
      { "", "free" },
      { "Sure. <tool_ca", "free" },
      { '<tool_call>set_alarm(time="6:45 am", day="tomorrow")</tool_call> Alarm set.', "free" },
      { '<tool_call>send_message(recipient="Priya", text="I\'m on my way", app="whatsapp")</tool_call>', "free" },
      { "<tool_call>set_volume(level=70)</tool_call>", "free" },
      { "<tool_call>toggle_setting(setting=\"wifi\", on=false)</tool_call>", "free" },
      { "<tool_call>call_contact(name=\"Mom\", video=true)</tool_call>", "free" },
      { "<tool_call>set_alarm(", "call" },
      { "<tool_call>navigate(destination=\"the airport\", mode=\"tr", "call" },
      { "<tool_call>set_clock(", nil, 16, "expected a tool name and '('" },
      { "<tool_call>set_alarm(day=\"x\")", nil, 29, "the required argument 'time' of set_alarm is missing" },
      { "<tool_call>set_alarm(time=\"x\", time", nil, 32, "expected an argument name" },
      -- bounds are validation's: the user's 150 is never cut into 15 (validation reports it)
      { "<tool_call>set_volume(level=150)</tool_call>", "free" },
      { "<tool_call>set_volume(level=1500000000000000000", nil, 47, "expected a digit or the end of the integer" },
      { "<tool_call>set_volume(level=\"70\"", nil, 29, "expected an integer" },
      { "<tool_call>navigate(destination=\"x\", mode=\"boat", nil, 44, "one of the enum values" },
      { "<tool_call>toggle_setting(setting=\"wifi\", on=1", nil, 46, "true or false" },
      { "<tool_call>set_alarm(time=\"a\nb\"", nil, 29, "string content" },
      { "<tool_call> set_alarm", nil, 12, "a tool name" },
    }
    for _, case in ipairs(cases) do
      it(string.format("%q", case[1]), function()
        local where, msg, pos = c:check(case[1])
        if case[2] then
          assert.are.equal(case[2], where, msg)
        else
          assert.is_nil(where)
          assert.are.equal(case[3], pos)
          assert.truthy(msg:find(case[4], 1, true), msg)
          -- the call parser or the schema rejects the same text when it is closed
          local calls, perr = mllm.parse_calls(case[1]:sub(1, pos - 1) .. case[1]:sub(pos) .. ")</tool_call>")
          if calls then
            local _, verr = reg:validate(calls[1])
            assert.truthy(verr, "validated: " .. case[1])
          else
            assert.truthy(perr)
          end
        end
      end)
    end
  end)

  it("accepts every call of the held-out set as the chat template writes it", function()
    local c = constraint(apis)
    local n = 0
    for line in io.lines("models/mobilellm-tiny-api/eval/test.jsonl") do
      local call = core.json_decode(line).expected.call
      if call ~= core.null then
        local text = chat.render_assistant(call, "Done.", apis)
        local where, msg = c:check(text)
        assert.are.equal("free", where, tostring(msg) .. " in " .. text)
        n = n + 1
      end
    end
    assert.is_true(n > 1000)
  end)

  it("reads apis arrays, apis documents and registries alike", function()
    local doc = assert(core.json_decode(H.read(APIS)))
    local text = '<tool_call>navigate(destination="x", mode="walking")</tool_call>'
    for _, src in ipairs { apis, doc, reg } do
      local c = constraint(src)
      assert.are.equal("free", c:check(text))
      assert.are.same({ nil, "unexpected 'f' at byte 44: expected one of the enum values and '\"'", 44 },
        { c:check((text:gsub("walking", "flying"))) })
      assert.are.equal("mobilellm.Constraint (12 tools, auto call, no vocabulary)", tostring(c))
    end
    -- parameters as an array, JSON-Schema style enums and bounds, arrays of typed items
    local c = constraint {
      { name = "move", params = {
        { name = "dir", type = "string", enum = { "n", "s" }, required = true },
        { name = "steps", type = "integer", minimum = 1, maximum = 9 },
        { name = "path", type = "array", items = { type = "integer", min = 0, max = 3 } },
      } },
    }
    assert.are.equal("free", c:check('<tool_call>move(dir="n", steps=3, path=[0, 3])</tool_call>'))
    for _, case in ipairs {
      { '<tool_call>move(dir="e"', "unexpected 'e' at byte 22: expected one of the enum values and '\"'", 22 },
      { '<tool_call>move(dir="n", steps=x', "unexpected 'x' at byte 32: expected an integer", 32 },
      { '<tool_call>move(dir="n", path=[x', "unexpected 'x' at byte 32: expected a value or ']'", 32 },
    } do
      assert.are.same({ nil, case[2], case[3] }, { c:check(case[1]) })
    end
  end)

  local bad = {
    { "an unknown type", { { name = "t", parameters = { p = { type = "float" } } } }, "tool 't', parameter 'p': unknown type 'float'" },
    { "an enum without values", { { name = "t", parameters = { p = { type = "enum" } } } }, "an enum needs 'values'" },
    { "a bad tool name", { { name = "my tool" } }, "the name 'my tool' is not an identifier" },
    { "a tool without a name", { { parameters = {} } }, "tool 1 has no name" },
    { "min > max", { { name = "t", parameters = { n = { type = "integer", min = 3, max = 1 } } } }, "min 3 > max 1" },
    { "a duplicate tool", { { name = "t" }, { name = "t" } }, "duplicate tool name 't'" },
    { "a float bound", { { name = "t", parameters = { n = { type = "integer", min = 0.5 } } } }, "'min' must be an integer" },
  }
  for _, case in ipairs(bad) do
    it("raises on " .. case[1], function()
      local ok, err = pcall(constraint, case[2])
      assert.is_false(ok)
      assert.truthy(err:find(case[3], 1, true), err)
    end)
  end

  it("limits the number of calls with max_calls", function()
    local two = '<tool_call>set_volume(level=5)</tool_call> Done. <tool_call>set_volume(level=6)</tool_call>'
    assert.are.equal("free", constraint(apis):check(two))
    assert.are.equal("free", constraint(apis, nil, { max_calls = 2 }):check(two))
    local one = constraint(apis, nil, { max_calls = 1 })
    assert.are.equal("free", one:check('<tool_call>set_volume(level=5)</tool_call> Done. <tool_call'))
    local where, msg, pos = one:check(two)
    assert.is_nil(where)
    assert.are.equal(#'<tool_call>set_volume(level=5)</tool_call> Done. <tool_call>', pos)
    assert.matches("text without another call %(at most 1%)", msg)
    -- "required" opens the first call itself, which counts
    local req = constraint(apis, nil, { max_calls = 1, call = "required" })
    assert.is_nil(req:check(two))
    assert.are.equal("free", req:check('<tool_call>set_volume(level=5)</tool_call> Done.'))
  end)

  it("raises on bad options and misuse", function()
    assert.error_matches(function() constraint(apis, nil, { call = "always" }) end, "option 'call'")
    assert.error_matches(function() constraint(apis, nil, { max_string = 2 }) end, "option 'max_string'")
    assert.error_matches(function() constraint(apis, nil, { max_calls = -1 }) end, "option 'max_calls'")
    assert.error_matches(function() constraint(apis, nil, { max_calls = "one" }) end, "option 'max_calls'")
    assert.error_matches(function() constraint(apis, 42) end, "model or tokenizer expected, got number")
    local c = constraint(apis)
    assert.error_matches(function() c:count("x") end, "no vocabulary")
    c:close()
    c:close()
    assert.are.equal("mobilellm.Constraint (closed)", tostring(c))
    assert.error_matches(function() c:check("x") end, "closed constraint")
  end)
end)

describe("constrained masks on the 32000-piece vocabulary", function()
  local model = assert(mllm.load(H.FIXTURES .. "/bf16-vocab32k", { threads = 1 }))
  local apis = assert(chat.load_apis(APIS))
  local reg = assert(tools.from_apis(APIS))
  local c = constraint(apis, model)
  local pieces = {}
  for id = 0, 31999 do pieces[id] = model:token_piece(id) end

  -- Exactness: a token is allowed if and only if the text with its piece is a valid
  -- prefix (a piece-less special token only outside a call). Returns the allowed set.
  local function assert_exact_mask(con, text)
    local ids, n = con:allowed(text)
    assert.are.equal(#ids, n)
    local allowed = {}
    for _, id in ipairs(ids) do allowed[id] = true end
    local free = con:check(text) == "free"
    for id = 0, 31999 do
      local p = pieces[id]
      local ok
      if #p > 0 then ok = con:check(text .. p) ~= nil else ok = free end
      if ok ~= (allowed[id] or false) then
        error(string.format("token %d %q: allowed %s, valid %s", id, p, tostring(allowed[id]), tostring(ok)))
      end
    end
    return allowed, n
  end

  it("knows the vocabulary", function()
    assert.are.equal("mobilellm.Constraint (12 tools, auto call, 32000 tokens)", tostring(c))
    local tok = model:tokenizer()
    local ct = constraint(apis, tok)
    assert.are.equal(c:count("<tool_call>set_"), ct:count("<tool_call>set_"))
  end)

  it("masks only the tokens that would open a second call with max_calls = 1", function()
    local one = constraint(apis, model, { max_calls = 1 })
    local text = '<tool_call>set_volume(level=5)</tool_call> Done. <tool_call'
    local allowed, n = assert_exact_mask(one, text)
    assert.is_true(n < 32000)
    local closers = 0
    for id = 0, 31999 do
      if pieces[id]:sub(1, 1) == ">" then
        closers = closers + 1
        assert.is_nil(allowed[id], pieces[id])
      end
    end
    assert.is_true(closers > 0)
    assert.is_true(c:count(text) > n)  -- without the limit "<tool_call>" may open a second call
  end)

  it("masks nothing outside a call", function()
    for _, text in ipairs { "Hello", "Sure, done.", "The alarm is set. <tool",
                            "<tool_call>set_volume(level=5)</tool_call> Done" } do
      assert.are.equal(32000, c:count(text), text)
    end
  end)

  local points = {
    "<tool_call>",
    "<tool_call>set_",
    "<tool_call>set_alarm(",
    '<tool_call>set_alarm(day="monday", ',
    '<tool_call>set_alarm(day="monday", time="7',
    '<tool_call>navigate(destination="x", mode="',
    "<tool_call>set_volume(level=1",
    "<tool_call>toggle_setting(setting=\"wifi\", on=",
    '<tool_call>set_timer(duration="5 min")',
    '<tool_call>set_timer(duration="5 min")</tool_',
  }
  for _, text in ipairs(points) do
    it("allows exactly the tokens that keep a valid prefix after " .. string.format("%q", text), function()
      assert.are.equal("call", c:check(text))  -- so no piece-less token may follow
      local allowed = assert_exact_mask(c, text)
      assert.is_nil(allowed[2], "EOS inside a call")
    end)
  end

  it("enforces required arguments and enum values", function()
    for _, id in ipairs((c:allowed('<tool_call>set_alarm(day="monday"'))) do
      assert.are_not.equal(")", pieces[id]:sub(1, 1))
    end
    local values = { driving = true, walking = true, transit = true, cycling = true }
    for _, id in ipairs((c:allowed('<tool_call>navigate(destination="x", mode="'))) do
      local ok = false
      for v in pairs(values) do
        if (v .. '"'):sub(1, #pieces[id]) == pieces[id] or pieces[id]:sub(1, #v + 1) == v .. '"' then ok = true end
      end
      assert.is_true(ok, pieces[id])
    end
  end)

  it("is consulted by model:generate", function()
    H.assert_constraint_consulted(model, constraint(apis, model))
  end)

  it("makes every call valid, even with random weights (many prompts)", function()
    -- greedy decoding (sampling is slow on this tiny model: the sampler sorts 32000 logits);
    -- the prompts vary the calls; generation stops at the closing tag
    local req = constraint(apis, model, { call = "required", max_string = 12 })
    local names = {}
    for i = 1, 40 do
      local text, info = model:generate("Request " .. i .. ":", { max_tokens = 200, constraint = req, stop = "</tool_call>" })
      assert.are.equal("stop", info.stop, text)
      text = text .. "</tool_call>"
      local calls, rest = mllm.parse_calls(text)
      assert.is_table(calls, tostring(rest) .. " in " .. text)
      assert.are.equal(1, #calls, text)
      local args, err = reg:validate(calls[1])
      -- the grammar leaves an integer's bounds to validation, which names them
      assert.truthy(args or err:find("must be at most 100, got", 1, true) or err:find("must be at least 0, got", 1, true),
        err)
      assert.truthy(text:find("^<tool_call>"))
      names[calls[1].name] = true
    end
    local n = 0
    for _ in pairs(names) do n = n + 1 end
    assert.is_true(n >= 3, "the calls vary with the prompt")
    local st = req:stats()
    assert.are.same({ 0, 0 }, { st.dead_ends, st.invalid })
    -- its cost per token is measured by `make bench` (a timed assertion would fail on a busy machine)
    assert.is_true(st.us_per_token >= 0)
  end)

  it("changes nothing outside calls (auto mode)", function()
    local auto = constraint(apis, model)
    for seed = 1, 5 do
      local opts = { max_tokens = 40 }
      local free = model:generate("Once upon a time " .. seed, opts)
      opts.constraint = auto
      assert.are.equal(free, (model:generate("Once upon a time " .. seed, opts)))
    end
    assert.are.equal(0, auto:stats().masks)
  end)
end)
