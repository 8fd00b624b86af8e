-- Models and sessions left to the garbage collector (issue 34, item 13): Lua
-- sees only their small userdata, so the binding tells it about the C memory
-- behind them, and that memory goes back to the system when they are freed.
-- A program that loads models and makes sessions for hours stays flat. Each
-- case runs in a child lua5.4, as a program of its own would.
local MODEL = "models/mobilellm-tiny-api"

-- Under ASan freed heap memory sits in its quarantine, so RSS says nothing there.
local under_asan = (os.getenv("LD_PRELOAD") or ""):find("libasan", 1, true) ~= nil

local PRELUDE = [[
local mllm = require("mobilellm")
local MODEL = ...
local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmRSS:%s+(%d+)")
    if v then return tonumber(v) end
  end
end
-- mappings of the model's weights: one per model whose C memory is alive
local function weight_maps()
  local n = 0
  for line in io.lines("/proc/self/maps") do
    if line:find("mobilellm-tiny-api/model.safetensors", 1, true) then n = n + 1 end
  end
  return n
end
]]

--- Runs PRELUDE .. body in a child lua5.4; returns what it printed, as numbers.
local function child(body)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(PRELUDE, body)
  f:close()
  local p = assert(io.popen("lua5.4 " .. path .. " " .. MODEL .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  os.remove(path)
  assert(ok, out)
  local t = {}
  for n in out:gmatch("%-?%d+") do t[#t + 1] = tonumber(n) end
  return t, out
end

describe("objects left to the collector", function()
  it("100 cycles of load, session and eval hold a few models at a time, and RSS stays flat", function()
    local t, out = child([[
      local function cycle()
        local m = assert(mllm.load(MODEL, { threads = 1 }))
        local s = m:session({ n_ctx = 128 })
        assert(s:eval({ 1, 2, 3 }))
      end
      for _ = 1, 5 do cycle() end
      local before, most = rss_kb(), 0
      for _ = 1, 100 do cycle(); most = math.max(most, weight_maps()) end
      print(before, rss_kb(), most)
    ]])
    local before, after, most = t[1], t[2], t[3]
    print(("[83-memory] VmRSS %d kB -> %d kB over 100 cycles; at most %d models alive"):format(before, after, most))
    -- without the ledger, 30 and more models piled up between two cycles (over 500 MB)
    assert.is_true(most <= 3, out)
    if not under_asan then assert.is_true(after - before < 32 * 1024, out) end
  end)

  it("300 tokenizers loaded on their own and dropped do not pile up: the peak stays bounded", function()
    -- found by make soak: before the tokenizers told the collector of their C memory (6 MB each),
    -- 300 of them took the peak to 1.8 GB; now about 26 MB over the start
    local t, out = child([[
      local function peak_kb()
        for line in io.lines("/proc/self/status") do
          local v = line:match("^VmHWM:%s+(%d+)")
          if v then return tonumber(v) end
        end
      end
      local before = peak_kb()
      for _ = 1, 300 do assert(mllm.tokenizer(MODEL .. "/tokenizer.model")) end
      print(before, peak_kb())
    ]])
    print(("[83-memory] VmHWM %d kB -> %d kB over 300 tokenizers"):format(t[1], t[2]))
    if not under_asan then assert.is_true(t[2] - t[1] < 64 * 1024, out) end
    assert.are.equal(2, #t, out)
  end)

  it("300 sessions and forks made and dropped on one model do not pile up either", function()
    local t, out = child([[
      local m = assert(mllm.load(MODEL, { threads = 1 }))
      local function cycle()
        local s = m:session({ n_ctx = 256 })
        assert(s:eval({ 1, 2, 3 }))
        assert(s:fork():eval({ 4 }))
      end
      for _ = 1, 5 do cycle() end
      local before = rss_kb()
      for _ = 1, 300 do cycle() end
      print(before, rss_kb())
    ]])
    print(("[83-memory] VmRSS %d kB -> %d kB over 300 sessions and forks"):format(t[1], t[2]))
    if not under_asan then assert.is_true(t[2] - t[1] < 32 * 1024, out) end
    assert.are.equal(2, #t, out)
  end)
end)
