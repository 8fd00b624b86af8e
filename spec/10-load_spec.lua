-- Loading checkpoints: every fixture variant, and every kind of bad input.
local mllm = require("mobilellm")
local H = require("support.helpers")

describe("mllm.load", function()
  it("loads every fixture variant with the config it declares", function()
    local cases = {
      { "f32-basic", layers = 2, executed_layers = 2, heads = 4, kv_heads = 4, head_dim = 16, dtype = "f32", layer_sharing = false, share_embedding = true },
      { "f32-ls", layers = 3, executed_layers = 6, heads = 4, kv_heads = 2, head_dim = 16, dtype = "f32", layer_sharing = true, share_embedding = true },
      { "f16-gqa3", layers = 2, executed_layers = 2, heads = 6, kv_heads = 2, head_dim = 12, dtype = "f16", layer_sharing = false, share_embedding = false },
      { "bf16-headdim", layers = 2, executed_layers = 4, heads = 4, kv_heads = 2, head_dim = 24, dtype = "bf16", layer_sharing = true, share_embedding = true },
      { "f32-sharded", layers = 3, executed_layers = 3, heads = 9, kv_heads = 3, head_dim = 8, dtype = "f32", layer_sharing = false, share_embedding = true },
      { "f32-untied-mobilellm", layers = 1, executed_layers = 1, heads = 4, kv_heads = 4, head_dim = 12, dtype = "f32", layer_sharing = false, share_embedding = false },
    }
    for _, c in ipairs(cases) do
      local m, err = mllm.load(H.FIXTURES .. "/" .. c[1], { threads = 1 })
      assert.is_nil(err)
      local cfg = m.config
      for k, v in pairs(c) do
        if k ~= 1 then assert.are.equal(v, cfg[k], c[1] .. " " .. k) end
      end
      assert.are.equal(256, cfg.vocab_size)
      assert.are.equal(1, cfg.bos)
      assert.are.equal(2, cfg.eos)
      assert.is_false(cfg.has_tokenizer)
      assert.truthy(tostring(m):find("mobilellm.Model", 1, true))
      m:close()
    end
  end)

  it("names layer sharing and the size in tostring", function()
    local m = assert(mllm.load(H.FIXTURES .. "/f32-ls"))
    assert.truthy(tostring(m):find("3 layers x2 shared", 1, true))
    assert.truthy(m.config.params > 0)
    m:close()
    assert.are.equal("mobilellm.Model (closed)", tostring(m))
  end)

  it("uses lm_head.weight when the config does not share the embedding", function()
    -- the untied fixture's logits only match the reference if lm_head is used
    local e = H.expected("f32-untied-mobilellm")
    local m = assert(mllm.load(e.dir))
    local s = m:session()
    assert(s:eval(e.prompt))
    local off = (e.positions - 1) * e.n_vocab
    assert.is_true(H.max_diff(s:logits(), e.logits, off, e.n_vocab) < 1e-4)
  end)

  it("shares the embedding when lm_head.weight is absent even if the config does not say so", function()
    local dir = H.make_model({ model_type = "llama", share_embedding = false, tie_word_embeddings = false })
    local m = assert(mllm.load(dir))
    assert.is_true(m.config.share_embedding)
    H.rmdir(dir)
  end)

  it("accepts the official MobileLLM configs' fields", function()
    local dir = H.make_model({ model_type = "llama", tie_word_embeddings = true, share_embedding = nil,
      architectures = { "LlamaForCausalLM" }, hidden_act = "silu", rope_scaling = nil, attention_bias = false,
      eos_token_id = 2, bos_token_id = 1, rms_norm_eps = 1e-5, torch_dtype = "float16" })
    local m, err = mllm.load(dir)
    assert.is_nil(err)
    assert.are.equal("llama", m.config.model_type)
    H.rmdir(dir)
  end)

  describe("refuses bad input with a message naming what is wrong", function()
    local function config_case(over, pattern)
      return function()
        local dir, cfg = H.make_model()
        for k, v in pairs(over) do
          if v == H.DELETE then cfg[k] = nil else cfg[k] = v end
        end
        H.write(dir .. "/config.json", H.json(cfg))
        local m, err = mllm.load(dir)
        assert.is_nil(m)
        assert.matches(pattern, err)
        assert.matches("config.json", err, 1, true)
        H.rmdir(dir)
      end
    end
    it("a missing directory", function()
      local m, err = mllm.load("/nonexistent/model")
      assert.is_nil(m)
      assert.matches("/nonexistent/model: not a directory", err, 1, true)
    end)
    it("a directory without config.json", function()
      local dir = H.tmpdir()
      local m, err = mllm.load(dir)
      assert.is_nil(m)
      assert.matches("config.json: cannot open", err, 1, true)
      H.rmdir(dir)
    end)
    it("config.json that is not JSON", function()
      local dir = H.make_model()
      H.write(dir .. "/config.json", "{ \"hidden_size\": 16,, }")
      local m, err = mllm.load(dir)
      assert.is_nil(m)
      assert.matches("not a valid JSON object", err, 1, true)
      H.rmdir(dir)
    end)
    it("a missing hidden_size", config_case({ hidden_size = H.DELETE }, 'missing "hidden_size"'))
    it("a fractional hidden_size", config_case({ hidden_size = 16.5 }, '"hidden_size" must be an integer'))
    it("kv heads that do not divide heads", config_case({ num_attention_heads = 2, num_key_value_heads = 3 }, "num_key_value_heads %(3%) must divide"))
    it("an unknown model_type", config_case({ model_type = "gpt2" }, 'model_type "gpt2" is not supported'))
    it("a zero vocabulary", config_case({ vocab_size = 0 }, '"vocab_size" is 0, outside'))
    it("a negative layer count", config_case({ num_hidden_layers = -1 }, '"num_hidden_layers" is %-1'))
    it("an odd head_dim", config_case({ head_dim = 7 }, "head_dim %(7%) must be even"))
    it("rope scaling other than llama3", config_case({ rope_scaling = { type = "linear", factor = 2 } },
      'rope_scaling type "linear" is not supported %(only "default" and "llama3"%)'))
    it("rope scaling without a type", config_case({ rope_scaling = { factor = 2 } }, "rope_scaling has no rope_type"))
    it("llama3 rope scaling without a field", config_case({ rope_scaling = { rope_type = "llama3", factor = 8,
      low_freq_factor = 1, high_freq_factor = 4 } }, 'rope_scaling of type "llama3" needs "original_max_position_embeddings"'))
    it("llama3 rope scaling with high_freq_factor <= low_freq_factor", config_case({ rope_scaling = {
      rope_type = "llama3", factor = 8, low_freq_factor = 4, high_freq_factor = 4, original_max_position_embeddings = 64 } },
      "rope_scaling.high_freq_factor %(4%) must exceed low_freq_factor %(4%)"))
    it("llama3 rope scaling with a zero factor", config_case({ rope_scaling = { rope_type = "llama3", factor = 0,
      low_freq_factor = 1, high_freq_factor = 4, original_max_position_embeddings = 64 } }, '"factor" must be a number in %(0,'))
    it("a non-SiLU activation", config_case({ hidden_act = "gelu" }, 'hidden_act must be "silu"'))
    it("a non-positive rope_theta", config_case({ rope_theta = 0 }, '"rope_theta" must be a number'))

    it("no weights file", function()
      local dir = H.make_model()
      os.remove(dir .. "/model.safetensors")
      local m, err = mllm.load(dir)
      assert.is_nil(m)
      assert.matches("no model.safetensors or model.safetensors.index.json", err, 1, true)
      H.rmdir(dir)
    end)

    local function st_case(mutate, st_opts, pattern)
      return function()
        local dir = H.make_model(nil, mutate, st_opts)
        local m, err = mllm.load(dir)
        assert.is_nil(m)
        assert.matches("model.safetensors", err, 1, true)
        assert.matches(pattern, err)
        H.rmdir(dir)
      end
    end
    it("a missing tensor", st_case(function(t) table.remove(t, 5) end, nil,
      "missing tensor 'model.layers.0.self_attn.k_proj.weight'"))
    it("a mis-shaped tensor", st_case(function(t) t[4][2] = { 16, 8 } end, nil,
      "tensor 'model.layers.0.self_attn.q_proj.weight' has shape %[16, 8%], expected %[16, 16%]"))
    it("an unsupported dtype", st_case(nil, { header_override = function(h) h["model.norm.weight"].dtype = "I64" end },
      "tensor 'model.norm.weight' has dtype I64"))
    it("an unknown dtype", st_case(nil, { header_override = function(h) h["model.norm.weight"].dtype = "Q9" end },
      "unknown dtype 'Q9'"))
    it("a byte length that does not match the shape", st_case(nil,
      { header_override = function(h) h["model.norm.weight"].shape = { 17 } end }, "need 68"))
    it("overlapping tensors", st_case(nil, { header_override = function(h)
      local a = h["model.norm.weight"].data_offsets
      h["model.norm.weight"].data_offsets = { a[1] - 4, a[2] - 4 }
    end }, "overlaps"))
    it("offsets past the data", st_case(nil, { header_override = function(h)
      local a = h["model.norm.weight"].data_offsets
      h["model.norm.weight"].data_offsets = { a[1] + 1000000, a[2] + 1000000 }
    end }, "data_offsets outside the data area"))
    it("a header that is not JSON", st_case(nil, { raw_header = "{not json" }, "header is not a JSON object"))
    it("a header that is not UTF-8", st_case(nil, { raw_header = '{"\255": 1}' }, "not valid UTF%-8"))
    it("a header longer than the limit", st_case(nil, { header_len = 200 * 1024 * 1024 }, "exceeds the limit"))
    it("a header longer than the file", st_case(nil, { header_len = 1024 * 1024 }, "file is truncated"))
    it("a duplicate tensor name", st_case(nil, { raw_header =
      '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' },
      "appears twice"))

    it("a truncated file", function()
      local dir = H.make_model()
      local data = H.read(dir .. "/model.safetensors")
      H.write(dir .. "/model.safetensors", data:sub(1, #data - 100))
      local m, err = mllm.load(dir)
      assert.is_nil(m)
      assert.matches("outside the data area", err, 1, true)
      H.write(dir .. "/model.safetensors", data:sub(1, 5))
      m, err = mllm.load(dir)
      assert.is_nil(m)
      assert.matches("file is truncated", err, 1, true)
      H.rmdir(dir)
    end)

    it("a shard index pointing outside its directory", function()
      local dir = H.make_model()
      os.rename(dir .. "/model.safetensors", dir .. "/shard.safetensors")
      H.write(dir .. "/model.safetensors.index.json",
        '{"weight_map": {"model.norm.weight": "../shard.safetensors"}}')
      local m, err = mllm.load(dir)
      assert.is_nil(m)
      assert.matches("points outside the checkpoint directory", err, 1, true)
      H.rmdir(dir)
    end)

    it("a shard named in the index that is missing", function()
      local dir = H.make_model()
      H.write(dir .. "/model.safetensors.index.json", '{"weight_map": {"model.norm.weight": "gone.safetensors"}}')
      os.remove(dir .. "/model.safetensors")
      local m, err = mllm.load(dir)
      assert.is_nil(m)
      assert.matches("gone.safetensors: cannot open: No such file", err, 1, true)
      H.rmdir(dir)
    end)

    it("a tokenizer with more pieces than the model's vocabulary", function()
      local m, err = mllm.load(H.FIXTURES .. "/f32-basic", { tokenizer = H.TOKENIZER })
      assert.is_nil(m)
      assert.matches("tokenizer has 32000 pieces but the model's vocab_size is 256", err, 1, true)
    end)

    it("a missing tokenizer when one is required", function()
      local m, err = mllm.load(H.FIXTURES .. "/f32-basic", { require_tokenizer = true })
      assert.is_nil(m)
      assert.matches("no tokenizer.model", err, 1, true)
    end)
  end)

  it("raises on misuse of its arguments", function()
    assert.has_error(function() mllm.load() end, "bad argument #1 to 'load' (string expected, got no value)")
    assert.has_error(function() mllm.load(H.FIXTURES .. "/f32-basic", 3) end,
      "bad argument #2 to 'load' (table of options expected, got number)")
    assert.has_error(function() mllm.load(H.FIXTURES .. "/f32-basic", { threads = "two" }) end,
      "option 'threads' must be an integer, got string")
    assert.has_error(function() mllm.load(H.FIXTURES .. "/f32-basic", { threads = -1 }) end,
      "option 'threads' must be in [0, 1024], got -1")
  end)

  it("keeps sessions working after the model is closed, and refuses the closed model", function()
    local e = H.expected("f32-basic")
    local m = assert(mllm.load(e.dir))
    local s = m:session({ n_ctx = 32 })
    m:close()
    m:close() -- idempotent
    assert.has_error(function() m:session() end, "attempt to use a closed model")
    assert.has_error(function() return m.config end, "attempt to use a closed model")
    assert(s:eval(e.prompt))
    assert.are.equal(e.greedy[1], H.argmax(s:logits()))
    s:close()
    assert.has_error(function() s:eval({ 3 }) end, "attempt to use a closed session")
  end)

  it("survives many load/close cycles and garbage collection in any order", function()
    for _ = 1, 20 do
      local m = assert(mllm.load(H.FIXTURES .. "/bf16-headdim"))
      local s = m:session({ n_ctx = 16 })
      m = nil -- luacheck: ignore 311
      collectgarbage()
      assert(s:eval({ 5, 6 }))
      s = nil -- luacheck: ignore 311
      collectgarbage()
    end
  end)
end)

describe("mllm.load on_progress", function()
  it("reports increasing fractions ending at 1", function()
    local seen = {}
    local m = assert(mllm.load(H.FIXTURES .. "/f32-ls", { on_progress = function(f) seen[#seen + 1] = f end }))
    assert.is_true(#seen >= 2)
    for i = 2, #seen do assert.is_true(seen[i] >= seen[i - 1]) end
    assert.are.equal(1, seen[#seen])
    m:close()
  end)

  it("cancels the load when the callback returns false: nil, message", function()
    local m, err = mllm.load(H.FIXTURES .. "/f32-ls", { on_progress = function() return false end })
    assert.is_nil(m)
    assert.are.equal("spec/fixtures/models/f32-ls/model.safetensors: loading cancelled", err)
  end)

  it("passes the callback's own error on, after cleaning up", function()
    for _ = 1, 20 do
      local ok, err = pcall(mllm.load, H.FIXTURES .. "/f32-ls", { on_progress = function() error("stop here") end })
      assert.is_false(ok)
      assert.matches("stop here", err)
    end
    assert.has_error(function() mllm.load(H.FIXTURES .. "/f32-ls", { on_progress = 3 }) end,
      "option 'on_progress' must be a function, got number")
  end)
end)
