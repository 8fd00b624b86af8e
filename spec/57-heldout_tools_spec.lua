-- The held-out tool set (issue 39): tools that no training data has, with requests over them
-- (models/mobilellm-tiny-api/eval/tools.json and tools_test.jsonl, written by
-- training/heldout_tools.py, whose --check proves them absent from the training data), and
-- `mobilellm.eval`'s per-example tool lists: an example's "tools" are what its prompt lists and
-- what its calls are held to and validated against.
local mllm = require("mobilellm")
local eval = require("mobilellm.eval")
local chat = require("mobilellm.chat")
local tools = require("mobilellm.tools")
local H = require("support.helpers")

local SHIPPED = "models/mobilellm-tiny-api"
local TOOLS = SHIPPED .. "/eval/tools.json"
local DATA = SHIPPED .. "/eval/tools_test.jsonl"

local function examples(path)
  local out = {}
  for line in H.read(path):gmatch("[^\n]+") do out[#out + 1] = assert(mllm.json_decode(line)) end
  return out
end

local function by_name(apis)
  local t = {}
  for _, a in ipairs(apis) do t[a.name] = a end
  return t
end

describe("the held-out tool set", function()
  local apis = assert(chat.load_apis(TOOLS))
  local set = examples(DATA)

  it("has at least 20 tools and 500 requests, calls and no-call requests, each with its tool list", function()
    assert.is_true(#apis >= 20, #apis .. " tools")
    assert.is_true(#set >= 500, #set .. " requests")
    local named, calls, no_calls, listed = by_name(apis), 0, 0, {}
    local reg = tools.from_apis(apis)  -- well-formed schemas (from_apis raises otherwise)
    for _, ex in ipairs(set) do
      assert.is_table(ex.tools, ex.id)
      assert.is_true(#ex.tools >= 1 and #ex.tools <= 8, ex.id)
      local here = {}
      for _, name in ipairs(ex.tools) do
        assert.is_table(named[name], ex.id .. ": " .. name)
        assert.is_nil(here[name], ex.id .. ": " .. name .. " listed twice")
        here[name] = true
      end
      local call = ex.expected.call
      if type(call) == "table" then
        calls = calls + 1
        listed[call.name] = true
        assert.is_true(here[call.name], ex.id .. ": the expected tool is listed")
        assert.is_truthy(reg:validate(call), ex.id)  -- the expected call itself is valid
        local text = ex.messages[#ex.messages].content
        for k, v in pairs(call.args) do  -- string values are the user's words, as the task says
          if named[call.name].parameters[k].type == "string" then
            assert.is_truthy(text:find(v, 1, true), ex.id .. ": " .. k)
          end
        end
      else
        no_calls = no_calls + 1
      end
    end
    assert.is_true(no_calls >= 50, no_calls .. " no-call requests")
    for _, a in ipairs(apis) do assert.is_true(listed[a.name], a.name .. " is asked for") end
    assert.are.equal(#set, calls + no_calls)
  end)

  it("shares no tool name, argument name or description with the shipped model's tools or test set", function()
    local shipped = assert(chat.load_apis(SHIPPED .. "/apis.json"))
    local params, descriptions = {}, {}
    for _, a in ipairs(shipped) do
      for p in pairs(a.parameters) do params[p] = true end
      descriptions[a.description] = true
    end
    local test = H.read(SHIPPED .. "/eval/test.jsonl"):lower()
    for _, a in ipairs(apis) do
      assert.is_nil(test:find(a.name, 1, true), a.name)
      assert.is_nil(descriptions[a.description], a.name)
      for p in pairs(a.parameters) do assert.is_nil(params[p], a.name .. "." .. p) end
    end
  end)
end)

describe("eval with per-example tool lists", function()
  local apis = assert(chat.load_apis(TOOLS))
  local named = by_name(apis)

  it("gives an example the tools it names, in its order, and refuses names it does not know", function()
    local list, key = eval.example_tools({ tools = { "pulse_check", "book_table" } }, apis, named, TOOLS)
    assert.are.equal(2, #list)
    assert.are.equal(named.pulse_check, list[1])
    assert.are.equal(named.book_table, list[2])
    assert.are.equal('["pulse_check","book_table"]', key)
    -- or the tools themselves
    local own = { name = "ring_bell", description = "Ring the bell.", parameters = {} }
    local list2, key2 = eval.example_tools({ tools = { own, "book_table" } }, apis, named, TOOLS)
    assert.are.same({ own, named.book_table }, list2)
    assert.is_string(key2)
    assert.are_not.equal(key, key2)
    local all, none = eval.example_tools({}, apis, named, TOOLS)
    assert.are.equal(apis, all)
    assert.is_nil(none)
    local bad = {
      { { tools = { "set_alarm" } }, "tool 'set_alarm' is not in " .. TOOLS },
      { { tools = {} }, '"tools" must be a non-empty array of tool names' },
      { { tools = "book_table" }, '"tools" must be a non-empty array of tool names' },
      { { tools = { "book_table", 3 } }, '"tools" item 2 is neither a tool name nor a tool' },
      { { tools = { { name = "x", parameters = 3 } } }, 'tool \'x\': "parameters" is not an object' },
      { { tools = { "book_table", "pulse_check", "book_table" } }, "tool 'book_table' is listed twice in \"tools\"" },
    }
    for _, case in ipairs(bad) do
      local l, k, err = eval.example_tools(case[1], apis, named, TOOLS)
      assert.is_nil(l)
      assert.is_nil(k)
      assert.are.equal(case[2], err)
    end
  end)

  it("names the file and line of an example with an unknown tool", function()
    local dir = H.tmpdir()
    H.write(dir .. "/d.jsonl", H.read(DATA):match("^[^\n]*\n")
      .. '{"tools": ["nope"], "messages": [{"role": "user", "content": "hi"}], "expected": {"call": null}}\n')
    local r, err = eval.run({ model = SHIPPED, data = dir .. "/d.jsonl", apis = TOOLS, threads = 1 })
    assert.is_nil(r)
    assert.are.equal(dir .. "/d.jsonl:2: tool 'nope' is not in " .. TOOLS, err)
    -- a tool of its own that is malformed
    H.write(dir .. "/d.jsonl", '{"tools": [{"name": "x", "parameters": {"a": {"type": "wat"}}}], '
      .. '"messages": [{"role": "user", "content": "hi"}], "expected": {"call": null}}\n')
    r, err = eval.run({ model = SHIPPED, data = dir .. "/d.jsonl", apis = TOOLS, threads = 1 })
    assert.is_nil(r)
    assert.matches("^" .. dir:gsub("%p", "%%%0") .. "/d%.jsonl:1: tools: tool 'x', parameter \"a\": unknown type 'wat'", err)
    H.rmdir(dir)
  end)

  -- Over the shipped model's own tools, so that its calls are often right: the examples list
  -- the expected tool or leave it out, and what eval counts is counted again here.
  it("prompts with, constrains to and validates against the example's tools; counts no-call answers", function()
    local shipped_apis = assert(chat.load_apis(SHIPPED .. "/apis.json"))
    local shipped_named = by_name(shipped_apis)
    local names = {}
    for i, a in ipairs(shipped_apis) do names[i] = a.name end
    local lines, n = {}, 0
    for line in H.read(SHIPPED .. "/eval/test.jsonl"):gmatch("[^\n]+") do
      local ex = assert(mllm.json_decode(line))
      if #ex.messages == 1 then
        n = n + 1
        local want = type(ex.expected.call) == "table" and ex.expected.call.name or nil
        local list = {}  -- 4 of the tools, turning with n; every third example's lacks its tool
        for i = 1, #names do
          local name = names[(i + n) % #names + 1]
          if #list < 4 and name ~= want then list[#list + 1] = name end
        end
        if want and n % 3 ~= 0 then list[n % 4 + 1] = want end
        ex.tools = list
        lines[#lines + 1] = mllm.json_encode(ex)
        if #lines == 36 then break end
      end
    end
    local dir = H.tmpdir()
    H.write(dir .. "/d.jsonl", table.concat(lines, "\n") .. "\n")
    local set = examples(dir .. "/d.jsonl")
    local model = assert(mllm.load(SHIPPED, { threads = 1 }))
    for _, decoding in ipairs { { free = true }, {} } do
      local prompts = {}
      local prompt_text = chat.prompt_text
      chat.prompt_text = function(messages, list)
        local t = {}
        for i, a in ipairs(list) do t[i] = a.name end
        prompts[#prompts + 1] = table.concat(t, ",")
        return prompt_text(messages, list)
      end
      local answers = {}
      local opts = { model = SHIPPED, loaded = model, data = dir .. "/d.jsonl", apis = SHIPPED .. "/apis.json",
                     on_example = function(i, answer) answers[i] = answer end }
      for k, v in pairs(decoding) do opts[k] = v end
      local ok, r = pcall(eval.run, opts)
      chat.prompt_text = prompt_text
      assert(ok, r)
      assert.is_table(r)
      assert.are.equal(#set, r.n)
      local attempted, valid, invalid, no_call_wanted, no_call_kept = 0, 0, 0, 0, 0
      for i, ex in ipairs(set) do
        assert.are.equal(table.concat(ex.tools, ","), prompts[i])
        local list = eval.example_tools(ex, shipped_apis, shipped_named, "x")
        local call = chat.parse_answer(answers[i])
        if answers[i]:find("<tool_call>", 1, true) then
          attempted = attempted + 1
          if call and tools.from_apis(list):validate(call) then valid = valid + 1 else invalid = invalid + 1 end
          if not decoding.free and call then  -- constrained: only the listed tools are called
            local listed = false
            for _, name in ipairs(ex.tools) do listed = listed or name == call.name end
            assert.is_true(listed, ex.id .. ": " .. call.name)
          end
        end
        if type(ex.expected.call) ~= "table" then
          no_call_wanted = no_call_wanted + 1
          if not call then no_call_kept = no_call_kept + 1 end
        end
      end
      assert.is_true(attempted > 0)
      assert.are.equal(100 * valid / attempted, r.valid)
      if decoding.free then  -- the model calls the tools it knows, listed or not
        assert.is_true(invalid > 0 and valid > 0, valid .. " valid, " .. invalid .. " invalid")
      end
      assert.is_true(no_call_wanted > 0)
      assert.are.equal(100 * no_call_kept / no_call_wanted, r.no_call)
      assert.are.equal(no_call_wanted, r.no_call_n)
      local report = eval.report(r)
      assert.matches("| calls that validate (the prompt's tools, names, types, ranges) | ", report, 1, true)
      assert.matches("| no-call requests answered without a call | ", report, 1, true)
    end
    model:close()
    H.rmdir(dir)
  end)
end)
