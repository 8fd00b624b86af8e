-- A MobileLLM-R1-style directory put together from the parts issue #37 added: a llama4_text
-- config (eos list, tied head, feed_forward. names), a byte-level BPE tokenizer.json with
-- Llama-3's special tokens, and a tokenizer_config.json with a chat template. Random weights:
-- what is checked is the plumbing between the parts, not the text the model writes.
local mllm = require("mobilellm")
local H = require("support.helpers")

local TOKENIZER = "spec/fixtures/tokenizers/bpe-llama3/tokenizer.json"
local TEMPLATE = "spec/fixtures/jinja/r1.jinja"
-- 600 bytes each: past the engine's 256-byte piece buffers
local LONG_TOKENS = { string.rep("long", 150), string.rep("LONG", 150) }

-- The tokenizer fixture's tokens, then the two long ones as added tokens; returns the JSON and
-- the token count (the long ones are its last two ids).
local function tokenizer_with_long_tokens()
  local t = mllm.json_decode(H.read(TOKENIZER))
  local n = 0
  for _, id in pairs(t.model.vocab) do n = math.max(n, id + 1) end
  for _, a in ipairs(t.added_tokens) do n = math.max(n, a.id + 1) end
  for _, text in ipairs(LONG_TOKENS) do
    t.added_tokens[#t.added_tokens + 1] = { id = n, content = text, single_word = false, lstrip = false,
                                            rstrip = false, normalized = false, special = false }
    n = n + 1
  end
  return mllm.json_encode(t), n
end

-- The directory; untied = true gives it an lm_head whose only nonzero rows are the two long
-- tokens', +1 and -1 everywhere: whatever the hidden state, greedy decoding picks one of them.
local function make_r1_dir(untied)
  local json, n_tokens = tokenizer_with_long_tokens()
  local dir = H.make_model({
    model_type = "llama4_text", architectures = { "Llama4ForCausalLM" }, hidden_size = 32,
    intermediate_size = 8192, intermediate_size_mlp = 48, num_attention_heads = 4, num_key_value_heads = 2,
    head_dim = 8, num_hidden_layers = 2, vocab_size = n_tokens + 6, tie_word_embeddings = not untied,
    share_embedding = not untied, rope_theta = 8000000.0, use_qk_norm = true, no_rope_layers = { 1, 1 },
    layer_types = { "full_attention", "full_attention" }, moe_layers = setmetatable({}, { __metatable = "array" }),
    bos_token_id = 2256,
    eos_token_id = { 2257, 2260 }, max_position_embeddings = 256,
  }, function(tensors, cfg)
    for _, t in ipairs(tensors) do
      t[1] = t[1]:gsub("%.mlp%.", ".feed_forward.")
      for i, d in ipairs(t[2]) do if d == cfg.intermediate_size then t[2][i] = cfg.intermediate_size_mlp end end
    end
    if untied then
      local zero, rows = string.rep(string.pack("<f", 0), cfg.hidden_size), {}
      for r = 0, cfg.vocab_size - 1 do
        local sign = r == n_tokens - 2 and 1 or r == n_tokens - 1 and -1 or 0
        rows[#rows + 1] = sign == 0 and zero or string.rep(string.pack("<f", sign), cfg.hidden_size)
      end
      tensors[#tensors + 1] = { "lm_head.weight", { cfg.vocab_size, cfg.hidden_size }, data = table.concat(rows) }
    end
  end)
  H.write(dir .. "/tokenizer.json", json)
  H.write(dir .. "/tokenizer_config.json", mllm.json_encode({
    bos_token = "<|begin_of_text|>", eos_token = "<|eot_id|>", chat_template = H.read(TEMPLATE),
  }))
  return dir, n_tokens
end

describe("an R1-style directory (llama4_text, tokenizer.json, chat template)", function()
  local dir, n_tokens, model
  setup(function()
    dir, n_tokens = make_r1_dir()
    model = assert(mllm.load(dir, { threads = 1 }))
  end)
  teardown(function()
    model:close()
    H.rmdir(dir)
  end)

  it("loads its tokenizer.json and config: special tokens, BOS, the eos list", function()
    assert.are.equal("tokenizer.json", model.config.tokenizer_format)
    assert.are.equal("llama4_text", model.config.model_type)
    assert.are.same({ 2257, 2260 }, model.config.eos_ids)
    assert.are.same({ 2256, 2258 }, model:tokenize("<|start_header_id|>", { bos = true }))
    assert.are.equal("<|eot_id|>", model:detokenize({ 2260 }))
  end)

  it("gives a token longer than 256 bytes whole, as a piece and decoded", function()
    local id = n_tokens - 1
    assert.are.equal(LONG_TOKENS[2], model:token_piece(id))
    assert.are.equal(LONG_TOKENS[2], model:tokenizer():piece(id))
    assert.are.equal("a" .. LONG_TOKENS[2], model:detokenize({ model:tokenize("a")[1], id }))
  end)

  it("generates and streams tokens longer than 256 bytes whole", function()
    local udir = make_r1_dir(true)
    local m <close> = assert(mllm.load(udir, { threads = 1 }))
    local pieces, ids = {}, {}
    local text = m:generate("hello", { max_tokens = 4, temperature = 0, on_token = function(piece, id)
      pieces[#pieces + 1] = piece
      ids[#ids + 1] = id
    end })
    assert.are.equal(4, #ids)
    for _, id in ipairs(ids) do assert.is_true(id == n_tokens - 2 or id == n_tokens - 1, tostring(id)) end
    assert.are.equal(4 * 600, #text)
    assert.are.equal(m:detokenize(ids), text)
    assert.are.equal(text, table.concat(pieces))
    H.rmdir(udir)
  end)

  it("renders its own chat template, whose special tokens tokenize to one id each", function()
    local prompt = assert(model:apply_chat_template({ { role = "user", content = "What is 2+2?" } },
      { add_generation_prompt = true }))
    assert.are.equal("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
      .. "Please reason step by step, and put your final answer within \\boxed{}.<|eot_id|>"
      .. "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
      .. "<|start_header_id|>assistant<|end_header_id|>\n\n<think>\n", prompt)
    local ids = model:tokenize(prompt)
    assert.are.equal(2256, ids[1])
    local specials = 0
    for _, id in ipairs(ids) do if id >= 2256 and id <= 2260 then specials = specials + 1 end end
    assert.are.equal(1 + 3 * 2 + 2, specials)  -- BOS, three headers (start and end), two eot
    assert.are.equal(prompt, model:detokenize(ids))
  end)

  it("shows its architecture and tokenizer in `mobilellm info`", function()
    local code, text = H.cli({ "info", dir })
    assert.are.equal(0, code, text)
    assert.matches("architecture  llama4_text: dim 32, 4 heads / 2 KV heads (head_dim 8), FFN 48\n", text, 1, true)
    assert.matches("attention     RoPE on adjacent pairs (theta 8000000), QK-norm; NoPE layers: none", text, 1, true)
    assert.matches(string.format("vocabulary    %d tokens, bos 2256, eos 2257, 2260, tokenizer: tokenizer.json\n",
      n_tokens + 6), text, 1, true)
  end)

  it("wraps a prompt in its template with `run --chat`", function()
    local code, out, err = H.cli({ "run", dir, "--chat", "--show-prompt", "--max-tokens", "3", "--threads", "1",
      "What is 2+2?" })
    local text = out .. err
    assert.are.equal(0, code, text)
    assert.matches("<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
      .. "<|start_header_id|>assistant<|end_header_id|>\n\n<think>\n", text, 1, true)
  end)
end)
