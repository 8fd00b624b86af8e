-- The copy constraint: string values of a call must be runs of whole words of a source text.
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")
local H = require("support.helpers")

-- The titles of the shipped model's copy_rule.json on constraint c. Until the binding has
-- c:set_titles, a new constraint starts with the same list (src/calls/copy_rule.c), which the
-- spec "the shipped copy_rule.json lists..." below checks.
local SHIPPED = "models/mobilellm-tiny-api"
local SHIPPED_RULE = assert(chat.load_copy_rule(SHIPPED))
local function with_titles(c)
  c:set_titles(SHIPPED_RULE.titles)
  return c
end

describe("constraint:set_source", function()
  local apis = assert(chat.load_apis("models/mobilellm-tiny-api/apis.json"))
  local model = assert(mllm.load(H.FIXTURES .. "/bf16-vocab32k", { threads = 1 }))
  local c = with_titles(mllm.constraint(apis, model))
  local source = 'text Priya that I\'m "late" at 7:30'

  it("accepts string values copied from the source, escapes included, and nothing else", function()
    c:set_source(source)
    local cases = {
      { '<tool_call>send_message(recipient="Priya", text="I\'m \\"late\\"")</tool_call>', true },
      { '<tool_call>set_alarm(time="7:30")</tool_call>', true },
      { '<tool_call>set_alarm(time="7:3', true },
      { '<tool_call>send_message(recipient="Paris', false },
      { '<tool_call>set_alarm(time="")', false },       -- a copied value is not empty
      { '<tool_call>set_volume(level=40)</tool_call>', true }, -- integers are not copied
      { '<tool_call>navigate(destination="Priya", mode="walking")</tool_call>', true }, -- enums are not either
      -- runs of whole words: no value starts or ends inside a word, or ends on a space
      { '<tool_call>send_message(recipient="Pri", ', false },
      { '<tool_call>send_message(recipient="riya', false },
      { '<tool_call>send_message(recipient="Priya that", ', true },
      { '<tool_call>send_message(recipient="Priya ", ', false },
      { '<tool_call>send_message(recipient="I\'m", ', true },
      -- an apostrophe between letters is inside the word: "I'm" is one word, "m" and "I" are not
      { '<tool_call>send_message(recipient="m", ', false },
      { '<tool_call>send_message(recipient="I", ', false },
      { '<tool_call>send_message(recipient="I\'m \\"late\\"", ', true },
      { '<tool_call>set_alarm(time="7")', true },
      { '<tool_call>set_alarm(time="30")', true },
      { '<tool_call>set_alarm(time="0")', false },
    }
    for _, case in ipairs(cases) do
      local ok = c:check(case[1]) ~= nil
      assert.are.equal(case[2], ok, case[1])
    end
  end)

  it("keeps an apostrophe between letters inside its word, typographic or not", function()
    for _, apos in ipairs({ "'", "\u{2019}" }) do
      local src = ("how%ss the weather near Nina%ss house"):format(apos, apos)
      c:set_source(src)
      local function ok(value) return c:check('<tool_call>get_weather(city="' .. value .. '")') ~= nil end
      assert.is_true(ok("how" .. apos .. "s the weather"), src)
      assert.is_true(ok("Nina" .. apos .. "s house"), src)
      assert.is_false(ok("s the weather"), src)  -- no value starts inside "how's"
      assert.is_false(ok("Nina"), src)           -- or stops inside "Nina's"
      assert.is_false(ok("how"), src)
    end
    c:set_source("the Jones' place, 'Tis")         -- an apostrophe at a word's edge is not inside it
    assert.is_not_nil(c:check('<tool_call>get_weather(city="Jones")'))
    assert.is_not_nil(c:check('<tool_call>get_weather(city="Tis")'))
  end)

  it("keeps the period of a title before a name inside its word", function()
    c:set_source("video Dr. Megan and mr. young at 5. Then Ms.")
    local function ok(value) return c:check('<tool_call>call_contact(name="' .. value .. '")</tool_call>') ~= nil end
    assert.is_true(ok("Dr. Megan"))
    assert.is_true(ok("mr. young"))
    assert.is_false(ok("Dr"))       -- no value stops at "Dr" of "Dr. Megan"
    assert.is_false(ok("mr"))
    assert.is_false(ok(". Megan"))  -- or starts at its period
    assert.is_true(ok("5"))         -- a sentence's period is not a title's
    assert.is_true(ok("Ms"))        -- nor a title's with no name after it
  end)

  it("the shipped copy_rule.json lists the titles the copy rule knows, and only those", function()
    assert.are.same({ "mr", "mrs", "ms", "mx", "dr", "prof" }, SHIPPED_RULE.titles)
    local cc = with_titles(mllm.constraint(apis, model))
    local function ok(value) return cc:check('<tool_call>call_contact(name="' .. value .. '")') ~= nil end
    for _, title in ipairs(SHIPPED_RULE.titles) do
      local t = title:upper()
      cc:set_source("video " .. t .. ". Young now")
      assert.is_true(ok(t .. ". Young"), t)
      assert.is_false(ok(t), t)  -- a listed title's period is inside its word
    end
    for _, word in ipairs({ "Sgt", "St", "Jr" }) do
      cc:set_source("video " .. word .. ". Young now")
      assert.is_true(ok(word), word)  -- a word not listed ends at its period
    end
  end)

  it("lets generation copy only, whatever the weights want", function()
    local src = "call Mom on video please at 9 pm from Lisbon"
    local checked = 0
    for seed = 1, 12 do
      local cc = mllm.constraint(apis, model, { call = "required", max_string = 12 }):set_source(src)
      local text = model:generate("Once upon a time", { max_tokens = 120, temperature = 1.0, seed = seed, constraint = cc })
      local calls = mllm.parse_calls(text)
      assert.is_table(calls, text)  -- the required call is always complete
      local params
      for _, a in ipairs(apis) do if a.name == calls[1].name then params = a.parameters end end
      for k, v in pairs(calls[1].args) do
        if params[k].type == "string" then
          checked = checked + 1
          assert.truthy(src:find(v, 1, true), text)
        end
      end
    end
    assert.is_true(checked > 0)
  end)

  it("accepts every call of the held-out set under its conversation's source", function()
    -- the task copies string values verbatim from the user's words; an expected value the copy
    -- constraint refuses could never be matched with --copy
    local cc = with_titles(mllm.constraint(apis, model))
    local n = 0
    for line in io.lines("models/mobilellm-tiny-api/eval/test.jsonl") do
      local ex = mllm.json_decode(line)
      if ex.expected.call ~= mllm.null then
        cc:set_source(chat.copy_source(ex.messages))
        local text = chat.render_assistant(ex.expected.call, "Done.", apis)
        local where, msg = cc:check(text)
        assert.are.equal("free", where, tostring(msg) .. " in " .. ex.id .. ": " .. text)
        n = n + 1
      end
    end
    assert.is_true(n > 1000)
  end)

  it("is removed with nil and refuses a source longer than its limit", function()
    c:set_source(nil)
    assert.is_not_nil(c:check('<tool_call>send_message(recipient="Paris'))
    assert.has_error(function() c:set_source(("x"):rep(257)) end,
      "bad argument #1 to 'set_source' (source text of 257 bytes is longer than MLLM_CST_MAX_SOURCE (256))")
  end)
end)

