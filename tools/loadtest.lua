--- A bounded load test of `mobilellm serve` on 127.0.0.1 (issue 41, "The server"): N clients at
-- once, each sending M chat completions in turn over one kept-alive connection, on luv's loop.
-- It prints the requests, the failures by status, p50/p99 latency, requests per second, and the
-- server's memory: its resident set before the load (after one warm-up request), its peak
-- (VmHWM, and the highest VmRSS sampled every 50 ms) and after the load.
--
--   lua5.4 tools/loadtest.lua [--model DIR] [--parallel N] [--clients N] [--requests M] ...
--   lua5.4 tools/loadtest.lua --url http://127.0.0.1:8080 --pid PID     (a server already running)
--   make loadtest                                                       (64 x 4 on the shipped model)
--
-- It talks to 127.0.0.1 only and refuses any other host: it is a test of this machine's server,
-- not a tool to load someone else's. Every wait is bounded (--timeout, 600 s by default).
local uv = require("luv")
-- its bounded wait on the loop, shared with the server's specs
local raw = dofile((arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or ".") .. "/rawclient.lua")

local USAGE = [[
usage: lua5.4 tools/loadtest.lua [options]
  --model DIR       start `mobilellm serve DIR` on a free port (default models/mobilellm-tiny-api)
  --url URL         or target a server already running, http://127.0.0.1:PORT only
  --pid PID         that server's process id (for its memory figures)
  --parallel N      the started server's --parallel (default 2)
  --clients N       clients at once (default 64)
  --requests M      requests per client, in turn on one connection (default 4)
  --max-tokens N    each request's max_tokens (default 16)
  --stream          ask for streamed answers (each closes its connection)
  --timeout S       give up after S seconds (default 600)]]

local function fail(msg)
  io.stderr:write("loadtest: ", msg, "\n")
  os.exit(2)
end

local function parse(argv)
  local o = { model = "models/mobilellm-tiny-api", parallel = 2, clients = 64, requests = 4, max_tokens = 16,
              timeout = 600 }
  local ints = { parallel = { 1, 64 }, clients = { 1, 1024 }, requests = { 1, 100000 }, max_tokens = { 1, 4096 },
                 timeout = { 1, 86400 }, pid = { 1, math.maxinteger } }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      print(USAGE)
      os.exit(0)
    end
    local name = a:match("^%-%-([%w-]+)$")
    if not name then fail("unexpected argument '" .. a .. "'\n" .. USAGE) end
    local key = name:gsub("-", "_")
    if key == "stream" then
      o.stream = true
    elseif ints[key] or key == "model" or key == "url" then
      local v = argv[i + 1]
      if not v then fail("--" .. name .. " needs a value") end
      i = i + 1
      if ints[key] then
        local n = math.tointeger(tonumber(v))
        if not n or n < ints[key][1] or n > ints[key][2] then
          fail(string.format("--%s must be an integer in [%d, %d], got '%s'", name, ints[key][1], ints[key][2], v))
        end
        o[key] = n
      else
        o[key] = v
      end
    else
      fail("unknown option '" .. a .. "'\n" .. USAGE)
    end
    i = i + 1
  end
  if o.url then
    local host, port = o.url:match("^http://([^/:]+):(%d+)/?$")
    if not host then fail("--url must be http://127.0.0.1:PORT, got '" .. o.url .. "'") end
    if host ~= "127.0.0.1" and host ~= "localhost" then
      fail("--url: only 127.0.0.1 is load-tested, not '" .. host .. "'")
    end
    o.port = tonumber(port)
  end
  return o
end

-- ------------------------------------------------------------ the server's memory

-- VmRSS and VmHWM of a process, in KiB (nil when it is gone).
local function memory(pid)
  local f = io.open("/proc/" .. pid .. "/status")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmRSS:%s*(%d+)")), tonumber(text:match("VmHWM:%s*(%d+)"))
end

-- ------------------------------------------------------------ the loop

