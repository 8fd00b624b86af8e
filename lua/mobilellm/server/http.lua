--- HTTP/1.1 for `mobilellm serve`: an incremental request reader with bounds, and responses.
--
-- The reader takes the bytes of one connection as they come and gives back the request once
-- it is whole: `{ method =, target =, path =, query =, version =, headers = { name = value },
-- body = }` (header names in lower case). It refuses, with an HTTP status and a message, what
-- the server does not take: a request line or header that is not HTTP, an HTTP version other
-- than 1.0 and 1.1 (505), headers past `MAX_HEADER_BYTES` or `MAX_HEADERS` (431), a body past
-- `MAX_BODY_BYTES` (413, known from Content-Length before the body is read), a body sent in
-- chunks (411: send Content-Length) and a malformed or repeated Content-Length (400). A
-- connection serves one request (every response says `Connection: close`), so the reader
-- stops at the first.
-- @module mobilellm.server.http
local limits = require("mobilellm.server.limits")

local M = {}

--- The reason phrase of each status the server sends.
M.REASONS = {
  [100] = "Continue", [200] = "OK", [400] = "Bad Request", [404] = "Not Found",
  [405] = "Method Not Allowed", [408] = "Request Timeout", [411] = "Length Required",
  [413] = "Content Too Large", [431] = "Request Header Fields Too Large",
  [500] = "Internal Server Error", [503] = "Service Unavailable", [505] = "HTTP Version Not Supported",
}

local TOKEN = "^[!#$%%&'*+%-.^_`|~%w]+$" -- a header name (RFC 9110's token)

local Reader = {}
Reader.__index = Reader

--- A reader for one connection's request.
-- @tparam[opt] table bounds `max_header_bytes`, `max_headers`, `max_body_bytes` (default:
--   `mobilellm.server.limits`)
function M.reader(bounds)
  bounds = bounds or {}
  return setmetatable({
    buf = "", head = nil, body_len = nil,
    max_header_bytes = bounds.max_header_bytes or limits.MAX_HEADER_BYTES,
    max_headers = bounds.max_headers or limits.MAX_HEADERS,
    max_body_bytes = bounds.max_body_bytes or limits.MAX_BODY_BYTES,
  }, Reader)
end

local function refuse(status, msg) return nil, status, msg end

-- The request line and headers of `text` (without the blank line): the head, or nil, status, message.
function Reader:parse_head(text)
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = line end
  local method, target, major, minor = lines[1]:match("^(%u+) (%S+) HTTP/(%d)%.(%d)$")
  if not method then return refuse(400, "malformed request line") end
  if major ~= "1" or (minor ~= "0" and minor ~= "1") then
    return refuse(505, "HTTP/" .. major .. "." .. minor .. " is not supported (HTTP/1.1 is)")
  end
  if #lines - 1 > self.max_headers then
    return refuse(431, string.format("more than %d header fields (MAX_HEADERS)", self.max_headers))
  end
  local headers = {}
  for i = 2, #lines do
    local name, value = lines[i]:match("^([^:]*):[ \t]*(.-)[ \t]*$")
    if not name or not name:match(TOKEN) then
      return refuse(400, "malformed header line " .. (i - 1))
    end
    if value:find("[%z\r\n]") then return refuse(400, "header '" .. name .. "' holds a control character") end
    name = name:lower()
    if headers[name] and name == "content-length" then return refuse(400, "Content-Length given twice") end
    headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
  end
  local path, query = target:match("^([^?#]*)%??([^#]*)")
  local head = { method = method, target = target, path = path, query = query, headers = headers,
                 version = "1." .. minor }
  if headers["transfer-encoding"] then
    return refuse(411, "a request body must come with Content-Length (Transfer-Encoding is not supported)")
  end
  local cl = headers["content-length"]
  if cl then
    if not cl:match("^%d+$") or #cl > 15 then return refuse(400, "malformed Content-Length '" .. cl .. "'") end
    self.body_len = tonumber(cl)
    if self.body_len > self.max_body_bytes then
      return refuse(413, string.format("the body is %d bytes, more than the limit of %d bytes (MAX_BODY_BYTES)",
        self.body_len, self.max_body_bytes))
    end
  else
    self.body_len = 0
  end
  return head
end

--- Takes the next bytes of the connection.
-- @tparam string data
-- @return the request when it is whole; nothing while more is needed; or nil, an HTTP status
--   and a message when the request is refused (the reader is then spent)
function Reader:feed(data)
  if self.failed or self.done then return nil end
  self.buf = self.buf .. data
  if not self.head then
    local s, e = self.buf:find("\r?\n\r?\n")
    if not s then
      if #self.buf > self.max_header_bytes then
        self.failed = true
        return refuse(431, string.format("the request line and headers exceed %d bytes (MAX_HEADER_BYTES)",
          self.max_header_bytes))
      end
      return nil
    end
    if s - 1 > self.max_header_bytes then
      self.failed = true
      return refuse(431, string.format("the request line and headers exceed %d bytes (MAX_HEADER_BYTES)",
        self.max_header_bytes))
    end
    local head, status, msg = self:parse_head(self.buf:sub(1, s - 1))
    if not head then
      self.failed = true
      return nil, status, msg
    end
    self.head = head
    self.buf = self.buf:sub(e + 1)
  end
  if #self.buf < self.body_len then return nil end
  self.done = true
  local req = self.head
  req.body = self.buf:sub(1, self.body_len)
  self.buf = ""
  return req
end

--- Whether the client waits for "100 Continue" before it sends the body (curl does for big ones).
function Reader:wants_continue()
  return self.head ~= nil and not self.done and (self.head.headers.expect or ""):lower() == "100-continue"
end

--- The date in the form HTTP wants.
function M.date()
  return os.date("!%a, %d %b %Y %H:%M:%S GMT")
end

--- A response's status line and headers (and the blank line after them).
-- @tparam integer status
-- @tparam table headers an array of `{ name, value }`
-- @tparam[opt] integer length the body's length (Content-Length), nil for a body that ends with the connection
function M.head(status, headers, length)
  local lines = { string.format("HTTP/1.1 %d %s", status, M.REASONS[status] or "Unknown"), "Date: " .. M.date(),
                  "Server: mobilellm", "Connection: close" }
  for _, h in ipairs(headers) do lines[#lines + 1] = h[1] .. ": " .. h[2] end
  if length then lines[#lines + 1] = "Content-Length: " .. length end
  return table.concat(lines, "\r\n") .. "\r\n\r\n"
end

--- A whole response.
-- @tparam integer status
-- @tparam table headers as for `head`
-- @tparam string body
function M.response(status, headers, body)
  return M.head(status, headers, #body) .. body
end

return M
