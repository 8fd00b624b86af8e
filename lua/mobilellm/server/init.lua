--- `mobilellm serve`'s HTTP server: an OpenAI-compatible endpoint on the event loop of luv
-- (Debian's `lua-luv`, libuv), with `/v1/chat/completions`, `/v1/models` and `/health`.
--
--     local server = require("mobilellm.server")
--     local srv = assert(server.new(model, { dir = dir, name = "mobilellm-tiny-api", parallel = 2 }))
--     local host, port = assert(srv:listen("127.0.0.1", 8080))
--     srv:run()                                    -- until srv:close() or SIGINT/SIGTERM
--
-- The loop's thread reads, writes and accepts; generation runs on worker threads (async jobs,
-- `mobilellm.server.generation`), which a timer polls for new text, so a slow request never
-- stalls the loop or the others. A connection serves requests in turn (HTTP/1.1 keep-alive,
-- pipelined requests in order) until the client asks to close, an error, a streamed answer
-- (an event stream ends with its connection) or `IDLE_SECONDS` without a next request. A
-- client that goes away (its connection ends or fails) while its request waits or runs
-- cancels it, and the slot goes to the next request.
-- @module mobilellm.server
local uv = require("luv")
-- luv's loop lives as long as the first module table luv made: a host that unloads modules and
-- loads luv again (busted does between spec files) would get a module on a freed loop and crash
-- in uv_tcp_init_ex (luv 1.44, Debian 12; fixed upstream, luvit/luv#821). The registry keeps
-- that first table, so the loop stays.
do
  local reg = debug.getregistry()
  reg["mobilellm.server.luv"] = reg["mobilellm.server.luv"] or uv
end
local core = require("mobilellm.core")
local http = require("mobilellm.server.http")
local limits = require("mobilellm.server.limits")
local options = require("mobilellm.options")
local openai = require("mobilellm.server.openai")
local prompt = require("mobilellm.server.prompt")
local completion = require("mobilellm.server.completion")
local generation = require("mobilellm.server.generation")
local slots = require("mobilellm.server.slots")
local sse = require("mobilellm.server.sse")

local M = {}

local JSON = { { "Content-Type", "application/json" } }

local Server = {}
Server.__index = Server

local Conn = {}
Conn.__index = Conn

-- ------------------------------------------------------------ connections

--- The bounds a server takes other values of (`new`'s `limits`; the others hold for all).
M.PER_SERVER = { "MAX_QUEUE", "MAX_CONNECTIONS", "HEADER_SECONDS", "BODY_SECONDS", "IDLE_SECONDS",
                 "MAX_PIPELINE_BYTES", "MAX_WRITE_QUEUE", "LINGER_SECONDS" }

function Conn:write(data)
  if self.closed or self.shut then return end
  uv.write(self.tcp, data, function(err)
    if err then self:gone() end
  end)
  if uv.stream_get_write_queue_size(self.tcp) > self.limits.MAX_WRITE_QUEUE then self:gone() end
end

-- The client is gone (or stopped reading): its request is cancelled and the connection closed.
function Conn:gone()
  if self.task then
    local task = self.task
    self.task = nil
    self.server.cancelled = self.server.cancelled + 1
    self.server.pool:cancel(task)
  end
  self:close()
end

function Conn:close()
  if self.closed then return end
  self.closed = true
  self.server.conns[self] = nil
  self.server.n_conns = self.server.n_conns - 1
  if self.timer then
    self.timer:stop()
    self.timer:close()
  end
  if not self.tcp:is_closing() then self.tcp:close() end
end

-- The deadline of what the connection waits for: "head" (HEADER_SECONDS, then 408), "body"
-- (BODY_SECONDS, then 408), "idle" (IDLE_SECONDS, then closed without a word), "busy" (none:
-- the server answers). The clock starts when the phase begins, not at each byte.
function Conn:deadline(phase)
  if phase == self.phase then return end
  self.phase = phase
  self.timer:stop()
  if phase == "busy" then return end
  local L = self.limits
  local seconds = phase == "idle" and L.IDLE_SECONDS or phase == "head" and L.HEADER_SECONDS or L.BODY_SECONDS
  self.timer:start(math.floor(seconds * 1000), 0, function()
    if phase == "idle" then return self:close() end
    self.keep = false
    local what, name = "body", "BODY_SECONDS"
    if phase == "head" then what, name = "line and headers", "HEADER_SECONDS" end
    self:error(408, string.format("the request's %s did not arrive within %s seconds (%s)", what, seconds, name))
  end)
end

-- The answer is written. A kept-alive connection goes on with the next request (already
-- held, or to come within IDLE_SECONDS). Else the connection is shut down for writing, what
-- the client still sends is read and dropped for a little while (closing at once could
-- reset the response before the client reads it), then it is closed.
function Conn:finish()
  if self.closed or self.shut then return end
  self.task = nil
  self.busy = false
  if self.keep and not self.server.closed then
    self.continued = false
    if self.paused then
      self.paused = false
      self.tcp:read_start(function(err, data) self:on_read(err, data) end)
    end
    self:deadline("idle")
    if not self.pumping then self:pump("") end
    return
  end
  self.shut = true
  self.phase = nil
  uv.shutdown(self.tcp, function() end)
  self.timer:stop()
  self.timer:start(math.floor(self.limits.LINGER_SECONDS * 1000), 0, function() self:close() end)
end

function Conn:respond(status, body, headers)
  self:write(http.response(status, headers or JSON, body, self.keep))
  self:finish()
end

function Conn:error(status, message, param, headers)
  local h = { JSON[1] }
  for _, x in ipairs(headers or {}) do h[#h + 1] = x end
  self:respond(status, openai.error_body(status, message, param), h)
end

-- Reads and answers the requests held (and `data`), in order, until one is not whole yet or
-- an answer is under way (it comes back here when written). A loop, not a recursion: a
-- client's many pipelined requests that are answered at once do not deepen the stack.
function Conn:pump(data)
  self.pumping = true
  while not (self.closed or self.shut or self.busy) do
    local req, status, msg = self.reader:feed(data)
    data = ""
    if status then -- the request cannot be framed: answered, and the connection closed
      self.keep = false
      self.busy = true
      self:error(status, msg)
      break
    end
    if not req then
      local phase = self.reader:phase()
      if phase ~= "idle" then self:deadline(phase) end
      if self.reader:wants_continue() and not self.continued then
        self.continued = true
        self:write("HTTP/1.1 100 Continue\r\n\r\n")
      end
      break
    end
    self.busy = true
    self.continued = false
    self.keep = http.keep_alive(req)
    self:deadline("busy")
    local ok, e = pcall(self.server.route, self.server, self, req)
    if not ok and not self.closed and self.busy then self:error(500, "internal error: " .. tostring(e)) end
  end
  self.pumping = false
end

function Conn:on_read(err, data)
  if self.closed then return end
  if err or not data then
    self:gone()
    return
  end
  if self.shut then return end -- lingering: later bytes are dropped
  if self.busy then -- the next request, pipelined: held until this answer is written
    self.reader:push(data)
    if self.reader:held() > self.limits.MAX_PIPELINE_BYTES and not self.paused then
      self.paused = true
      self.tcp:read_stop()
    end
    return
  end
  self:pump(data)
end

-- ------------------------------------------------------------ the server

--- A server for a loaded model.
-- @param model the model (`mllm.load`)
-- @tparam table opts `dir` (its directory: companion files, the decoding), `name` (the model's
--   id in the API), `template` (a chat template, `mobilellm.chat_template`: the prompt format of a
--   checkpoint that is not tool-calling; nil: `mobilellm.chat`'s), `parallel` (sessions, 1),
--   `n_ctx`, `kv_type`, `batch` (the sessions' n_batch: prompt tokens per forward pass, 64),
--   `max_tokens` (a request's default, 256), `limits` (other values of the bounds in `PER_SERVER`,
--   by name: `{ HEADER_SECONDS = 1 }`)
-- @return the server, or nil and a message
function M.new(model, opts)
  options.check(opts, { "dir", "name", "template", "parallel", "n_ctx", "kv_type", "batch", "max_tokens", "limits" },
    "server.new")
  local bounds = {}
  for _, k in ipairs(M.PER_SERVER) do bounds[k] = limits[k] end
  for k, v in pairs(options.check(opts.limits, M.PER_SERVER, "server.new limits")) do
    if type(v) ~= "number" or v ~= v or v <= 0 then
      error(string.format("server.new limits: %s must be a positive number, got %s", k, tostring(v)), 2)
    end
    bounds[k] = v
  end
  local pool, err = slots.new(model, opts.parallel or 1, { n_ctx = opts.n_ctx, kv_type = opts.kv_type,
                                                           n_batch = opts.batch }, bounds.MAX_QUEUE)
  if not pool then return nil, err end
  local n_ctx = pool.slots[1].session:n_ctx()
  local self = setmetatable({
    model = model, pool = pool, conns = {}, n_conns = 0, n_ctx = n_ctx, cancelled = 0, limits = bounds,
    app = { model = model, dir = opts.dir, name = opts.name or "mobilellm", template = opts.template,
            batch = opts.batch or 64, created = os.time() },
    max_tokens = math.min(opts.max_tokens or 256, n_ctx),
  }, Server)
  self.routes = {
    ["/health"] = { GET = self.health },
    ["/v1/models"] = { GET = self.models },
    ["/v1/chat/completions"] = { POST = self.chat_completions },
  }
  return self
end

--- Listens on host:port (port 0: a free one).
-- @return the host and the port bound, or nil and a message
function Server:listen(host, port)
  local tcp = uv.new_tcp()
  local ok, err = tcp:bind(host, port)
  if ok then ok, err = tcp:listen(128, function(lerr) if not lerr then self:accept() end end) end
  if not ok then
    tcp:close()
    return nil, string.format("cannot listen on %s:%d: %s", host, port, tostring(err))
  end
  self.tcp = tcp
  local name = tcp:getsockname()
  self.ticker = uv.new_timer()
  return name.ip, name.port
end

function Server:accept()
  local tcp = uv.new_tcp()
  if not self.tcp:accept(tcp) then tcp:close() return end
  if self.n_conns >= self.limits.MAX_CONNECTIONS then tcp:close() return end
  local conn = setmetatable({ tcp = tcp, server = self, reader = http.reader(), timer = uv.new_timer(),
                              limits = self.limits }, Conn)
  self.conns[conn] = true
  self.n_conns = self.n_conns + 1
  conn:deadline("head")
  tcp:read_start(function(err, data) conn:on_read(err, data) end)
end

-- Polls the running requests' jobs (on worker threads) every POLL_MS while there are any.
function Server:kick()
  if self.ticker:is_active() then return end
  self.ticker:start(generation.POLL_MS, generation.POLL_MS, function()
    self.pool:tick()
    if not self.pool:running() then self.ticker:stop() end
  end)
end

function Server:route(conn, req)
  local route = self.routes[req.path]
  if not route then
    return conn:error(404, "no such endpoint: " .. req.method .. " " .. req.path
      .. " (POST /v1/chat/completions, GET /v1/models, GET /health)")
  end
  local handler = route[req.method]
  if not handler then
    local allowed = {}
    for m in pairs(route) do allowed[#allowed + 1] = m end
    table.sort(allowed)
    return conn:error(405, req.method .. " is not allowed on " .. req.path .. " (" .. table.concat(allowed, ", ")
      .. ")", nil, { { "Allow", table.concat(allowed, ", ") } })
  end
  return handler(self, conn, req)
end

function Server:health(conn)
  local busy, queued = self.pool:counts()
  conn:respond(200, core.json_encode({ status = "ok", slots_idle = #self.pool.slots - busy,
                                       slots_processing = busy, requests_queued = queued,
                                       requests_cancelled = self.cancelled }))
end

function Server:models(conn)
  conn:respond(200, core.json_encode({ object = "list", data = {
    { id = self.app.name, object = "model", created = self.app.created, owned_by = "mobilellm" } } }))
end

-- The prompt of a request: `{ ids, stop, registry, apis, chat_messages, partial }`; raises
-- `{ param =, message = }` for a request the model's format cannot take.
function Server:plan(req)
  local app, model = self.app, self.model
  local reg, apis = nil, {}
  if req.tools and req.tool_choice ~= "none" then
    reg = prompt.registry(req.tools, req.tool_choice)
    apis = reg:apis()
  end
  local plan = { registry = reg, apis = apis, stop = {} }
  local ok, ids
  if app.template then
    local msgs = prompt.template_messages(req.messages)
    local rok, text = pcall(app.template.apply, app.template, msgs,
      { add_generation_prompt = true, tools = reg and req.tools or nil })
    if not rok then error({ param = "messages", message = "the chat template refused the conversation: "
      .. tostring(text) }, 0) end
    ok, ids = pcall(app.template.encode, app.template, model, text)
  else
    local text
    text, plan.chat_messages, plan.partial = prompt.chat_format(req.messages, apis)
    plan.stop[1] = "\n" -- an answer is one line
    ok, ids = pcall(model.tokenize, model, text, { bos = true })
  end
  if not ok then error({ param = "messages", message = "the messages cannot be tokenized: "
    .. tostring(ids):gsub("^[^\n]-%.lua:%d+: ", "") }, 0) end
  for _, s in ipairs(req.stop or {}) do plan.stop[#plan.stop + 1] = s end
  if #ids >= self.n_ctx then
    error({ param = "messages", message = string.format("the prompt is %d tokens: the context holds %d "
      .. "(--ctx-size), and the answer needs at least one", #ids, self.n_ctx) }, 0)
  end
  plan.ids = ids
  return plan
end

-- The sink of a request's answer on its connection (`mobilellm.server.completion`).
function Server:sink(conn, req)
  local meta = { id = openai.new_id("chatcmpl-"), created = os.time(), model = self.app.name }
  local started = false
  local sink = {}
  function sink.start()
    if not req.stream then return end
    started = true
    conn.keep = false -- an event stream ends with its connection
    conn:write(http.head(200, sse.HEADERS) .. sse.event(openai.chunk(meta, { role = "assistant", content = "" })))
  end
  function sink.delta(delta)
    conn:write(sse.event(openai.chunk(meta, delta)))
  end
  function sink.finish(r)
    if req.stream then
      local out = { sse.event(openai.chunk(meta, {}, r.finish_reason)) }
      if req.include_usage then out[2] = sse.event(openai.usage_chunk(meta, r.usage)) end
      out[#out + 1] = sse.DONE
      conn:write(table.concat(out))
      conn:finish()
    else
      meta.content, meta.calls, meta.finish_reason, meta.usage = r.content, r.calls, r.finish_reason, r.usage
      conn:respond(200, core.json_encode(openai.completion(meta)))
    end
  end
  function sink.fail(status, message)
    if started then -- the stream's head is gone: the error is its last event
      conn:write(sse.event({ error = { message = message, type = "server_error", param = core.null,
                                       code = core.null } }) .. sse.DONE)
      conn:finish()
    else
      conn:error(status, message)
    end
  end
  return sink
end

function Server:chat_completions(conn, req)
  local pok, doc, jerr = pcall(core.json_decode, req.body)
  if not pok then return conn:error(400, "the request body is not JSON the server takes: " .. tostring(doc)) end
  if doc == nil then return conn:error(400, "the request body is not valid JSON: " .. tostring(jerr)) end
  local r, e = openai.read_request(doc, { max_tokens_limit = self.n_ctx, max_tokens = self.max_tokens })
  if not r then return conn:error(400, e.message, e.param) end
  local ok, plan = pcall(self.plan, self, r)
  if not ok then
    if type(plan) == "table" then return conn:error(400, plan.message, plan.param) end
    error(plan, 0)
  end
  local task = completion.new(self.app, r, plan, self:sink(conn, r))
  conn.task = task
  local queued, qerr = self.pool:submit(task)
  if not queued then
    conn.task = nil
    return conn:error(503, "the server is busy: " .. qerr, nil, { { "Retry-After", "1" } })
  end
  self:kick()
end

--- Runs the loop until `close` (SIGINT and SIGTERM close the server).
function Server:run()
  local signals = {}
  for _, name in ipairs { "sigint", "sigterm" } do
    local sig = uv.new_signal()
    sig:start(name, function() self:close() end)
    signals[#signals + 1] = sig
  end
  self.signals = signals
  self.running = true
  uv.run("default")
  self.running = false
  uv.run("default") -- the close callbacks of what close() closed
end

--- Stops listening, drops the connections, stops the requests and frees the sessions.
function Server:close()
  if self.closed then return end
  self.closed = true
  for conn in pairs(self.conns) do conn:close() end
  self.pool:close()
  if self.ticker and not self.ticker:is_closing() then self.ticker:close() end
  if self.tcp and not self.tcp:is_closing() then self.tcp:close() end
  for _, sig in ipairs(self.signals or {}) do sig:close() end
  if self.running then
    uv.stop()
  else -- never ran, or ran to its end: let the handles finish closing now, while Lua still holds them
    uv.run("default")
  end
end

return M
