--- Raw TCP clients on luv's loop, for what curl never does: a client that sends a byte at a
-- time, stops half-way, pipelines requests or leaves in the middle of an answer (the server's
-- specs, spec/97), and the bounded wait of tools/loadtest.lua. The loop is the one
-- `mobilellm.server` runs on, so a spec drives the server and its clients in one process with
-- `run_until`, every wait bounded.
local uv = require("luv")

local M = {}

local Client = {}
Client.__index = Client

--- Connects to 127.0.0.1:port; what the server sends collects in `client.data`, `client.eof`
-- becomes true when it closes (and `client.err` holds a read error).
function M.connect(port)
  local c = setmetatable({ tcp = uv.new_tcp(), data = "", eof = false, connected = false, timers = {} }, Client)
  c.tcp:connect("127.0.0.1", port, function(err)
    if err then
      c.err, c.eof = err, true
      return
    end
    c.connected = true
    c.tcp:read_start(function(rerr, chunk)
      if rerr then c.err = rerr end
      if rerr or not chunk then
        c.eof = true
        c:close()
      else
        c.data = c.data .. chunk
        if c.on_data then c:on_data(chunk) end
      end
    end)
  end)
  return c
end

--- Sends text (queued until the connection is made: luv queues writes on a connecting stream).
function Client:send(text)
  if self.closed then return end
  self.tcp:write(text, function() end)
end

--- Sends text one byte every `ms` milliseconds (a slow client); `done` is set once all is sent.
function Client:drip(text, ms)
  local i, t = 0, uv.new_timer()
  self.timers[#self.timers + 1] = t
  t:start(ms, ms, function()
    i = i + 1
    if self.closed or i > #text then
      t:stop()
      self.dripped = true
      return
    end
    self:send(text:sub(i, i))
  end)
end

--- Closes the connection (and its timers); idempotent.
function Client:close()
  if self.closed then return end
  self.closed = true
  for _, t in ipairs(self.timers) do
    if not t:is_closing() then t:close() end
  end
  if not self.tcp:is_closing() then self.tcp:close() end
end

--- Runs the loop until `cond()` is true or `seconds` have passed; returns whether `cond` held.
function M.run_until(cond, seconds)
  local met = false
  local check, guard = uv.new_timer(), uv.new_timer()
  check:start(5, 5, function()
    if cond() then
      met = true
      uv.stop()
    end
  end)
  guard:start(math.floor(seconds * 1000), 0, function() uv.stop() end)
  uv.run("default")
  check:close()
  guard:close()
  uv.run("nowait") -- their close callbacks
  return met
end

--- The whole responses at the start of `data`, in order: `{ status =, headers = { name = value },
-- body = }` (names in lower case); a response without Content-Length takes the rest (a stream
-- that ends with the connection). The bytes after the last whole one come second.
function M.responses(data)
  local out = {}
  while true do
    local s, e = data:find("\r\n\r\n", 1, true)
    if not s then break end
    local head = data:sub(1, s - 1)
    local status = tonumber(head:match("^HTTP/1%.1 (%d+)"))
    if not status then break end
    local headers = {}
    for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
    local len = tonumber(headers["content-length"])
    if status == 100 then
      data = data:sub(e + 1)
    else
      if not len then len = #data - e end
      if #data - e < len then break end
      out[#out + 1] = { status = status, headers = headers, body = data:sub(e + 1, e + len) }
      data = data:sub(e + len + 1)
    end
  end
  return out, data
end

--- A request's text: method, path, headers (an array of "Name: value") and a body (with its
-- Content-Length).
function M.request(method, path, headers, body)
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: 127.0.0.1" }
  for _, h in ipairs(headers or {}) do lines[#lines + 1] = h end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

return M
