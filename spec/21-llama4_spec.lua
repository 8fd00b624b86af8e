-- llama4_text (Llama4ForCausalLM: MobileLLM-R1 / R1.5) against the independent float64
-- reference (tools/reference.py, cross-checked by tools/check_llama4_torch.py), on the
-- fixtures of tools/make_llama4_fixtures.py: RoPE on adjacent pairs, QK-norm, NoPE layers
-- with attention temperature tuning, chunked attention, GQA 1 and 3, eos lists; and the
-- configs it refuses.
local mllm = require("mobilellm")
local H = require("support.helpers")

local TOL = 1e-4
-- q8 rounds weights and activations to 8 bits: on l4-r1-bf16 (logits up to 3.2 in magnitude)
-- the largest error is 0.17 (q4: 1.6, not checked here)
local Q8_TOL = 0.25
local VARIANTS = { "l4-r1-bf16", "l4-nope-chunked", "l4-defaults-gqa1" }

-- A copy of fixture name whose config.json edit(cfg) changed; returns its directory.
local function edited(name, edit)
  local dir = H.tmpdir()
  H.copy_dir(H.FIXTURES .. "/" .. name, dir)
  local cfg = mllm.json_decode(H.read(dir .. "/config.json"))
  edit(cfg)
  H.write(dir .. "/config.json", mllm.json_encode(cfg))
  return dir
end

