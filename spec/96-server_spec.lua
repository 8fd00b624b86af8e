-- `mobilellm serve`: the server runs in a child process on 127.0.0.1 (a free port, --port 0) and
-- is talked to with curl, as a client would. Every wait is bounded (curl's --max-time, a bounded
-- number of polls of the log), so a broken server fails the spec instead of hanging it; the
-- child runs under `timeout` and is killed in the teardown, whatever the tests did.
local H = require("support.helpers")
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")

local MODEL = "models/mobilellm-tiny-api"
local NULL = mllm.null

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The clients (curl, bash) run without the ASan runtime that make test-asan preloads into every
-- process: curl hangs under it. The server keeps it (its module is the instrumented one).
local CLIENT = "env -u LD_PRELOAD "

local srv = {}  -- pid, port, dir, log

-- A file's text, or nil while it is not there (a child's log may not exist yet).
local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end

-- Starts `mobilellm serve MODEL --port 0 ARGS` in the background under `timeout`; returns its pid
-- and port once it listens, or nil, its log.
local function spawn(dir, args, seconds)
  local log, pidfile = dir .. "/server.log", dir .. "/server.pid"
  assert(os.execute(("timeout -s KILL %d lua5.4 spec/support/mobilellm_main.lua serve %s --port 0 %s > %s 2>&1 "
    .. "& echo $! > %s")
    :format(seconds, MODEL, args or "", q(log), q(pidfile))))
  local pid = read(pidfile):match("%d+")
  for _ = 1, 600 do  -- 60 s at most for the model to load
    local port = (read(log) or ""):match("listening on http://127%.0%.0%.1:(%d+)")
    if port then return pid, tonumber(port) end
    if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
    os.execute("sleep 0.1")
  end
  os.execute("kill -9 " .. pid .. " 2>/dev/null")
  return nil, read(log)
end

