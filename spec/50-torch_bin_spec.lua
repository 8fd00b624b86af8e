-- pytorch_model.bin (issue 7): torch.save archives load into the same model as their
-- safetensors twins, bit for bit; mllm.convert writes safetensors; hostile archives are refused.
-- Fixtures: tools/make_torch_fixtures.py (spec/fixtures/torch/).
local mllm = require("mobilellm")
local core = require("mobilellm.core")
local H = require("support.helpers")

local DIR = "spec/fixtures/torch"
local VARIANTS = {
  { "f32", dtype = "f32", share_embedding = false },
  { "f16-views", dtype = "f16", share_embedding = false },
  { "bf16-tied", dtype = "bf16", share_embedding = true },
  { "mobilellm", dtype = "f16", share_embedding = true, model_type = "mobilellm" },
  { "f32-sharded", dtype = "f32", share_embedding = true },
  { "bf16-tied-zip64", dtype = "bf16", share_embedding = true, twin = "bf16-tied-safetensors" },
}

local function twin(v)
  return DIR .. "/" .. (v.twin or v[1] .. "-safetensors")
end
local PROMPT = { 1, 200, 31, 7, 99, 142, 3, 250, 64 }

local function load(dir)
  local m, err = mllm.load(dir, { threads = 1 })
  assert(m, err)
  return m
end

