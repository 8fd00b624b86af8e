-- Saved files that cannot be half-written or mistaken: model:save and s:save
-- replace their file atomically (even the file a loaded model maps), a session
-- file is checksummed and tagged with a fingerprint of every weight, and
-- restore never blocks on a FIFO.
local mllm = require("mobilellm")
local H = require("support.helpers")

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs a Lua script in a child lua5.4 (so that a crash, a limit or a hang
-- stays there), after the shell commands in prefix; returns its output
-- (stdout and stderr) and exit status.
local function run_child(dir, code, prefix)
  local script = dir .. "/child.lua"
  H.write(script, "local mllm = require('mobilellm')\n" .. code)
  local p = assert(io.popen("cd . && " .. (prefix or "") .. " lua5.4 " .. sh_quote(script) .. " 2>&1; echo \"exit $?\""))
  local out = p:read("a")
  p:close()
  local status = tonumber(out:match("exit (%d+)%s*$"))
  return out, status
end

-- The names in a directory other than the child's script.
local function listing(dir)
  local p = assert(io.popen("ls -A " .. sh_quote(dir)))
  local names = {}
  for name in p:lines() do if name ~= "child.lua" then names[#names + 1] = name end end
  p:close()
  table.sort(names)
  return names
end

-- The offset (0-based, from the start of the file) of a tensor's data in a safetensors file.
local function tensor_offset(data, name)
  local hlen = string.unpack("<I8", data)
  local header = data:sub(9, 8 + hlen)
  local from = header:match('"' .. name:gsub("%.", "%%.") .. '"%s*:%s*{[^}]-"data_offsets"%s*:%s*%[(%d+)')
  assert(from, "no tensor " .. name)
  return 8 + hlen + tonumber(from)
end

-- data with bit `mask` of byte `offset` (0-based) flipped.
local function flip(data, offset, mask)
  local b = data:byte(offset + 1)
  return data:sub(1, offset) .. string.char(b ~ mask) .. data:sub(offset + 2)
end

describe("model:save", function()
  local e = H.expected("f32-ls")

  it("saves onto the file the loaded model maps: the model keeps running, the file reloads the same", function()
    local dir = H.tmpdir()
    H.copy_dir(e.dir, dir)
    local path = dir .. "/model.safetensors"
    local m = assert(mllm.load(dir, { threads = 1 }))  -- f32 as stored: its weights are the mapping itself
    local before = m:session()
    assert(before:eval(e.prompt))
    assert.is_true(m:save(path))
    -- the old inode stays mapped: the loaded model still computes the same
    local s = m:session()
    assert(s:eval(e.prompt))
    assert.are.same(before:logits(), s:logits())
    local ids = {}
    for _, id in s:stream({}, { max_tokens = 5, stop_at_eos = false }) do ids[#ids + 1] = id end
    assert.are.same({ table.unpack(e.greedy, 1, 5) }, ids)
    local r = assert(mllm.load(dir, { threads = 1 })):session()
    assert(r:eval(e.prompt))
    assert.are.same(before:logits(), r:logits())
    assert.is_true(#H.read(path) > 4096)
    assert.are.same({ "config.json", "expected.lua", "logits.f32", "model.safetensors" }, listing(dir))
    H.rmdir(dir)
  end)

  it("keeps the previous file when a write fails half-way, and leaves no temporary file", function()
    local dir = H.tmpdir()
    local path = dir .. "/model.safetensors"
    assert(assert(mllm.load(e.dir)):save(path))
    local good = H.read(path)
    -- a file size limit of 8 KiB (the model is 290 KB): write() fails with EFBIG
    local out = run_child(dir, ([[
      local m = assert(mllm.load(%q))
      print(m:save(%q))
    ]]):format(e.dir, path), "trap '' XFSZ; ulimit -f 16;")
    assert.matches("nil\t" .. path .. ": write failed: File too large", out, 1, true)
    assert.are.equal(good, H.read(path))
    assert.are.same({ "model.safetensors" }, listing(dir))
    H.rmdir(dir)
  end)

  it("keeps the previous file when the process is killed in the middle of a save", function()
    local dir = H.tmpdir()
    local path = dir .. "/model.safetensors"
    assert(assert(mllm.load(e.dir)):save(path))
    local good = H.read(path)
    local out, status = run_child(dir, ([[
      local m = assert(mllm.load(%q, { dtype = "f16" }))
      m:save(%q, { on_progress = function(f) if f > 0.5 then os.exit(7) end end })
    ]]):format(e.dir, path))
    assert.are.equal(7, status, out)
    assert.are.equal(good, H.read(path))
    H.rmdir(dir)
  end)

  it("keeps the previous file when the save is cancelled or on_progress raises", function()
    local m = assert(mllm.load(e.dir, { dtype = "q8" }))
    local dir = H.tmpdir()
    local path = dir .. "/model.safetensors"
    assert(m:save(path))
    local good = H.read(path)
    local f16 = assert(mllm.load(e.dir, { dtype = "f16" }))
    local ok, err = f16:save(path, { on_progress = function(f) return f < 0.5 end })
    assert.is_nil(ok)
    assert.matches("saving cancelled", err, 1, true)
    assert.has_error(function() f16:save(path, { on_progress = function() error("stop here") end }) end, "stop here")
    assert.are.equal(good, H.read(path))
    assert.are.same({ "model.safetensors" }, listing(dir))
    H.rmdir(dir)
  end)

  it("refuses a path that is a directory, and leaves it as it was", function()
    local m = assert(mllm.load(e.dir))
    local dir = H.tmpdir()
    assert(os.execute("mkdir " .. sh_quote(dir .. "/model.safetensors")))
    H.write(dir .. "/model.safetensors/keep", "x")
    local ok, err = m:save(dir .. "/model.safetensors")
    assert.is_nil(ok)
    assert.matches("model.safetensors: cannot write: not a regular file (a directory)", err, 1, true)
    assert.are.equal("x", H.read(dir .. "/model.safetensors/keep"))
    assert.are.same({ "model.safetensors" }, listing(dir))
    H.rmdir(dir)
  end)

  it("writes through a symlink to its target, and keeps the target's permissions", function()
    local m = assert(mllm.load(e.dir, { dtype = "q8" }))
    local dir = H.tmpdir()
    H.write(dir .. "/target.safetensors", "old")
    assert(os.execute("chmod 600 " .. sh_quote(dir .. "/target.safetensors")))
    assert(os.execute("ln -s target.safetensors " .. sh_quote(dir .. "/model.safetensors")))
    assert.is_true(m:save(dir .. "/model.safetensors"))
    assert.is_true(os.execute("test -L " .. sh_quote(dir .. "/model.safetensors")))
    assert.is_true(#H.read(dir .. "/target.safetensors") > 4096)
    local p = io.popen("stat -c %a " .. sh_quote(dir .. "/target.safetensors"))
    assert.are.equal("600", p:read("l"))
    p:close()
    H.rmdir(dir)
  end)
end)

describe("session files", function()
  local e = H.expected("f32-ls")
  local model = assert(mllm.load(e.dir, { threads = 1 }))

  local function saved(dir, opts)
    local s = model:session(opts)
    assert(s:eval(e.prompt))
    local path = dir .. "/state.bin"
    assert.is_true(s:save(path))
    return path, H.read(path), s
  end

  it("refuses a state saved with a model that differs in one MLP weight", function()
    local dir = H.tmpdir()
    H.copy_dir(e.dir, dir .. "/tuned")
    -- one value of layer 1's down_proj, in the middle of the tensor, scaled by 1.5
    local file = dir .. "/tuned/model.safetensors"
    local data = H.read(file)
    local at = tensor_offset(data, "model.layers.1.mlp.down_proj.weight") + 4 * 700
    local v = string.unpack("<f", data, at + 1)
    H.write(file, data:sub(1, at) .. string.pack("<f", v * 1.5) .. data:sub(at + 5))
    local tuned = assert(mllm.load(dir .. "/tuned", { threads = 1 }))
    local a, b = model:session(), tuned:session()
    assert(a:eval(e.prompt))
    assert(b:eval(e.prompt))
    assert.are_not.same(a:logits(), b:logits())  -- the change matters
    local path = saved(dir)
    local r, err = tuned:session({ restore = path })
    assert.is_nil(r)
    assert.matches("state.bin: the session was saved with another model", err, 1, true)
    assert(model:session({ restore = path }))
    H.rmdir(dir)
  end)

  for _, kv in ipairs({ "f32", "f16" }) do
    it("refuses a " .. kv .. " state with one flipped bit in the KV cache or the logits, naming the checksum",
      function()
        local dir = H.tmpdir()
        local path, data = saved(dir, { kv_type = kv })
        local width = kv == "f32" and 4 or 2
        local logits = #data - 8 - 4 * e.n_vocab
        -- an exponent bit (the top byte of a little-endian value) of a key, a value and a logit
        for _, at in ipairs({ 40 + 10 * width + width - 1, logits - width - 1, logits + 4 * 100 + 3 }) do
          H.write(dir .. "/flipped.bin", flip(data, at, 0x20))
          local r, err = model:session({ kv_type = kv, restore = dir .. "/flipped.bin" })
          assert.is_nil(r, "byte " .. at)
          assert.matches("flipped.bin: checksum mismatch (XXH3-64 of the saved state): the file is corrupted", err,
            1, true)
        end
        assert(model:session({ kv_type = kv, restore = path }))
        H.rmdir(dir)
      end)
  end

  it("refuses truncated files, trailing bytes and the previous format", function()
    local dir = H.tmpdir()
    local path, data = saved(dir)
    local cases = {
      { data:sub(1, 20), "file is truncated" },               -- inside the header
      { data:sub(1, 100), "file is truncated" },              -- inside the cache
      { data:sub(1, #data - 8), "file is truncated" },        -- without its checksum
      { data .. "\0", "trailing bytes after the session state" },
      { "MLLMSES2" .. data:sub(9, #data - 8), "saved by an older mobilellm (format MLLMSES2, this one reads MLLMSES3)" },
      { "", "not a saved mobilellm session" },
    }
    for i, c in ipairs(cases) do
      H.write(dir .. "/case.bin", c[1])
      local r, err = model:session({ restore = dir .. "/case.bin" })
      assert.is_nil(r, "case " .. i)
      assert.matches(c[2], err, 1, true)
    end
    assert(model:session({ restore = path }))
    H.rmdir(dir)
  end)

  it("keeps the previous state file when a save fails half-way", function()
    local dir = H.tmpdir()
    local path, good = saved(dir)
    assert.is_true(#good > 4096)
    local out = run_child(dir, ([[
      local s = assert(mllm.load(%q)):session()
      assert(s:eval({ %s }))
      print(s:save(%q))
    ]]):format(e.dir, table.concat(e.prompt, ", "), path), "trap '' XFSZ; ulimit -f 4;")
    assert.matches("nil\t" .. path .. ": write failed: File too large", out, 1, true)
    assert.are.equal(good, H.read(path))
    assert.are.same({ "state.bin" }, listing(dir))
    -- a directory in the way is refused before anything is written
    assert(os.execute("mkdir " .. sh_quote(dir .. "/sub")))
    local s = model:session()
    local ok, err = s:save(dir .. "/sub")
    assert.is_nil(ok)
    assert.matches("sub: cannot write: not a regular file (a directory)", err, 1, true)
    H.rmdir(dir)
  end)

  it("refuses a FIFO as a file to restore, without blocking on it", function()
    local dir = H.tmpdir()
    local fifo = dir .. "/state.fifo"
    assert(os.execute("mkfifo " .. sh_quote(fifo)))
    -- in a child under `timeout`: without the check, open() waits for a writer forever
    local out, status = run_child(dir, ([[
      local s, err = assert(mllm.load(%q)):session({ restore = %q })
      print(s, err)
    ]]):format(e.dir, fifo), "timeout 10")
    assert.are.equal(0, status, out)
    assert.matches("nil\t" .. fifo .. ": not a regular file (a FIFO)", out, 1, true)
    H.rmdir(dir)
  end)
end)