-- Stops a child: SIGTERM, then SIGKILL if it is still there after 10 s. A sanitizer's report in
-- its log (make test-asan runs the server under ASan too) goes to standard error, where the
-- test-asan target looks for one.
local function stop(pid, log)
  os.execute("kill " .. pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
    os.execute("sleep 0.1")
  end
  os.execute("kill -9 " .. pid .. " 2>/dev/null")
  local text = log and read(log) or ""
  if text:find("Sanitizer") or text:find("runtime error:", 1, true) then
    io.stderr:write("the server's log (", log, "):\n", text, "\n")
  end
end

local n_out = 0
-- curl with `args`: the HTTP status and the body.
local function curl(args)
  n_out = n_out + 1
  local out = srv.dir .. "/out" .. n_out
  local p = assert(io.popen((CLIENT .. "curl -sS --max-time 60 -o %s -w '%%{http_code}' %s 2>&1"):format(q(out), args)))
  local code = p:read("a")
  p:close()
  return tonumber(code:match("(%d+)$")), read(out) or "", code
end

local function url(path) return q("http://127.0.0.1:" .. srv.port .. path) end

-- POSTs a body (a table as JSON, or text) to the completions endpoint.
local function post(body, extra)
  n_out = n_out + 1
  local file = srv.dir .. "/body" .. n_out
  H.write(file, type(body) == "table" and mllm.json_encode(body) or body)
  return curl(("%s -H 'Content-Type: application/json' --data-binary @%s %s"):format(extra or "", q(file),
    url("/v1/chat/completions")))
end

-- The events of a server-sent event stream: the decoded chunks, and whether it ended with [DONE].
local function events(text)
  local chunks, done = {}, false
  for line in text:gmatch("[^\n]+") do
    local data = line:match("^data: (.*)$")
    assert.is_truthy(data, "not an event line: " .. line)
    assert.is_false(done, "an event after [DONE]")
    if data == "[DONE]" then done = true else chunks[#chunks + 1] = assert(mllm.json_decode(data)) end
  end
  return chunks, done
end

-- The shipped model's tool list as OpenAI function tools.
local function openai_tools()
  return require("mobilellm.server.openai").tools_of_apis(assert(chat.load_apis(MODEL .. "/apis.json")))
end

local function user(text) return { { role = "user", content = text } } end

local function is_completion_shape(doc)
  assert.matches("^chatcmpl%-", doc.id)
  assert.equal("chat.completion", doc.object)
  assert.equal("integer", math.type(doc.created))
  assert.equal("mobilellm-tiny-api", doc.model)
  assert.equal(1, #doc.choices)
  assert.equal(0, doc.choices[1].index)
  assert.equal("assistant", doc.choices[1].message.role)
  local u = doc.usage
  assert.is_true(u.prompt_tokens > 0 and u.completion_tokens > 0)
  assert.equal(u.prompt_tokens + u.completion_tokens, u.total_tokens)
end

describe("mobilellm serve", function()
  lazy_setup(function()
    srv.dir = H.tmpdir()
    local pid, port = spawn(srv.dir, "--parallel 2", 900)
    assert(pid, "the server did not start: " .. tostring(port))
    srv.pid, srv.port = pid, port
  end)

  lazy_teardown(function()
    if srv.pid then stop(srv.pid, srv.dir .. "/server.log") end
    if srv.dir then H.rmdir(srv.dir) end
  end)

  it("answers GET /health and GET /v1/models", function()
    local code, body = curl(url("/health"))
    assert.equal(200, code)
    local h = mllm.json_decode(body)
    assert.equal("ok", h.status)
    assert.equal(2, h.slots_idle + h.slots_processing)
    code, body = curl(url("/v1/models"))
    assert.equal(200, code)
    local m = mllm.json_decode(body)
    assert.equal("list", m.object)
    assert.equal("mobilellm-tiny-api", m.data[1].id)
    assert.equal("model", m.data[1].object)
  end)

  it("gives a completion in OpenAI's shape, the text model:generate gives for the prompt and seed", function()
    local req = { model = "mobilellm-tiny-api", messages = user("what can you do for me?"), temperature = 0.8,
                  top_p = 0.95, seed = 7, max_tokens = 24 }
    local code, body = post(req)
    assert.equal(200, code, body)
    local doc = mllm.json_decode(body)
    is_completion_shape(doc)
    local choice = doc.choices[1]
    assert.is_string(choice.message.content)
    assert.is_nil(choice.message.tool_calls)
    assert.is_truthy(choice.finish_reason == "stop" or choice.finish_reason == "length")
    -- the same prompt and options in-process
    local model = assert(mllm.load(MODEL))
    local text, info = model:generate(chat.prompt_text(user("what can you do for me?"), {}),
      { temperature = 0.8, top_p = 0.95, seed = 7, max_tokens = 24, stop = { "\n" } })
    model:close()
    assert.equal(text, choice.message.content)
    assert.equal(info.prompt_tokens, doc.usage.prompt_tokens)
    assert.equal(info.generated_tokens, doc.usage.completion_tokens)
    -- and again: the same seed, the same text
    local _, body2 = post(req)
    assert.equal(text, mllm.json_decode(body2).choices[1].message.content)
  end)

  it("gives model:generate's text for a long prompt too, from a fresh session and from one that kept part", function()
    local long = ("please remind me to water the plants in the garden and then call the office about the "
      .. "meeting on friday and also send a message to Ana that I will be late "):rep(5)
    local opts = { temperature = 0.9, seed = 11, max_tokens = 24 }
    local model = assert(mllm.load(MODEL))
    local want = model:generate(chat.prompt_text(user(long), {}),
      { temperature = 0.9, seed = 11, max_tokens = 24, stop = { "\n" } })
    model:close()
    local cached = {}
    for i = 1, 2 do
      local code, body = post({ messages = user(long), temperature = opts.temperature, seed = opts.seed,
                                max_tokens = opts.max_tokens })
      assert.equal(200, code, body)
      local doc = mllm.json_decode(body)
      assert.equal(want, doc.choices[1].message.content)
      assert.is_true(doc.usage.prompt_tokens > 128)
      cached[i] = doc.usage.prompt_tokens_details.cached_tokens
    end
    assert.equal(0, cached[1] % 64)
    assert.is_true(cached[2] >= 128)
  end)

  it("streams the same completion as server-sent events, [DONE] last, usage when asked", function()
    local req = { messages = user("what can you do for me?"), temperature = 0.8, top_p = 0.95, seed = 7,
                  max_tokens = 24 }
    local _, plain = post(req)
    local want = mllm.json_decode(plain).choices[1]
    req.stream, req.stream_options = true, { include_usage = true }
    local code, body = post(req, "-N")
    assert.equal(200, code)
    local chunks, done = events(body)
    assert.is_true(done)
    assert.is_true(#chunks >= 3)
    local parts, finish = {}, nil
    for i, c in ipairs(chunks) do
      assert.equal("chat.completion.chunk", c.object)
      assert.equal(chunks[1].id, c.id)
      assert.matches("^chatcmpl%-", c.id)
      assert.equal("mobilellm-tiny-api", c.model)
      if i < #chunks then
        local ch = c.choices[1]
        assert.equal(0, ch.index)
        if i == 1 then assert.equal("assistant", ch.delta.role) end
        parts[#parts + 1] = ch.delta.content
        if ch.finish_reason ~= NULL then finish = ch.finish_reason end
      end
    end
    assert.equal(want.message.content, table.concat(parts))
    assert.equal(want.finish_reason, finish)
    local last = chunks[#chunks]
    assert.equal(0, #last.choices)
    assert.equal(last.usage.prompt_tokens + last.usage.completion_tokens, last.usage.total_tokens)
  end)

  it("returns the model's call as tool_calls, the call `mobilellm run` makes, and feeds a result back", function()
    local tools = openai_tools()
    local req = { messages = user("wake me up at 7 am tomorrow"), tools = tools }
    local code, body = post(req)
    assert.equal(200, code, body)
    local doc = mllm.json_decode(body)
    is_completion_shape(doc)
    local choice = doc.choices[1]
    assert.equal("tool_calls", choice.finish_reason)
    assert.equal(NULL, choice.message.content)
    local tc = choice.message.tool_calls
    assert.equal(1, #tc)
    assert.equal("function", tc[1].type)
    assert.is_string(tc[1].id)
    assert.equal("set_alarm", tc[1]["function"].name)
    local args = assert(mllm.json_decode(tc[1]["function"].arguments))
    -- the call validates against the tools, and is the one `mobilellm run` writes
    local reg = require("mobilellm.tools").from_apis(assert(chat.load_apis(MODEL .. "/apis.json")))
    assert.is_truthy(reg:validate({ name = "set_alarm", args = args }))
    local status, out = H.cli({ "run", MODEL, "wake me up at 7 am tomorrow" })
    assert.equal(0, status)
    local calls = assert(mllm.parse_calls(out))
    assert.equal("set_alarm", calls[1].name)
    for k, v in pairs(calls[1].args) do assert.equal(v, args[k]) end
    assert.equal(0, doc.usage.prompt_tokens_details.cached_tokens)
    -- again: the session kept the prompt's whole batches, and the answer is the same
    local _, again = post(req)
    again = mllm.json_decode(again)
    assert.is_true(again.usage.prompt_tokens_details.cached_tokens >= 64)
    assert.is_true(again.usage.prompt_tokens_details.cached_tokens < again.usage.prompt_tokens)
    assert.same(args, mllm.json_decode(again.choices[1].message.tool_calls[1]["function"].arguments))

    -- the tool's result back: the model writes its reply after it
    req.messages[2] = { role = "assistant", content = NULL, tool_calls = tc }
    req.messages[3] = { role = "tool", tool_call_id = tc[1].id, content = "" }
    code, body = post(req)
    assert.equal(200, code, body)
    doc = mllm.json_decode(body)
    is_completion_shape(doc)
    choice = doc.choices[1]
    assert.equal("stop", choice.finish_reason)
    assert.is_nil(choice.message.tool_calls)
    assert.matches("^Alarm set", choice.message.content)

    -- streamed, the call comes as one tool_calls delta
    req.messages, req.stream = user("wake me up at 7 am tomorrow"), true
    code, body = post(req, "-N")
    assert.equal(200, code)
    local chunks, done = events(body)
    assert.is_true(done)
    local delta = chunks[2].choices[1].delta.tool_calls[1]
    assert.equal(0, delta.index)
    assert.equal("set_alarm", delta["function"].name)
    assert.same(args, mllm.json_decode(delta["function"].arguments))
    assert.equal("tool_calls", chunks[#chunks].choices[1].finish_reason)
  end)

  it("takes tool_choice: required makes the answer a call, a named function a call of it", function()
    local tools = openai_tools()
    local code, body = post({ messages = user("thanks a lot"), tools = tools, tool_choice = "required" })
    assert.equal(200, code, body)
    local choice = mllm.json_decode(body).choices[1]
    assert.equal("tool_calls", choice.finish_reason)
    code, body = post({ messages = user("thanks a lot"), tools = tools,
                        tool_choice = { type = "function", ["function"] = { name = "set_timer" } } })
    assert.equal(200, code, body)
    choice = mllm.json_decode(body).choices[1]
    assert.equal("tool_calls", choice.finish_reason)
    assert.equal("set_timer", choice.message.tool_calls[1]["function"].name)
    code, body = post({ messages = user("thanks a lot"), tools = tools,
                        tool_choice = { type = "function", ["function"] = { name = "nope" } } })
    assert.equal(400, code)
    assert.equal("tool_choice", mllm.json_decode(body).error.param)
  end)

  it("serves two streamed requests at once, both to the end", function()
    local files = {}
    for i = 1, 2 do
      files[i] = srv.dir .. "/conc" .. i
      H.write(files[i] .. ".json", mllm.json_encode({ messages = user(i == 1 and "set a timer for ten minutes"
        or "call mom"), stream = true, seed = i, temperature = 0.7, max_tokens = 40 }))
    end
    local cmd = {}
    for i = 1, 2 do
      cmd[i] = (CLIENT .. "curl -sS -N --max-time 60 -o %s --data-binary @%s %s &"):format(q(files[i] .. ".out"),
        q(files[i] .. ".json"), url("/v1/chat/completions"))
    end
    assert.is_true(os.execute(table.concat(cmd, " ") .. " wait"))
    for i = 1, 2 do
      local chunks, done = events(assert(read(files[i] .. ".out")))
      assert.is_true(done)
      assert.is_truthy(chunks[#chunks].choices[1].finish_reason ~= NULL)
    end
  end)

  -- curl with several URLs in one command reuses its connection when the server keeps it:
  -- `%{num_connects}` is 1 for a transfer that opened a connection, 0 for one that reused it.
  -- `transfers`: each one's arguments (--next between them resets the options).
  local function connects(transfers)
    local parts = {}
    for i, t in ipairs(transfers) do parts[i] = "-sS --max-time 60 -o /dev/null -w '%{http_code} %{num_connects}\\n' " .. t end
    local p = assert(io.popen(CLIENT .. "curl " .. table.concat(parts, " --next ") .. " 2>&1"))
    local out = p:read("a")
    p:close()
    local list = {}
    for code, n in out:gmatch("(%d+) (%d+)") do list[#list + 1] = { tonumber(code), tonumber(n) } end
    return list, out
  end

  it("keeps a connection alive: curl asks three times over one connection", function()
    local list, out = connects({ url("/health"), url("/v1/models"), url("/health") })
    assert.same({ { 200, 1 }, { 200, 0 }, { 200, 0 } }, list, out)
    -- a completion, then another request on the same connection
    local file = srv.dir .. "/ka.json"
    H.write(file, mllm.json_encode({ messages = user("call mom"), max_tokens = 4 }))
    list, out = connects({ ("--data-binary @%s %s"):format(q(file), url("/v1/chat/completions")), url("/health") })
    assert.same({ { 200, 1 }, { 200, 0 } }, list, out)
  end)

  it("closes after the answer when the client says Connection: close, or speaks HTTP/1.0", function()
    local list, out = connects({ "-H 'Connection: close' " .. url("/health"), url("/health") })
    assert.same({ { 200, 1 }, { 200, 1 } }, list, out)
    list, out = connects({ "--http1.0 " .. url("/health"), "--http1.0 " .. url("/health") })
    assert.same({ { 200, 1 }, { 200, 1 } }, list, out)
  end)

  it("ends the connection of a streamed answer with its stream", function()
    local file = srv.dir .. "/ka-stream.json"
    H.write(file, mllm.json_encode({ messages = user("call mom"), max_tokens = 4, stream = true }))
    local list, out = connects({ ("-N --data-binary @%s %s"):format(q(file), url("/v1/chat/completions")),
      url("/health") })
    assert.same({ { 200, 1 }, { 200, 1 } }, list, out)
  end)

  local bad_requests = {
    { "malformed JSON", '{"messages": [', "not valid JSON" },
    { "JSON with text after it", '{"messages": [{"role": "user", "content": "hi"}]} junk', "text after the value" },
    { "a body that is not an object", "[1, 2]", "must be a JSON object" },
    { "no messages", "{}", "'messages' is required", "messages" },
    { "a field of the wrong type", { messages = user("hi"), temperature = "hot" }, "'temperature' must be a number",
      "temperature" },
    { "a field out of range", { messages = user("hi"), top_p = 2 }, "'top_p' must be in", "top_p" },
    { "a misspelled field", { messages = user("hi"), max_token = 5 }, "did you mean 'max_tokens'", "max_token" },
    { "an absurd max_tokens", { messages = user("hi"), max_tokens = 100000000 }, "'max_tokens' must be in [1, 512]",
      "max_tokens" },
    { "a message without a role", { messages = { { content = "hi" } } }, "'messages[0].role' must be",
      "messages[0].role" },
    { "an unknown role", { messages = { { role = "wizard", content = "hi" } } }, "got \"wizard\"", "messages[0].role" },
    { "an image part", { messages = { { role = "user", content = { { type = "image_url", image_url = {} } } } } },
      "'image_url' parts are not supported", "messages[0].content[0].type" },
    { "a system message in the shipped format", { messages = { { role = "system", content = "be brief" },
      { role = "user", content = "hi" } } }, "no system message", "messages[0].role" },
    { "a tool result without a call", { messages = { { role = "user", content = "hi" },
      { role = "tool", content = "42" } } }, "must follow an assistant's tool_calls", "messages[1].role" },
    { "too many stop strings", { messages = user("hi"), stop = { "a", "b", "c", "d", "e" } }, "MAX_STOP", "stop" },
    { "n of 2", { messages = user("hi"), n = 2 }, "'n' must be 1", "n" },
    { "a tool of the wrong kind", { messages = user("hi"), tools = { { type = "retrieval" } } },
      "must be \"function\"", "tools[0].type" },
  }
  for _, case in ipairs(bad_requests) do
    it("answers " .. case[1] .. " with a 400 that names what is wrong", function()
      local code, body = post(case[2])
      assert.equal(400, code, body)
      local e = assert(mllm.json_decode(body)).error
      assert.equal("invalid_request_error", e.type)
      assert.is_truthy(e.message:find(case[3], 1, true), e.message)
      assert.equal(case[4] or NULL, e.param)
    end)
  end

  it("answers 256+1 messages with a 400 naming the limit", function()
    local msgs = {}
    for i = 1, 257 do msgs[i] = { role = i % 2 == 1 and "user" or "assistant", content = "hi" } end
    local code, body = post({ messages = msgs })
    assert.equal(400, code)
    assert.matches("MAX_MESSAGES", mllm.json_decode(body).error.message)
  end)

  it("answers an unknown path with 404 and a wrong method with 405", function()
    local code, body = curl(url("/v1/completions"))
    assert.equal(404, code)
    assert.equal("not_found_error", mllm.json_decode(body).error.type)
    local out
    code, body, out = curl("-X DELETE -D - " .. url("/v1/chat/completions"))
    assert.equal(405, code)
    assert.matches("POST", mllm.json_decode(body).error.message)
    assert.is_truthy(out:find("Allow: POST", 1, true), out) -- -D - puts the headers on stdout
  end)

  it("answers an over-long body with 413 and over-long headers with 431, and goes on serving", function()
    local big = srv.dir .. "/big.json"
    H.write(big, '{"messages": [{"role": "user", "content": "' .. ("x"):rep(2 * 1024 * 1024) .. '"}]}')
    local code, body = curl(("--data-binary @%s %s"):format(q(big), url("/v1/chat/completions")))
    assert.equal(413, code)
    assert.matches("MAX_BODY_BYTES", mllm.json_decode(body).error.message)
    code = curl(("-H %s %s"):format(q("X-Big: " .. ("y"):rep(20000)), url("/health")))
    assert.equal(431, code)
    code = curl(url("/health"))
    assert.equal(200, code)
  end)

  -- Raw requests through bash's /dev/tcp: what curl would never send.
  local function raw(request)
    n_out = n_out + 1
    local out = srv.dir .. "/raw" .. n_out
    H.write(out .. ".req", request)
    os.execute(("timeout 20 " .. CLIENT .. "bash -c %s > %s 2>/dev/null"):format(q(("exec 3<>/dev/tcp/127.0.0.1/%d; cat %s >&3; "
      .. "cat <&3"):format(srv.port, q(out .. ".req"))), q(out)))
    return (read(out) or ""):match("^HTTP/1%.1 (%d+)")
  end

  local raw_cases = {
    { "a request line that is not HTTP", "\0\1\2 nonsense\r\n\r\n", "400" },
    { "a header line without a colon", "GET /health HTTP/1.1\r\nno colon here\r\n\r\n", "400" },
    { "HTTP/2.0", "GET /health HTTP/2.0\r\n\r\n", "505" },
    { "a chunked body", "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "411" },
    { "a negative Content-Length", "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "400" },
    { "two Content-Lengths", "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
      "400" },
    { "65 header fields", "GET /health HTTP/1.1\r\n" .. ("X-A: b\r\n"):rep(65) .. "\r\n", "431" },
    { "HTTP/1.0", "GET /health HTTP/1.0\r\n\r\n", "200" },
  }
  for _, case in ipairs(raw_cases) do
    it("answers " .. case[1] .. " with " .. case[3], function()
      assert.equal(case[3], raw(case[2]))
    end)
  end

  it("serves others while a client has sent only part of its request", function()
    -- the slow client holds its connection open with half a body (it would be dropped after
    -- BODY_SECONDS); /health and a completion are answered meanwhile
    local script = ("exec 3<>/dev/tcp/127.0.0.1/%d; printf 'POST /v1/chat/completions HTTP/1.1\\r\\n"
      .. "Content-Length: 100\\r\\n\\r\\n{\"mess' >&3; sleep 20"):format(srv.port)
    local pidfile = srv.dir .. "/slow.pid"
    os.execute((CLIENT .. "bash -c %s > /dev/null 2>&1 & echo $! > %s"):format(q(script), q(pidfile)))
    local slow = read(pidfile):match("%d+")
    local ok, err = pcall(function()
      assert.equal(200, (curl(url("/health"))))
      local code, body = post({ messages = user("call mom"), max_tokens = 8 })
      assert.equal(200, code, body)
    end)
    os.execute("kill " .. slow .. " 2>/dev/null")
    assert(ok, err)
  end)

  local function health()
    local code, body = curl(url("/health"))
    assert.equal(200, code)
    return mllm.json_decode(body)
  end

  -- Polls /health (100 times at most, 0.1 s apart) until `cond(h)`; returns the last answer.
  local function health_until(cond)
    local h
    for _ = 1, 100 do
      h = health()
      if cond(h) then break end
      os.execute("sleep 0.1")
    end
    return h
  end

  it("cancels the request of a client that leaves before its answer, and frees its session", function()
    local before = health().requests_cancelled
    -- the whole request, then the connection closed at once: the answer cannot be whole by then
    -- (it takes tens of steps of the loop, and the end of the connection is read in the same turn)
    local body = mllm.json_encode({ messages = user("what can you do for me?"), stream = true, max_tokens = 200 })
    local req = ("POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s"):format(#body, body)
    local file = srv.dir .. "/leave.req"
    H.write(file, req)
    os.execute(("timeout 20 " .. CLIENT .. "bash -c %s"):format(q(("exec 3<>/dev/tcp/127.0.0.1/%d; cat %s >&3; exec 3>&-")
      :format(srv.port, q(file)))))
    local h = health_until(function(x) return x.requests_cancelled > before and x.slots_processing == 0 end)
    assert.equal(before + 1, h.requests_cancelled)
    assert.equal(0, h.slots_processing)
    assert.equal(0, h.requests_queued)
    -- and one that leaves in the middle of a stream: head reads the first bytes and exits, curl's
    -- next write fails and it closes the connection; the session is free after it either way
    H.write(file, body)
    os.execute((CLIENT .. "curl -sS -N --max-time 60 --data-binary @%s %s 2>/dev/null | head -c 100 > /dev/null")
      :format(q(file), url("/v1/chat/completions")))
    h = health_until(function(x) return x.slots_processing == 0 end)
    assert.equal(0, h.slots_processing)
    assert.equal(0, h.requests_queued)
  end)

  it("answers 64 completions sent at once by curl (2 sessions, the rest queued) and 64 /health at once", function()
    local file = srv.dir .. "/burst.json"
    H.write(file, mllm.json_encode({ messages = user("set a timer for ten minutes"), max_tokens = 16 }))
    local args = {}
    for i = 1, 64 do
      args[#args + 1] = ("-o %s --data-binary @%s %s"):format(q(srv.dir .. "/burst" .. i), q(file),
        url("/v1/chat/completions"))
    end
    assert.is_true(os.execute((CLIENT .. "curl -sS --no-progress-meter --max-time 120 --parallel --parallel-max 64 %s")
      :format(table.concat(args, " --next ")) .. " > /dev/null"))
    local texts = {}
    for i = 1, 64 do -- 2 running and 62 waiting: all fit the queue (MAX_QUEUE, 64), none is turned away
      local doc = mllm.json_decode(assert(read(srv.dir .. "/burst" .. i)))
      is_completion_shape(doc)
      texts[i] = doc.choices[1].message.content
      assert.equal(texts[1], texts[i]) -- greedy, the same prompt: the same answer, whichever session
    end
    local hargs = {}
    for i = 1, 64 do hargs[i] = ("-o %s %s"):format(q(srv.dir .. "/h" .. i), url("/health")) end
    assert.is_true(os.execute((CLIENT .. "curl -sS --no-progress-meter --max-time 60 --parallel --parallel-max 64 %s > /dev/null")
      :format(table.concat(hargs, " --next "))))
    for i = 1, 64 do assert.equal("ok", mllm.json_decode(assert(read(srv.dir .. "/h" .. i))).status) end
  end)
end)

describe("mobilellm.server.generation", function()
  local generation = require("mobilellm.server.generation")
  local model
  lazy_setup(function() model = assert(mllm.load(MODEL)) end)
  lazy_teardown(function() model:close() end)

  -- Runs a generation to its end (steps as the server's loop makes them; a job's polls come
  -- back empty while its thread works, so the bound is 60 s, a safety net for a job that never
  -- ends); returns its text and info.
  local function drain(g)
    local parts, t0, done = {}, mllm.clock(), false
    while not done do
      local text
      text, done = g:step()
      assert(text, done)
      parts[#parts + 1] = text
      assert(mllm.clock() - t0 < 60, "the generation did not end")
    end
    local info = g:info()
    g:close()
    return table.concat(parts), info
  end

  do
    it("gives model:generate's text", function()
      local ids = model:tokenize(chat.prompt_text(user(("tell me about the weather in Porto "):rep(20)), {}),
        { bos = true })
      assert.is_true(#ids > 128) -- several batches of the prompt
      for seed = 1, 3 do
        local opts = { temperature = 0.9, seed = seed, max_tokens = 20, stop = { "\n" } }
        local want, winfo = model:generate(ids, opts)
        local s = model:session()
        local text, info = drain(assert(generation.start(s, ids, opts)))
        assert.equal(want, text)
        assert.equal(winfo.generated_tokens, info.generated_tokens)
        assert.equal(winfo.stop, info.stop)
        s:close()
      end
    end)
  end

  it("stops a generation closed while it runs, and frees its session", function()
    local s = model:session()
    local g = assert(generation.start(s, model:tokenize("Once upon a time", { bos = true }), { max_tokens = 400 }))
    g:step()
    g:close()
    assert.is_true(s:eval({ 1 }))  -- not busy any more
    s:close()
  end)
end)

describe("mobilellm serve on a checkpoint with its own chat template", function()
  local dir, pid, port
  lazy_setup(function()
    -- the shipped model without its tool list: a checkpoint the server prompts with its template
    dir = H.tmpdir()
    for _, f in ipairs { "config.json", "model.safetensors", "tokenizer.model", "chat_template.jinja" } do
      assert(os.execute(("cp %s %s/"):format(q(MODEL .. "/" .. f), q(dir))))
    end
    local p
    pid, p = spawn(dir, "", 300)
    assert(pid, "the server did not start: " .. tostring(p))
    port = p
  end)
  lazy_teardown(function()
    if pid then stop(pid, dir .. "/server.log") end
    if dir then H.rmdir(dir) end
  end)

  it("renders the messages with the template and gives the text model:generate gives", function()
    n_out = n_out + 1
    local out, body = dir .. "/out" .. n_out, dir .. "/body" .. n_out
    local messages = { { role = "user", content = "call mom" }, { role = "assistant", content = "Calling Mom." },
                       { role = "user", content = "thanks" } }
    H.write(body, mllm.json_encode({ messages = messages, max_tokens = 20, temperature = 0.5, seed = 3 }))
    local p = io.popen((CLIENT .. "curl -sS --max-time 60 -o %s -w '%%{http_code}' --data-binary @%s %s"):format(q(out),
      q(body), q("http://127.0.0.1:" .. port .. "/v1/chat/completions")))
    local code = p:read("a")
    p:close()
    assert.equal("200", code)
    local doc = mllm.json_decode(assert(read(out)))
    local model = assert(mllm.load(dir))
    local t = assert(mllm.load_chat_template(dir))
    local ids = t:encode(model, t:apply(messages, { add_generation_prompt = true }))
    local text = model:generate(ids, { max_tokens = 20, temperature = 0.5, seed = 3 })
    model:close()
    assert.equal(text, doc.choices[1].message.content)
    assert.equal(#ids, doc.usage.prompt_tokens)
  end)
end)

describe("mobilellm serve's command line", function()
  it("documents its flags, and refuses a wrong one", function()
    local code, out = H.cli({ "serve", "--help" })
    assert.equal(0, code)
    for _, flag in ipairs { "--host", "--port", "--parallel", "--ctx-size", "--threads" } do
      assert.is_truthy(out:find(flag, 1, true), flag)
    end
    local code2, _, err = H.cli({ "serve", MODEL, "--port", "70000" })
    assert.equal(2, code2)
    assert.matches("%-%-port must be in %[0, 65535%]", err)
  end)

  it("fails with a message when the port is taken", function()
    -- a second server on the port of a first: the bind fails, named
    local dir = H.tmpdir()
    local pid, port = spawn(dir, "", 120)
    assert(pid, "the server did not start: " .. tostring(port))
    local ok, e = pcall(function()
      assert.is_truthy(port)
      local code, _, err = H.cli({ "serve", MODEL, "--port", tostring(port) })
      assert.equal(1, code)
      assert.matches("cannot listen on 127%.0%.0%.1:" .. port, err)
    end)
    stop(pid, dir .. "/server.log")
    H.rmdir(dir)
    assert(ok, e)
  end)
end)
