-- tools/soak.lua — `make soak` (issue 41, "Long life"): many load/free cycles, short generations
-- and server requests in one process, with the resident memory (VmRSS), the open file descriptors
-- (/proc/PID/fd) and the mappings (/proc/PID/maps lines) sampled every K iterations. Each phase
-- prints its curve and a verdict; the run fails (exit 1, a line saying why) when a phase's RSS
-- grows past its bound over the first sample after the warm-up, or its fds or maps grow at all.
--
--     lua5.4 tools/soak.lua [--scale S] [--phases a,b] [--samples N] [--leak rss|fds|maps] ...
--     make soak SOAK_SCALE=0.01            -- a 1 % run
--
-- The server phase starts `mobilellm serve` as a child process on 127.0.0.1 (a free port), talks
-- to it over TCP with luv (Debian's lua-luv) and samples the server's process, not this one.
-- Loaded with dofile/loadfile (spec/98-soak_spec.lua) it returns its functions and runs nothing.
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")

local M = {}

M.MODEL = "models/mobilellm-tiny-api"

-- The counts of a full run (--scale 1); every phase's count is scaled, at least 1.
M.COUNTS = {
  loads = 10000,        -- model load, one short eval, free (close, or left to the collector)
  tokenizers = 10000,   -- tokenizer-only loads
  sessions = 10000,     -- sessions created, evaluated, forked and closed
  saves = 10000,        -- a session saved to a temporary directory and restored
  jobs = 10000,         -- jobs started (async and stepwise) and cancelled
  generations = 100000, -- short generations on one model
  parse = 100000,       -- parse_calls and the streaming call parser
  server = 1000,        -- requests to `mobilellm serve` (sampled in the server's process)
}
M.PHASES = { "loads", "tokenizers", "sessions", "saves", "jobs", "generations", "parse", "server" }

M.DEFAULTS = {
  scale = 1,
  samples = 10,       -- samples after the warm-up sample (so a curve has about samples + 2 rows)
  warmup = 0.1,       -- the fraction of a phase's iterations that are warm-up
  rss_pct = 10,       -- RSS may exceed the baseline by rss_pct % of it or rss_mb MB, the larger
  rss_mb = 8,
}

-- ------------------------------------------------------------------ sampling

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end

--- The resident set (kB), open file descriptors and mappings of process `pid` ("self" by
-- default), or nil, message when it is gone. The directory listing of /proc/PID/fd is made by
-- `ls` for another process (its own fds are not in that list); for this one the pipe to `ls` is
-- open while it lists, one more fd every sample alike.
function M.sample(pid)
  pid = pid or "self"
  local status = read_all("/proc/" .. pid .. "/status")
  if not status then return nil, "process " .. pid .. " is gone" end
  local rss = tonumber(status:match("VmRSS:%s+(%d+)"))
  local hwm = tonumber(status:match("VmHWM:%s+(%d+)"))
  local maps = 0
  for _ in (read_all("/proc/" .. pid .. "/maps") or ""):gmatch("[^\n]*\n") do maps = maps + 1 end
  local p = assert(io.popen("ls -1 /proc/" .. pid .. "/fd 2>/dev/null"))
  local fds = 0
  for _ in p:lines() do fds = fds + 1 end
  p:close()
  return { rss_kb = rss, hwm_kb = hwm, fds = fds, maps = maps }
end

-- ------------------------------------------------------------------ the verdict

--- The verdict on one curve. `curve` is a list of samples `{i =, rss_kb =, hwm_kb =, fds =, maps =}`
-- in order of iteration; the baseline is the first one at `i >= warmup`. RSS may not exceed the
-- baseline by more than the larger of `limits.rss_pct` % of it and `limits.rss_mb` MB at any
-- later sample, nor may the peak RSS (VmHWM, when sampled: garbage piling up between two
-- samples, which a sample after a full collection does not see); fds and maps may not exceed the
-- baseline's at all. `limits.check`, when given, is
-- the set of quantities judged (`{ rss = true, fds = true, maps = true }`).
-- @treturn boolean ok
-- @treturn {string,...} the reasons it failed (empty when ok)
-- @treturn table the baseline sample, the bound (kB) and the peaks
function M.verdict(curve, warmup, limits)
  local base
  for _, s in ipairs(curve) do
    if s.i >= warmup then base = s break end
  end
  if not base then return false, { "no sample after the warm-up (" .. warmup .. " iterations)" }, {} end
  local bound = math.max(base.rss_kb * limits.rss_pct / 100, limits.rss_mb * 1024)
  local why, peak = {}, { rss_kb = base.rss_kb, fds = base.fds, maps = base.maps }
  local first = {}  -- the first sample over the limit, per quantity
  local check = limits.check or { rss = true, fds = true, maps = true }
  for _, s in ipairs(curve) do
    if s.i > base.i then
      for _, k in ipairs({ "rss_kb", "fds", "maps" }) do peak[k] = math.max(peak[k], s[k]) end
      if check.rss and not first.rss and s.rss_kb - base.rss_kb > bound then first.rss = s end
      if check.rss and not first.hwm and s.hwm_kb and base.hwm_kb and s.hwm_kb - base.hwm_kb > bound then
        first.hwm = s
      end
      if check.fds and not first.fds and s.fds > base.fds then first.fds = s end
      if check.maps and not first.maps and s.maps > base.maps then first.maps = s end
    end
  end
  if first.rss then
    why[#why + 1] = ("RSS grew from %.1f MB to %.1f MB at iteration %d (more than the bound of %.1f MB "
      .. "over the baseline, iteration %d), peak %.1f MB"):format(base.rss_kb / 1024, first.rss.rss_kb / 1024,
      first.rss.i, bound / 1024, base.i, peak.rss_kb / 1024)
  end
  if first.hwm then
    why[#why + 1] = ("peak RSS (VmHWM) grew from %.1f MB to %.1f MB at iteration %d (more than the bound of "
      .. "%.1f MB over the baseline, iteration %d)"):format(base.hwm_kb / 1024, first.hwm.hwm_kb / 1024, first.hwm.i,
      bound / 1024, base.i)
  end
  if first.fds then
    why[#why + 1] = ("fds grew from %d to %d at iteration %d, peak %d"):format(base.fds, first.fds.fds,
      first.fds.i, peak.fds)
  end
  if first.maps then
    why[#why + 1] = ("maps grew from %d to %d at iteration %d, peak %d"):format(base.maps, first.maps.maps,
      first.maps.i, peak.maps)
  end
  return #why == 0, why, { base = base, bound_kb = bound, peak = peak }
end

-- ------------------------------------------------------------------ the phases

local PROMPT = "User: wake me up at 7 am tomorrow\nAssistant:"

-- Each phase: `what` (for the heading), `setup(ctx)` -> state, `step(state, i)`, `teardown(state)`;
-- `pid(state)` for a phase sampled in another process.
local phases = {}

phases.loads = {
  what = "model load/free cycles (a 3-token eval each; every other model closed, the rest left "
    .. "to the collector)",
  step = function(ctx, _, i)
    local m = assert(mllm.load(ctx.model, { threads = 1 }))
    local s = m:session({ n_ctx = 16 })
    assert(s:eval({ 1, 2, 3 }))
    if i % 2 == 0 then
      s:close()
      m:close()
    end
  end,
}

phases.tokenizers = {
  what = "tokenizer-only loads (encode and decode each; every other one closed)",
  step = function(ctx, _, i)
    local t = assert(mllm.tokenizer(ctx.model .. "/tokenizer.model"))
    assert(t:decode(t:encode("wake me up at 7 am")))
    if i % 2 == 0 then t:close() end
  end,
}

phases.sessions = {
  what = "sessions created, evaluated, forked and closed (every other one left to the collector)",
  setup = function(ctx) return { model = assert(mllm.load(ctx.model, { threads = 1 })) } end,
  step = function(_, st, i)
    local s = st.model:session({ n_ctx = 64 + i % 3 * 32, kv_type = i % 2 == 0 and "f16" or "f32" })
    assert(s:eval({ 1, 2, 3, 4 }))
    local f = s:fork()
    assert(f:eval({ 5 }))
    if i % 2 == 0 then
      f:close()
      s:close()
    end
  end,
  teardown = function(st) st.model:close() end,
}

phases.saves = {
  what = "a session saved to a temporary directory and restored (the restored one evaluates)",
  setup = function(ctx)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local model = assert(mllm.load(ctx.model, { threads = 1 }))
    local s = model:session({ n_ctx = 64 })
    assert(s:eval(model:tokenize(PROMPT, { bos = true })))
    return { model = model, s = s, dir = dir }
  end,
  step = function(_, st, i)
    local path = st.dir .. "/session" .. i % 4 .. ".bin"
    assert(st.s:save(path))
    local r = assert(st.model:session({ n_ctx = 64, restore = path }))
    assert(r:eval({ 5 }))
    r:close()
  end,
  teardown = function(st)
    st.s:close()
    st.model:close()
    os.execute("rm -rf '" .. st.dir .. "'")
  end,
}

phases.jobs = {
  what = "jobs started and cancelled (async: cancelled at once or after a poll; stepwise: one step)",
  setup = function(ctx)
    local model = assert(mllm.load(ctx.model, { threads = 1 }))
    return { model = model, s = model:session({ n_ctx = 128 }) }
  end,
  step = function(_, st, i)
    st.s:rewind(0)
    local opts = { max_tokens = 32, stop_at_eos = false, seed = i, temperature = 0.8 }
    if i % 3 == 2 then
      local job <close> = st.s:start(PROMPT, opts)
      job:step(1)
      job:cancel()
      job:wait()
    else
      opts.async = true
      local job = st.s:start(PROMPT, opts)
      if i % 3 == 1 then job:poll() end
      job:cancel()
      local _, info = job:wait()
      assert(info.stop == "cancelled" or info.stop == "length", info.stop)
      if i % 2 == 0 then job:close() end  -- the others: to the collector
    end
  end,
  teardown = function(st)
    st.s:close()
    st.model:close()
  end,
}

phases.generations = {
  what = "short generations (2 tokens: one-off sessions, a session rewound, a stream left by break, "
    .. "constrained to the shipped tools)",
  setup = function(ctx)
    local model = assert(mllm.load(ctx.model, { threads = 1 }))
    local apis = assert(chat.load_apis(ctx.model .. "/apis.json"))
    return { model = model, s = model:session({ n_ctx = 64 }), c = mllm.constraint(apis, model),
             ids = model:tokenize("hi", { bos = true }) }
  end,
  step = function(_, st, i)
    local kind = i % 4
    if kind == 0 then
      assert(st.model:generate("hi", { max_tokens = 2, n_ctx = 32 }))
    elseif kind == 1 then
      st.s:rewind(0)
      assert(st.s:generate(st.ids, { max_tokens = 2, temperature = 0.8, seed = i, stop = { "\n" } }))
    elseif kind == 2 then
      st.s:rewind(0)
      for _, id in st.s:stream(st.ids, { max_tokens = 2, stop_at_eos = false }) do
        if id then break end  -- left after the first piece: the stream's closing value ends it
      end
    else
      st.s:rewind(0)
      assert(st.s:generate("<tool_call>", { max_tokens = 2, constraint = st.c }))
    end
  end,
  teardown = function(st)
    st.s:close()
    st.c:close()
    st.model:close()
  end,
}

local CALLS = '<tool_call>set_alarm(time="7:30 am", label="gym")</tool_call> Done. '
  .. '<tool_call>send_message(to="Nina", text="I\'m late \\"again\\"")</tool_call>'

phases.parse = {
  what = "parse_calls and the streaming call parser (fed in pieces, a malformed call every third)",
  step = function(_, _, i)
    local calls = assert(mllm.parse_calls(CALLS))
    assert(#calls == 2)
    local p = mllm.call_parser()
    local cut = 1 + i % #CALLS
    p:feed(CALLS:sub(1, cut))
    p:feed(CALLS:sub(cut + 1))
    if i % 3 == 0 then p:feed('<tool_call>broken(x=</tool_call>') end
    p:finish()
  end,
}

-- ------------------------------------------------------------------ the server phase

-- One HTTP exchange with luv on a new connection: sends `request`, reads until the server closes
-- (the requests ask it to: `Connection: close`) or, with `read_bytes`, until that many bytes came
-- and then leaves (a client that goes away mid-stream). Returns the status and the whole response.
local function exchange(uv, port, request, read_bytes)
  local tcp = uv.new_tcp()
  local got, err, finished = {}, nil, false
  local n = 0
  local timer = uv.new_timer()
  local function finish(e)
    if finished then return end
    finished, err = true, e
    timer:stop()
    timer:close()
    if not tcp:is_closing() then tcp:close() end
  end
  timer:start(60000, 0, function() finish("no answer within 60 s") end)
  tcp:connect("127.0.0.1", port, function(cerr)
    if cerr then return finish("connect: " .. cerr) end
    tcp:write(request)
    tcp:read_start(function(rerr, data)
      if rerr then return finish("read: " .. rerr) end
      if not data then return finish() end
      got[#got + 1] = data
      n = n + #data
      if read_bytes and n >= read_bytes then finish() end
    end)
  end)
  uv.run("default")
  local text = table.concat(got)
  return tonumber(text:match("^HTTP/1%.%d (%d%d%d)")), text, err
end

local function post(body)
  return ("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    .. "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"):format(#body, body)
end

local function get(path) return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"):format(path) end

-- Waits `ms` milliseconds on the loop. A run of the loop may end before its timer fires (the
-- SIGCHLD of the `ls` a sample starts wakes it), hence the flag.
local function sleep_ms(uv, ms)
  local t, fired = uv.new_timer(), false
  t:start(ms, 0, function() fired = true end)
  while not fired do uv.run("once") end
  t:close()
  uv.run("nowait")
end

-- The shipped model's tools as OpenAI function tools.
local function openai_tools(dir)
  return require("mobilellm.server.openai").tools_of_apis(assert(chat.load_apis(dir .. "/apis.json")))
end

-- The requests, in turn: { request, the status it must get, bytes to read before leaving }.
local function server_requests(dir)
  local user = { { role = "user", content = "wake me up at 7 am tomorrow" } }
  local function completion(extra)
    local body = { messages = user, max_tokens = 4 }
    for k, v in pairs(extra or {}) do body[k] = v end
    return post(mllm.json_encode(body))
  end
  return {
    { completion(), 200 },
    { completion({ stream = true, stream_options = { include_usage = true } }), 200 },
    { completion({ tools = openai_tools(dir), max_tokens = 24 }), 200 },
    { completion({ stream = true, max_tokens = 64, temperature = 0.9, seed = 7 }), 200, 40 },  -- leaves
    { post('{"messages": [{"role": "user", "content": "hi"}], "max_token": 3}'), 400 },
    { post("{not json"), 400 },
    { get("/health"), 200 },
    { get("/v1/models"), 200 },
    { get("/nowhere"), 404 },
  }
end

phases.server = {
  what = "requests to `mobilellm serve` (completions plain, streamed, with tools, a client leaving a "
    .. "stream, bad bodies, /health, /v1/models, a 404), the server's process sampled",
  setup = function(ctx)
    local ok, uv = pcall(require, "luv")
    if not ok then error("the server phase needs luv (Debian: apt-get install lua-luv)", 0) end
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. q(dir)))
    local log = dir .. "/server.log"
    -- the CLI with the modules of this process's package.path and cpath (so `make test-asan`'s
    -- instrumented module is the one the server runs)
    local code = ("package.path = %q; package.cpath = %q; os.exit(require('mobilellm.cli').main({'serve', "
      .. "%q, '--port', '0', '--parallel', '2', '--threads', '1'}), true)")
      :format(package.path, package.cpath, ctx.model)
    local fd = assert(uv.fs_open(log, "w", 420))
    local exited
    local handle, pid = uv.spawn("lua5.4", { args = { "-e", code }, stdio = { nil, nil, fd } },
      function(status, signal) exited = { status, signal } end)
    uv.fs_close(fd)
    if not handle then error("cannot start the server: " .. tostring(pid), 0) end
    handle:unref()  -- the loop runs for one request at a time; the child's handle must not keep it
    local st = { uv = uv, handle = handle, pid = pid, dir = dir, log = log, reqs = server_requests(ctx.model),
                 failures = {} }
    for _ = 1, 600 do  -- 60 s at most for it to load and listen
      st.port = tonumber((read_all(log) or ""):match("listening on http://127%.0%.0%.1:(%d+)"))
      if st.port or exited then break end
      sleep_ms(uv, 100)
    end
    if not st.port then
      phases.server.teardown(st)
      error("the server did not start: " .. (read_all(log) or ""), 0)
    end
    return st
  end,
  step = function(_, st, i)
    local r = st.reqs[(i - 1) % #st.reqs + 1]
    local status, text, err = exchange(st.uv, st.port, r[1], r[3])
    if r[3] then status = status or 0 end
    if err or status ~= r[2] then
      st.failures[#st.failures + 1] = ("request %d: wanted %d, got %s%s: %s"):format(i, r[2], tostring(status),
        err and " (" .. err .. ")" or "", (text or ""):sub(1, 200))
    end
  end,
  -- The server may linger on a finished connection (limits.LINGER_SECONDS) and notices a client
  -- that left mid-stream at its next write: the sample waits until its fd count has not changed
  -- for longer than the linger (20 s at most, then it is taken as it is).
  settle = function(st)
    local ok, limits = pcall(require, "mobilellm.server.limits")
    local polls = math.ceil(((ok and limits.LINGER_SECONDS or 2) + 0.5) * 10)
    local last, same = nil, 0
    for _ = 1, 200 do
      local s = M.sample(st.pid)
      if not s then break end
      if last and s.fds == last.fds then same = same + 1 else same = 0 end
      if same >= polls then break end
      last = s
      sleep_ms(st.uv, 100)
    end
  end,
  pid = function(st) return st.pid end,
  teardown = function(st)
    local uv = st.uv
    if st.handle and not st.handle:is_closing() then
      st.handle:kill("sigterm")
      for _ = 1, 100 do
        if not uv.kill(st.pid, 0) then break end
        sleep_ms(uv, 100)
      end
      pcall(uv.kill, st.pid, "sigkill")
      st.handle:close()
      uv.run("nowait")
    end
    local log = read_all(st.log) or ""
    if log:find("Sanitizer", 1, true) or log:find("runtime error:", 1, true) then
      io.stderr:write("the server's log (", st.log, "):\n", log, "\n")
      st.failures[#st.failures + 1] = "a sanitizer report in the server's log"
    end
    os.execute("rm -rf " .. q(st.dir))
  end,
}
M.phases = phases

-- ------------------------------------------------------------------ the synthetic leaks

-- `--leak KIND`: a step run after each iteration that keeps references alive, so the spec can see
-- that the verdict fails on a growing leak: 1 MiB strings (rss), open files (fds), or models
-- (maps: each keeps its weights mapped).
M.LEAKS = {
  rss = function(kept, i) kept[#kept + 1] = string.rep(string.char(65 + i % 26), 1 << 20) end,
  fds = function(kept) kept[#kept + 1] = assert(io.open("/dev/null")) end,
  maps = function(kept, _, ctx) kept[#kept + 1] = assert(mllm.load(ctx.model, { threads = 1 })) end,
}

-- ------------------------------------------------------------------ the run

local function row(s, note)
  return ("%10d %9.1f %9.1f %6d %6d  %s"):format(s.i, s.rss_kb / 1024, s.hwm_kb / 1024, s.fds, s.maps, note or "")
end

--- Runs one phase: `count` iterations, a sample every `every`; prints its curve and its verdict.
-- @treturn boolean ok
-- @treturn {string,...} the reasons it failed
function M.run_phase(name, count, ctx, out)
  local ph = assert(phases[name], "no phase " .. name)
  local every = math.max(1, count // ctx.samples)
  -- at least 20 iterations (every kind of step a phase takes turns with has run), on a sample,
  -- and one sample at least after it
  local warmup = math.max(every, math.floor(count * ctx.warmup), 20)
  warmup = math.max(0, math.min(count - every, (warmup + every - 1) // every * every))
  out:write(("\n== %s: %d %s\n"):format(name, count, ph.what))
  out:write(("   a sample every %d iterations, warm-up %d; %s\n"):format(every, warmup,
    ph.pid and "sampled: the server's process" or "sampled: this process (after a full collection)"))
  out:write(("%10s %9s %9s %6s %6s\n"):format("iteration", "RSS MB", "peak MB", "fds", "maps"))
  local st = ph.setup and ph.setup(ctx) or {}
  local pid = ph.pid and ph.pid(st) or "self"
  local curve, kept = {}, {}
  local leak = ctx.leak and M.LEAKS[ctx.leak]
  local function take(i)
    if ph.settle then ph.settle(st) else
      collectgarbage("collect")
      collectgarbage("collect")
    end
    local s = assert(M.sample(pid))
    s.i = i
    curve[#curve + 1] = s
    out:write(row(s, i < warmup and "warm-up" or (i == warmup and "baseline" or nil)), "\n")
    out:flush()
  end
  local ok_run, err = pcall(function()
    take(0)
    for i = 1, count do
      ph.step(ctx, st, i)
      if leak then leak(kept, i, ctx) end
      if i % every == 0 or i == count then take(i) end
    end
  end)
  if ph.teardown then ph.teardown(st) end
  kept = nil  -- luacheck: ignore 311
  collectgarbage("collect")
  if not ok_run then
    local why = name .. ": failed at work: " .. tostring(err)
    out:write(why, "\n")
    return false, { why }
  end
  local ok, why, info = M.verdict(curve, warmup, ctx)
  for _, f in ipairs(st.failures or {}) do
    ok = false
    why[#why + 1] = f
  end
  if ok then
    out:write(("%s: ok: RSS %+.1f MB at most over the baseline (bound %.1f MB), fds %d, maps %d, flat\n")
      :format(name, (info.peak.rss_kb - info.base.rss_kb) / 1024, info.bound_kb / 1024, info.base.fds,
        info.base.maps))
  else
    for k, w in ipairs(why) do why[k] = name .. ": " .. w end
    for _, w in ipairs(why) do out:write("FAIL ", w, "\n") end
  end
  return ok, why
end

local USAGE = [[
usage: lua5.4 tools/soak.lua [options]
  --scale S        every count times S (default 1: the full run; 0.01 for 1 %%)
  --phases A,B     the phases to run (default all: %s)
  --count N        every chosen phase's count, instead of the scaled defaults
  --samples N      samples after the warm-up one, per phase (default %d)
  --warmup F       the fraction of a phase that is warm-up (default %g)
  --rss-pct P, --rss-mb M
                   RSS may grow by P %% of the baseline or M MB, the larger (default %g %%, %g MB)
  --model DIR      the model (default %s)
  --leak KIND      a synthetic leak in every step (rss, fds or maps), to see the verdict fail
  --check LIST     the quantities judged (default rss,fds,maps; under ASan, whose allocator maps
                   and keeps memory of its own, only fds say something about the code)
]]

local function usage()
  return USAGE:format(table.concat(M.PHASES, ","), M.DEFAULTS.samples, M.DEFAULTS.warmup, M.DEFAULTS.rss_pct,
    M.DEFAULTS.rss_mb, M.MODEL)
end

--- Parses the command line into the run's context, or nil, message.
function M.parse_args(argv)
  local ctx = { model = M.MODEL, phases = M.PHASES, check = { rss = true, fds = true, maps = true } }
  for k, v in pairs(M.DEFAULTS) do ctx[k] = v end
  local numbers = { ["--scale"] = "scale", ["--count"] = "count", ["--samples"] = "samples",
                    ["--warmup"] = "warmup", ["--rss-pct"] = "rss_pct", ["--rss-mb"] = "rss_mb" }
  local i = 1
  while i <= #argv do
    local a, v = argv[i], argv[i + 1]
    if a == "-h" or a == "--help" then return nil, usage() end
    if v == nil then return nil, "soak: " .. a .. " needs a value (or unknown flag)\n" .. usage() end
    if numbers[a] then
      local n = tonumber(v)
      if not n or n < 0 or n ~= n then return nil, "soak: " .. a .. " takes a number >= 0, got '" .. v .. "'" end
      ctx[numbers[a]] = n
    elseif a == "--phases" then
      ctx.phases = {}
      for p in v:gmatch("[^,]+") do
        if not phases[p] then
          return nil, "soak: unknown phase '" .. p .. "' (" .. table.concat(M.PHASES, ", ") .. ")"
        end
        ctx.phases[#ctx.phases + 1] = p
      end
    elseif a == "--check" then
      ctx.check = {}
      for k in v:gmatch("[^,]+") do
        if k ~= "rss" and k ~= "fds" and k ~= "maps" then
          return nil, "soak: --check takes rss, fds and maps, got '" .. k .. "'"
        end
        ctx.check[k] = true
      end
    elseif a == "--model" then
      ctx.model = v
    elseif a == "--leak" then
      if not M.LEAKS[v] then return nil, "soak: --leak takes rss, fds or maps, got '" .. v .. "'" end
      ctx.leak = v
    else
      return nil, "soak: unknown flag '" .. a .. "'\n" .. usage()
    end
    i = i + 2
  end
  if ctx.samples < 1 or ctx.warmup >= 1 then return nil, "soak: --samples must be >= 1 and --warmup < 1" end
  ctx.samples = math.floor(ctx.samples)
  return ctx
end

--- Runs the soak; returns the exit status (0: every phase flat).
function M.main(argv, out)
  out = out or io.stdout
  local ctx, err = M.parse_args(argv)
  if not ctx then
    io.stderr:write(err, "\n")
    return err:find("^usage") and 0 or 2
  end
  -- glibc gives a thread that allocates an arena of its own (two mappings), up to 8 per core, as
  -- worker threads come and go: a plateau reached at random, not a leak. One arena for the run
  -- (the server, a child, inherits it) keeps the maps count a measure of what the code maps.
  if os.getenv("MALLOC_ARENA_MAX") ~= "1" and argv[0] then
    local words = { "MALLOC_ARENA_MAX=1", "exec", "lua5.4", q(argv[0]) }
    for _, a in ipairs(argv) do words[#words + 1] = q(a) end
    out:flush()
    local _, how, code = os.execute(table.concat(words, " "))
    return how == "exit" and code or 128 + code
  end
  local cpu = (read_all("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "unknown CPU"
  local judged = {}
  for _, k in ipairs({ "rss", "fds", "maps" }) do if ctx.check[k] then judged[#judged + 1] = k end end
  out:write(("soak: %s, %s, scale %g, %s; RSS bound: max(%g %%, %g MB) over the first sample after the "
    .. "warm-up; fds and maps: no growth; judged: %s\n"):format(ctx.model, mllm.version, ctx.scale, cpu, ctx.rss_pct,
    ctx.rss_mb, table.concat(judged, ", ")))
  local failed, t0 = {}, os.time()
  for _, name in ipairs(ctx.phases) do
    local count = math.max(1, math.floor(ctx.count or M.COUNTS[name] * ctx.scale + 0.5))
    local p0 = os.time()
    local ok, why = M.run_phase(name, count, ctx, out)
    out:write(("   (%d s)\n"):format(os.time() - p0))
    if not ok then for _, w in ipairs(why) do failed[#failed + 1] = w end end
  end
  out:write(("\nsoak: %d s in all\n"):format(os.time() - t0))
  if #failed > 0 then
    out:write("soak: FAILED: ", failed[1], #failed > 1 and (" (and " .. (#failed - 1) .. " more above)") or "", "\n")
    return 1
  end
  out:write("soak: ok: RSS within its bound, fds and maps flat in every phase\n")
  return 0
end

-- Run as a script (lua5.4 tools/soak.lua ...), not loaded by a spec.
if arg and arg[0] and arg[0]:match("soak%.lua$") then
  os.exit(M.main(arg), true)
end
return M