--- Logits after every prefix of the prompt, as one flat array.
local function all_logits(m)
  local s = m:session({ n_ctx = 64 })
  local out = {}
  for _, id in ipairs(PROMPT) do
    assert(s:eval({ id }))
    for _, v in ipairs(s:logits()) do out[#out + 1] = v end
  end
  s:close()
  return out
end

--- Counts the values that differ (compared with ==, so bit-identical floats only pass).
local function n_different(a, b)
  assert.are.equal(#a, #b)
  local n = 0
  for i = 1, #a do
    if a[i] ~= b[i] then n = n + 1 end
  end
  return n
end

local function greedy_ids(m, n)
  local ids = {}
  local _, info = m:generate(PROMPT, { max_tokens = n, temperature = 0, stop_at_eos = false, n_ctx = 64,
    on_token = function(_, id) ids[#ids + 1] = id end })
  assert.are.equal(n, info.generated_tokens)
  return ids
end

local function file_size(path)
  local f = assert(io.open(path, "rb"))
  local n = f:seek("end")
  f:close()
  return n
end

describe("pytorch_model.bin", function()
  for _, v in ipairs(VARIANTS) do
    it(v[1] .. ": logits are bit-identical to the safetensors twin", function()
      local bin, st = load(DIR .. "/" .. v[1]), load(twin(v))
      assert.are.equal(v.dtype, bin.config.dtype)
      assert.are.equal(v.share_embedding, bin.config.share_embedding)
      if v.model_type then assert.are.equal(v.model_type, bin.config.model_type) end
      assert.are.equal(st.config.params, bin.config.params)
      local a, b = all_logits(bin), all_logits(st)
      assert.are.equal(#PROMPT * 256, #a)
      assert.are.equal(0, n_different(a, b))
      bin:close()
      st:close()
    end)
  end

  it("generates the same tokens as the safetensors twin (a MobileLLM-125M layout: no lm_head.weight)", function()
    local bin, st = load(DIR .. "/mobilellm"), load(DIR .. "/mobilellm-safetensors")
    assert.are.same(greedy_ids(st, 12), greedy_ids(bin, 12))
  end)

  it("uses F32 storages in place from the memory map", function()
    local m = load(DIR .. "/f32")
    assert.are.equal(file_size(DIR .. "/f32/pytorch_model.bin"), m.config.weight_bytes)
  end)

  it("prefers model.safetensors when both formats are present", function()
    local dir = H.tmpdir()
    H.copy_dir(DIR .. "/f32-safetensors", dir)
    H.write(dir .. "/pytorch_model.bin", "not an archive")
    local m = load(dir)
    assert.are.equal(0, n_different(all_logits(m), all_logits(load(DIR .. "/f32-safetensors"))))
    H.rmdir(dir)
  end)

  it("refuses a shard index that points outside its directory", function()
    local dir = H.tmpdir()
    H.write(dir .. "/config.json", H.read(DIR .. "/f32-sharded/config.json"))
    H.write(dir .. "/pytorch_model.bin.index.json", '{"weight_map": {"model.norm.weight": "../x.bin"}}')
    local m, err = mllm.load(dir)
    assert.is_nil(m)
    assert.matches("pytorch_model.bin.index.json: shard '../x.bin' points outside the checkpoint directory", err, 1, true)
    H.rmdir(dir)
  end)

  it("names every format it looked for when there is none", function()
    local dir = H.tmpdir()
    H.write(dir .. "/config.json", H.read(DIR .. "/f32/config.json"))
    local m, err = mllm.load(dir)
    assert.is_nil(m)
    assert.matches("nor pytorch_model.bin or pytorch_model.bin.index.json", err, 1, true)
    H.rmdir(dir)
  end)
end)

describe("mllm.convert", function()
  for _, v in ipairs(VARIANTS) do
    it(v[1] .. ": the converted model.safetensors loads and gives identical logits", function()
      local out = H.tmpdir()
      H.write(out .. "/config.json", H.read(DIR .. "/" .. v[1] .. "/config.json"))
      assert.is_true(core.convert(DIR .. "/" .. v[1], out .. "/model.safetensors"))
      local conv = load(out)
      assert.are.equal(v.dtype, conv.config.dtype)
      assert.are.equal(0, n_different(all_logits(conv), all_logits(load(twin(v)))))
      conv:close()
      H.rmdir(out)
    end)
  end

  it("converts a safetensors checkpoint to the same tensors, in place", function()
    local dir = H.tmpdir()
    H.copy_dir(DIR .. "/bf16-tied-safetensors", dir)
    local before = all_logits(load(dir))
    assert.is_true(core.convert(dir, dir .. "/model.safetensors"))
    assert.are.equal(0, n_different(before, all_logits(load(dir))))
    H.rmdir(dir)
  end)

  it("copies a pre-quantized (Q4_0) safetensors checkpoint as stored", function()
    local q = H.tmpdir()
    local m = assert(mllm.load(DIR .. "/mobilellm", { dtype = "q4", threads = 1 }))
    assert(m:save(q .. "/model.safetensors"))
    H.write(q .. "/config.json", H.read(DIR .. "/mobilellm/config.json"))
    local out = H.tmpdir()
    H.write(out .. "/config.json", H.read(DIR .. "/mobilellm/config.json"))
    assert.is_true(core.convert(q, out .. "/model.safetensors"))
    local a, b = load(q), load(out)
    assert.are.equal("q4", b.config.dtype)
    assert.are.equal(0, n_different(all_logits(a), all_logits(b)))
    H.rmdir(q)
    H.rmdir(out)
  end)

  it("returns nil and a message for a missing checkpoint or an unwritable output", function()
    local dir = H.tmpdir()
    local ok, err = core.convert(dir, dir .. "/out.safetensors")
    assert.is_nil(ok)
    assert.matches("no model.safetensors", err, 1, true)
    ok, err = core.convert(DIR .. "/f32", "/nonexistent/dir/model.safetensors")
    assert.is_nil(ok)
    assert.matches("/nonexistent/dir/model.safetensors: cannot open for writing", err, 1, true)
    H.rmdir(dir)
  end)

  it("raises on misuse", function()
    assert.has_error(function() core.convert(nil, "x") end, "bad argument #1 to 'convert' (string expected, got nil)")
    assert.has_error(function() core.convert(DIR .. "/f32") end,
      "bad argument #2 to 'convert' (string expected, got no value)")
    assert.has_error(function() core.convert("", "x") end, "empty model directory")
  end)
end)

describe("hostile pytorch_model.bin files are refused with a clear message", function()
  -- { file in spec/fixtures/torch/hostile, message pattern (plain text) }
  local cases = {
    { "os-system", "archive/data.pkl: byte 2: the pickle imports os.system, which a weights file never needs; refused" },
    { "unknown-opcode", "archive/data.pkl: byte 2: unknown pickle opcode 0xff" },
    { "protocol4", "pickle opcode FRAME (0x95) is not allowed in a weights file" },
    { "double", "the pickle imports torch.DoubleStorage" },
    { "missing-storage", "tensor 'model.norm.weight' uses storage '0', but the archive has no record 'archive/data/0'" },
    { "past-storage", "tensor 'model.norm.weight' (16 elements at offset 0) reaches past its storage '0' of 12 elements" },
    { "offset-overflow", "tensor 'model.norm.weight' (16 elements at offset 2147483647) reaches past its storage '0' of 16 elements" },
    { "non-contiguous", "tensor 'model.layers.0.self_attn.q_proj.weight' is not contiguous (stride (1, 8); a contiguous one is (16, 1))" },
    { "short-storage", "tensor 'model.norm.weight': its storage record has 8 bytes but the pickle declares 16 f32 elements" },
    { "truncated", "not a zip archive, or truncated (no end of central directory record)" },
    { "compressed", "zip: record 'full/data.pkl' is compressed (method 8, deflate)" },
    { "legacy", "a legacy (pre-zip) torch.save file" },
    { "big-endian", "the archive is not little-endian" },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local dir = H.tmpdir()
      H.write(dir .. "/config.json", H.read(DIR .. "/hostile/config.json"))
      H.write(dir .. "/pytorch_model.bin", H.read(DIR .. "/hostile/" .. c[1] .. ".bin"))
      local m, err = mllm.load(dir)
      assert.is_nil(m)
      assert.matches(dir .. "/pytorch_model.bin: ", err, 1, true)
      assert.matches(c[2], err, 1, true)
      local ok, cerr = core.convert(dir, dir .. "/model.safetensors")  -- the converter reads the same way
      assert.is_nil(ok)
      assert.are.equal(err, cerr)
      H.rmdir(dir)
    end)
  end

  it("never runs the pickle", function()
    os.remove("/tmp/pwned")
    local dir = H.tmpdir()
    H.write(dir .. "/config.json", H.read(DIR .. "/hostile/config.json"))
    H.write(dir .. "/pytorch_model.bin", H.read(DIR .. "/hostile/os-system.bin"))
    local m, err = mllm.load(dir)
    assert.is_nil(m)
    assert.matches("the pickle imports os.system, which a weights file never needs; refused", err, 1, true)
    assert.is_nil(io.open("/tmp/pwned"))
    H.rmdir(dir)
  end)

  it("every prefix of a valid archive is refused or loads, never crashes", function()
    local data = H.read(DIR .. "/hostile/non-contiguous.bin")
    local dir = H.tmpdir()
    H.write(dir .. "/config.json", H.read(DIR .. "/hostile/config.json"))
    for cut = 0, #data - 1, 7 do
      H.write(dir .. "/pytorch_model.bin", data:sub(1, cut))
      local m, err = mllm.load(dir)
      assert.is_nil(m)
      assert.is_string(err)
    end
    H.rmdir(dir)
  end)
end)