-- Starts `mobilellm serve` on a free port; returns its handle, pid and port.
local function start_server(o)
  local stderr = uv.new_pipe(false)
  local log = {}
  local handle, pid = uv.spawn("lua5.4", {
    args = { "bin/mobilellm", "serve", o.model, "--port", "0", "--parallel", tostring(o.parallel) },
    stdio = { nil, nil, stderr },
  }, function() end)
  if not handle then fail("cannot start the server: " .. tostring(pid)) end
  stderr:read_start(function(_, data) if data then log[#log + 1] = data end end)
  local port
  raw.run_until(function()
    port = table.concat(log):match("listening on http://127%.0%.0%.1:(%d+)")
    return port ~= nil or not memory(pid)
  end, 120)
  if not port then
    handle:kill("sigkill")
    fail("the server did not start:\n" .. table.concat(log))
  end
  return handle, pid, tonumber(port), stderr
end

-- ------------------------------------------------------------ the clients

local PROMPTS = { "call mom", "set a timer for ten minutes", "wake me up at 7 am tomorrow",
                  "what is the weather in Porto?", "send a message to Ana that I will be late" }

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

local function request_text(o, n)
  local body = string.format('{"messages": [{"role": "user", "content": %s}], "max_tokens": %d%s}',
    json_string(PROMPTS[n % #PROMPTS + 1]), o.max_tokens, o.stream and ', "stream": true' or "")
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    .. "Content-Length: " .. #body .. "\r\n\r\n" .. body
end

-- The first whole response in `data`: status, whether the connection stays open, the bytes after
-- it; nil while it is not whole (a response without Content-Length ends with the connection).
local function response(data, eof)
  local s, e = data:find("\r\n\r\n", 1, true)
  if not s then return nil end
  local head = data:sub(1, s - 1)
  local status = tonumber(head:match("^HTTP/1%.1 (%d+)")) or 0
  local len = tonumber(head:lower():match("\r\ncontent%-length:%s*(%d+)"))
  local keep = head:lower():find("\r\nconnection:%s*keep%-alive") ~= nil
  if not len then
    if not eof then return nil end
    return status, false, ""
  end
  if #data - e < len then return nil end
  return status, keep, data:sub(e + len + 1)
end

local function run_clients(o, stats)
  local active = o.clients
  local function client(id)
    local sent, tcp, data, t0 = 0, nil, "", 0
    local next_request
    local function finish_one(status)
      stats.latencies[#stats.latencies + 1] = (uv.hrtime() - t0) / 1e6
      stats.by_status[status] = (stats.by_status[status] or 0) + 1
    end
    local function connect()
      tcp, data = uv.new_tcp(), ""
      local conn = tcp
      conn:connect("127.0.0.1", o.port, function(err)
        if err then
          finish_one("connect: " .. err)
          conn:close()
          tcp = nil
          return next_request()
        end
        conn:read_start(function(rerr, chunk)
          if chunk then data = data .. chunk end
          local status, keep, rest = response(data, rerr ~= nil or chunk == nil)
          if status then
            data = rest
            finish_one(status)
            if not keep then
              conn:read_stop()
              conn:close()
              if tcp == conn then tcp = nil end
            end
            return next_request()
          elseif rerr or not chunk then -- closed before a whole answer
            finish_one(rerr and ("read: " .. rerr) or "closed")
            conn:close()
            if tcp == conn then tcp = nil end
            return next_request()
          end
        end)
      end)
    end
    function next_request()
      if sent >= o.requests then
        if tcp then tcp:close() tcp = nil end
        active = active - 1
        return
      end
      sent = sent + 1
      t0 = uv.hrtime()
      if not tcp then connect() end
      tcp:write(request_text(o, id + sent))
    end
    next_request()
  end
  for id = 1, o.clients do client(id) end
  return function() return active == 0 end
end

-- ------------------------------------------------------------ main

local function percentile(sorted, p)
  if #sorted == 0 then return 0 end
  return sorted[math.max(1, math.ceil(#sorted * p))]
end

local function main(argv)
  local o = parse(argv)
  local handle, pid, stderr
  if o.url then
    pid = o.pid
  else
    handle, pid, o.port, stderr = start_server(o)
  end
  -- one request first: the sessions' buffers are touched once, so the baseline is the server at rest
  local warm = { latencies = {}, by_status = {} }
  local wo = setmetatable({ clients = 1, requests = 1 }, { __index = o })
  if not raw.run_until(run_clients(wo, warm), 60) then fail("the warm-up request got no answer") end
  if not warm.by_status[200] then
    local k = next(warm.by_status)
    fail("the warm-up request failed: " .. tostring(k))
  end
  local base = pid and memory(pid)
  local peak_rss = base or 0
  local sampler = uv.new_timer()
  if pid then
    sampler:start(50, 50, function()
      local rss = memory(pid)
      if rss and rss > peak_rss then peak_rss = rss end
    end)
  end

  local stats = { latencies = {}, by_status = {} }
  local t0 = uv.hrtime()
  local done = run_clients(o, stats)
  local finished = raw.run_until(done, o.timeout)
  local seconds = (uv.hrtime() - t0) / 1e9
  sampler:stop()
  sampler:close()
  raw.run_until(function() return false end, 1) -- the server settles (connections linger, jobs join)
  local after, hwm
  if pid then after, hwm = memory(pid) end

  local n, ok = #stats.latencies, stats.by_status[200] or 0
  table.sort(stats.latencies)
  print(string.format("requests     %d (%d clients x %d, max_tokens %d%s)%s", n, o.clients, o.requests, o.max_tokens,
    o.stream and ", streamed" or "", finished and "" or string.format(" -- STOPPED after %d s", o.timeout)))
  local fails = {}
  for k, v in pairs(stats.by_status) do
    if k ~= 200 then fails[#fails + 1] = string.format("%s: %d", tostring(k), v) end
  end
  table.sort(fails)
  print(string.format("failures     %d%s", n - ok, #fails > 0 and (" (" .. table.concat(fails, ", ") .. ")") or ""))
  print(string.format("latency      p50 %.0f ms, p99 %.0f ms, max %.0f ms", percentile(stats.latencies, 0.5),
    percentile(stats.latencies, 0.99), stats.latencies[#stats.latencies] or 0))
  print(string.format("throughput   %.1f requests/s over %.1f s", n / seconds, seconds))
  if base then
    print(string.format("server RSS   %.1f MiB before, peak %.1f MiB (VmHWM %.1f MiB), %.1f MiB after (%+.1f MiB)",
      base / 1024, peak_rss / 1024, (hwm or 0) / 1024, (after or 0) / 1024, ((after or 0) - base) / 1024))
  else
    print("server RSS   (give --pid for the server's memory)")
  end

  if handle then
    handle:kill("sigterm")
    stderr:read_stop()
    stderr:close()
    raw.run_until(function() return not memory(pid) end, 15)
    if memory(pid) then handle:kill("sigkill") end
    handle:close()
    uv.run("nowait")
  end
  return (finished and ok == n) and 0 or 1
end

os.exit(main(arg))
