-- Loader hardening (issue 8): crafted bad checkpoints that spec/10-load_spec.lua
-- does not already cover. Each is refused with nil, message, and the message
-- names the file and what is wrong in it.
local mllm = require("mobilellm")
local H = require("support.helpers")

--- Loads dir, expects failure with every pattern (plain text) in the message.
local function refused(dir, ...)
  local m, err = mllm.load(dir)
  assert.is_nil(m)
  assert.is_string(err)
  for _, want in ipairs { ... } do
    assert(err:find(want, 1, true), ("message %q does not contain %q"):format(err, want))
  end
  return err
end

describe("the loader refuses hostile checkpoints", function()
  describe("safetensors headers", function()
    local function header_case(edit, ...)
      local wants = { ... }
      return function()
        local dir = H.make_model(nil, nil, { header_override = edit })
        refused(dir, "model.safetensors", table.unpack(wants))
        H.rmdir(dir)
      end
    end
    local function raw_case(raw, ...)
      local wants = { ... }
      return function()
        local dir = H.make_model(nil, nil, { raw_header = raw })
        refused(dir, "model.safetensors", table.unpack(wants))
        H.rmdir(dir)
      end
    end
    local NORM = "model.norm.weight"

    it("a shape whose element count overflows", header_case(function(h)
      h[NORM].shape = { 1 << 32, 1 << 32, 16 }
    end, "tensor 'model.norm.weight' shape overflows"))
    it("a shape whose byte count overflows", header_case(function(h)
      h[NORM].shape = { 1 << 31, 1 << 31 }  -- 2^62 elements fit, 2^64 bytes do not
    end, "tensor 'model.norm.weight' has 64 bytes of data but its shape and dtype need"))
    it("a shape entry that is negative", header_case(function(h) h[NORM].shape = { -16 } end,
      "tensor 'model.norm.weight' has a shape entry that is not a non-negative integer"))
    it("a shape entry that is fractional", header_case(function(h) h[NORM].shape = { 15.5 } end,
      "has a shape entry that is not a non-negative integer"))
    it("a shape entry that is a string", header_case(function(h) h[NORM].shape = { "16" } end,
      "has a shape entry that is not a non-negative integer"))
    it("a shape entry past 2^53", header_case(function(h) h[NORM].shape = { 1e300 } end,
      "has a shape entry that is not a non-negative integer"))
    it("more than 8 dimensions", header_case(function(h)
      h[NORM].shape = { 1, 1, 1, 1, 1, 1, 1, 1, 16 }
    end, "tensor 'model.norm.weight' has 9 dimensions (limit 8)"))
    it("negative offsets", header_case(function(h)
      local a = h[NORM].data_offsets
      h[NORM].data_offsets = { -64, a[2] - a[1] - 64 }
    end, "tensor 'model.norm.weight' has data_offsets outside the data area"))
    it("offsets that are not integers", header_case(function(h)
      local a = h[NORM].data_offsets
      h[NORM].data_offsets = { a[1] + 0.5, a[2] + 0.5 }
    end, "has data_offsets outside the data area"))
    it("offsets that are strings", header_case(function(h)
      local a = h[NORM].data_offsets
      h[NORM].data_offsets = { tostring(a[1]), tostring(a[2]) }
    end, "has data_offsets outside the data area"))
    it("offsets that end before they begin", header_case(function(h)
      local a = h[NORM].data_offsets
      h[NORM].data_offsets = { a[2], a[1] }
    end, "has data_offsets outside the data area"))
    it("three offsets", header_case(function(h)
      local a = h[NORM].data_offsets
      h[NORM].data_offsets = { a[1], a[2], a[2] }
    end, "has data_offsets outside the data area"))
    it("offsets past 2^64", header_case(function(h)
      h[NORM].data_offsets = { 0, 1e30 }
    end, "has data_offsets outside the data area"))
    it("a tensor entry that is not an object", header_case(function(h) h[NORM] = { 1, 2 } end,
      "tensor 'model.norm.weight' needs dtype, shape and data_offsets"))
    it("a tensor without a dtype", header_case(function(h) h[NORM].dtype = nil end,
      "tensor 'model.norm.weight' needs dtype, shape and data_offsets"))
    it("__metadata__ that is not an object", header_case(function(h) h.__metadata__ = "pt" end,
      "__metadata__ is not an object"))
    it("a gap between two tensors", header_case(function(h)
      local a = h[NORM].data_offsets
      h[NORM].data_offsets = { a[1] + 4, a[2] + 4 }  -- and nothing at a[1]: a gap, then an overlap
    end, "leaves a gap in the data area"))
    it("data past the last tensor", function()
      local dir = H.make_model()
      local f = assert(io.open(dir .. "/model.safetensors", "ab"))
      f:write(("\0"):rep(12))
      f:close()
      refused(dir, "model.safetensors", "tensors cover", "but the data area has")
      H.rmdir(dir)
    end)

    it("a header length of 0", function()
      local dir = H.make_model()
      local data = H.read(dir .. "/model.safetensors")
      H.write(dir .. "/model.safetensors", string.pack("<I8", 0) .. data:sub(9))
      refused(dir, "model.safetensors", "header is not a JSON object")
      H.rmdir(dir)
    end)
    it("a header length with the top bit set", function()
      local dir = H.make_model(nil, nil, { header_len = -8 })  -- 0xFFFFFFFFFFFFFFF8
      refused(dir, "model.safetensors", "header length 18446744073709551608 exceeds the limit of 104857600 bytes")
      H.rmdir(dir)
    end)
    it("an empty file", function()
      local dir = H.make_model()
      H.write(dir .. "/model.safetensors", "")
      refused(dir, "model.safetensors: file is truncated (0 bytes")
      H.rmdir(dir)
    end)
    it("a header that is a JSON array", raw_case("[]", "header is not a JSON object"))
    it("a header that is a JSON string", raw_case('"model"', "header is not a JSON object"))
    it("bytes after the JSON object", raw_case('{} {"a": 1}', "trailing bytes after the JSON"))
    it("a NUL inside a name", raw_case('{"a\0b": 1}', "header has a control character or \\u0000 at byte 3"))
    it("an escaped NUL inside a name", raw_case('{"model.norm.weight\\u0000x": 1}',
      "header has a control character or \\u0000 at byte 19"))
    it("a control character between tokens", raw_case('{\1}', "header has a control character or \\u0000 at byte 1"))
    it("an empty header object (no tensors at all)", raw_case("{}", "tensors cover 0 bytes but the data area has"))
    it("a header nested deeply", raw_case(('{"a":'):rep(5000) .. "1" .. ("}"):rep(5000),
      "header is not a JSON object"))

    it("a directory named model.safetensors", function()
      local dir = H.make_model()
      os.remove(dir .. "/model.safetensors")
      assert(os.execute("mkdir '" .. dir .. "/model.safetensors'"))
      refused(dir, "model.safetensors: not a regular file (a directory)")
      H.rmdir(dir)
    end)
    it("a shard index naming a directory", function()
      local dir = H.make_model()
      assert(os.execute("mkdir '" .. dir .. "/sub'"))
      H.write(dir .. "/model.safetensors.index.json", '{"weight_map": {"model.norm.weight": "sub"}}')
      os.remove(dir .. "/model.safetensors")
      refused(dir, "sub: not a regular file")
      H.rmdir(dir)
    end)
  end)

  describe("shard indexes", function()
    local function index_case(index, ...)
      local wants = { ... }
      return function()
        local dir = H.make_model()
        os.rename(dir .. "/model.safetensors", dir .. "/a.safetensors")
        H.write(dir .. "/model.safetensors.index.json", index)
        refused(dir, "model.safetensors.index.json", table.unpack(wants))
        H.rmdir(dir)
      end
    end
    it("an absolute shard path", index_case('{"weight_map": {"x": "/etc/passwd"}}',
      "shard '/etc/passwd' points outside the checkpoint directory"))
    it("a shard path with a backslash", index_case('{"weight_map": {"x": "..\\\\a.safetensors"}}',
      "points outside the checkpoint directory"))
    it("'..' as a shard", index_case('{"weight_map": {"x": ".."}}', "shard '..' points outside"))
    it("an empty shard name", index_case('{"weight_map": {"x": ""}}', "points outside the checkpoint directory"))
    it("a shard name that is not a string", index_case('{"weight_map": {"x": 3}}',
      "weight_map entry 'x' is not a file name"))
    it("no weight_map", index_case('{"metadata": {}}', 'no "weight_map" object'))
    it("a weight_map naming no shard", index_case('{"weight_map": {}}', "weight_map names no shard"))
    it("an index that is not JSON", index_case("{weight_map", 'no "weight_map" object'))
    it("a shard name too long for a path", index_case('{"weight_map": {"x": "' .. ("a"):rep(5000) .. '"}}',
      "shard name '" .. ("a"):rep(40) .. "...' (5000 bytes) is too long: its path passes MLLM_MAX_PATH (4096 bytes)"))
    it("a tensor stored in two shards", function()
      local dir = H.make_model()
      os.rename(dir .. "/model.safetensors", dir .. "/a.safetensors")
      H.write(dir .. "/b.safetensors", H.read(dir .. "/a.safetensors"))
      H.write(dir .. "/model.safetensors.index.json",
        '{"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}}')
      refused(dir, "is stored in two shards")
      H.rmdir(dir)
    end)
  end)

  describe("config values out of bounds", function()
    local function config_case(over, ...)
      local wants = { ... }
      return function()
        local dir, cfg = H.make_model()
        for k, v in pairs(over) do
          if v == H.DELETE then cfg[k] = nil else cfg[k] = v end
        end
        H.write(dir .. "/config.json", H.json(cfg))
        refused(dir, "config.json", table.unpack(wants))
        H.rmdir(dir)
      end
    end
    it("a huge layer count", config_case({ num_hidden_layers = 1000000 },
      '"num_hidden_layers" is 1000000, outside [1, 1024]'))
    it("a huge width", config_case({ hidden_size = 1 << 40 }, '"hidden_size" is 1099511627776, outside [1, 65536]'))
    it("a huge vocabulary", config_case({ vocab_size = 1e12 }, '"vocab_size" is 1000000000000, outside [3, 1048576]'))
    it("a huge context", config_case({ max_position_embeddings = 1 << 31 }, '"max_position_embeddings" is 2147483648, outside'))
    it("a huge FFN", config_case({ intermediate_size = 1e300 }, '"intermediate_size" is 1.0000000000000001e+300, outside'))
    it("a zero head count", config_case({ num_attention_heads = 0 }, '"num_attention_heads" is 0, outside'))
    it("a negative kv head count", config_case({ num_key_value_heads = -2 }, '"num_key_value_heads" is -2, outside'))
    it("a width given as a string", config_case({ hidden_size = "16" }, '"hidden_size" must be an integer'))
    it("a width given as a list", config_case({ hidden_size = { 16, 32 } }, '"hidden_size" must be an integer'))
    it("heads that do not divide the width, without head_dim", config_case({ num_attention_heads = 3, num_key_value_heads = 1 },
      "num_attention_heads (3) does not divide hidden_size (16) and no head_dim is given"))
    it("heads that do not divide the width, with a bad head_dim", config_case({ num_attention_heads = 3, head_dim = "5" },
      '"head_dim" must be an integer'))
    it("more kv heads than heads", config_case({ num_key_value_heads = 4 }, "num_key_value_heads (4) must divide num_attention_heads (2)"))
    it("head_dim x heads past the limit", config_case({ head_dim = 65536 }, "head_dim * num_attention_heads exceeds 65536"))
    it("a bos id outside the vocabulary", config_case({ bos_token_id = 32 },
      "bos_token_id (32) / eos_token_id (2) outside the vocabulary of 32"))
    it("an eos list with an id outside the vocabulary", config_case({ eos_token_id = { 99, 2 } },
      "eos_token_id (99) outside the vocabulary of 32"))
    it("an empty eos list", config_case({ eos_token_id = setmetatable({}, { __metatable = "array" }) },
      '"eos_token_id" lists 0 ids, expected 1 to MLLM_MAX_EOS_IDS (8)'))
    it("a later eos id outside the vocabulary", config_case({ eos_token_id = { 2, 40 } },
      "eos_token_id 40 outside the vocabulary of 32"))
    it("an rms_norm_eps that is zero as a float", config_case({ rms_norm_eps = 1e-60 }, '"rms_norm_eps" must be a number in (0, 1]'))
    it("a rope_theta that is zero as a float", config_case({ rope_theta = 1e-50 }, '"rope_theta" must be a number in (0, 1e+09]'))
    it("an rms_norm_eps of 2", config_case({ rms_norm_eps = 2 }, '"rms_norm_eps" must be a number in (0, 1]'))
    it("a string rope_theta", config_case({ rope_theta = "10000" }, '"rope_theta" must be a number'))
    it("layer_sharing given as a string", config_case({ layer_sharing = "yes" }, '"layer_sharing" must be true or false'))
    it("model_type given as a number", config_case({ model_type = 7 }, '"model_type" must be a string'))
    it("attention biases", config_case({ attention_bias = true }, "attention_bias is not supported"))

    it("config.json that is an array, empty, or larger than 16 MiB", function()
      local dir = H.make_model()
      for _, text in ipairs { "[1, 2]", "", "null", ("{"):rep(3) } do
        H.write(dir .. "/config.json", text)
        refused(dir, "config.json: not a valid JSON object")
      end
      H.write(dir .. "/config.json", "{" .. (" "):rep(17 * 1024 * 1024) .. "}")
      refused(dir, "config.json: 17825794 bytes, larger than the limit of 16777216 bytes (MLLM_MAX_CONFIG_BYTES)")
      H.rmdir(dir)
    end)
    it("a directory named config.json", function()
      local dir = H.make_model()
      os.remove(dir .. "/config.json")
      assert(os.execute("mkdir '" .. dir .. "/config.json'"))
      local m, err = mllm.load(dir)
      assert.is_nil(m)
      assert.matches("config.json", err, 1, true)
      H.rmdir(dir)
    end)
  end)

  describe("tensors that disagree with the config", function()
    it("an embedding whose vocabulary differs from the config's", function()
      local dir = H.make_model(nil, function(t) t[1][2] = { 31, 16 } end)
      refused(dir, "model.safetensors", "tensor 'model.embed_tokens.weight' has shape [31, 16], expected [32, 16] from config.json")
      H.rmdir(dir)
    end)
    it("an embedding with a third dimension", function()
      local dir = H.make_model(nil, function(t) t[1][2] = { 32, 16, 1 } end)
      refused(dir, "tensor 'model.embed_tokens.weight' has shape [32, 16, 1], expected [32, 16]")
      H.rmdir(dir)
    end)
    it("an untied head whose vocabulary differs", function()
      local dir = H.make_model({ share_embedding = false }, function(t)
        t[#t + 1] = { "lm_head.weight", { 33, 16 } }
      end)
      refused(dir, "tensor 'lm_head.weight' has shape [33, 16], expected [32, 16]")
      H.rmdir(dir)
    end)
    it("a norm that is a matrix", function()
      local dir = H.make_model(nil, function(t) t[2][2] = { 4, 4 } end)
      refused(dir, "tensor 'model.norm.weight' has shape [4, 4], expected [16]")
      H.rmdir(dir)
    end)
    it("a tokenizer that is not a sentencepiece model", function()
      local dir = H.make_model()
      H.write(dir .. "/tokenizer.model", ("\255"):rep(100))
      refused(dir, "tokenizer.model: cannot load tokenizer")
      H.rmdir(dir)
    end)
  end)
end)
