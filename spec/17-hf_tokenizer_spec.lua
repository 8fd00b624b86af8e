-- Hugging Face tokenizer.json files, run by the engine's own C code, against ids and
-- text from Hugging Face's implementation (tools/make_hf_tokenizer_golden.mjs, with
-- the fixtures of tools/make_hf_tokenizers.py): a byte-level BPE with Llama-3's
-- pre-tokenizer regex, the same vocabulary with Digits + GPT-2's ByteLevel regex, and two
-- SentencePiece-style ones (Metaspace; Prepend/Replace).
local mllm = require("mobilellm")
local H = require("support.helpers")

local DIR = "spec/fixtures/tokenizers/"
local golden = dofile("spec/fixtures/hf_tokenizer_golden.lua")

local function tok_of(name) return assert(mllm.tokenizer(DIR .. name .. "/tokenizer.json")) end

-- The Metaspace decoder drops every "▁" of the first token in the Rust library (which
-- transformers runs), only the first in tokenizers.js: where the first token has more
-- than one, the golden's text is not the reference (the Rust rule is checked below).
local function decode_comparable(name, tok, ids)
  return name ~= "sp-metaspace-dec" or #ids == 0 or #tok:piece(ids[1]):gsub("[^ ]", "") <= 1
end

for _, name in ipairs({ "bpe-llama3", "bpe-gpt2", "sp-metaspace", "sp-metaspace-dec", "sp-legacy" }) do
  describe("tokenizer.json " .. name, function()
    local tok = tok_of(name)
    for i, case in ipairs(golden[name].cases) do
      it(string.format("matches Hugging Face on case %d (%q)", i, case.text:sub(1, 24)), function()
        assert.are.same(case.ids, tok:encode(case.text))
        assert.are.same(case.with_special, tok:encode(case.text, { bos = true }))
        if decode_comparable(name, tok, case.ids) then assert.are.equal(case.decoded, tok:decode(case.ids)) end
      end)
    end
    it("matches Hugging Face on 400 random strings (pieces that meet at every boundary)", function()
      for _, case in ipairs(golden[name].random) do
        assert.are.same({ case[1], case[2] }, { case[1], tok:encode(case[1]) })
        if decode_comparable(name, tok, case[2]) then
          assert.are.same({ case[1], case[3] }, { case[1], tok:decode(case[2]) })
        end
      end
    end)
    for i, case in ipairs(golden[name].decodes) do
      it(string.format("decodes as Hugging Face does, case %d", i), function()
        assert.are.equal(case.text, tok:decode(case.ids))
      end)
    end
  end)
end

