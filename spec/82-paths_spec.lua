-- Every path the engine opens, made something other than a regular file
-- (issue 34): a FIFO (open() alone would wait forever for a writer) or a
-- device (/dev/zero never ends). Each is refused with nil, message naming the
-- path and what it is. The call runs in a child lua5.4 under `timeout`, so a
-- regression fails its case instead of hanging the suite.
local H = require("support.helpers")

local function sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Runs `return <call>` in a child interpreter with mllm = require("mobilellm");
-- returns what the child printed (the call's results, tab-separated) and how it ended.
local function in_child(call)
  local code = 'local mllm = require("mobilellm"); print(select(2, assert(pcall(function() return '
    .. call .. ' end))))'
  local p = assert(io.popen("timeout 10 lua5.4 -e " .. sh_quote(code) .. " 2>&1"))
  local out = p:read("a")
  local _, how, status = p:close()
  return out, how, status
end

--- Asserts that the child's call returned nil and a message containing `want`.
local function refused_in_child(call, want)
  local out, how, status = in_child(call)
  assert(not (how == "exit" and status == 124), "the call did not return within 10 s: " .. call)
  assert(out:find("^nil\t"), ("expected nil, message from %s, got %q"):format(call, out))
  assert(out:find(want, 1, true), ("message %q does not contain %q"):format(out, want))
end

local function mkfifo(path)
  os.remove(path)
  assert(os.execute("mkfifo " .. sh_quote(path)))
end

describe("a path that is not a regular file is refused without blocking", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmdir(dir) end)

  -- { what, fixture to copy, file in it made a FIFO, call (%s = the copy's dir) }
  local fifo_cases = {
    { "config.json", "models/f32-basic", "config.json", "mllm.load(%q)" },
    { "model.safetensors", "models/f32-basic", "model.safetensors", "mllm.load(%q)" },
    { "model.safetensors.index.json", "models/f32-sharded", "model.safetensors.index.json", "mllm.load(%q)" },
    { "a shard the index names", "models/f32-sharded", "model-00002-of-00002.safetensors", "mllm.load(%q)" },
    { "pytorch_model.bin", "torch/f32", "pytorch_model.bin", "mllm.load(%q)" },
    { "a pytorch_model.bin shard the index names", "torch/f32-sharded", "pytorch_model-00001-of-00002.bin",
      "mllm.load(%q)" },
    { "tokenizer.model in the model directory", "models/f32-basic", "tokenizer.model", "mllm.load(%q)" },
  }
  for _, case in ipairs(fifo_cases) do
    local what, fixture, name, call = table.unpack(case)
    it(what .. " as a FIFO", function()
      H.copy_dir("spec/fixtures/" .. fixture, dir)
      mkfifo(dir .. "/" .. name)
      refused_in_child(call:format(dir), name .. ": not a regular file (a FIFO)")
    end)
  end

  it("the tokenizer load option naming a FIFO", function()
    mkfifo(dir .. "/tok")
    refused_in_child(("mllm.load(%q, { tokenizer = %q })"):format(H.FIXTURES .. "/f32-basic", dir .. "/tok"),
      dir .. "/tok: not a regular file (a FIFO)")
  end)

  it("mllm.tokenizer(path) naming a FIFO", function()
    mkfifo(dir .. "/tok")
    refused_in_child(("mllm.tokenizer(%q)"):format(dir .. "/tok"), dir .. "/tok: not a regular file (a FIFO)")
  end)

  it("/dev/zero as a tokenizer, through mllm.tokenizer and the load option", function()
    refused_in_child('mllm.tokenizer("/dev/zero")', "/dev/zero: not a regular file (a character device)")
    refused_in_child(('mllm.load(%q, { tokenizer = "/dev/zero" })'):format(H.FIXTURES .. "/f32-basic"),
      "/dev/zero: not a regular file (a character device)")
  end)

  it("a directory named tokenizer.model", function()
    H.copy_dir(H.FIXTURES .. "/f32-basic", dir)
    assert(os.execute("mkdir " .. sh_quote(dir .. "/tokenizer.model")))
    refused_in_child(("mllm.load(%q)"):format(dir), "tokenizer.model: not a regular file (a directory)")
  end)
end)
