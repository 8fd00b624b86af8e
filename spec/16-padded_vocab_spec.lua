-- Padded vocabularies (issue 34, item 8): a config vocab_size larger than the tokenizer's
-- pieces. The extra ids decode to nothing everywhere a model's tokenizer is used (streams,
-- token_piece, detokenize, model:tokenizer()); ids past vocab_size are still refused, and a
-- tokenizer loaded on its own still refuses every id past its pieces.
local mllm = require("mobilellm")
local H = require("support.helpers")

local PIECES, V, D = 32000, 32016, 16

-- A model with the LLaMA-2 tokenizer and 16 padding ids. Its lm_head has zero rows for the
-- pieces and +1 / -1 rows for ids 32000 / 32001: whatever the hidden state, one of those two
-- beats every piece, so greedy decoding emits padding ids.
local function padded_model()
  local dir = H.make_model({ vocab_size = V, hidden_size = D, share_embedding = false,
                             tie_word_embeddings = false }, function(tensors)
    local zero, one, minus = string.pack("<f", 0), string.pack("<f", 1), string.pack("<f", -1)
    tensors[#tensors + 1] = { "lm_head.weight", { V, D },
      data = zero:rep(PIECES * D) .. one:rep(D) .. minus:rep(D) .. zero:rep((V - PIECES - 2) * D) }
  end)
  H.write(dir .. "/tokenizer.model", H.read(H.TOKENIZER))
  return dir
end

describe("a padded vocabulary", function()
  local dir = padded_model()
  local model = assert(mllm.load(dir, { threads = 1 }))
  local tok = model:tokenizer()
  local hello = model:tokenize("Hello world")

  teardown(function()
    model:close()
    H.rmdir(dir)
  end)

  it("streams padding ids as empty pieces, and token_piece agrees (as the agent asks it)", function()
    local n = 0
    for piece, id in model:stream("Hello", { max_tokens = 4 }) do
      n = n + 1
      assert.is_true(id == PIECES or id == PIECES + 1, "id " .. tostring(id))
      assert.are.equal("", piece)
      assert.are.equal("", model:token_piece(id))
    end
    assert.are.equal(4, n)
    local text, info = model:generate("Hello", { max_tokens = 4 })
    assert.are.equal("", text)
    assert.are.equal(4, info.generated_tokens)
  end)

  local cases = {
    { "model:token_piece", function(id) return model:token_piece(id) end },
    { "model:tokenizer():piece", function(id) return tok:piece(id) end },
    { "model:detokenize", function(id) return model:detokenize({ id }) end },
    { "model:tokenizer():decode", function(id) return tok:decode({ id }) end },
  }
  for _, c in ipairs(cases) do
    it(c[1] .. " gives \"\" for every padding id and refuses ids past vocab_size", function()
      for id = PIECES, V - 1 do assert.are.equal("", c[2](id)) end
      local ok, err = pcall(c[2], V)
      assert.is_false(ok)
      assert.matches("token id 32016 .*outside the vocabulary %[0, 32016%)", err)
      ok, err = pcall(c[2], -1)
      assert.is_false(ok)
      assert.matches("token id %-1 .*outside the vocabulary %[0, 32016%)", err)
    end)
  end

  it("decodes text with padding ids in it as if they were not there", function()
    local with = { PIECES + 3 }
    for _, id in ipairs(hello) do
      with[#with + 1] = id
      with[#with + 1] = V - 1
    end
    assert.are.equal("Hello world", model:detokenize(hello))
    assert.are.equal("Hello world", model:detokenize(with))
    assert.are.equal("Hello world", tok:decode(with))
  end)

  it("gives the model's tokenizer the model's vocab_size", function()
    assert.are.equal(V, model.config.vocab_size)
    assert.are.equal(V, tok:vocab_size())
  end)

  it("leaves a tokenizer loaded on its own strict", function()
    local own = assert(mllm.tokenizer(H.TOKENIZER))
    assert.are.equal(PIECES, own:vocab_size())
    assert.has_error(function() own:piece(PIECES) end, "token id 32000 is outside the vocabulary [0, 32000)")
    assert.has_error(function() own:decode({ PIECES }) end, "token id 32000 at index 1 is outside the vocabulary [0, 32000)")
    assert.are.equal("Hello world", own:decode(hello))
  end)
end)
