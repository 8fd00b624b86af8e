-- Tokenization with the real LLaMA-2 sentencepiece model, against ids that
-- Python's sentencepiece produced (tools/make_tokenizer_golden.py).
local mllm = require("mobilellm")
local H = require("support.helpers")

describe("tokenizer", function()
  local tok = assert(mllm.tokenizer(H.TOKENIZER))
  local golden = dofile("spec/fixtures/tokenizer_golden.lua")

  it("has the LLaMA-2 vocabulary and special ids", function()
    assert.are.equal(32000, tok:vocab_size())
    local bos, eos = tok:special_ids()
    assert.are.equal(1, bos)
    assert.are.equal(2, eos)
    assert.are.equal("mobilellm.Tokenizer (32000 pieces)", tostring(tok))
  end)

  for i, case in ipairs(golden) do
    it(string.format("matches sentencepiece on case %d (%q)", i, case.text:sub(1, 30)), function()
      assert.are.same(case.ids, tok:encode(case.text))
      assert.are.equal(case.decoded, tok:decode(case.ids))
      assert.are.equal(case.text, tok:decode(tok:encode(case.text)))
    end)
  end

  it("adds BOS on request", function()
    local ids = tok:encode("Hello", { bos = true })
    assert.are.equal(1, ids[1])
    assert.are.same(tok:encode("Hello"), { table.unpack(ids, 2) })
  end)

  it("gives each token's bytes in running text", function()
    local ids = tok:encode("Hello world")
    local parts = {}
    for i, id in ipairs(ids) do parts[i] = tok:piece(id) end
    assert.are.equal(" Hello world", table.concat(parts))
    assert.are.equal("", tok:piece(1))            -- <s> is a control token
    assert.are.equal("\n", tok:piece(13))         -- the byte token <0x0A>
  end)

  it("raises on misuse with a clear message", function()
    assert.has_error(function() tok:encode("\255abc") end, "text is not valid UTF-8 (byte 1)")
    assert.has_error(function() tok:encode("ok\237\160\128") end, "text is not valid UTF-8 (byte 3)") -- a surrogate
    assert.has_error(function() tok:decode({ 32000 }) end, "token id 32000 at index 1 is outside the vocabulary [0, 32000)")
    assert.has_error(function() tok:decode({ "x" }) end)
    assert.has_error(function() tok:encode(nil) end)
    assert.has_error(function() tok:piece(-1) end)
  end)

  it("returns nil, message for a missing or corrupt tokenizer file", function()
    local t, err = mllm.tokenizer("/nonexistent/tokenizer.model")
    assert.is_nil(t)
    assert.matches("/nonexistent/tokenizer.model: cannot load tokenizer", err, 1, true)
    local dir = H.tmpdir()
    H.write(dir .. "/tokenizer.model", "this is not a protobuf")
    t, err = mllm.tokenizer(dir .. "/tokenizer.model")
    assert.is_nil(t)
    assert.matches("cannot load tokenizer", err, 1, true)
    H.rmdir(dir)
  end)

  it("refuses use after close", function()
    local t = assert(mllm.tokenizer(H.TOKENIZER))
    t:close()
    t:close()
    assert.has_error(function() t:encode("a") end, "attempt to use a closed tokenizer")
  end)

  it("is reached through a model that has none with a clear error", function()
    local m = assert(mllm.load(H.FIXTURES .. "/f32-basic"))
    assert.has_error(function() m:tokenize("hi") end,
      "this model has no tokenizer (no tokenizer.model was found when it was loaded)")
    assert.has_error(function() m:generate("hi") end,
      "this model has no tokenizer: pass the prompt as an array of token ids")
  end)
end)
