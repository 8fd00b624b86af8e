-- Sessions: fork, save and restore.
local mllm = require("mobilellm")
local H = require("support.helpers")

describe("session state", function()
  local e = H.expected("f32-ls")
  local model = assert(mllm.load(e.dir, { threads = 1 }))

  it("forks: the fork continues exactly like the original, independently", function()
    local base = model:session({ n_ctx = 64 })
    assert(base:eval({ table.unpack(e.prompt, 1, 4) }))
    local a, b = base:fork(), base:fork()
    assert.are.equal(4, a:pos())
    assert.are.same(base:logits(), a:logits())
    assert(a:eval({ table.unpack(e.prompt, 5) }))
    local d = H.max_diff(a:logits(), e.logits, (#e.prompt - 1) * e.n_vocab, e.n_vocab)
    assert.is_true(d <= 1e-4)
    assert(b:eval({ 9 }))        -- b diverges; a and base are untouched
    assert.are.equal(4, base:pos())
    assert.are.equal(#e.prompt, a:pos())
    local _, info = a:generate({}, { max_tokens = 3, stop_at_eos = false })
    assert.are.equal(3, info.generated_tokens)
  end)

  it("saves and restores a session, and the restored one generates the same", function()
    local dir = H.tmpdir()
    local s = model:session({ n_ctx = 64 })
    assert(s:eval(e.prompt))
    assert.is_true(s:save(dir .. "/state.bin"))
    local r = assert(model:session({ n_ctx = 64, restore = dir .. "/state.bin" }))
    assert.are.equal(#e.prompt, r:pos())
    assert.are.same(s:logits(), r:logits())
    local ids = {}
    for _, id in r:stream({}, { max_tokens = 5, stop_at_eos = false }) do ids[#ids + 1] = id end
    assert.are.same({ table.unpack(e.greedy, 1, 5) }, ids)
    H.rmdir(dir)
  end)

  it("refuses a state saved with another model, a corrupt file and a too-small context", function()
    local dir = H.tmpdir()
    local s = model:session({ n_ctx = 64 })
    assert(s:eval(e.prompt))
    assert(s:save(dir .. "/state.bin"))
    local other = assert(mllm.load(H.FIXTURES .. "/f32-basic"))
    local r, err = other:session({ restore = dir .. "/state.bin" })
    assert.is_nil(r)
    assert.matches("the session was saved with another model", err, 1, true)
    r, err = model:session({ n_ctx = 4, restore = dir .. "/state.bin" })
    assert.is_nil(r)
    assert.matches("7 saved positions do not fit n_ctx 4", err, 1, true)
    local data = H.read(dir .. "/state.bin")
    H.write(dir .. "/cut.bin", data:sub(1, #data - 10))
    r, err = model:session({ restore = dir .. "/cut.bin" })
    assert.is_nil(r)
    assert.matches("file is truncated", err, 1, true)
    H.write(dir .. "/junk.bin", "hello")
    r, err = model:session({ restore = dir .. "/junk.bin" })
    assert.is_nil(r)
    assert.matches("not a saved mobilellm session", err, 1, true)
    -- a file of the first format (whole cache rows per layer) is named as such
    H.write(dir .. "/v1.bin", "MLLMSES1" .. H.read(dir .. "/state.bin"):sub(9))
    r, err = model:session({ restore = dir .. "/v1.bin" })
    assert.is_nil(r)
    assert.matches("saved by an older mobilellm", err, 1, true)
    r, err = model:session({ restore = dir .. "/missing.bin" })
    assert.is_nil(r)
    assert.matches("cannot open", err, 1, true)
    local ok, serr = s:save("/nonexistent-dir/x.bin")
    assert.is_nil(ok)
    assert.matches("cannot open for writing", serr, 1, true)
    H.rmdir(dir)
  end)

  -- log softmax(logits)[id] in Lua, the reference for s:score
  local function log_prob(logits, id)
    local max = -math.huge
    for _, v in ipairs(logits) do if v > max then max = v end end
    local sum = 0
    for _, v in ipairs(logits) do sum = sum + math.exp(v - max) end
    return logits[id + 1] - max - math.log(sum)
  end

  it("scores tokens as the log-probabilities the logits give, and then holds them", function()
    local n = #e.prompt
    local s, ref = model:session({ n_ctx = 64 }), model:session({ n_ctx = 64 })
    assert(s:eval({ e.prompt[1] }))
    assert(ref:eval({ e.prompt[1] }))
    local rest = { table.unpack(e.prompt, 2) }
    local total, lps = s:score(rest)
    assert.are.equal(n - 1, #lps)
    local sum = 0
    for k, id in ipairs(rest) do
      local want = log_prob(ref:logits(), id)
      assert.is_true(math.abs(lps[k] - want) <= 1e-9, string.format("token %d: %.12g vs %.12g", k, lps[k], want))
      assert.is_true(lps[k] < 0)
      sum = sum + lps[k]
      assert(ref:eval({ id }))
    end
    assert.is_true(math.abs(total - sum) <= 1e-9)
    assert.are.equal(n, s:pos())  -- the session continues as after eval
    assert.is_true(H.max_diff(s:logits(), e.logits, (n - 1) * e.n_vocab, e.n_vocab) <= 1e-4)
    -- the greedy next token is the likeliest: it scores higher than another token
    local best = e.greedy[1]
    local a, b = s:fork(), s:fork()
    local lp_best = a:score({ best })
    local lp_other = b:score({ (best + 1) % e.n_vocab })
    assert.is_true(lp_best > lp_other)
  end)

  it("refuses to score without logits, an empty array, an id outside the vocabulary, a full context", function()
    local s = model:session({ n_ctx = 8 })
    assert.has_error(function() s:score({ 5 }) end, "the session has no logits yet (evaluate a prompt first)")
    assert(s:eval({ 1, 5, 9 }))
    -- #1 (#2 in test-asan's proxy run, whose wrapper calls the method as a plain function)
    assert.error_matches(function() s:score({}) end, "^bad argument #%d to 'score' %(no tokens to score%)$")
    assert.has_error(function() s:score({ 5, e.n_vocab }) end,
      "token id " .. e.n_vocab .. " at index 2 is outside the vocabulary [0, " .. e.n_vocab .. ")")
    assert.error_matches(function() s:score("hello") end, "^bad argument #%d to 'score' %(table expected, got string%)$")
    local ok, err = s:score({ 1, 2, 3, 4, 5, 6 })
    assert.is_nil(ok)
    assert.matches("context full: 6 tokens at position 3 do not fit n_ctx 8", err, 1, true)
    assert.are.equal(3, s:pos())  -- unchanged by the refusals
    local total = s:score({ 1, 2, 3, 4, 5 })
    assert.is_number(total)
    assert.are.equal(8, s:pos())
  end)
end)

describe("f16 KV cache (kv_type = \"f16\")", function()
  local e = H.expected("f16-gqa3")
  local model = assert(mllm.load(e.dir))

  it("gives logits close to the f32 cache and the same greedy continuation", function()
    local a, b = model:session(), model:session({ kv_type = "f16" })
    assert.are.equal("mobilellm.Session (pos 0 of " .. b:n_ctx() .. ", kv f16)", tostring(b))
    local ga = assert(a:generate(e.prompt, { max_tokens = 12 }))
    local gb = assert(b:generate(e.prompt, { max_tokens = 12 }))
    assert.are.same(ga, gb)
    local la, lb, worst = a:logits(), b:logits(), 0
    for i = 1, #la do worst = math.max(worst, math.abs(la[i] - lb[i])) end
    assert.is_true(worst > 0, "f16 rounding changes something")
    assert.is_true(worst < 2e-2, "max |f16 - f32| = " .. worst)
  end)

  it("forks, saves and restores an f16 cache, and refuses to mix cache types", function()
    local dir = H.tmpdir()
    local s = model:session({ kv_type = "f16" })
    assert(s:eval(e.prompt))
    local f = s:fork()
    assert.are.same(s:logits(), f:logits())
    assert(s:save(dir .. "/f16.bin"))
    local r = assert(model:session({ kv_type = "f16", restore = dir .. "/f16.bin" }))
    assert.are.same(s:generate({}, { max_tokens = 6 }), r:generate({}, { max_tokens = 6 }))
    assert.are.same(f:generate({}, { max_tokens = 6 }), model:session({ kv_type = "f16", restore = dir .. "/f16.bin" })
      :generate({}, { max_tokens = 6 }))
    local x, err = model:session({ restore = dir .. "/f16.bin" })
    assert.is_nil(x)
    assert.matches("saved with kv_type f16, this one has f32", err, 1, true)
    H.rmdir(dir)
  end)

  it("is the default (\"auto\") for quantized weights only", function()
    assert.are.equal("mobilellm.Session (pos 0 of 64)", tostring(model:session({ n_ctx = 64 })))
    for _, dt in ipairs({ "q8", "q4" }) do
      local q = assert(mllm.load(H.FIXTURES .. "/f32-ls", { dtype = dt }))
      assert.are.equal("mobilellm.Session (pos 0 of 64, kv f16)", tostring(q:session({ n_ctx = 64 })))
      assert.are.equal("mobilellm.Session (pos 0 of 64, kv f16)", tostring(q:session({ n_ctx = 64, kv_type = "auto" })))
      assert.are.equal("mobilellm.Session (pos 0 of 64)", tostring(q:session({ n_ctx = 64, kv_type = "f32" })))
    end
    assert.are.equal("mobilellm.Session (pos 0 of 64)", tostring(model:session({ n_ctx = 64, kv_type = "auto" })))
  end)

  it("names a wrong kv_type", function()
    assert.has_error(function() model:session({ kv_type = "q8" }) end, 'kv_type must be "auto", "f32" or "f16", got "q8"')
    assert.has_error(function() model:session({ kv_type = 16 }) end, "option 'kv_type' must be a string, got number")
  end)
end)
