-- Corrupt weights (issue 34, item 6): NaN in the embedding used to make generation print
-- "⁇ ⁇ …" (an argmax over NaN answers id 0) and s:score return nan without a word. Now
-- generation and scoring stop with a message naming the position; `mobilellm info` loads
-- with the weight check. (spec/c/test_nonfinite.c checks the C API and the check itself.)
local mllm = require("mobilellm")
local cli = require("mobilellm.cli")
local H = require("support.helpers")

-- A copy of fixture `name` with `values` (float32) written into tensor `tensor` from
-- element `at` (0-based) of its data.
local function corrupt_copy(name, tensor, at, values)
  local dir = H.tmpdir()
  H.copy_dir(H.FIXTURES .. "/" .. name, dir)
  local path = dir .. "/model.safetensors"
  local data = H.read(path)
  local hlen = string.unpack("<I8", data)
  local header = assert(mllm.json_decode(data:sub(9, 8 + hlen)))
  local t = assert(header[tensor], tensor)
  assert(t.dtype == "F32")
  local off = 8 + hlen + t.data_offsets[1] + 4 * at
  local bytes = {}
  for i, v in ipairs(values) do bytes[i] = string.pack("<f", v) end
  bytes = table.concat(bytes)
  H.write(path, data:sub(1, off) .. bytes .. data:sub(off + #bytes + 1))
  return dir
end

local NAN = 0 / 0

describe("a model with NaN weights", function()
  -- f32-untied-mobilellm (dim 48, its own lm_head): five NaN in the embedding row of the
  -- 4th greedy token, so the first three tokens and that one come out as before
  local e = H.expected("f32-untied-mobilellm")
  local dir = corrupt_copy("f32-untied-mobilellm", "model.embed_tokens.weight", 231 * 48 + 3,
    { NAN, NAN, NAN, NAN, NAN })
  local model = assert(mllm.load(dir, { threads = 1 }))
  local MSG = "the model produced NaN logits at position 10 (token 5 of the generation): its weights "
    .. "may be corrupt (load with check = true to find them)"

  teardown(function()
    model:close()
    H.rmdir(dir)
  end)

  it("stops generation with nil and a message naming the position, not '<unk>' tokens", function()
    assert.are.equal(231, e.greedy[4])
    local text, err = model:generate(e.prompt, { max_tokens = 20, stop_at_eos = false })
    assert.is_nil(text)
    assert.are.equal(MSG, err)
  end)

  it("streams the tokens before the NaN, then raises", function()
    local ids = {}
    local ok, err = pcall(function()
      for _, id in model:stream(e.prompt, { max_tokens = 20, stop_at_eos = false }) do ids[#ids + 1] = id end
    end)
    assert.are.same({ table.unpack(e.greedy, 1, 4) }, ids)
    assert.is_false(ok)
    assert.matches(MSG, err, 1, true)  -- after the for loop's position
  end)

  it("fails sampled generation the same way", function()
    local s = model:session()
    assert(s:eval(e.prompt))
    assert(s:eval({ 231 }))
    local text, err = s:generate({}, { max_tokens = 3, temperature = 0.7, seed = 3 })
    assert.is_nil(text)
    assert.are.equal("the model produced NaN logits at position 7 (token 1 of the generation): its weights "
      .. "may be corrupt (load with check = true to find them)", err)
  end)

  it("makes s:score return nil and the message instead of nan", function()
    local s = model:session()
    assert(s:eval(e.prompt))
    local total = s:score({ table.unpack(e.greedy, 1, 4) })
    assert.is_true(total == total and total < 0)
    s = model:session()
    assert(s:eval(e.prompt))
    local none, err = s:score({ table.unpack(e.greedy, 1, 5) })
    assert.is_nil(none)
    assert.are.equal("the model produced NaN logits at position 10 (scoring token 5 of 5): its weights may be "
      .. "corrupt (load with check = true to find them)", err)
  end)

  it("is refused at load with check = true, naming the tensor and the position", function()
    local m, err = mllm.load(dir, { threads = 1, check = true })
    assert.is_nil(m)
    assert.matches("tensor 'model.embed_tokens.weight' holds NaN at index 11091 (row 231, column 3)", err, 1, true)
    local clean = assert(mllm.load(H.FIXTURES .. "/f32-untied-mobilellm", { threads = 1, check = true }))
    clean:close()
  end)
end)

-- `mobilellm info` in-process, with its streams captured.
local function run_cli(argv)
  local out, err = {}, {}
  local function sink(t)
    return { write = function(self, ...) for _, s in ipairs({ ... }) do t[#t + 1] = tostring(s) end return self end,
             flush = function() end }
  end
  local code = cli.main(argv, { out = sink(out), err = sink(err), inp = { read = function() end }, tty = false,
                                interactive = false, getenv = function() end })
  return code, table.concat(out), table.concat(err)
end

describe("mobilellm info", function()
  -- runs body with mllm.load recording the options info passes; answer(dir, opts), when
  -- given, stands in for the load
  local function with_load(answer, body)
    local real, seen = mllm.load, {}
    mllm.load = function(dir, opts)
      seen[#seen + 1] = opts
      if answer then return answer(dir, opts) end
      return real(dir, opts)
    end
    local ok, a, b, c = pcall(body)
    mllm.load = real
    assert(ok, a)
    return seen, a, b, c
  end

  it("loads with check = true and says the weights were checked", function()
    local seen, code, out, err = with_load(nil, function()
      return run_cli({ "info", H.FIXTURES .. "/f32-basic", "--threads", "1" })
    end)
    assert.are.equal(0, code, err)
    assert.are.equal(1, #seen)
    assert.is_true(seen[1].check)
    assert.matches("weights       checked: no NaN or infinity\n", out, 1, true)
    assert.matches("load time     [%d.]+ s %(with the weight check%)\n", out)
  end)

  it("fails with the check's message, as one error line", function()
    local msg = "m/model.safetensors: tensor 'model.embed_tokens.weight' holds NaN at index 11091 (row 231, "
      .. "column 3): the checkpoint is corrupt"
    local _, code, out, err = with_load(function(_, opts)
      assert(opts.check)
      return nil, msg
    end, function() return run_cli({ "info", H.FIXTURES .. "/f32-basic" }) end)
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal("mobilellm: " .. msg .. "\n", err)
  end)

  it("on a corrupt copy, really runs the check and exits 1 naming the tensor", function()
    local dir = corrupt_copy("f32-untied-mobilellm", "model.embed_tokens.weight", 7, { 1 / 0 })
    local code, out, err = run_cli({ "info", dir, "--threads", "1" })
    H.rmdir(dir)
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.matches("tensor 'model.embed_tokens.weight' holds +Inf at index 7", err, 1, true)
  end)

  it("says so in --json", function()
    local _, code, out = with_load(nil, function()
      return run_cli({ "info", H.FIXTURES .. "/f32-basic", "--json", "--threads", "1" })
    end)
    assert.are.equal(0, code)
    assert.is_true(assert(mllm.json_decode(out)).weights_checked)
  end)
end)
