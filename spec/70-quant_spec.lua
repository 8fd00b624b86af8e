-- Compute formats: conversion and quantization on load (dtype option).
local mllm = require("mobilellm")
local H = require("support.helpers")

-- ||a - ref|| / ||ref|| over the last position's logits
local function rel_err(a, ref, off, n)
  local num, den = 0, 0
  for i = 1, n do
    local d = a[i] - ref[off + i]
    num = num + d * d
    den = den + ref[off + i] ^ 2
  end
  return math.sqrt(num / den)
end

describe("dtype on load", function()
  -- random weights amplify rounding through the layers; matrix-level accuracy is
  -- checked tightly in spec/c/test_kernels.c, task-level accuracy by make bench
  local limits = { f32 = 2e-6, f16 = 3e-3, bf16 = 2e-2, q8 = 0.1, q4 = 0.8 }
  for _, name in ipairs({ "f32-basic", "f32-ls", "bf16-headdim" }) do
    for _, dt in ipairs({ "f32", "f16", "bf16", "q8", "q4" }) do
      it(string.format("%s as %s stays within %g of the reference", name, dt, limits[dt]), function()
        local e = H.expected(name)
        local m = assert(mllm.load(e.dir, { dtype = dt }))
        assert.are.equal(dt, m.config.compute)
        assert.truthy(tostring(m):find(dt, 1, true))
        local s = m:session()
        assert(s:eval(e.prompt))
        local err = rel_err(s:logits(), e.logits, (e.positions - 1) * e.n_vocab, e.n_vocab)
        -- a stored bf16 model is exact in every format that holds bf16 values exactly
        local limit = (name == "bf16-headdim" and dt ~= "q8" and dt ~= "q4") and 1e-6 or limits[dt]
        assert.is_true(err <= limit, string.format("relative error %.3g", err))
        -- the batched prefill and the one-token path agree in every format
        local s1 = m:session()
        for _, id in ipairs(e.prompt) do assert(s1:eval({ id })) end
        local a, b = s:logits(), s1:logits()
        assert.is_true(rel_err(a, b, 0, #b) < 1e-4)
      end)
    end
  end

  it("computes q8 and q4 with matrices whose rows are not a multiple of 8", function()
    -- the kernels take quantized rows 8 at a time, interleaved at load; a
    -- matrix of 36 rows (the embedding, here) stays row by row beside them
    local dir = H.make_model({ hidden_size = 32, intermediate_size = 64, vocab_size = 36 })
    local prompt = { 1, 5, 9, 33, 2, 17, 30 }
    local f = assert(mllm.load(dir, { dtype = "f32" })):session()
    assert(f:eval(prompt))
    local ref = f:logits()
    for dt, limit in pairs({ q8 = 0.1, q4 = 0.8 }) do
      local m = assert(mllm.load(dir, { dtype = dt }))
      local s, s1 = m:session(), m:session()
      assert(s:eval(prompt))
      for _, id in ipairs(prompt) do assert(s1:eval({ id })) end
      local err = rel_err(s:logits(), ref, 0, #ref)
      assert.is_true(err <= limit, string.format("%s: relative error %.3g", dt, err))
      assert.is_true(rel_err(s:logits(), s1:logits(), 0, #ref) < 1e-4)
    end
    H.rmdir(dir)
  end)

  it("keeps a stored format in place by default", function()
    local m = assert(mllm.load(H.FIXTURES .. "/f16-gqa3"))
    assert.are.equal("f16", m.config.compute)
    assert.are.equal("f16", m.config.dtype)
    m = assert(mllm.load(H.FIXTURES .. "/f16-gqa3", { dtype = "auto" }))
    assert.are.equal("f16", m.config.compute)
  end)

  it("refuses a quantized format when rows are not made of whole blocks", function()
    local m, err = mllm.load(H.FIXTURES .. "/f16-gqa3", { dtype = "q8" })
    assert.is_nil(m)
    assert.matches("dtype q8 needs rows that are a multiple of 32 values, but tensor 'model.embed_tokens.weight' has 72", err, 1, true)
  end)

  it("raises on an unknown dtype", function()
    assert.has_error(function() mllm.load(H.FIXTURES .. "/f32-basic", { dtype = "int3" }) end,
      'dtype must be "auto", "f32", "f16", "bf16", "q8" or "q4", got "int3"')
    assert.has_error(function() mllm.load(H.FIXTURES .. "/f32-basic", { dtype = 8 }) end,
      "option 'dtype' must be a string, got number")
  end)

  it("names the kernels it runs", function()
    local m = assert(mllm.load(H.FIXTURES .. "/f32-basic"))
    assert.truthy(({ scalar = true, avx2 = true, avx512 = true, neon = true })[m.config.kernels])
  end)
end)
