-- Text in and out on a model with the real LLaMA-2 vocabulary (random weights):
-- prompts as strings, UTF-8 safe streaming, stop strings.
local mllm = require("mobilellm")
local H = require("support.helpers")

describe("text generation", function()
  local e = H.expected("bf16-vocab32k")
  local model = assert(mllm.load(e.dir, { threads = 1 }))
  local greedy = { max_tokens = 40, stop_at_eos = false }

  it("tokenizes the prompt with BOS and matches the reference logits", function()
    assert.are.same(e.prompt, model:tokenize(e.prompt_text, { bos = true }))
    local s = model:session()
    assert(s:eval(e.prompt))
    assert.is_true(H.max_diff(s:logits(), e.logits, 0, e.n_vocab) <= 1e-4)
  end)

  it("generates the reference's greedy text from a string prompt", function()
    local text, info = model:generate(e.prompt_text, greedy)
    assert.are.equal(e.greedy_text, text)
    assert.are.equal(#e.prompt, info.prompt_tokens)
    assert.are.equal(model:detokenize(e.greedy), text)
  end)

  it("streams pieces that are each valid UTF-8 and add up to the text", function()
    local pieces, ids = {}, {}
    for piece, id in model:stream(e.prompt_text, greedy) do
      assert.is_not_nil(utf8.len(piece), "broken UTF-8 in piece " .. #pieces + 1)
      pieces[#pieces + 1] = piece
      ids[#ids + 1] = id
    end
    assert.are.equal(e.greedy_text, table.concat(pieces))
    assert.are.same(e.greedy, ids)
  end)

  it("stops at a stop string, even one spanning several tokens, and drops it", function()
    for _, stop in ipairs({ "zero", "less regardless", "\209\135" }) do
      local at = assert(e.greedy_text:find(stop, 1, true))
      local text, info = model:generate(e.prompt_text, { max_tokens = 40, stop = { "never-there", stop } })
      assert.are.equal(e.greedy_text:sub(1, at - 1), text)
      assert.are.equal("stop", info.stop)
      local streamed = {}
      for piece in model:stream(e.prompt_text, { max_tokens = 40, stop = stop }) do streamed[#streamed + 1] = piece end
      assert.are.equal(text, table.concat(streamed))
    end
  end)

  it("never hands out part of a stop string that then completes", function()
    local stop = "regardlessovern"
    local pieces = {}
    for piece in model:stream(e.prompt_text, { max_tokens = 40, stop = stop }) do pieces[#pieces + 1] = piece end
    local text = table.concat(pieces)
    assert.is_nil(text:find("regardlesso", 1, true))
    assert.are.equal(e.greedy_text:sub(1, e.greedy_text:find(stop, 1, true) - 1), text)
  end)

  it("raises for a prompt that is not UTF-8", function()
    assert.has_error(function() model:generate("caf\233") end, "text is not valid UTF-8 (byte 4)")
  end)

  it("hands out the model's tokenizer, which outlives the model's handle", function()
    local tok = model:tokenizer()
    local m2 = assert(mllm.load(e.dir))
    local tok2 = m2:tokenizer()
    m2:close()
    collectgarbage()
    assert.are.same(e.prompt, tok2:encode(e.prompt_text, { bos = true }))
    assert.are.equal(32000, tok:vocab_size())
  end)
end)

describe("sampled text", function()
  local e = H.expected("bf16-vocab32k")
  local model = assert(mllm.load(e.dir, { threads = 1 }))

  it("streams valid UTF-8 that adds up to sentencepiece's decoding, whatever is sampled", function()
    -- at a high temperature random weights pick byte tokens that do not form
    -- characters; they must come out as U+FFFD, as sentencepiece decodes them
    local replaced = 0
    for seed = 1, 25 do
      local pieces, ids = {}, {}
      for piece, id in model:stream(e.prompt_text, { max_tokens = 40, temperature = 1.5, seed = seed, stop_at_eos = false }) do
        assert.is_not_nil(utf8.len(piece), "seed " .. seed .. ": invalid UTF-8 in a piece")
        pieces[#pieces + 1] = piece
        ids[#ids + 1] = id
      end
      local text = table.concat(pieces)
      assert.are.equal(model:detokenize(ids), text)
      if text:find("\239\191\189", 1, true) then replaced = replaced + 1 end
    end
    assert.is_true(replaced > 0, "no seed exercised the byte-token path")
  end)
end)