describe("tokenizer.json (byte-level BPE)", function()
  local tok = tok_of("bpe-llama3")
  local golden_ids = {}
  for _, case in ipairs(golden["bpe-llama3"].cases) do golden_ids[case.text] = case.ids end

  it("reports its ids: BOS from the post-processor, EOS from the added tokens", function()
    local bos, eos = tok:special_ids()
    assert.are.equal(tok:encode("", { bos = true })[1], bos)
    assert.are.equal("<|end_of_text|>", tok:decode({ eos }))
    assert.are.equal("mobilellm.Tokenizer (tokenizer.json, 2263 pieces)", tostring(tok))
  end)

  it("gives each token's real bytes (special tokens none), so running text is the text", function()
    local text = "Hello  world, 日本語 👍🏽 I'M\r\n"
    local parts = {}
    for i, id in ipairs(tok:encode(text)) do parts[i] = tok:piece(id) end
    assert.are.equal(text, table.concat(parts))
    local bos = tok:special_ids()
    assert.are.equal("", tok:piece(bos))
  end)

  it("refuses invalid UTF-8, as for tokenizer.model", function()
    assert.has_error(function() tok:encode("a\255b") end, "text is not valid UTF-8 (byte 2)")
  end)

  it("merges a 100 kB word without a quadratic loop", function()
    local word = string.rep("supercalifragilistic", 5000)
    local ids = tok:encode(word)
    assert.are.equal(word, tok:decode(ids))
    local short = golden_ids["long word: " .. string.rep("supercalifragilistic", 20)]
    assert.is_true(#short > 20 and #ids > #short)
  end)
end)

describe("a model directory with only tokenizer.json", function()
  local function model_dir(files)
    local dir = H.tmpdir()
    local src = H.FIXTURES .. "/bf16-vocab32k/"
    for _, f in ipairs({ "config.json", "model.safetensors" }) do H.write(dir .. "/" .. f, H.read(src .. f)) end
    for name, path in pairs(files) do H.write(dir .. "/" .. name, H.read(path)) end
    return dir
  end

  it("loads it, and tokenizes with it", function()
    local m = assert(mllm.load(model_dir({ ["tokenizer.json"] = DIR .. "bpe-llama3/tokenizer.json" })))
    assert.is_true(m.config.has_tokenizer)
    assert.are.same(golden["bpe-llama3"].cases[4].ids, m:tokenize("Hello world"))
    assert.are.equal("Hello world", m:detokenize(m:tokenize("Hello world")))
    m:close()
  end)

  it("prefers tokenizer.model when both are there", function()
    local m = assert(mllm.load(model_dir({ ["tokenizer.json"] = DIR .. "bpe-llama3/tokenizer.json",
      ["tokenizer.model"] = H.TOKENIZER })))
    assert.are.same(assert(mllm.tokenizer(H.TOKENIZER)):encode("Hello world"), m:tokenize("Hello world"))
    m:close()
  end)

  it("refuses a tokenizer.json with more tokens than the model's vocab_size", function()
    local dir = H.tmpdir()
    for _, f in ipairs({ "config.json", "model.safetensors" }) do
      H.write(dir .. "/" .. f, H.read(H.FIXTURES .. "/f32-basic/" .. f))  -- vocab_size 256
    end
    H.write(dir .. "/tokenizer.json", H.read(DIR .. "bpe-llama3/tokenizer.json"))
    local m, err = mllm.load(dir)
    assert.is_nil(m)
    assert.are.equal(dir .. "/tokenizer.json: tokenizer has 2263 pieces but the model's vocab_size is 256", err)
  end)
end)

describe("a hostile tokenizer.json", function()
  local base = mllm.json_decode(H.read(DIR .. "bpe-llama3/tokenizer.json"))

  -- base with edit(copy) applied, written out; json_decode gives fresh tables each time
  local function variant(edit)
    local t = mllm.json_decode(H.read(DIR .. "bpe-llama3/tokenizer.json"))
    edit(t)
    local path = H.tmpdir() .. "/tokenizer.json"
    H.write(path, mllm.json_encode(t))
    return path
  end

  local cases = {
    { "bad JSON", function() return "{\"model\": " end, "not a JSON object" },
    { "a regex that does not compile", function(t) t.pre_tokenizer.pretokenizers[1].pattern.Regex = "(\\p{L}+" end,
      "pre-tokenizer regex does not compile: missing closing parenthesis" },
    { "a merge naming an unknown token", function(t) t.model.merges[5] = "Ġthe zzzunknown" end,
      "merge 5 names \"zzzunknown\", which is not in the vocabulary" },
    { "a merge making an unknown token", function(t) t.model.merges[5] = "z q" end,
      "merge 5 makes \"zq\", which is not in the vocabulary" },
    { "a merge of one token", function(t) t.model.merges[5] = "abc" end,
      "merge 5 is neither \"a b\" nor [\"a\", \"b\"]" },
    { "two tokens with one id", function(t) t.model.vocab["zzz"] = 7 end, "id 7 is given to two tokens" },
    { "a hole in the ids", function(t) t.model.vocab["zzz"] = 5000 end, "id 2263 has no token" },
    { "an id out of range", function(t) t.model.vocab["zzz"] = -1 end,
      "vocab entry \"zzz\" has no id in [0, MLLM_MAX_VOCAB = 1048576)" },
    { "a WordPiece model", function(t) t.model.type = "WordPiece" end,
      "model type \"WordPiece\" is not supported (only BPE)" },
    { "a Unigram model", function(t) t.model.type = "Unigram" end, "model type \"Unigram\" is not supported" },
    { "an NFC normalizer", function(t) t.normalizer = { type = "NFC" } end,
      "normalizer type \"NFC\" is not supported" },
    { "an unknown pre-tokenizer", function(t) t.pre_tokenizer = { type = "Whitespace" } end,
      "pre_tokenizer type \"Whitespace\" is not supported" },
    { "an unknown decoder", function(t) t.decoder = { type = "WordPiece" } end, "decoder type \"WordPiece\" is not supported" },
    { "an unknown unk_token", function(t) t.model.unk_token = "<nope>" end, "unk_token \"<nope>\" is not in the vocabulary" },
    { "an overlong regex", function(t) t.pre_tokenizer.pretokenizers[1].pattern.Regex = string.rep("a", 5000) end,
      "over MLLM_MAX_REGEX_BYTES (4096)" },
    { "BPE dropout", function(t) t.model.dropout = 0.1 end, "BPE dropout is not supported" },
    { "a token over MLLM_MAX_TOKEN_BYTES", function(t) t.model.vocab[string.rep("x", 2000)] = 2263 end,
      "token 2263 is 2000 bytes, over MLLM_MAX_TOKEN_BYTES (1024)" },
    { "an added token without an id", function(t) t.added_tokens[1].id = nil end,
      "an added token without a content string and an id" },
    { "Sequences nested without end", function(t)
        local seq = t.pre_tokenizer
        for _ = 1, 20 do seq = { type = "Sequence", pretokenizers = { seq } } end
        t.pre_tokenizer = seq
      end, "Sequences nested more than 8 deep" },
    { "a Split with an unknown behavior", function(t) t.pre_tokenizer.pretokenizers[1].behavior = "Contiguous" end,
      "Split behavior \"Contiguous\" is not supported (Isolated, Removed)" },
    { "a post-processor naming an unknown token", function(t)
        t.post_processor.processors[2].single[1].SpecialToken.id = "<nope>"
      end, "the post_processor names a special token that is not in the vocabulary" },
  }
  for _, case in ipairs(cases) do
    it("refuses " .. case[1], function()
      local path
      if case[1] == "bad JSON" then
        path = H.tmpdir() .. "/tokenizer.json"
        H.write(path, case[2]())
      else
        path = variant(case[2])
      end
      local tok, err = mllm.tokenizer(path)
      assert.is_nil(tok)
      assert.matches(path .. ": ", err, 1, true)
      assert.matches(case[3], err, 1, true)
    end)
  end

  -- raw edits of the file's text, for what json_encode would not write
  local raw_cases = {
    { "a normalizer string that is not UTF-8", '"normalizer": null', '"normalizer": {"type": "Prepend", "prepend": "\255"}',
      "the Prepend string is not valid UTF-8" },
    { "a token that is not UTF-8", '"the": ', '"t\255he": ', "token 393 is not valid UTF-8" },
    { "a regex with \\C (it could end a match inside a character)", '"Regex": "', '"Regex": "\\\\C|',
      "pre-tokenizer regex does not compile: using \\C is disabled" },
  }
  for _, case in ipairs(raw_cases) do
    it("refuses " .. case[1], function()
      local text, n = H.read(DIR .. "bpe-llama3/tokenizer.json"):gsub(case[2]:gsub("%p", "%%%0"), (case[3]:gsub("%%", "%%%%")), 1)
      assert.are.equal(1, n)
      local path = H.tmpdir() .. "/tokenizer.json"
      H.write(path, text)
      local tok, err = mllm.tokenizer(path)
      assert.is_nil(tok)
      assert.matches(path .. ": ", err, 1, true)
      assert.matches(case[4], err, 1, true)
    end)
  end

  it("stops a regex that backtracks without end, with a message", function()
    local path = variant(function(t) t.pre_tokenizer.pretokenizers[1].pattern.Regex = "(a+)+$" end)
    local tok = assert(mllm.tokenizer(path))
    assert.has_error(function() tok:encode(string.rep("a", 40) .. "b") end,
      path .. ": pre-tokenizer regex failed: match limit exceeded (MLLM_MAX_REGEX_MATCH = 10000000, "
      .. "MLLM_MAX_REGEX_DEPTH = 100000)")
  end)

  it("keeps the base file loadable (the cases above change one thing each)", function()
    assert.is_table(base.model)
    assert.truthy(mllm.tokenizer(variant(function() end)))
  end)
end)

describe("tokenizer.json Metaspace decoder", function()
  it("drops every \"▁\" of the first token, as the Rust library does", function()
    local tok = tok_of("sp-metaspace-dec")
    local ids = tok:encode("   leading")
    assert.are.same({ "  ", " le" }, { tok:piece(ids[1]), tok:piece(ids[2]) }) -- "▁▁", "▁le", ...
    assert.are.equal(" leading", tok:decode(ids))  -- tokenizers.js: "  leading"
  end)

  -- Metaspace's split: true cuts before every "▁" (Rust's MergedWithNext; tokenizers.js
  -- never splits), so no token holds two: "the   the" is "▁the", "▁", "▁", "▁the"
  it("splits before every \"▁\" with split: true, as the Rust library does", function()
    local json = mllm.json_decode(H.read(DIR .. "sp-metaspace/tokenizer.json"))
    local function pieces(split)
      json.pre_tokenizer.split = split
      local path = H.tmpdir() .. "/tokenizer.json"
      H.write(path, mllm.json_encode(json))
      local tok = assert(mllm.tokenizer(path))
      local out = {}
      for i, id in ipairs(tok:encode("the   the")) do out[i] = tok:piece(id) end
      return out
    end
    assert.are.same({ " the", " ", " ", " the" }, pieces(true))
    assert.are.equal(" the   the", table.concat(pieces(false)))
    assert.are_not.same({ " the", " ", " ", " the" }, pieces(false))
  end)
end)

