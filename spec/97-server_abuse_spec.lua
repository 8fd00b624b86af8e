-- `mobilellm serve` under abuse (issue 41, "The server"): slow clients, clients that leave in
-- the middle of an answer, pipelined and idle keep-alive connections, absurd requests and 64
-- clients at once. The server runs in this process (`mobilellm.server` on luv's loop) with its
-- deadlines cut to a second or so and a short queue, and the clients are raw TCP connections on
-- the same loop (tools/rawclient.lua): the loop is run until what a test waits for has
-- happened, every wait bounded, so a missing protection fails the test instead of hanging it.
-- Each test fails if its protection is removed: without the deadline no 408 comes, without the
-- cancellation the slot stays busy, without the queue bound no 503.
local mllm = require("mobilellm")
local server = require("mobilellm.server")
local raw = dofile("tools/rawclient.lua")

local MODEL = "models/mobilellm-tiny-api"
local LIMITS = { HEADER_SECONDS = 1, BODY_SECONDS = 1.5, IDLE_SECONDS = 0.5, LINGER_SECONDS = 0.2, MAX_QUEUE = 8 }

local function user(text) return { { role = "user", content = text } } end

local function chat_request(body, headers)
  return raw.request("POST", "/v1/chat/completions", headers or { "Content-Type: application/json" },
    type(body) == "table" and mllm.json_encode(body) or body)
end

describe("mobilellm serve under abuse", function()
  local model, srv, port
  local clients = {}

  local function connect()
    local c = raw.connect(port)
    clients[#clients + 1] = c
    return c
  end

  -- One request on a fresh connection, to its whole answer; returns the response.
  local function ask(text)
    local c = connect()
    c:send(text)
    assert.is_true(raw.run_until(function() return #raw.responses(c.data) > 0 or c.eof end, 30), "no answer")
    c:close()
    return assert(raw.responses(c.data)[1], "no whole response in: " .. c.data)
  end

  local function health()
    local r = ask(raw.request("GET", "/health"))
    assert.equal(200, r.status)
    return mllm.json_decode(r.body)
  end

  lazy_setup(function()
    model = assert(mllm.load(MODEL))
    srv = assert(server.new(model, { dir = MODEL, name = "mobilellm-tiny-api", parallel = 2, limits = LIMITS }))
    local _
    _, port = assert(srv:listen("127.0.0.1", 0))
  end)

  lazy_teardown(function()
    for _, c in ipairs(clients) do c:close() end
    if srv then srv:close() end
    if model then model:close() end
  end)

  after_each(function()
    for _, c in ipairs(clients) do c:close() end
    clients = {}
    raw.run_until(function() return false end, 0.05) -- the closes reach the server
  end)

  it("refuses server.new limits it does not know, or that are not positive numbers", function()
    local ok, err = pcall(server.new, model, { limits = { HEADER_SECOND = 1 } })
    assert.is_false(ok)
    assert.matches("did you mean 'HEADER_SECONDS'", err)
    ok, err = pcall(server.new, model, { limits = { IDLE_SECONDS = -1 } })
    assert.is_false(ok)
    assert.matches("IDLE_SECONDS must be a positive number", err)
  end)

  it("answers a client that sends its headers a byte at a time with 408 at HEADER_SECONDS, and closes", function()
    local c = connect()
    -- 4 bytes a second: the whole head would take about 12 s
    c:drip(raw.request("GET", "/health", { "User-Agent: slow", "Accept: */*" }), 250)
    assert.is_true(raw.run_until(function() return c.eof end, 8), "the connection was not closed")
    assert.is_nil(c.dripped, "the client sent its whole request: the deadline did not cut it")
    local r = raw.responses(c.data)[1]
    assert.equal(408, r.status)
    assert.equal("close", r.headers.connection)
    assert.matches("HEADER_SECONDS", mllm.json_decode(r.body).error.message)
  end)

  it("answers a client that sends its body a byte at a time with 408 at BODY_SECONDS, and closes", function()
    local c = connect()
    local body = mllm.json_encode({ messages = user("call mom"), max_tokens = 4 })
    local text = chat_request(body)
    local split = #text - #body
    c:send(text:sub(1, split)) -- the head at once: the header deadline is met
    c:drip(text:sub(split + 1), 250)
    assert.is_true(raw.run_until(function() return c.eof end, 8), "the connection was not closed")
    assert.is_nil(c.dripped)
    local r = raw.responses(c.data)[1]
    assert.equal(408, r.status)
    assert.matches("BODY_SECONDS", mllm.json_decode(r.body).error.message)
  end)

  it("serves others while slow clients hold their connections", function()
    local slow = {}
    for i = 1, 4 do
      slow[i] = connect()
      slow[i]:drip(raw.request("GET", "/health"), 400)
    end
    local r = ask(chat_request({ messages = user("call mom"), max_tokens = 8 }))
    assert.equal(200, r.status)
    for i = 1, 4 do assert.is_false(slow[i].eof) end -- still held: the answer did not wait for them
  end)

  it("answers pipelined requests in order on one connection and closes after Connection: close", function()
    local c = connect()
    c:send(raw.request("GET", "/health") .. raw.request("GET", "/v1/models")
      .. chat_request({ messages = user("call mom"), max_tokens = 4 })
      .. raw.request("GET", "/nope", { "Connection: close" }))
    assert.is_true(raw.run_until(function() return c.eof end, 30), "the connection was not closed")
    local rs, rest = raw.responses(c.data)
    assert.equal(4, #rs)
    assert.equal("", rest)
    assert.equal("ok", mllm.json_decode(rs[1].body).status)
    assert.equal("list", mllm.json_decode(rs[2].body).object)
    assert.equal("chat.completion", mllm.json_decode(rs[3].body).object)
    assert.equal(404, rs[4].status)
    for i = 1, 3 do assert.equal("keep-alive", rs[i].headers.connection) end
    assert.equal("close", rs[4].headers.connection)
  end)

  it("keeps a connection for the next request, and closes it after IDLE_SECONDS without one", function()
    local c = connect()
    c:send(raw.request("GET", "/health"))
    assert.is_true(raw.run_until(function() return #raw.responses(c.data) == 1 end, 10))
    c:send(raw.request("GET", "/health")) -- the same connection: still open
    assert.is_true(raw.run_until(function() return #raw.responses(c.data) == 2 end, 10))
    assert.is_false(c.eof)
    assert.is_true(raw.run_until(function() return c.eof end, 5), "the idle connection was not closed")
    local rs, rest = raw.responses(c.data)
    assert.equal(2, #rs)
    assert.equal("", rest) -- closed without a word
  end)

  it("closes after the answer to an HTTP/1.0 request, and keeps one that asks for keep-alive", function()
    local c = connect()
    c:send("GET /health HTTP/1.0\r\n\r\n")
    assert.is_true(raw.run_until(function() return c.eof end, 10))
    assert.equal("close", raw.responses(c.data)[1].headers.connection)
    c = connect()
    c:send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert.is_true(raw.run_until(function() return #raw.responses(c.data) == 1 end, 10))
    assert.equal("keep-alive", raw.responses(c.data)[1].headers.connection)
    assert.is_false(c.eof)
  end)

  it("ends the connection of a streamed answer with the stream", function()
    local c = connect()
    c:send(chat_request({ messages = user("call mom"), max_tokens = 6, stream = true })
      .. raw.request("GET", "/health"))
    assert.is_true(raw.run_until(function() return c.eof end, 30))
    local rs = raw.responses(c.data)
    assert.equal(1, #rs) -- the pipelined /health is not answered: the stream ended the connection
    assert.equal("close", rs[1].headers.connection)
    assert.matches("data: %[DONE%]\n\n$", rs[1].body)
  end)

  it("cancels the generation of a client that leaves mid-stream, frees its slot, and serves the next", function()
    local before = health().requests_cancelled
    local c = connect()
    c:send(chat_request({ messages = user("what can you do for me?"), max_tokens = 400, stream = true,
                          temperature = 1, seed = 1 }))
    -- the first event of the stream, then the client leaves
    assert.is_true(raw.run_until(function() return c.data:find("data: ", 1, true) ~= nil end, 30))
    c:close()
    assert.is_true(raw.run_until(function() return srv.pool:counts() == 0 end, 10), "the slot stayed busy")
    local h = health()
    assert.equal(before + 1, h.requests_cancelled)
    assert.equal(2, h.slots_idle)
    assert.equal(0, h.slots_processing)
    local r = ask(chat_request({ messages = user("call mom"), max_tokens = 8 }))
    assert.equal(200, r.status)
    assert.equal("chat.completion", mllm.json_decode(r.body).object)
  end)

  local function deep(n) return ("["):rep(n) .. ("]"):rep(n) end
  local many = {}
  for i = 1, 20000 do many[i] = { role = i % 2 == 1 and "user" or "assistant", content = "" } end
  local absurd = {
    { "max_tokens of 10^12", { messages = user("hi"), max_tokens = 1000000000000 }, "max_tokens" },
    { "a negative max_tokens", { messages = user("hi"), max_tokens = -5 }, "max_tokens" },
    { "a max_tokens of 1e300", '{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e300}',
      "max_tokens" },
    { "max_completion_tokens of 10^9", { messages = user("hi"), max_completion_tokens = 1000000000 },
      "max_completion_tokens" },
    { "20 000 messages", { messages = many }, "messages" },
    { "n of 1000", { messages = user("hi"), n = 1000 }, "n" },
    { "a seed of 1e300", '{"messages": [{"role": "user", "content": "hi"}], "seed": 1e300}', "seed" },
    { "a 900 KB message", { messages = user(("word "):rep(180000)) }, "messages" },
    { "a 100 KB stop string", { messages = user("hi"), stop = ("x"):rep(100000) }, "stop[0]" },
    { "a 100 KB tool name", { messages = user("hi"), tools = { { type = "function",
      ["function"] = { name = ("t"):rep(100000) } } } }, "tools" },
    { "a 100 KB role", { messages = { { role = ("r"):rep(100000), content = "hi" } } }, "messages[0].role" },
    { "a 100 KB field name", '{"messages": [{"role": "user", "content": "hi"}], "' .. ("k"):rep(100000) .. '": 1}',
      ("k"):rep(64) .. "..." }, -- named, cut to MAX_QUOTE_BYTES
    { "JSON nested 10 000 deep", '{"messages": ' .. deep(10000) .. '}', nil },
  }
  for _, case in ipairs(absurd) do
    it("answers " .. case[1] .. " with a 400 that names the field, and keeps serving", function()
      local r = ask(chat_request(case[2]))
      assert.equal(400, r.status, r.body)
      local e = assert(mllm.json_decode(r.body)).error
      assert.equal("invalid_request_error", e.type)
      if case[3] then
        assert.is_true(e.param:sub(1, #case[3]) == case[3], "param " .. e.param:sub(1, 80))
        assert.is_true(#e.message < 2000, "the message echoes the whole field") -- named, not copied
      end
      assert.equal("keep-alive", r.headers.connection)
    end)
  end

  it("gives each of 64 clients at once a 200 or a 503 in OpenAI's shape, and answers /health meanwhile", function()
    local body = { messages = user("set a timer for ten minutes"), max_tokens = 24 }
    local cs = {}
    for i = 1, 64 do
      cs[i] = connect()
      cs[i]:send(chat_request(body))
    end
    -- once generation runs, /health is answered while the completions are not all answered
    assert.is_true(raw.run_until(function() return srv.pool:counts() > 0 end, 10))
    local hc = connect()
    hc:send(raw.request("GET", "/health"))
    local function answered()
      local n = 0
      for i = 1, 64 do if #raw.responses(cs[i].data) > 0 then n = n + 1 end end
      return n
    end
    local done_at_health
    assert.is_true(raw.run_until(function()
      if not done_at_health and #raw.responses(hc.data) > 0 then done_at_health = answered() end
      return answered() == 64
    end, 120), "not every client was answered")
    assert.is_truthy(done_at_health)
    assert.is_true(done_at_health < 64, "/health waited for the completions")
    local counts = { [200] = 0, [503] = 0 }
    local text
    for i = 1, 64 do
      local r = raw.responses(cs[i].data)[1]
      assert.is_truthy(counts[r.status], "status " .. r.status)
      counts[r.status] = counts[r.status] + 1
      local doc = assert(mllm.json_decode(r.body))
      if r.status == 200 then
        assert.equal("chat.completion", doc.object)
        text = text or doc.choices[1].message.content
        assert.equal(text, doc.choices[1].message.content) -- greedy: the same answer in every session
      else
        assert.equal("server_error", doc.error.type)
        assert.matches("MAX_QUEUE", doc.error.message)
        assert.equal("1", r.headers["retry-after"])
      end
    end
    -- 2 running and 8 waiting when the 64 arrived: the queue bound turned most away
    assert.is_true(counts[200] >= 10, counts[200] .. " answered")
    assert.is_true(counts[503] >= 1, "no request was turned away: the queue is not bounded")
    local h = health()
    assert.equal(2, h.slots_idle)
    assert.equal(0, h.requests_queued)
  end)
end)

describe("mobilellm.server.http's reader", function()
  local http = require("mobilellm.server.http")

  -- Everything a reader gives for `bytes` fed in chunks of `n` bytes: requests as "METHOD target
  -- body", refusals as "refused STATUS".
  local function read(bytes, n, bounds)
    local r, out = http.reader(bounds), {}
    for i = 1, #bytes, n do
      local req, status = r:feed(bytes:sub(i, i + n - 1))
      while req or status do
        if status then
          out[#out + 1] = "refused " .. status
          return out
        end
        out[#out + 1] = req.method .. " " .. req.target .. " " .. req.body
        req, status = r:feed("")
      end
    end
    return out
  end

  it("gives pipelined requests in order, whatever the split, and skips blank lines between them", function()
    local bytes = "GET /a HTTP/1.1\r\n\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /c HTTP/1.0\n\n"
    local want = { "GET /a ", "POST /b {}", "GET /c " }
    for n = 1, #bytes do assert.same(want, read(bytes, n)) end
  end)

  -- fuzz/fuzz_http_request.c's check: a head of exactly MAX_HEADER_BYTES was refused when its
  -- blank line came in pieces (the bytes held counted the blank line's first bytes) and taken
  -- when it came whole
  it("takes or refuses a head at the bound the same way whatever the split", function()
    for _, len in ipairs { 60, 61 } do
      local line = "GET /x HTTP/1.1\r\nX-A: "
      local head = line .. ("y"):rep(len - #line)
      assert.equal(len, #head)
      local bytes = head .. "\r\n\r\n"
      local whole = read(bytes, #bytes, { max_header_bytes = 60 })
      assert.same(len <= 60 and { "GET /x " } or { "refused 431" }, whole)
      for n = 1, 8 do assert.same(whole, read(bytes, n, { max_header_bytes = 60 }), "chunks of " .. n) end
    end
  end)

  it("keeps HTTP/1.1 connections unless told to close, and HTTP/1.0 ones only when asked", function()
    local cases = {
      { "1.1", nil, true }, { "1.1", "close", false }, { "1.1", "Keep-Alive, Close", false },
      { "1.0", nil, false }, { "1.0", "keep-alive", true }, { "1.0", "Keep-Alive", true },
    }
    for _, c in ipairs(cases) do
      assert.equal(c[3], http.keep_alive({ version = c[1], headers = { connection = c[2] } }), c[1] .. " " .. tostring(c[2]))
    end
  end)
end)

describe("mobilellm.server in a host that unloads modules", function()
  -- busted unloads the modules a spec file loaded when the file ends; luv 1.44 freed its loop
  -- with its module table, and the next file that loaded luv again crashed in uv_tcp_init_ex
  -- (the whole suite stopped at spec/97 with a segmentation fault). The server keeps luv's first
  -- table, so a reloaded luv still has its loop. In a child process: a crash must not stop the suite.
  it("survives luv being unloaded and loaded again", function()
    local script = [[
      local server = require("mobilellm.server")
      for name in pairs(package.loaded) do
        if name == "luv" or name:match("^mobilellm") then package.loaded[name] = nil end
      end
      server = nil
      collectgarbage(); collectgarbage()
      local uv = require("luv")
      local t = uv.new_tcp()
      assert(t:bind("127.0.0.1", 0))
      t:close()
      uv.run()
      io.write("alive")
    ]]
    local p = assert(io.popen("lua5.4 -e " .. ("'" .. script:gsub("'", "'\\''") .. "'") .. " 2>&1"))
    local out = p:read("a")
    local ok, how, code = p:close()
    assert.equal("alive", out)
    assert.is_true(ok, tostring(how) .. " " .. tostring(code))
  end)
end)