describe("chat.load_copy_rule", function()
  it("reads a model directory's titles, nil without copy_rule.json, an error for a bad one", function()
    assert.are.same({ titles = { "mr", "mrs", "ms", "mx", "dr", "prof" } }, chat.load_copy_rule(SHIPPED))
    assert.are.same({}, { chat.load_copy_rule(H.FIXTURES .. "/bf16-vocab32k") })
    local dir = H.tmpdir()
    local function with_file(text)
      local f = assert(io.open(dir .. "/copy_rule.json", "w"))
      f:write(text)
      f:close()
      return chat.load_copy_rule(dir)
    end
    assert.are.same({ titles = { "Sgt", "capt" } }, with_file('{"titles": ["Sgt", "capt"]}'))
    assert.are.same({ titles = {} }, with_file('{"titles": []}'))
    local too_many = {}
    for i = 1, chat.MAX_TITLES + 1 do too_many[i] = '"mr"' end
    for _, bad in ipairs({
      "not json", '["mr"]', '{"title": ["mr"]}', '{"titles": "mr"}', '{"titles": {"a": "mr"}}',
      '{"titles": ["mr", 3]}', '{"titles": ["no1"]}', '{"titles": ["dr."]}', '{"titles": [""]}',
      '{"titles": ["' .. ("a"):rep(chat.MAX_TITLE_BYTES + 1) .. '"]}',
      '{"titles": [' .. table.concat(too_many, ",") .. ']}',
    }) do
      local rule, err = with_file(bad)
      assert.is_nil(rule, bad)
      assert.truthy(err:find(dir .. "/copy_rule.json: ", 1, true), bad)
    end
    local _, err = with_file('{"titles": ["mr", "no1"]}')
    assert.are.equal(dir .. '/copy_rule.json: needs "titles", an array of at most 64 words of 1 to 15 ASCII letters'
      .. " (title 2 is not)", err)
    H.rmdir(dir)
  end)
end)

