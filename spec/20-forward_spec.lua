-- The forward pass against the independent float64 reference (tools/reference.py).
local mllm = require("mobilellm")
local H = require("support.helpers")

local TOL = 1e-4

describe("forward pass", function()
  for _, name in ipairs(H.VARIANTS) do
    describe(name, function()
      local e = H.expected(name)
      local model = assert(mllm.load(e.dir, { threads = 1 }))

      it("matches the reference logits at every position, one token at a time (decode path)", function()
        local s = model:session({ n_ctx = 64 })
        for p = 1, #e.prompt do
          assert(s:eval({ e.prompt[p] }))
          local d = H.max_diff(s:logits(), e.logits, (p - 1) * e.n_vocab, e.n_vocab)
          assert.is_true(d <= TOL, string.format("position %d: max abs diff %.3g", p, d))
        end
        assert.are.equal(#e.prompt, s:pos())
      end)

      it("matches the reference after a batched prefill, whole and in chunks", function()
        for _, n_batch in ipairs({ 64, 3, 1 }) do
          local s = model:session({ n_ctx = 64, n_batch = n_batch })
          assert(s:eval(e.prompt))
          local d = H.max_diff(s:logits(), e.logits, (#e.prompt - 1) * e.n_vocab, e.n_vocab)
          assert.is_true(d <= TOL, string.format("n_batch %d: max abs diff %.3g", n_batch, d))
        end
      end)

      it("reproduces the reference's greedy continuation of 20 tokens", function()
        local ids = {}
        for _, id in model:stream(e.prompt, { max_tokens = 20, stop_at_eos = false, temperature = 0 }) do
          ids[#ids + 1] = id
        end
        assert.are.same(e.greedy, ids)
      end)

      it("continues a prefilled prompt with mixed batch and single steps", function()
        local s = model:session({ n_ctx = 64 })
        local half = #e.prompt // 2
        assert(s:eval({ table.unpack(e.prompt, 1, half) }))
        assert(s:eval({ table.unpack(e.prompt, half + 1) }))
        local d = H.max_diff(s:logits(), e.logits, (#e.prompt - 1) * e.n_vocab, e.n_vocab)
        assert.is_true(d <= TOL)
      end)
    end)
  end

  it("gives the same logits with 1 and 2 threads", function()
    local e = H.expected("f32-ls")
    local a = assert(mllm.load(e.dir, { threads = 1 })):session()
    local b = assert(mllm.load(e.dir, { threads = 2 })):session()
    assert(a:eval(e.prompt))
    assert(b:eval(e.prompt))
    local la, lb = a:logits(), b:logits()
    assert.is_true(H.max_diff(la, lb, 0, #la) < 1e-5)
  end)

  it("executes each block twice with layer sharing (a different result than once)", function()
    -- the f32-ls weights loaded as a plain model must give different logits
    local e = H.expected("f32-ls")
    local dir = H.tmpdir()
    H.copy_dir(e.dir, dir)
    local cfg = H.read(dir .. "/config.json"):gsub('"layer_sharing"%s*:%s*true', '"layer_sharing": false')
    H.write(dir .. "/config.json", cfg)
    local plain = assert(mllm.load(dir))
    assert.are.equal(3, plain.config.executed_layers)
    local s = plain:session()
    assert(s:eval(e.prompt))
    local d = H.max_diff(s:logits(), e.logits, (#e.prompt - 1) * e.n_vocab, e.n_vocab)
    assert.is_true(d > 1e-2)
    H.rmdir(dir)
  end)

  describe("session", function()
    local e = H.expected("f32-basic")
    local model = assert(mllm.load(e.dir))

    it("rewinds and recomputes the same logits", function()
      local s = model:session({ n_ctx = 32 })
      assert(s:eval(e.prompt))
      local first = s:logits()
      s:rewind(3)
      assert.are.equal(3, s:pos())
      assert.has_error(function() s:logits() end, "the session has no logits yet (call eval first)")
      assert(s:eval({ table.unpack(e.prompt, 4) }))
      local d = H.max_diff(s:logits(), first, 0, #first)
      assert.is_true(d < 1e-5, tostring(d))
      s:rewind()
      assert.are.equal(0, s:pos())
    end)

    it("reports a full context as nil, message and stays usable", function()
      local s = model:session({ n_ctx = 8 })
      assert(s:eval({ 3, 4, 5, 6, 7 }))
      local ok, err = s:eval({ 8, 9, 10, 11 })
      assert.is_nil(ok)
      assert.are.equal("context full: 4 tokens at position 5 do not fit n_ctx 8", err)
      assert.are.equal(5, s:pos())
      assert(s:eval({ 8, 9, 10 }))
      assert.are.equal(8, s:n_ctx())
    end)

    it("raises on ids outside the vocabulary and on bad arguments", function()
      local s = model:session({ n_ctx = 8 })
      assert.has_error(function() s:eval({ 256 }) end, "token id 256 at index 1 is outside the vocabulary [0, 256)")
      assert.has_error(function() s:eval({ 3, -1 }) end, "token id -1 at index 2 is outside the vocabulary [0, 256)")
      assert.has_error(function() s:eval({ 3, 1.5 }) end, "token id at index 2 is not an integer (number)")
      -- #1 (#2 in test-asan's proxy run, whose wrapper calls the method as a plain function)
      assert.error_matches(function() s:eval({}) end, "^bad argument #%d to 'eval' %(no tokens to evaluate%)$")
      assert.error_matches(function() s:eval("hello") end, "^bad argument #%d to 'eval' %(table expected, got string%)$")
      assert.has_error(function() s:rewind(9) end, "bad argument #1 to 'rewind' (position must be in [0, 0])")
      assert.has_error(function() model:session({ n_ctx = 100000 }) end,
        "option 'n_ctx' must be in [0, 2048], got 100000")
      assert.has_error(function() model:session({ n_ctx = "big" }) end, "option 'n_ctx' must be an integer, got string")
      assert.are.equal(0, s:pos())
    end)

    it("keeps its model alive and prints its state", function()
      local s = model:session({ n_ctx = 16 })
      assert.are.equal(model, s:model())
      assert.are.equal("mobilellm.Session (pos 0 of 16)", tostring(s))
      do
        local s2 <close> = model:session({ n_ctx = 4 })
        assert(s2:eval({ 5 }))
      end
      s:close()
      assert.are.equal("mobilellm.Session (closed)", tostring(s))
    end)
  end)
end)

describe("Llama 3's RoPE scaling", function()
  it("is in model.config and `mobilellm info` (the logits are checked above, on f32-llama3-rope)", function()
    local dir = H.FIXTURES .. "/f32-llama3-rope"
    local m = assert(mllm.load(dir))
    assert.are.same({ rope_type = "llama3", factor = 8, low_freq_factor = 1, high_freq_factor = 4,
                      original_max_position_embeddings = 64 }, m.config.rope_scaling)
    m:close()
    assert.is_nil(assert(mllm.load(H.FIXTURES .. "/f16-gqa3")).config.rope_scaling)
    local code, text = H.cli({ "info", dir })
    assert.are.equal(0, code, text)
    assert.matches("context       2048 tokens, rope theta 10000 (llama3 scaling: factor 8 over 64 positions)\n",
      text, 1, true)
  end)
end)
