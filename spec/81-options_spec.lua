-- Option tables and paths from Lua (issue 34, items 1 and 7): every option is
-- read once, through __index when the table has one, and what C borrows from
-- it stays alive however much Lua code runs in between; a misspelled option
-- raises instead of being ignored; a NUL byte never cuts a path or a stop
-- string short. The use-after-free cases crash only under ASan
-- (`make test-asan`); their results are checked in every build.
local mllm = require("mobilellm")
local H = require("support.helpers")

local TEXT = H.FIXTURES .. "/bf16-vocab32k" -- has a tokenizer.model

local raises = H.raises

--- A proxy for the options in `values`: every read goes through __index, runs a
-- full collection, returns a fresh copy of a string (nothing else holds it) and
-- is counted in reads[key].
local function proxy(values, reads)
  return setmetatable({}, { __index = function(_, k)
    reads[k] = (reads[k] or 0) + 1
    collectgarbage()
    local v = values[k]
    if type(v) == "string" then v = (v .. "#"):sub(1, -2) end
    return v
  end })
end

--- An array of n ids whose every read runs a full collection.
local function collecting_ids(n, id)
  return setmetatable({}, {
    __len = function() return n end,
    __index = function() collectgarbage(); return id end,
  })
end

describe("option tables", function()
  local model
  setup(function() model = assert(mllm.load(TEXT, { threads = 1 })) end)
  teardown(function() model:close() end)

  it("the issue's reproduction: a stop string from __index and ids that collect garbage", function()
    local s = model:session({ n_ctx = 64 })
    local o = setmetatable({ max_tokens = 4 }, { __index = function(_, k)
      if k == "stop" then return ("W"):rep(500) .. tostring({}) end
    end })
    local text, info = s:generate(collecting_ids(3, 7), o)
    assert.is_string(text)
    assert.are.equal(4, info.generated_tokens)
  end)

  it("a stop string that only a proxy holds still stops the generation", function()
    -- the greedy continuation, then the same generation stopped at a piece of it
    local full = assert(model:generate({ 5, 5, 5 }, { max_tokens = 12, stop_at_eos = false }))
    assert(#full >= 4, "the fixture's continuation is too short to cut")
    local stop = full:sub(3, 4)
    local reads = {}
    local text = assert(model:generate(collecting_ids(3, 5),
      proxy({ max_tokens = 12, stop_at_eos = false, stop = stop }, reads)))
    assert.is_nil(text:find(stop, 1, true))
    assert.are.equal(full:sub(1, (full:find(stop, 1, true)) - 1), text)
  end)

  it("every option is read exactly once, a constraint included", function()
    local c = mllm.constraint({ { name = "f", parameters = {} } }, model)
    local reads = {}
    local s = model:session(proxy({ n_ctx = 48, kv_type = "f16" }, reads))
    assert.are.equal(48, s:n_ctx())
    assert.matches("kv f16", tostring(s))
    local text = s:generate({ 1, 2, 3 }, proxy({ max_tokens = 3, constraint = c, stop = { "zz" .. ("q"):rep(60) },
      on_token = function() collectgarbage() end, temperature = 0.5, seed = 7 }, reads))
    assert.is_string(text)
    for key, n in pairs(reads) do assert.are.equal(1, n, "option '" .. key .. "' read " .. n .. " times") end
    assert.are.equal(1, reads.constraint)
    assert.are.equal(1, reads.kv_type)
  end)

  it("a tokenizer path and a dtype that only a proxy holds", function()
    local reads = {}
    local m = assert(mllm.load(TEXT, proxy({ threads = 1, dtype = "f16",
      tokenizer = TEXT .. "/./tokenizer.model", on_progress = function() collectgarbage() end }, reads)))
    assert.are.equal("f16", m.config.compute)
    assert.are.same({ 1, 15043 }, m:tokenize("Hello", { bos = true }))
    m:close()
  end)

  it("a misspelled or unknown option raises, naming it and the call #raw_keys", function()
    local s = model:session({ n_ctx = 32 })
    raises("unknown option 'max_token' to generate", model.generate, model, "hi", { max_token = 5 })
    raises("unknown option 'temp' to generate", s.generate, s, "hi", { temp = 0.5 })
    raises("unknown option 'on_token' to stream", s.stream, s, "hi", { on_token = print })
    raises("unknown option 'nctx' to session", model.session, model, { nctx = 64 })
    raises("unknown option 'thread' to load", mllm.load, TEXT, { thread = 1 })
    raises("unknown option 'bos_token' to tokenize", model.tokenize, model, "hi", { bos_token = true })
    raises("unknown option 'calls' to constraint", mllm.constraint, {}, nil, { calls = "required" })
    raises("unknown option 'progress' to save", model.save, model, "/nonexistent/x.safetensors", { progress = print })
    raises("unknown option key of type number to generate", model.generate, model, "hi", { 5 })
    -- the error names the option meant, or lists what the call takes (spec/88-option_names_spec.lua)
    raises("(did you mean 'max_tokens'?)", model.generate, model, "hi", { max_token = 5 })
    raises("(known: max_tokens, stop_at_eos, temperature", model.generate, model, "hi", { temp = 0.5 })
    -- known options still work in every one-off
    assert.is_string(model:generate("hi", { max_tokens = 2, n_ctx = 16, n_batch = 4, kv_type = "f32" }))
  end)

  it("an option of the wrong type still names it", function()
    raises("option 'max_tokens' must be an integer, got string", model.generate, model, "hi", { max_tokens = "5" })
    raises("(table of options expected, got string)", model.generate, model, "hi", "x")
  end)
end)

describe("NUL bytes", function()
  local model
  setup(function() model = assert(mllm.load(TEXT, { threads = 1 })) end)
  teardown(function() model:close() end)

  it("in a stop string raise instead of stopping at the part before the NUL", function()
    raises("option 'stop' holds a NUL byte (entry 1, byte 2)", model.generate, model, "hi", { stop = "(\0zzz" })
    raises("option 'stop' holds a NUL byte (entry 2, byte 1)", model.generate, model, "hi", { stop = { "a", "\0" } })
  end)

  it("in a path raise instead of opening the part before the NUL", function()
    local dir = H.tmpdir()
    local s = model:session({ n_ctx = 16 })
    assert(s:eval({ 1, 2 }))
    raises("path holds a NUL byte (at byte " .. #dir + 3 .. ")", s.save, s, dir .. "/x\0.ses")
    raises("path holds a NUL byte", model.save, model, dir .. "/m\0.safetensors")
    raises("path holds a NUL byte", mllm.load, TEXT .. "\0/elsewhere")
    raises("path holds a NUL byte", mllm.tokenizer, TEXT .. "/tokenizer.model\0x")
    raises("path holds a NUL byte", mllm.convert, TEXT .. "\0", dir .. "/out.safetensors")
    raises("path holds a NUL byte", mllm.convert, TEXT, dir .. "/out\0.safetensors")
    raises("option 'tokenizer' holds a NUL byte", mllm.load, TEXT, { tokenizer = TEXT .. "/tokenizer.model\0x" })
    raises("option 'restore' holds a NUL byte", model.session, model, { restore = dir .. "/x\0.ses" })
    -- nothing was written under the cut names
    local p = io.popen("ls -A '" .. dir .. "'")
    assert.are.equal("", p:read("a"))
    p:close()
    H.rmdir(dir)
  end)
end)