local function greedy(model, prompt, n)
  local ids = {}
  for _, id in model:stream(prompt, { max_tokens = n, temperature = 0 }) do ids[#ids + 1] = id end
  return ids
end

describe("llama4_text", function()
  for _, name in ipairs(VARIANTS) do
    describe(name, function()
      local e = H.expected(name)
      local model = assert(mllm.load(e.dir, { threads = 1 }))

      it("matches the reference logits at every position, one token at a time (KV cache)", function()
        local s = model:session({ n_ctx = 64 })
        for p = 1, #e.prompt do
          assert(s:eval({ e.prompt[p] }))
          local d = H.max_diff(s:logits(), e.logits, (p - 1) * e.n_vocab, e.n_vocab)
          assert.is_true(d <= TOL, string.format("position %d: max abs diff %.3g", p, d))
        end
      end)

      it("matches the reference at every position after a batched prefill", function()
        for _, n_batch in ipairs({ 64, 4 }) do
          for p = 1, #e.prompt do
            local s = model:session({ n_ctx = 64, n_batch = n_batch })
            assert(s:eval({ table.unpack(e.prompt, 1, p) }))
            local d = H.max_diff(s:logits(), e.logits, (p - 1) * e.n_vocab, e.n_vocab)
            assert.is_true(d <= TOL, string.format("n_batch %d, position %d: max abs diff %.3g", n_batch, p, d))
          end
        end
      end)

      it("matches the reference with an f16 KV cache within 1e-2", function()
        local s = model:session({ n_ctx = 64, kv_type = "f16" })
        assert(s:eval(e.prompt))
        local d = H.max_diff(s:logits(), e.logits, (#e.prompt - 1) * e.n_vocab, e.n_vocab)
        assert.is_true(d <= 1e-2, string.format("max abs diff %.3g", d))
      end)

      it("reproduces the reference's greedy continuation of 20 tokens", function()
        local ids = {}
        for _, id in model:stream(e.prompt, { max_tokens = 20, stop_at_eos = false, temperature = 0 }) do
          ids[#ids + 1] = id
        end
        assert.are.same(e.greedy, ids)
      end)

      it("restores a saved session and continues it exactly", function()
        local dir = H.tmpdir()
        local half = #e.prompt // 2
        local s = model:session({ n_ctx = 64 })
        assert(s:eval({ table.unpack(e.prompt, 1, half) }))
        assert.is_true(s:save(dir .. "/state.bin"))
        local r = assert(model:session({ n_ctx = 64, restore = dir .. "/state.bin" }))
        assert(r:eval({ table.unpack(e.prompt, half + 1) }))
        local d = H.max_diff(r:logits(), e.logits, (#e.prompt - 1) * e.n_vocab, e.n_vocab)
        assert.is_true(d <= TOL, string.format("max abs diff %.3g", d))
        H.rmdir(dir)
      end)
    end)
  end

  it("runs R1's shape in q8 within the documented tolerance at every position", function()
    local e = H.expected("l4-r1-bf16")
    local model = assert(mllm.load(e.dir, { threads = 1, dtype = "q8" }))
    local s = model:session({ n_ctx = 64, kv_type = "f32" })
    for p = 1, #e.prompt do
      assert(s:eval({ e.prompt[p] }))
      local d = H.max_diff(s:logits(), e.logits, (p - 1) * e.n_vocab, e.n_vocab)
      assert.is_true(d <= Q8_TOL, string.format("position %d: max abs diff %.3g", p, d))
    end
  end)

  it("saves a quantized copy under the Llama 4 names that loads again to the same logits", function()
    local e = H.expected("l4-r1-bf16")
    local q8 = assert(mllm.load(e.dir, { dtype = "q8" }))
    local dir = H.tmpdir()
    assert(q8:save(dir .. "/model.safetensors"))
    H.write(dir .. "/config.json", H.read(e.dir .. "/config.json"))
    local again = assert(mllm.load(dir))
    assert.are.equal("q8", again.config.dtype)
    local a, b = q8:session({ kv_type = "f32" }), again:session({ kv_type = "f32" })
    assert(a:eval(e.prompt))
    assert(b:eval(e.prompt))
    local la = a:logits()
    assert.are.equal(0, H.max_diff(b:logits(), la, 0, #la))
    H.rmdir(dir)
  end)

  it("probes a chunked layer over the last token's chunk only", function()
    -- l4-nope-chunked: layer 0 is chunked (chunk 5), layer 1 is not; 12 tokens: the last
    -- (position 11) is in the chunk of positions 10 .. 14
    local e = H.expected("l4-nope-chunked")
    local s = assert(mllm.load(e.dir)):session({ n_ctx = 64 })
    s:set_probe({ { 0, 1 } })
    assert(s:eval({ table.unpack(e.prompt, 1, 12) }))
    local w = s:probe()
    assert.are.equal(12, #w)
    for p = 1, 10 do assert.are.equal(0, w[p]) end
    assert.is_true(math.abs(w[11] + w[12] - 1) < 1e-5)
    s:set_probe({ { 1, 1 } })
    assert(s:eval({ e.prompt[13] }))
    w = s:probe()
    assert.is_true(w[1] > 0)
  end)

  it("exposes the architecture in model.config", function()
    local c = assert(mllm.load(H.FIXTURES .. "/l4-nope-chunked")).config
    assert.are.equal("llama4_text", c.model_type)
    assert.are.equal(64, c.ffn_dim) -- intermediate_size_mlp; intermediate_size (8192) is the MoE width
    assert.are.equal("pairs", c.rope_layout)
    assert.is_true(c.qk_norm)
    assert.are.same({ 1, 3 }, c.nope_layers)
    assert.is_true(c.temperature_tuning)
    assert.are.equal(4, c.floor_scale)
    assert.are.equal(0.5, c.attn_scale)
    assert.are.same({ 0, 3 }, c.chunked_layers)
    assert.are.equal(5, c.attention_chunk_size)
    assert.is_true(c.share_embedding)
    -- embedding (tied head) + final norm + 4 blocks: 2 norms, q, k, v, o, gate, up, down
    local block = 2 * 48 + 48 * 48 + 2 * 24 * 48 + 48 * 48 + 3 * 64 * 48
    assert.are.equal(300 * 48 + 48 + 4 * block, c.params)

    -- transformers' defaults: head_dim 128, a NoPE layer every no_rope_layer_interval,
    -- chunked attention on the RoPE layers
    c = assert(mllm.load(H.FIXTURES .. "/l4-defaults-gqa1")).config
    assert.are.equal(128, c.head_dim)
    assert.are.same({ 1 }, c.nope_layers)
    assert.are.same({ 0, 2 }, c.chunked_layers)
    assert.is_false(c.qk_norm)
    assert.is_false(c.share_embedding)

    c = assert(mllm.load(H.FIXTURES .. "/l4-r1-bf16")).config
    assert.are.same({ 2, 7, 9 }, c.eos_ids)
    assert.are.equal(2, c.eos)
    assert.are.same({}, c.nope_layers)
    assert.are.same({}, c.chunked_layers)
    assert.are.equal(0, c.attention_chunk_size)
    assert.are.equal(8000000, c.rope_theta)
  end)

  it("shows its architecture in `mobilellm info`", function()
    local code, text = H.cli({ "info", H.FIXTURES .. "/l4-nope-chunked" })
    assert.are.equal(0, code, text)
    local block = 2 * 48 + 48 * 48 + 2 * 24 * 48 + 48 * 48 + 3 * 64 * 48
    for _, want in ipairs({
      "architecture  llama4_text: dim 48, 4 heads / 2 KV heads (head_dim 12), FFN 64\n",
      "attention     RoPE on adjacent pairs (theta 10000), QK-norm; NoPE layers: 1, 3 (temperature tuning: "
        .. "floor_scale 4, attn_scale 0.5); chunked layers: 0, 3 (chunk 5)\n",
      "layers        4 (no layer sharing)\n",
      string.format("(%d)\n", 300 * 48 + 48 + 4 * block),
      "embedding     shared with the output head\n",
      "vocabulary    300 tokens, bos 1, eos 2, tokenizer: none\n",
    }) do
      assert.is_truthy(text:find(want, 1, true), want .. " in:\n" .. text)
    end
  end)

  it("reads rope_theta from rope_parameters (transformers 5)", function()
    local dir = edited("l4-nope-chunked", function(cfg)
      cfg.rope_theta = nil
      cfg.rope_parameters = { rope_type = "default", rope_theta = 10000.0 }
    end)
    local e = H.expected("l4-nope-chunked")
    local model = assert(mllm.load(dir))
    assert.are.equal(10000, model.config.rope_theta)
    local s = model:session()
    assert(s:eval(e.prompt))
    assert.is_true(H.max_diff(s:logits(), e.logits, (#e.prompt - 1) * e.n_vocab, e.n_vocab) <= TOL)
    H.rmdir(dir)
  end)

  describe("eos_token_id lists", function()
    local e = H.expected("l4-r1-bf16")
    local third = e.greedy[3]

    it("stop generation at any of their ids", function()
      local dir = edited("l4-r1-bf16", function(cfg) cfg.eos_token_id = { 2, 7, third } end)
      local model = assert(mllm.load(dir))
      assert.are.same({ e.greedy[1], e.greedy[2], third }, greedy(model, e.prompt, 20))
      local _, info = model:generate(e.prompt, { max_tokens = 20, temperature = 0 })
      assert.are.equal("eos", info.stop)
      assert.are.equal(3, info.generated_tokens)
      H.rmdir(dir)
    end)

    it("stop as before with a single id", function()
      local dir = edited("l4-r1-bf16", function(cfg) cfg.eos_token_id = third end)
      local model = assert(mllm.load(dir))
      assert.are.same({ 3 }, { #greedy(model, e.prompt, 20) })
      assert.are.same({ third }, model.config.eos_ids)
      H.rmdir(dir)
    end)

    it("run on when the continuation holds none of them", function()
      local model = assert(mllm.load(e.dir))
      assert.are.same(e.greedy, greedy(model, e.prompt, 20))
    end)
  end)

  it("reads its feed-forward weights under feed_forward., not mlp.", function()
    -- the same weights under a llama config: the names it looks for differ
    local dir = edited("l4-nope-chunked", function(cfg)
      cfg.model_type = "llama"
      cfg.intermediate_size = cfg.intermediate_size_mlp
    end)
    local m, err = mllm.load(dir)
    assert.is_nil(m)
    assert.matches("missing tensor 'model.layers.0.mlp.gate_proj.weight'", err, 1, true)
    H.rmdir(dir)
  end)

  describe("refuses", function()
    local null = mllm.null
    local cases = {
      { "MoE layers", function(c) c.moe_layers = { 1 } end,
        "llama4_text with MoE layers (moe_layers lists 1) is not supported" },
      { "no moe_layers (every layer MoE by default)", function(c) c.moe_layers = nil end,
        "llama4_text with MoE layers (no moe_layers, so every 1st layer is MoE) is not supported" },
      { "interleaved MoE", function(c) c.moe_layers = nil; c.interleave_moe_layer_step = 2 end,
        "every 2th layer is MoE" },
      { "the multimodal model", function(c) c.model_type = "llama4" end,
        "Llama4ForConditionalGeneration, multimodal) is not supported" },
      { "a short no_rope_layers", function(c) c.no_rope_layers = { 1, 0, 1 } end,
        "\"no_rope_layers\" has 3 entries but num_hidden_layers is 4" },
      { "a long layer_types", function(c) c.layer_types[5] = "full_attention" end,
        "\"layer_types\" has 5 entries but num_hidden_layers is 4" },
      { "an unknown layer type", function(c) c.layer_types[2] = "sliding_attention" end,
        "\"layer_types\" entry 1 must be \"full_attention\" or \"chunked_attention\"" },
      { "a no_rope_layers entry other than 0 or 1", function(c) c.no_rope_layers[3] = 2 end,
        "\"no_rope_layers\" entry 2 must be 0 or 1" },
      { "a zero attention_chunk_size", function(c) c.attention_chunk_size = 0 end,
        "\"attention_chunk_size\" is 0, outside [1, 2147483647]" },
      { "a null attention_chunk_size with chunked layers", function(c) c.attention_chunk_size = null end,
        "\"attention_chunk_size\" is null but chunked_attention layers need it" },
      { "a zero floor_scale", function(c) c.floor_scale = 0 end, "\"floor_scale\" must be a number in (0," },
      { "rope_scaling of type yarn", function(c) c.rope_scaling = { rope_type = "yarn", factor = 8 } end,
        "rope_scaling type \"yarn\" is not supported (only \"default\" and \"llama3\")" },
      { "rope_parameters of type dynamic", function(c) c.rope_parameters = { rope_type = "dynamic" } end,
        "rope_parameters type \"dynamic\" is not supported (only \"default\" and \"llama3\")" },
      { "llama3 rope_parameters without their fields", function(c) c.rope_parameters = { rope_type = "llama3" } end,
        "rope_parameters of type \"llama3\" needs \"factor\"" },
      { "layer sharing", function(c) c.layer_sharing = true end,
        "layer_sharing is a MobileLLM (model_type \"mobilellm\") feature, not supported with llama4_text" },
      { "an eos list longer than MLLM_MAX_EOS_IDS", function(c) c.eos_token_id = { 1, 2, 3, 4, 5, 6, 7, 8, 9 } end,
        "\"eos_token_id\" lists 9 ids, expected 1 to MLLM_MAX_EOS_IDS (8)" },
      { "an eos id outside the vocabulary", function(c) c.eos_token_id = { 2, 300 } end,
        "eos_token_id 300 outside the vocabulary of 300" },
      { "an eos list of non-integers", function(c) c.eos_token_id = { 2, "3" } end,
        "\"eos_token_id\" must list integers in [0, 1048576]" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        local dir = edited("l4-nope-chunked", case[2])
        local m, err = mllm.load(dir)
        assert.is_nil(m)
        assert.matches(case[3], err, 1, true)
        assert.matches("config.json: ", err, 1, true)
        H.rmdir(dir)
      end)
    end
  end)
end)
