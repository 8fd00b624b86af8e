-- The long-life soak (issue 41, tools/soak.lua, `make soak`): its verdict on curves made up here,
-- a reduced run of every phase (a few seconds) that must come out flat, and runs with a synthetic
-- leak (a step that keeps references alive: memory, open files, mapped models) that must fail,
-- naming what grew. Without the checks the leak runs pass and this spec fails.
local soak = dofile("tools/soak.lua")

-- Under ASan freed memory sits in its quarantine and its allocator maps regions of its own, so RSS
-- and maps say nothing about the code there (as in spec/83): the flat runs judge fds alone.
local under_asan = (os.getenv("LD_PRELOAD") or ""):find("libasan", 1, true) ~= nil

local LIMITS = { rss_pct = 10, rss_mb = 8 }

-- A curve from rows { i, rss MB, fds, maps }.
local function curve(rows)
  local c = {}
  for k, r in ipairs(rows) do c[k] = { i = r[1], rss_kb = r[2] * 1024, fds = r[3], maps = r[4] } end
  return c
end

--- Runs tools/soak.lua with `args` in a child lua5.4 (under timeout); returns its exit code and output.
local function run(args)
  local p = assert(io.popen("timeout -s KILL 600 lua5.4 tools/soak.lua " .. args .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return code, out
end

describe("the soak's verdict", function()
  local cases = {
    { "flat curve", { { 0, 20, 6, 90 }, { 10, 40, 6, 95 }, { 20, 40, 6, 95 }, { 30, 41, 6, 95 } }, true },
    { "growth only during the warm-up", { { 0, 20, 5, 80 }, { 10, 60, 9, 99 }, { 20, 60, 9, 99 }, { 30, 60, 9, 99 } }, true },
    { "RSS within 8 MB over a small baseline", { { 0, 20, 6, 90 }, { 10, 20, 6, 90 }, { 20, 27.5, 6, 90 } }, true },
    { "RSS within 10 % over a large baseline", { { 0, 200, 6, 90 }, { 10, 200, 6, 90 }, { 20, 219, 6, 90 } }, true },
    { "RSS past 10 % of a large baseline", { { 0, 200, 6, 90 }, { 10, 200, 6, 90 }, { 20, 221, 6, 90 } }, false,
      "RSS grew from 200.0 MB to 221.0 MB at iteration 20" },
    { "RSS past 8 MB, growing slowly", { { 0, 20, 6, 90 }, { 10, 20, 6, 90 }, { 20, 25, 6, 90 }, { 30, 29, 6, 90 },
      { 40, 33, 6, 90 } }, false, "RSS grew from 20.0 MB to 29.0 MB at iteration 30" },
    { "RSS back down at the end still fails on its peak", { { 0, 20, 6, 90 }, { 10, 20, 6, 90 }, { 20, 40, 6, 90 },
      { 30, 20, 6, 90 } }, false, "peak 40.0 MB" },
    { "one fd more", { { 0, 20, 6, 90 }, { 10, 20, 6, 90 }, { 20, 20, 7, 90 }, { 30, 20, 6, 90 } }, false,
      "fds grew from 6 to 7 at iteration 20" },
    { "one mapping more", { { 0, 20, 6, 90 }, { 10, 20, 6, 90 }, { 20, 20, 6, 90 }, { 30, 20, 6, 91 } }, false,
      "maps grew from 90 to 91 at iteration 30" },
    { "fewer fds and maps is no growth", { { 0, 20, 6, 90 }, { 10, 20, 6, 90 }, { 20, 20, 5, 88 } }, true },
    { "no sample after the warm-up", { { 0, 20, 6, 90 }, { 5, 20, 6, 90 } }, false, "no sample after the warm-up" },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local ok, why = soak.verdict(curve(c[2]), 10, LIMITS)
      assert.are.equal(c[3], ok, table.concat(why, "; "))
      if c[4] then
        assert.is_true(#why >= 1)
        assert.is_truthy(table.concat(why, "\n"):find(c[4], 1, true), table.concat(why, "\n"))
      else
        assert.are.same({}, why)
      end
    end)
  end

  it("judges only the quantities it is told to", function()
    local c = curve({ { 0, 20, 6, 90 }, { 10, 20, 6, 90 }, { 20, 60, 8, 95 } })
    local ok, why = soak.verdict(c, 10, { rss_pct = 10, rss_mb = 8, check = { fds = true } })
    assert.is_false(ok)
    assert.are.equal(1, #why)
    assert.matches("^fds grew from 6 to 8", why[1])
    assert.is_true((soak.verdict(c, 10, { rss_pct = 10, rss_mb = 8, check = {} })))
  end)

  it("fails when the peak RSS grows past the bound, though every sample is flat", function()
    local c = curve({ { 0, 20, 6, 90 }, { 10, 20, 6, 90 }, { 20, 20, 6, 90 }, { 30, 20, 6, 90 } })
    for k, hwm in ipairs({ 30, 40, 45, 60 }) do c[k].hwm_kb = hwm * 1024 end
    local ok, why = soak.verdict(c, 10, LIMITS)
    assert.is_false(ok)
    assert.are.same({ "peak RSS (VmHWM) grew from 40.0 MB to 60.0 MB at iteration 30 (more than the bound of "
      .. "8.0 MB over the baseline, iteration 10)" }, why)
    c[4].hwm_kb = 47 * 1024
    assert.is_true((soak.verdict(c, 10, LIMITS)))
  end)

  it("names every quantity that grew", function()
    local ok, why = soak.verdict(curve({ { 0, 20, 6, 90 }, { 10, 20, 6, 90 }, { 20, 60, 8, 95 } }), 10, LIMITS)
    assert.is_false(ok)
    assert.are.equal(3, #why)
    assert.matches("^RSS grew", why[1])
    assert.matches("^fds grew from 6 to 8", why[2])
    assert.matches("^maps grew from 90 to 95", why[3])
  end)

  it("samples a process: this one, and another by its pid", function()
    local s = assert(soak.sample())
    assert.is_true(s.rss_kb > 1000 and s.fds >= 3 and s.maps > 10)
    local f = assert(io.open("/dev/null"))
    assert.are.equal(s.fds + 1, soak.sample().fds)
    f:close()
    local p = assert(io.popen("sleep 30 & echo $!"))
    local pid = p:read("l")
    p:close()
    local other = assert(soak.sample(pid))
    os.execute("kill " .. pid)
    assert.is_true(other.rss_kb < s.rss_kb and other.maps > 0)
    assert.is_nil(soak.sample("999999999"))
  end)

  it("refuses unknown flags and phases, naming them", function()
    local ctx = soak.parse_args({ "--scale", "0.5", "--phases", "loads,server" })
    assert.are.equal(0.5, ctx.scale)
    assert.are.same({ "loads", "server" }, ctx.phases)
    for _, c in ipairs({
      { { "--phase", "loads" }, "unknown flag '%-%-phase'" },
      { { "--phases", "loads,laods" }, "unknown phase 'laods'" },
      { { "--leak", "cpu" }, "%-%-leak takes rss, fds or maps, got 'cpu'" },
      { { "--scale", "-1" }, "%-%-scale takes a number >= 0" },
      { { "--samples" }, "%-%-samples needs a value" },
      { { "--check", "rss,cpu" }, "%-%-check takes rss, fds and maps, got 'cpu'" },
    }) do
      local none, err = soak.parse_args(c[1])
      assert.is_nil(none)
      assert.matches(c[2], err)
    end
  end)
end)

describe("tools/soak.lua, reduced", function()
  it("runs every phase, the server's included, and finds them flat", function()
    local code, out = run("--count 60 --samples 3" .. (under_asan and " --check fds" or ""))
    assert.are.equal(0, code, out)
    assert.matches("soak: ok: RSS within its bound, fds and maps flat in every phase", out)
    for _, name in ipairs(soak.PHASES) do
      assert.is_truthy(out:find("\n== " .. name .. ": 60 ", 1, true), name .. " did not run:\n" .. out)
      assert.is_truthy(out:find("\n" .. name .. ": ok: ", 1, true), out)
    end
    assert.matches("sampled: the server's process", out)
    -- each curve: the first sample, the baseline (iteration 20) and the two samples after it
    local rows = 0
    for _ in out:gmatch("\n%s+%d+%s+[%d.]+%s+[%d.]+%s+%d+%s+%d+") do rows = rows + 1 end
    assert.are.equal(#soak.PHASES * 4, rows, out)
  end)

  local leaks = {
    { "rss", "FAIL parse: RSS grew from", "FAIL parse: peak RSS (VmHWM) grew from" },
    { "fds", "FAIL parse: fds grew from" },
    { "maps", "FAIL parse: maps grew from" },
  }
  for _, l in ipairs(leaks) do
    it("fails on a synthetic leak of " .. l[1] .. ", saying what grew", function()
      local code, out = run("--phases parse --count 60 --samples 6 --leak " .. l[1])
      assert.are.equal(1, code, out)
      for k = 2, #l do assert.is_truthy(out:find(l[k], 1, true), out) end
      assert.matches("soak: FAILED: parse: ", out)
    end)
  end

  it("samples the server's process in the server phase: files the soak itself keeps open leave it flat",
    function()
      local code, out = run("--phases server --count 20 --samples 2 --leak fds" .. (under_asan and " --check fds" or ""))
      assert.are.equal(0, code, out)
      assert.matches("server: ok: ", out)
    end)
end)
