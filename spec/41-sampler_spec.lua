-- mobilellm.Sampler (model:sampler): the sampling of a generation on its own,
-- for decoding loops written in Lua.
local mllm = require("mobilellm")
local H = require("support.helpers")

describe("model:sampler", function()
  local model = assert(mllm.load(H.FIXTURES .. "/bf16-vocab32k", { threads = 1 }))
  local other = assert(mllm.load(H.FIXTURES .. "/f32-basic", { threads = 1 }))

  it("greedy: the argmax of the session's logits, and a Lua loop gives generate's tokens", function()
    local s = model:session({ n_ctx = 64 })
    assert(s:eval({ 1, 450, 4996 }))
    local smp <close> = model:sampler()
    assert.are.equal(H.argmax(s:logits()), smp:sample(s))
    local ids = {}
    for _ = 1, 8 do
      local id = smp:sample(s)
      ids[#ids + 1] = id
      assert(s:eval({ id }))
    end
    local want = {}
    model:generate({ 1, 450, 4996 }, { max_tokens = 8, stop_at_eos = false,
      on_token = function(_, id) want[#want + 1] = id end })
    assert.are.same(want, ids)
  end)

  it("with a temperature and a seed: reproducible, and a seed of its own per sampler", function()
    local s = model:session({ n_ctx = 16 })
    assert(s:eval({ 1, 450 }))
    local function draws(seed)
      local smp = model:sampler({ temperature = 1.5, seed = seed })
      local t = {}
      for i = 1, 12 do t[i] = smp:sample(s) end
      return t
    end
    assert.are.same(draws(7), draws(7))
    assert.are_not.same(draws(7), draws(8))
  end)

  it("a repetition penalty on the history moves greedy off a repeated token", function()
    local s = model:session({ n_ctx = 16 })
    assert(s:eval({ 1, 450 }))
    local best = model:sampler():sample(s)
    local penalized = model:sampler({ repeat_penalty = 1e6 }):sample(s, { best })
    assert.are_not.equal(best, penalized)
  end)

  it("refuses what it cannot use, naming it", function()
    local s = model:session({ n_ctx = 16 })
    local smp = model:sampler()
    assert.error_matches(function() smp:sample(s) end, "the session has no logits yet %(call eval first%)")
    local so = other:session({ n_ctx = 8 })
    assert(so:eval({ 1 }))
    assert.error_matches(function() smp:sample(so) end, "a session of a vocabulary of 256, the sampler's is 32000")
    assert(s:eval({ 1 }))
    assert.error_matches(function() smp:sample(s, { 32000 }) end, "token id 32000 at index 1 is outside the vocabulary")
    assert.error_matches(function() model:sampler({ temperature = -1 }) end, "option 'temperature' must be in")
    smp:close()
    assert.error_matches(function() smp:sample(s) end, "attempt to use a closed sampler")
    assert.are.equal("mobilellm.Sampler (closed)", tostring(smp))
  end)

  it("refuses an unknown option #raw_keys", function()
    assert.error_matches(function() model:sampler({ temp = 1 }) end, "unknown option 'temp' to sampler")
  end)
end)
