-- The shipped assistant as a product (issue #36): the model directory stands alone and its best
-- decoding is the default; replies do not garble what they repeat; no value is silently
-- changed; a conversation survives a turn that cannot run.
local H = require("support.helpers")
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")
local agent = require("mobilellm.agent")
local tools = require("mobilellm.tools")

local SHIPPED = "models/mobilellm-tiny-api"

-- A handler for every API of the shipped tool list that acts and returns nothing (the model
-- writes its own confirmation).
local function actions()
  local handlers = {}
  for _, api in ipairs(assert(chat.load_apis(SHIPPED .. "/apis.json"))) do handlers[api.name] = function() end end
  return handlers
end

-- Every UTF-8 character of s, as a set.
local function chars(s, set)
  set = set or {}
  for ch in s:gmatch(utf8.charpattern) do set[ch] = true end
  return set
end

describe("the shipped model directory", function()
  local model = assert(mllm.load(SHIPPED, { threads = 1 }))

  it("ships everything its best decoding needs, found relative to the model", function()
    local files = assert(chat.load_model_files(model.config.dir))
    assert.is_table(files.apis)
    assert.are.equal(SHIPPED .. "/apis.json", files.apis_path)
    assert.is_table(files.pointer)
    assert.is_table(files.copy_rule)
    assert.is_table(files.reply_rule)
    assert.is_true(#files.reply_rule.words > 50)
    assert.is_true(#files.reply_rule.gaps > 3)
  end)

  it("names a companion file that is there but bad", function()
    local dir = H.tmpdir() .. "/m"
    H.copy_dir(SHIPPED, dir)
    H.write(dir .. "/reply_rule.json", '{"words": ["ok"]}')
    local files, err = chat.load_model_files(dir)
    assert.is_nil(files)
    assert.are.equal(dir .. '/reply_rule.json: needs "words" and "gaps", arrays of strings (and "repeatable", one too, and '
      .. '"follows", an object of arrays of strings)', err)
    local m = assert(mllm.load(dir, { threads = 1 }))
    assert.has_error(function() agent.new(m, {}) end,
      "agent.new: " .. dir .. '/reply_rule.json: needs "words" and "gaps", arrays of strings (and "repeatable", one too, and '
      .. '"follows", an object of arrays of strings)')
    m:close()
  end)

  describe("agent.new", function()
    it("decodes as the directory says is best, with its tools, unless told otherwise", function()
      local a = agent.new(model, {})
      assert.are.equal(#assert(chat.load_apis(SHIPPED .. "/apis.json")), #a.apis)
      local d = a.decoding
      assert.is_true(d.constrain)
      assert.is_true(d.copy)
      assert.are.same(chat.load_pointer(SHIPPED), d.pointer)
      assert.are.same(chat.load_copy_rule(SHIPPED), d.copy_rule)
      assert.are.same(chat.load_reply_rule(SHIPPED), d.reply_rule)
      a:close()

      local free = agent.new(model, { free = true })
      assert.are.same({}, free.decoding)
      assert.is_nil(free.constraint)
      free:close()

      local plain = agent.new(model, { constrain = true, copy = false })
      assert.are.same({ constrain = true }, plain.decoding)
      plain:close()

      local no_pointer = agent.new(model, { pointer = false })
      assert.is_true(no_pointer.decoding.copy)
      assert.is_nil(no_pointer.decoding.pointer)
      no_pointer:close()
    end)

    it("refuses free together with an option it turns off", function()
      assert.has_error(function() agent.new(model, { free = true, constrain = true }) end,
        "agent.new: option 'free' turns off constrain, copy, pointer, copy_rule and reply_rule: set one or the other")
    end)

    it("decodes freely by default for a directory that ships no copy pointer", function()
      local dir = H.tmpdir() .. "/m"
      H.copy_dir(SHIPPED, dir)
      os.remove(dir .. "/copy_pointer.json")
      local m = assert(mllm.load(dir, { threads = 1 }))
      local a = agent.new(m, {})
      assert.are.same({}, a.decoding)
      assert.are.equal(#assert(chat.load_apis(SHIPPED .. "/apis.json")), #a.apis)  -- its tools all the same
      a:close()
      m:close()
    end)
  end)

  describe("replies", function()
    -- the characters a reply may hold: the request's and those of the model's training replies
    -- (the reply rule's words and gaps are made of them)
    local rule = assert(chat.load_reply_rule(SHIPPED))
    local allowed_base = {}
    for _, w in ipairs(rule.words) do chars(w, allowed_base) end
    for _, g in ipairs(rule.gaps) do chars(g, allowed_base) end
    for _, g in ipairs(rule.end_gaps) do chars(g, allowed_base) end

    local function foreign(reply, request)
      local ok = chars(request, setmetatable({}, { __index = allowed_base }))
      local bad = {}
      for ch in reply:gmatch(utf8.charpattern) do
        if not ok[ch] then bad[#bad + 1] = ch end
      end
      return table.concat(bad)
    end

    it("hold no character that neither the request nor the training replies have (test set)", function()
      local c = mllm.constraint(assert(chat.load_apis(SHIPPED .. "/apis.json")), model, { max_string = 96, max_calls = 1 })
      c:set_reply_rule(rule)
      local tok = model:tokenizer()
      local apis = chat.load_apis(SHIPPED .. "/apis.json")
      local pointer, copy_rule = chat.load_pointer(SHIPPED), chat.load_copy_rule(SHIPPED)
      local n = 0
      for line in io.lines(SHIPPED .. "/eval/test.jsonl") do
        n = n + 1
        if n > 40 then break end
        local ex = mllm.json_decode(line)
        local ids = tok:encode(chat.prompt_text(ex.messages, apis), { bos = true })
        local s <close> = model:session()
        chat.set_copy_rule({ c }, s, ex.messages, ids, function(i) return tok:piece(i) end, apis, pointer, copy_rule)
        if chat.copy_source(ex.messages) then  -- the rule holds while the request is the source
          local answer = assert(s:generate(ids, { max_tokens = 96, temperature = 0, constraint = c }))
          local _, reply = chat.parse_answer(answer)
          local request = chat.copy_source(ex.messages)
          assert.are.equal("", foreign(reply, request), "reply: " .. reply)
        end
      end
      c:close()
    end)

    it("do not garble the values a call just got right (the agent)", function()
      local a = agent.new(model, { handlers = actions() })
      local r = assert(a:run("send a whatsapp to Priya saying I'm on my way"))
      assert.are.equal("send_message", r.calls[1].name)
      assert.are.equal("Priya", r.calls[1].args.recipient)
      assert.are.equal("", foreign(r.reply, "send a whatsapp to Priya saying I'm on my way"), r.reply)
      assert.are.equal("Message sent to Priya on WhatsApp.", r.reply)
      -- without the reply rule, the same model writes characters of other scripts
      local free = agent.new(model, { reply_rule = false, handlers = actions() })
      local rf = assert(free:run("send a whatsapp to Priya saying I'm on my way"))
      assert.are_not.equal("", foreign(rf.reply, "send a whatsapp to Priya saying I'm on my way"), rf.reply)
      a:close()
      free:close()
    end)
  end)

  describe("values", function()
    it("reach validation whole: 150 is reported, never cut to 15", function()
      local set = nil
      local handlers = actions()
      handlers.set_volume = function(args) set = args.level end
      local a = agent.new(model, { handlers = handlers, max_steps = 1 })
      assert.is_true(a.decoding.copy)
      local r = assert(a:run("turn the volume to 150"))
      assert.are.equal(1, #r.calls, r.text)
      assert.are.equal("set_volume", r.calls[1].name)
      assert.is_false(r.calls[1].ok)
      assert.are.equal("set_volume: argument 'level' must be at most 100, got 150", r.calls[1].error)
      assert.is_nil(set)
      -- and the agent answers that it cannot: the error ends the turn (stop_after_error, on with a
      -- reply rule: the model never saw an error in training)
      assert.are.equal("Error: set_volume: argument 'level' must be at most 100, got 150", r.reply)
      assert.are.equal("error", r.stop)
      a:close()
    end)

    it("an enum takes the user's own word under the copy rule (validation names the values)", function()
      local apis = assert(chat.load_apis(SHIPPED .. "/apis.json"))
      local c = mllm.constraint(apis, model)
      c:set_source("send a telegram to Bob saying hi")
      local text = '<tool_call>send_message(recipient="Bob", text="hi", app="telegram")</tool_call>'
      assert.are.equal("free", c:check(text))
      local reg = assert(tools.from_apis(apis))
      local calls = assert(mllm.parse_calls(text))
      local args, err = reg:validate(calls[1])
      assert.is_nil(args)
      assert.truthy(err:find("app", 1, true) and err:find("telegram", 1, true), err)
      c:close()
    end)
  end)

  describe("a conversation", function()
    it("survives a message that cannot fit: refused by the error rule, the history as it was", function()
      local a = agent.new(model, { handlers = actions(), n_ctx = 256 })
      local conv = a:conversation()
      assert(conv:send("wake me up at 6:45 am tomorrow please"))
      local before = #conv.messages
      local long = ("please remember that the red house by the old bridge is mine "):rep(20)
      local r, err = conv:send(long)
      assert.is_nil(r)
      assert.matches("^prompt of %d+ tokens does not fit the context", err)
      assert.are.equal(before, #conv.messages)
      local r2 = assert(conv:send("turn the volume up to 70"))
      assert.are.equal("set_volume", r2.calls[1] and r2.calls[1].name, r2.text)
      conv:close()
      a:close()
    end)
  end)
end)

describe("mobilellm convert", function()
  it("carries every companion file of the model directory across and lists them", function()
    local out = H.tmpdir() .. "/q8"
    local p = io.popen("bin/mobilellm convert " .. SHIPPED .. " " .. out .. " --dtype q8 --threads 1 2>&1")
    local text = p:read("a")
    p:close()
    assert.matches("\ncopied from " .. SHIPPED:gsub("%-", "%%-") .. ": config.json, tokenizer.model, chat_template.jinja, apis.json, "
      .. "copy_pointer.json, copy_rule.json, reply_rule.json, eval/test.jsonl, eval/tools.json, eval/tools_test.jsonl\n$", text)
    for _, name in ipairs { "chat_template.jinja", "apis.json", "copy_pointer.json", "copy_rule.json", "reply_rule.json",
                            "eval/test.jsonl", "eval/tools.json", "eval/tools_test.jsonl" } do
      assert.are.equal(H.read(SHIPPED .. "/" .. name), H.read(out .. "/" .. name), name)
    end
    local m = assert(mllm.load(out, { threads = 1 }))
    local a = agent.new(m, { handlers = {} })
    assert.is_table(a.decoding.pointer)  -- the converted model decodes at its best too
    a:close()
    m:close()
  end)
end)
