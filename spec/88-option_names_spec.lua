-- Issue 36, "strict options" and "tool errors". Every public function that takes a table of
-- options, given a misspelled key, raises naming the key and the option it most likely meant
-- (the binding's reader, src/lua/opts.c, and the Lua modules' check, mobilellm.options, follow
-- one rule); and what a tool raises reaches the model and the user as its message alone.
local mllm = require("mobilellm")
local options = require("mobilellm.options")
local tools = require("mobilellm.tools")
local agent = require("mobilellm.agent")
local eval = require("mobilellm.eval")
local H = require("support.helpers")

local SHIPPED = "models/mobilellm-tiny-api"

local raises = H.raises

describe("options.nearest", function()
  local known = { "max_tokens", "stop_at_eos", "temperature", "top_k", "top_p", "n_ctx", "seed", "bos" }
  -- { key, the name it is taken for (nil: none) }
  local cases = {
    { "max_token", "max_tokens" },   -- a letter missing
    { "max_tokenss", "max_tokens" }, -- one too many
    { "MAX_TOKENS", "max_tokens" },  -- case only
    { "Top_K", "top_k" },
    { "nctx", "n_ctx" },             -- the underscore missing
    { "maxtokens", "max_tokens" },
    { "stop_at_eso", "stop_at_eos" }, -- two neighbours swapped count one
    { "temprature", "temperature" },
    { "top_q", "top_k" },            -- the first of two as near (top_k, top_p)
    { "maxtokns", "max_tokens" },    -- two edits in eight letters
    { "mxtokns", nil },              -- three
    { "temp", nil },                 -- too far from temperature
    { "sed", "seed" },
    { "bo", nil },                   -- one edit in two letters is not a third
    { "x", nil },
    { "max", nil },
    { ("max_tokens"):rep(100), nil },
  }
  for _, case in ipairs(cases) do
    it(("takes %q for %s"):format(case[1]:sub(1, 20), tostring(case[2])), function()
      assert.are.equal(case[2], options.nearest(case[1], known))
    end)
  end

  it("is the binding's rule: the C reader suggests what options.nearest does #raw_keys", function()
    local m <close> = assert(mllm.load(SHIPPED, { threads = 1 }))
    local err = raises("(known: ", m.generate, m, "hi", { [1] = true })
    local names = {}
    for name in err:match("%(known: (.-)%)$"):gmatch("[^, ]+") do names[#names + 1] = name end
    assert.is_true(#names > 10, err)
    local keys = { "max_token", "MAX_TOKENS", "temp", "temprature", "nctx", "n_ctxx", "topk", "top-p", "Top_P",
                   "sed", "seeed", "stop_at_eso", "bo", "boss", "x", "on_tokens", "kvtype", "n_bach", "constrain",
                   "stpo", "min-p", "repeatpenalty", ("n_ctx"):rep(50) }
    for _, key in ipairs(keys) do
      local meant = options.nearest(key, names)
      local want = meant and ("unknown option '%s' to generate (did you mean '%s'?)"):format(key, meant)
        or ("unknown option '%s' to generate (known: %s)"):format(key, table.concat(names, ", "))
      local ok, e = pcall(m.generate, m, "hi", { [key] = 1 })
      assert.is_false(ok, key)
      assert.are.equal(want, e)
    end
  end)
end)

describe("every function that takes options #raw_keys", function()
  local model, session, dir
  setup(function()
    model = assert(mllm.load(SHIPPED, { threads = 1 }))
    session = assert(model:session({ n_ctx = 64 }))
    dir = H.tmpdir()
  end)
  teardown(function()
    session:close()
    model:close()
    H.rmdir(dir)
  end)

  -- { the call, a function making it with a misspelled key, the key, the option it means }
  local cases = {
    { "mllm.load", function() return mllm.load(SHIPPED, { thread = 1 }) end, "thread", "threads" },
    { "model:session", function() return model:session({ nctx = 64 }) end, "nctx", "n_ctx" },
    { "model:generate", function() return model:generate("hi", { max_token = 5 }) end, "max_token", "max_tokens" },
    { "model:stream", function() return model:stream("hi", { n_btach = 4 }) end, "n_btach", "n_batch" },
    { "session:generate", function() return session:generate("hi", { temprature = 0.5 }) end,
      "temprature", "temperature" },
    { "session:stream", function() return session:stream("hi", { stpo = "x" }) end, "stpo", "stop" },
    { "model:tokenize", function() return model:tokenize("hi", { boss = true }) end, "boss", "bos" },
    { "tokenizer:encode", function() return model:tokenizer():encode("hi", { BOS = true }) end, "BOS", "bos" },
    { "tokenizer:tokenize", function() return model:tokenizer():tokenize("hi", { bos_ = true }) end, "bos_", "bos" },
    { "model:sampler", function() return model:sampler({ top_K = 5 }) end, "top_K", "top_k" },
    { "model:save", function() return model:save(dir .. "/m.safetensors", { on_progres = print }) end,
      "on_progres", "on_progress" },
    { "mllm.constraint", function() return mllm.constraint({}, model, { max_call = 1 }) end, "max_call", "max_calls" },
    { "mllm.parse_calls", function() return mllm.parse_calls("x", { opne = "<" }) end, "opne", "open" },
    { "mllm.call_parser", function() return mllm.call_parser({ closee = ">" }) end, "closee", "close" },
    { "agent.new", function() return agent.new(model, { constrian = true }) end, "constrian", "constrain" },
    { "a tool definition", function() return tools.registry():add({ name = "f", parms = {} }) end, "parms", "params" },
    { "tools.registry", function() return tools.registry({ { name = "f", descripton = "d" } }) end,
      "descripton", "description" },
    { "eval.run", function() return eval.run({ model = SHIPPED, limt = 5 }) end, "limt", "limit" },
  }
  for _, case in ipairs(cases) do
    it(case[1] .. " names the misspelled key and the option meant", function()
      raises(("unknown option '%s'"):format(case[3]), case[2])
      raises(("(did you mean '%s'?)"):format(case[4]), case[2])
    end)
  end

  it("raises for the issue's examples, listing the options when none is near", function()
    raises("unknown option 'temp' to generate (known: max_tokens,", model.generate, model, "hi", { temp = 0.5 })
    raises("temperature", model.generate, model, "hi", { temp = 0.5 })
    raises("unknown option 'max_token' to generate (did you mean 'max_tokens'?)", model.generate, model, "hi",
      { max_token = 5 })
    raises("unknown option 'nctx' to session (did you mean 'n_ctx'?)", model.session, model, { nctx = 64 })
    raises("agent.new: unknown option 'constrian' (did you mean 'constrain'?)", agent.new, model, { constrian = true })
    raises("tools: tool 'f': unknown option 'parms' (did you mean 'params'?)", tools.registry,
      { { name = "f", parms = {} } })
  end)
end)

describe("a tool's error", function()
  -- { what the tool raises, the call's error }
  local cases = {
    { "error('message')", function() error("no contact named look") end, "lookup_contact: no contact named look" },
    { "error('message', 2)", function() local function inner() error("no contact named look", 2) end inner() end,
      "lookup_contact: no contact named look" },
    { "a message from a loaded chunk", load("error('no contact named look')"), "lookup_contact: no contact named look" },
    { "a named chunk", load("error('no contact named look')", "=contacts"), "lookup_contact: no contact named look" },
    { "error('message', 0) with a time in it", function() error("time must look like 7:30", 0) end,
      "lookup_contact: time must look like 7:30" },
    { "a time and a colon, at level 0", function() error("at 7:30: too early", 0) end,
      "lookup_contact: at 7:30: too early" },
    { "error({ message = ... })", function() error({ message = "no contact named look", code = 404 }) end,
      "lookup_contact: no contact named look" },
    { "a table with no message", function() error(setmetatable({}, { __tostring = function() return "oops" end })) end,
      "lookup_contact: oops" },
    { "a table whose message is not a string", function()
        error(setmetatable({ message = 5 }, { __tostring = function() return "five" end })) end,
      "lookup_contact: five" },
    { "a table whose __index raises", function()
        error(setmetatable({}, { __index = function() error("no") end, __tostring = function() return "t" end })) end,
      "lookup_contact: t" },
  }
  for _, case in ipairs(cases) do
    it("is the message alone for " .. case[1], function()
      local reg = tools.registry { { name = "lookup_contact", fn = case[2] } }
      assert.are.same({ false, case[3] }, { reg:call { name = "lookup_contact", args = {} } })
    end)
  end

  it("reaches the agent's record and the text fed back to the model without file:line", function()
    local model <close> = assert(mllm.load(SHIPPED, { threads = 1 }))
    local reg = tools.registry()
    reg:add {
      name = "lookup_contact", description = "Find a contact.",
      params = { { name = "name", type = "string", required = true } },
      fn = function() error("no contact named look") end,
    }
    -- constrained to one call of the one tool: the model must call it
    local a = agent.new(model, { tools = reg, constrain = true, call = "required", max_steps = 1 })
    local r = a:run("call look")
    assert.are.equal(1, #r.calls)
    assert.is_false(r.calls[1].ok)
    assert.are.equal("lookup_contact: no contact named look", r.calls[1].error)
    assert.truthy(r.text:find("</tool_call> Error: lookup_contact: no contact named look", 1, true), r.text)
    assert.falsy(r.text:find("option_names_spec", 1, true), r.text)
  end)
end)
