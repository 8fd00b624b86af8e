-- The shipped model (models/mobilellm-tiny-api) in our engine against the logits
-- PyTorch computed for the same checkpoint (tools/make_shipped_reference.py).
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")
local H = require("support.helpers")

local MODEL = "models/mobilellm-tiny-api"
local FIXTURE = "spec/fixtures/shipped"

describe("the shipped model", function()
  local expected = dofile(FIXTURE .. "/expected.lua")
  local model = assert(mllm.load(MODEL, { threads = 1 }))

  it("is a MobileLLM-LS checkpoint in the release layout", function()
    local c = model.config
    assert.are.equal("mobilellm", c.model_type)
    assert.is_true(c.layer_sharing)
    assert.is_true(c.share_embedding)
    assert.are.equal(32000, c.vocab_size)
    assert.are.equal(2 * c.layers, c.executed_layers)
    assert.is_true(c.has_tokenizer)
  end)

  for i, case in ipairs(expected.cases) do
    it("matches PyTorch's last-position logits on test prompt " .. i .. " (max abs diff <= 1e-3)", function()
      local ref = H.read_f32(FIXTURE .. "/" .. case.logits_file)
      local s = model:session()
      assert(s:eval(case.prompt))
      local d = H.max_diff(s:logits(), ref, 0, expected.n_vocab)
      assert.is_true(d <= 1e-3, string.format("max abs diff %.3g", d))
    end)
  end

  it("ships a copy pointer whose attention probe matches PyTorch's (max abs diff <= 1e-4)", function()
    local pointer = assert(chat.load_pointer(MODEL))
    assert.are.same(expected.probe_heads, pointer.heads)
    assert.is_true(pointer.weight > 0)
    for i, case in ipairs(expected.cases) do
      for _, kv in ipairs({ "f32", "f16" }) do
        local s = model:session({ kv_type = kv }):set_probe(pointer.heads)
        assert(s:eval(case.prompt))
        local got, want = s:probe(), expected.probe[i]
        assert.are.equal(#want, #got)
        local d, sum = 0, 0
        for p = 1, #want do
          d = math.max(d, math.abs(got[p] - want[p]))
          sum = sum + got[p]
        end
        assert.is_true(d <= (kv == "f32" and 1e-4 or 2e-3), string.format("case %d, %s cache: max abs diff %.3g", i, kv, d))
        assert.is_true(math.abs(sum - 1) < 1e-4)
      end
    end
  end)

  it("builds each test prompt with the Lua chat template exactly as tools/chat_template.py did", function()
    local apis = assert(chat.load_apis("models/mobilellm-tiny-api/apis.json"))
    local want = {}
    for _, case in ipairs(expected.cases) do want[case.id] = case.prompt end
    local found = 0
    for line in io.lines("models/mobilellm-tiny-api/eval/test.jsonl") do
      local ex = mllm.json_decode(line)
      if want[ex.id] then
        assert.are.same(want[ex.id], model:tokenize(chat.prompt_text(ex.messages, apis), { bos = true }), ex.id)
        found = found + 1
      end
    end
    assert.are.equal(#expected.cases, found)
  end)

  it("continues test prompt 1 greedily exactly as PyTorch does", function()
    local ids = {}
    for _, id in model:stream(expected.cases[1].prompt, { max_tokens = 48 }) do ids[#ids + 1] = id end
    assert.are.same(expected.greedy, ids)
  end)

  it("answers a request with a call that parses into a Lua table", function()
    local apis = assert(chat.load_apis("models/mobilellm-tiny-api/apis.json"))
    local prompt = chat.prompt_text({ { role = "user", content = "set an alarm for 6:30 am" } }, apis)
    local answer = assert(model:generate(prompt, { max_tokens = 64 }))
    local call = chat.parse_answer(answer)
    assert.is_table(call, answer)
    assert.are.equal("set_alarm", call.name)
    assert.are.equal("6:30 am", call.args.time)
  end)

  -- Issue #36: a bare hour was only ever a volume level in the training data, and the model
  -- answered "wake me at 7" with set_volume(level=7).
  it("sets an alarm for a bare hour ('wake me at 7'), not the volume, with the agent's default decoding", function()
    local agent = require("mobilellm.agent")
    local log = {}
    local function tool(name)
      return function()
        log[#log + 1] = name
        return true
      end
    end
    local a = agent.new(model, { handlers = { set_alarm = tool("set_alarm"), set_volume = tool("set_volume") } })
    assert.is_truthy(a.decoding.constrain and a.decoding.copy and a.decoding.pointer and a.decoding.reply_rule)
    for _, request in ipairs({ "wake me at 7", "wake me up at 7", "please wake me at 7" }) do
      local r = assert(a:run(request))
      assert.are.equal(1, #r.calls, request)
      assert.are.same({ name = "set_alarm", args = { time = "7" } },
        { name = r.calls[1].name, args = r.calls[1].args }, request)
      assert.is_true(r.calls[1].ok, request)
    end
    assert.are.same({ "set_alarm", "set_alarm", "set_alarm" }, log)
    a:close()
  end)
end)
