-- The copy pointer: a session's attention probe, the source positions of the copy constraint,
-- and a value's first word chosen with them.
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")
local H = require("support.helpers")

local MODEL = "models/mobilellm-tiny-api"

describe("session:set_probe and session:probe", function()
  local model = assert(mllm.load(H.FIXTURES .. "/bf16-vocab32k", { threads = 1 }))
  local layers, heads = model.config.executed_layers, model.config.heads

  it("gives the last token's attention over every position, averaged over the heads", function()
    local s = model:session():set_probe({ { 0, 0 }, { layers - 1, heads - 1 } })
    assert.is_nil(s:probe())                      -- nothing evaluated yet
    assert(s:eval({ 1, 15, 27, 99, 4 }))
    local w = s:probe()
    assert.are.equal(5, #w)
    local sum = 0
    for _, x in ipairs(w) do
      assert.is_true(x >= 0 and x <= 1)
      sum = sum + x
    end
    assert.is_true(math.abs(sum - 1) < 1e-5)
    assert(s:eval({ 8 }))                         -- one more token: one more position
    assert.are.equal(6, #s:probe())
    local f = s:fork()                            -- a fork keeps the heads and the weights
    assert.are.same(s:probe(), f:probe())
    assert(f:eval({ 9 }))
    assert.are.equal(7, #f:probe())
    s:rewind(3)                                   -- the weights belonged to the old end
    assert.is_nil(s:probe())
    s:set_probe(nil)
    assert(s:eval({ 5 }))
    assert.is_nil(s:probe())
  end)

  it("averages: the probe of two heads is the mean of each head's", function()
    local ids = { 1, 300, 301, 302, 303, 304 }
    local function probe(hs)
      local s = model:session():set_probe(hs)
      assert(s:eval(ids))
      return s:probe()
    end
    local a, b, ab = probe({ { 0, 0 } }), probe({ { layers - 1, heads - 1 } }), probe({ { 0, 0 }, { layers - 1, heads - 1 } })
    for p = 1, #ids do assert.is_true(math.abs(ab[p] - (a[p] + b[p]) / 2) < 1e-6) end
  end)

  it("reads an f16 key cache as it reads an f32 one", function()
    local ids, hs = { 1, 300, 301, 302, 303, 304 }, { { 0, 0 }, { layers - 1, heads - 1 } }
    local a = model:session():set_probe(hs)
    local b = model:session({ kv_type = "f16" }):set_probe(hs)
    assert(a:eval(ids))
    assert(b:eval(ids))
    local wa, wb = a:probe(), b:probe()
    assert.are.equal(#wa, #wb)
    for p = 1, #ids do assert.is_true(math.abs(wa[p] - wb[p]) < 2e-3, p) end
  end)

  it("refuses heads and layers out of range, and bad entries", function()
    local s = model:session()
    local many = {}
    for i = 1, 17 do many[i] = { 0, 0 } end
    local two_integers = "bad argument #1 to 'set_probe' (entry 1 must hold two integers {layer, head})"
    for _, case in ipairs {
      { { { layers, 0 } }, ("probe: layer %d outside [0, %d)"):format(layers, layers) },
      { { { 0, heads } }, ("probe: head %d outside [0, %d)"):format(heads, heads) },
      { { { -1, 0 } }, "bad argument #1 to 'set_probe' (entry 1: layer -1, head 0: each must be >= 0)" },
      { { { "a", 0 } }, two_integers },
      { { 3 }, "bad argument #1 to 'set_probe' (entry 1 must be a table {layer, head})" },
      { "x", "bad argument #1 to 'set_probe' (table expected, got string)" },
      { many, "bad argument #1 to 'set_probe' (17 heads, more than MLLM_MAX_PROBE_HEADS (16))" },
    } do
      assert.has_error(function() s:set_probe(case[1]) end, case[2])
    end
  end)
end)

describe("chat.copy_positions", function()
  local model = assert(mllm.load(MODEL, { threads = 1 }))
  local tok = model:tokenizer()
  local apis = assert(chat.load_apis("models/mobilellm-tiny-api/apis.json"))
  local piece = function(id) return tok:piece(id) end

  it("maps every byte of the copy source to the prompt token holding it, on the held-out set", function()
    local n = 0
    for line in io.lines("models/mobilellm-tiny-api/eval/test.jsonl") do
      local ex = mllm.json_decode(line)
      local ids = tok:encode(chat.prompt_text(ex.messages, apis), { bos = true })
      local src, pos = chat.copy_positions(ex.messages, ids, piece, apis)
      assert.are.equal(chat.copy_source(ex.messages), src, ex.id)
      if src then
        assert.are.equal(#src, #pos)
        for i = 1, #src do
          local c = src:sub(i, i)
          -- (the newline that joins two messages is in no token of theirs: -1)
          if not (c == "\n" and pos[i] == -1) then
            assert.is_true(pos[i] >= 1 and pos[i] < #ids, ex.id)
            local p = piece(ids[pos[i] + 1])
            if c:match("%w") then assert.truthy(p:find(c, 1, true), ex.id .. ": " .. c .. " in " .. p) end
          end
        end
        n = n + 1
      end
    end
    assert.is_true(n > 2500)
  end)

  it("gives nil when the tokens do not spell the prompt, or there is no user message", function()
    local msgs = { { role = "user", content = "call Ana" } }
    assert.is_nil(chat.copy_positions(msgs, { 1, 2, 3 }, piece, apis))
    assert.is_nil(chat.copy_positions({}, { 1 }, piece, apis))
  end)
end)

describe("the copy pointer", function()
  local model = assert(mllm.load(MODEL, { threads = 1 }))
  local tok = model:tokenizer()
  local apis = assert(chat.load_apis("models/mobilellm-tiny-api/apis.json"))
  local piece = function(id) return tok:piece(id) end
  local pointer = assert(chat.load_pointer(MODEL))

  -- The words of the source that start at a word start, with their bytes' positions.
  local function words(src)
    local t = {}
    for a, w in src:gmatch("()([%w']+)") do t[#t + 1] = { at = a, word = w } end
    return t
  end

  it("refuses positions that do not fit the source, and bad weights", function()
    local c = mllm.constraint(apis, model)
    local function bad_position(got)
      return "bad argument #2 to 'set_source' (position 2 must be an integer in [-1, 131072] (MLLM_MAX_CONTEXT), got "
        .. got .. ")"
    end
    for _, case in ipairs {
      { { "call Ana", { 0, 1 }, 1 }, "bad argument #2 to 'set_source' (2 positions for a source of 8 bytes)" },
      { { "ab", { 0, 1 }, -1 }, "bad argument #3 to 'set_source' (weight must be in [0, 1e6], got -1)" },
      { { "ab", { 0, "x" }, 1 }, bad_position("x") },
      { { "ab", { 0, -2 }, 1 }, bad_position("-2") },
      -- positions need a weight
      { { "ab", { 0, 1 } }, "bad argument #3 to 'set_source' (number expected, got no value)" },
    } do
      assert.has_error(function() c:set_source(table.unpack(case[1])) end, case[2])
    end
    c:set_source("ab", { 0, 1 }, 1)
  end)

  it("makes a value start at the word the probe weighs most, when its weight dominates", function()
    -- with a huge weight the probe alone picks the first word: check that against the probe
    -- read at the value's opening quote, on held-out requests
    local checked = 0
    for line in io.lines("models/mobilellm-tiny-api/eval/test.jsonl") do
      local ex = mllm.json_decode(line)
      if #ex.messages == 1 and ex.expected.call ~= mllm.null then
        local ids = tok:encode(chat.prompt_text(ex.messages, apis), { bos = true })
        local src, pos = chat.copy_positions(ex.messages, ids, piece, apis)
        local c = mllm.constraint(apis, model, { max_string = 96, max_calls = 1 })
        c:set_source(src, pos, 1e4)
        local s = model:session():set_probe(pointer.heads)
        local answer = assert(s:generate(ids, { max_tokens = 64, constraint = c }))
        local key_end, value = answer:match('%(%w+=()"([^"]*)"')
        if key_end then
          -- the probe at the opening quote: evaluate the answer up to it in a fresh session
          local s2 = model:session():set_probe(pointer.heads)
          local prefix = tok:encode(answer:sub(1, key_end), { bos = false })
          local all = {}
          for i, id in ipairs(ids) do all[i] = id end
          for _, id in ipairs(prefix) do all[#all + 1] = id end
          assert(s2:eval(all))
          if #s2:probe() == #all and tok:decode(prefix) == answer:sub(1, key_end) then
            local w = s2:probe()
            local best, best_mass = nil, -1
            for _, wd in ipairs(words(src)) do
              local mass, last = 0, nil
              for b = wd.at, wd.at + #wd.word - 1 do
                if pos[b] >= 0 and pos[b] ~= last then mass = mass + w[pos[b] + 1] end
                last = pos[b]
              end
              if mass > best_mass then best, best_mass = wd.word, mass end
            end
            assert.are.equal(best, value:match("^[%w']+"), ex.id .. ": " .. answer)
            checked = checked + 1
          end
        end
        if checked >= 8 then break end
      end
    end
    assert.is_true(checked >= 8)
  end)
end)

describe("agent option pointer", function()
  local agent = require("mobilellm.agent")
  local model = assert(mllm.load(MODEL, { threads = 1 }))
  local pointer = assert(chat.load_pointer(MODEL))

  it("needs copy and a well-formed pointer", function()
    assert.has_error(function()
      agent.new(model, { tools = "models/mobilellm-tiny-api/apis.json", constrain = true, copy = false, pointer = pointer })
    end, "agent.new: option 'pointer' needs 'copy'")
    assert.has_error(function()
      agent.new(model, { tools = "models/mobilellm-tiny-api/apis.json", constrain = true, copy = true, pointer = { weight = 1 } })
    end, "agent.new: option 'pointer' must be { heads = {{layer, head}, ...}, weight = number }")
  end)

  it("answers with values copied from the request", function()
    local a = agent.new(model, { tools = "models/mobilellm-tiny-api/apis.json", constrain = true, copy = true,
      pointer = pointer, handlers = {} })
    local r = a:run("send a whatsapp to Priya saying I'm on my way")
    assert.are.equal(1, #r.calls, r.text)
    assert.are.equal("send_message", r.calls[1].name)
    assert.are.equal("Priya", r.calls[1].args.recipient)
    assert.are.equal("I'm on my way", r.calls[1].args.text)
    a:close()
  end)
end)

describe("chat.load_pointer", function()
  it("reads a model directory's copy_pointer.json, nil without one, an error for a bad one", function()
    assert.is_nil(chat.load_pointer(H.FIXTURES .. "/bf16-vocab32k"))
    local dir = H.tmpdir()
    local f = assert(io.open(dir .. "/copy_pointer.json", "w"))
    f:write('{"heads": 3}')
    f:close()
    local p, err = chat.load_pointer(dir)
    assert.is_nil(p)
    assert.truthy(err:find("copy_pointer.json", 1, true))
  end)
end)