describe("chat.set_copy_rule", function()
  it("hands the rule's titles to each constraint that takes them", function()
    local function fake(takes_titles)
      local c = { sources = {} }
      function c.set_source(self, src) self.sources[#self.sources + 1] = src end
      if takes_titles then function c.set_titles(self, titles) self.titles = titles end end
      return c
    end
    local a, b = fake(true), fake(false)
    local msgs = { { role = "user", content = "call Dr. Megan" } }
    local rule = { titles = { "dr" } }
    chat.set_copy_rule({ a, b }, {}, msgs, {}, nil, nil, nil, rule)
    assert.are.same({ "call Dr. Megan" }, a.sources)
    assert.are.same({ "call Dr. Megan" }, b.sources)
    assert.are.equal(rule.titles, a.titles)
    assert.is_nil(b.titles)
    local d = fake(true)
    chat.set_copy_rule({ d }, {}, msgs, {}, nil, nil, nil, nil)  -- no rule: titles left alone
    assert.is_nil(d.titles)
  end)
end)

describe("chat.copy_source", function()
  it("joins the user messages, latest first, while they fit", function()
    local msgs = {
      { role = "user", content = "text Ana" },
      { role = "assistant", content = "What should it say?" },
      { role = "user", content = "see you at noon" },
    }
    assert.are.equal("text Ana\nsee you at noon", chat.copy_source(msgs))
    assert.are.equal("see you at noon", chat.copy_source(msgs, 20))
    assert.is_nil(chat.copy_source(msgs, 10))
    assert.is_nil(chat.copy_source({}))
  end)
end)

describe("constraint:set_titles", function()
  local apis = assert(chat.load_apis("models/mobilellm-tiny-api/apis.json"))
  local model = assert(mllm.load(H.FIXTURES .. "/bf16-vocab32k", { threads = 1 }))
  it("keeps a title's period in a copied name only with the list set, and refuses bad titles", function()
    local c = mllm.constraint(apis, model)
    c:set_source("call Dr. Megan now")
    local function ok(value) return c:check('<tool_call>call_contact(name="' .. value .. '")</tool_call>') ~= nil end
    assert.is_true(ok("Dr. Megan"))
    assert.is_true(ok("Dr"))  -- a new constraint has no titles: the period ends "Dr", a value may stop there
    assert.are.equal(c, c:set_titles({ "dr" }))
    assert.is_false(ok("Dr"))  -- "Dr." is a title: no value stops before its period
    assert.is_true(ok("Dr. Megan"))
    c:set_titles({})
    assert.is_true(ok("Dr"))
    assert.error_matches(function() c:set_titles({ 5 }) end, "title 1 is not a string")
    local many = {}
    for i = 1, 65 do many[i] = "t" end
    assert.error_matches(function() c:set_titles(many) end, "65 titles, more than MLLM_CST_MAX_TITLES %(64%)")
    assert.error_matches(function() c:set_titles({ "d-r" }) end, "d%-r")
  end)
end)
