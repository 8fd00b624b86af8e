-- Generation: sampling options, stopping, streaming, callbacks and errors.
local mllm = require("mobilellm")
local H = require("support.helpers")

local function ids_of(model, prompt, opts)
  local ids = {}
  for _, id in model:stream(prompt, opts) do ids[#ids + 1] = id end
  return ids
end

describe("generation", function()
  local e = H.expected("f32-basic")
  local model = assert(mllm.load(e.dir, { threads = 1 }))

  it("is greedy by default and reports what it did", function()
    local text, info = model:generate(e.prompt, { max_tokens = 5 })
    assert.are.equal("", text) -- no tokenizer: ids only
    assert.are.equal(#e.prompt, info.prompt_tokens)
    assert.are.equal(5, info.generated_tokens)
    assert.are.equal("length", info.stop)
    assert.is_true(info.prefill_seconds >= 0 and info.decode_seconds >= 0)
    assert.is_true(info.decode_tps > 0)
    assert.are.same({ table.unpack(e.greedy, 1, 5) }, ids_of(model, e.prompt, { max_tokens = 5 }))
  end)

  it("samples reproducibly for a seed, and differently for another", function()
    local opts = { max_tokens = 20, temperature = 1.5, seed = 42, stop_at_eos = false }
    local a = ids_of(model, e.prompt, opts)
    local b = ids_of(model, e.prompt, opts)
    assert.are.same(a, b)
    opts.seed = 43
    assert.are_not.same(a, ids_of(model, e.prompt, opts))
  end)

  it("equals greedy with top_k = 1, and with a tiny top_p", function()
    local g = { table.unpack(e.greedy, 1, 10) }
    assert.are.same(g, ids_of(model, e.prompt, { max_tokens = 10, temperature = 1, top_k = 1, seed = 1, stop_at_eos = false }))
    assert.are.same(g, ids_of(model, e.prompt, { max_tokens = 10, temperature = 1, top_p = 1e-6, seed = 1, stop_at_eos = false }))
    assert.are.same(g, ids_of(model, e.prompt, { max_tokens = 10, temperature = 1, min_p = 0.999, seed = 1, stop_at_eos = false }))
  end)

  it("only samples among the top_k tokens", function()
    local s = model:session()
    assert(s:eval(e.prompt))
    local lg = s:logits()
    local order = {}
    for i = 1, #lg do order[i] = i - 1 end
    table.sort(order, function(x, y) return lg[x + 1] > lg[y + 1] end)
    local allowed = { [order[1]] = true, [order[2]] = true, [order[3]] = true }
    for seed = 1, 30 do
      local id = ids_of(model, e.prompt, { max_tokens = 1, temperature = 5, top_k = 3, seed = seed })[1]
      assert.is_true(allowed[id], "sampled " .. id)
    end
  end)

  it("penalizes repetition", function()
    local plain = ids_of(model, e.prompt, { max_tokens = 20, stop_at_eos = false })
    local pen = ids_of(model, e.prompt, { max_tokens = 20, stop_at_eos = false, repeat_penalty = 5 })
    assert.are_not.same(plain, pen)
    local seen, repeats = {}, 0
    for _, id in ipairs(pen) do if seen[id] then repeats = repeats + 1 end seen[id] = true end
    local seen2, repeats2 = {}, 0
    for _, id in ipairs(plain) do if seen2[id] then repeats2 = repeats2 + 1 end seen2[id] = true end
    assert.is_true(repeats < repeats2)
  end)

  it("stops at EOS when asked, and reports it", function()
    -- f32-basic's greedy path goes through id 1 and 0; make 'eos' the third greedy token
    local dir = H.tmpdir()
    H.copy_dir(e.dir, dir)
    local cfg = H.read(dir .. "/config.json"):gsub('"eos_token_id"%s*:%s*%d+', '"eos_token_id": ' .. e.greedy[3])
    H.write(dir .. "/config.json", cfg)
    local m = assert(mllm.load(dir))
    local _, info = m:generate(e.prompt, { max_tokens = 20 })
    assert.are.equal("eos", info.stop)
    assert.are.equal(3, info.generated_tokens)
    H.rmdir(dir)
  end)

  it("generates nothing with max_tokens = 0", function()
    local text, info = model:generate(e.prompt, { max_tokens = 0 })
    assert.are.equal("", text)
    assert.are.equal(0, info.generated_tokens)
  end)

  it("stops at the end of the context with reason 'context'", function()
    local _, info = model:generate(e.prompt, { max_tokens = 50, n_ctx = 10, stop_at_eos = false })
    assert.are.equal("context", info.stop)
    assert.are.equal(10 - #e.prompt + 1, info.generated_tokens)
  end)

  it("returns nil, message for a prompt longer than the context", function()
    local long = {}
    for i = 1, 40 do long[i] = 3 + i end
    local text, err = model:generate(long, { n_ctx = 16 })
    assert.is_nil(text)
    assert.are.equal("prompt of 40 tokens does not fit the context (n_ctx 16, 0 already used)", err)
  end)

  it("continues a session across calls", function()
    local s = model:session({ n_ctx = 64 })
    local _, info = s:generate(e.prompt, { max_tokens = 4, stop_at_eos = false })
    assert.are.equal(#e.prompt + 4, s:pos())
    assert.are.equal(4, info.generated_tokens)
    local ids = {}
    for _, id in s:stream({ e.greedy[5] }, { max_tokens = 3, stop_at_eos = false }) do ids[#ids + 1] = id end
    assert.are.same({ table.unpack(e.greedy, 6, 8) }, ids)
  end)

  it("can be abandoned with break, leaving the session usable", function()
    local s = model:session({ n_ctx = 64 })
    local n = 0
    for _ in s:stream(e.prompt, { max_tokens = 10, stop_at_eos = false }) do
      n = n + 1
      if n == 3 then break end
    end
    assert.are.equal(#e.prompt + 3, s:pos())
    assert(s:eval({ 5 }))
  end)

  it("calls on_token for each token and stops when it returns false", function()
    local seen = {}
    local _, info = model:generate(e.prompt, { max_tokens = 10, stop_at_eos = false, on_token = function(piece, id)
      seen[#seen + 1] = id
      assert.are.equal("string", type(piece))
      if #seen == 4 then return false end
    end })
    assert.are.same({ table.unpack(e.greedy, 1, 4) }, seen)
    assert.are.equal(4, info.generated_tokens)
  end)

  it("frees everything when a callback raises, and stays usable", function()
    local s = model:session({ n_ctx = 64 })
    local ok, err = pcall(s.generate, s, e.prompt, { max_tokens = 5, on_token = function() error("boom") end })
    assert.is_false(ok)
    assert.matches("boom", err)
    assert(s:eval({ 5 }))
  end)

  it("validates every option and names the bad one", function()
    local cases = {
      { { max_tokens = -1 }, "option 'max_tokens' must be in [0, 131072], got -1" },
      { { max_tokens = "x" }, "option 'max_tokens' must be an integer, got string" },
      { { temperature = -0.5 }, "option 'temperature' must be in [0, 1e+06], got -0.5" },
      { { temperature = 0 / 0 }, "option 'temperature' must be in [0, 1e+06], got" },
      { { temperature = math.huge }, "option 'temperature' must be in [0, 1e+06], got inf" },
      { { top_p = 0 }, "option 'top_p' must be in" },
      { { top_k = -2 }, "option 'top_k' must be in" },
      { { min_p = 1 }, "option 'min_p' must be in" },
      { { repeat_penalty = 0 }, "option 'repeat_penalty' must be in" },
      { { seed = 1.5 }, "option 'seed' must be an integer, got number" },
      { { stop = 3 }, "option 'stop' must be a string or an array of strings, got number" },
      { { stop = { "" } }, "option 'stop' has an empty string (entry 1)" },
      { { stop_at_eos = "yes" }, "option 'stop_at_eos' must be a boolean, got string" },
      { { on_token = 5 }, "option 'on_token' must be a function" },
      { { draft_tokens = 17 }, "option 'draft_tokens' must be in [0, 16], got 17" },
      { { draft_tokens = -1 }, "option 'draft_tokens' must be in [0, 16], got -1" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(model.generate, model, e.prompt, c[1])
      assert.is_false(ok)
      assert.matches(c[2], err, 1, true)
    end
    -- a number is not a prompt (lua_tolstring would have made it the text "42")
    -- (#%d: the proxy run of test-asan calls the method as a plain function, one argument later)
    assert.error_matches(function() model:generate(42) end,
      "^bad argument #%d to 'generate' %(string or array of token ids expected, got number%)$")
    assert.has_error(function() model:generate("42") end,
      "this model has no tokenizer: pass the prompt as an array of token ids")
    assert.has_error(function() model:generate({ 999 }) end, "token id 999 at index 1 is outside the vocabulary [0, 256)")
  end)
end)