describe("tokenizer.json added tokens", function()
  local tok = tok_of("bpe-llama3")

  -- single_word as the Rust library has it (tokenizers.js ignores the flag, so no golden):
  -- a match with a letter, digit or '_' beside it is no match
  it("honours single_word: <tool> inside a word is text", function()
    local tool = tok:encode("<tool>")[1]
    assert.are.same({ tool }, tok:encode("<tool>"))
    local inner = tok:encode(" x<tool>y ")
    for _, id in ipairs(inner) do assert.are_not.equal(tool, id) end
    local all = tok:encode("<tool> x<tool>y <tool>")
    assert.are.same({ tool, table.unpack(inner) }, { table.unpack(all, 1, #all - 1) })
    assert.are.equal(tool, all[#all])
  end)
end)

-- Constrained decoding indexes the vocabulary by each token's bytes (mllm_tokenizer_piece):
-- with a byte-level BPE they must be the real bytes, not the "Ġ" alphabet.
describe("constrained decoding with a tokenizer.json", function()
  local core = require("mobilellm.core")
  local chat = require("mobilellm.chat")
  local tok = tok_of("bpe-llama3")
  local c = core.constraint(assert(chat.load_apis("models/mobilellm-tiny-api/apis.json")), tok)
  local n = tok:vocab_size()

  for _, text in ipairs({ "<tool_call>set_", '<tool_call>set_alarm(day="monday", time="7' }) do
    it("allows exactly the tokens that keep a valid prefix after " .. string.format("%q", text), function()
      local allowed = {}
      for _, id in ipairs((c:allowed(text))) do allowed[id] = true end
      local n_allowed = 0
      for id = 0, n - 1 do
        local p = tok:piece(id)
        local ok = #p > 0 and c:check(text .. p) ~= nil
        assert.are.equal(ok, allowed[id] or false, string.format("token %d %q", id, p))
        if ok then n_allowed = n_allowed + 1 end
      end
      assert.is_true(n_allowed > 0)
    end)
  end
end)
