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
    assert.are.equal("mobilellm.Tokenizer (tokenizer.model, 32000 pieces)", tostring(tok))
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
    assert.has_error(function() tok:decode({ "x" }) end, "token id at index 1 is not an integer (string)")
    -- #1 (#2 in test-asan's proxy run, whose wrapper calls the method as a plain function)
    assert.error_matches(function() tok:encode(nil) end, "^bad argument #%d to 'encode' %(string expected, got nil%)$")
    assert.has_error(function() tok:piece(-1) end, "token id -1 is outside the vocabulary [0, 32000)")
  end)

  describe("returns nil, message for a tokenizer file it cannot use", function()
    local dir
    before_each(function() dir = H.tmpdir() end)
    after_each(function() H.rmdir(dir) end)

    it("a missing file", function()
      local t, err = mllm.tokenizer("/nonexistent/tokenizer.model")
      assert.is_nil(t)
      assert.are.equal("/nonexistent/tokenizer.model: cannot open: No such file or directory", err)
    end)

    it("a file that is not a sentencepiece model, or a truncated one", function()
      local path = dir .. "/tokenizer.model"
      for _, bytes in ipairs { "this is not a protobuf", "", H.read(H.TOKENIZER):sub(1, 1000) } do
        H.write(path, bytes)
        local t, err = mllm.tokenizer(path)
        assert.is_nil(t)
        assert.matches(path .. ": cannot load tokenizer: ", err, 1, true)
      end
    end)

    it("a file larger than MLLM_MAX_TOKENIZER_BYTES, refused by its size alone", function()
      -- sparse: 64 MiB + 1 of holes, which the check must not read (it would find only zeros)
      local path = dir .. "/tokenizer.model"
      assert(os.execute("truncate -s " .. (64 * 1024 * 1024 + 1) .. " '" .. path .. "'"))
      local t, err = mllm.tokenizer(path)
      assert.is_nil(t)
      assert.are.equal(path .. ": 67108865 bytes, larger than the limit of 67108864 bytes (MLLM_MAX_TOKENIZER_BYTES)",
        err)
      local m
      m, err = mllm.load(H.FIXTURES .. "/f32-basic", { tokenizer = path })
      assert.is_nil(m)
      assert.matches("(MLLM_MAX_TOKENIZER_BYTES)", err, 1, true)
    end)

    it("a file at the limit is read and parsed", function()
      local path = dir .. "/tokenizer.model"
      assert(os.execute("truncate -s " .. (64 * 1024 * 1024) .. " '" .. path .. "'"))
      local t, err = mllm.tokenizer(path)
      assert.is_nil(t)
      assert.matches(path .. ": cannot load tokenizer: ", err, 1, true)
    end)
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
      "this model has no tokenizer (no tokenizer.model or tokenizer.json was found when it was loaded)")
    assert.has_error(function() m:generate("hi") end,
      "this model has no tokenizer: pass the prompt as an array of token ids")
  end)
end)
