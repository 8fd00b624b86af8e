--- HTTP/1.1 for `mobilellm serve`: an incremental request reader with bounds, and responses.
--
-- The reader takes the bytes of one connection as they come and gives back the request once
-- it is whole: `{ method =, target =, path =, query =, version =, headers = { name = value },
-- body = }` (header names in lower case). It refuses, with an HTTP status and a message, what
-- the server does not take: a request line or header that is not HTTP, an HTTP version other
-- than 1.0 and 1.1 (505), headers past `MAX_HEADER_BYTES` or `MAX_HEADERS` (431), a body past
-- `MAX_BODY_BYTES` (413, known from Content-Length before the body is read), a body sent in
-- chunks (411: send Content-Length) and a malformed or repeated Content-Length (400).
--
-- A connection may carry several requests in turn (HTTP/1.1 keep-alive, pipelined or not): the
-- reader keeps the bytes past a request for the next one, and `feed` gives the requests in the
-- order they came. After a refusal it is spent (the server closes the connection: what follows
-- cannot be framed).
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
    buf = "", head = nil, body_len = nil, failed = false,
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
-- @tparam string data (`""`: only look at what is held already, for a next pipelined request)
-- @return the next request when it is whole (bytes past it are kept for the one after);
--   nothing while more is needed; or nil, an HTTP status and a message when the request is
--   refused (the reader is then spent)
function Reader:feed(data)
  if self.failed then return nil end
  if data ~= "" then self.buf = self.buf .. data end
  if not self.head then
    -- empty lines before a request line are ignored (RFC 9112 2.2: some clients send one after a body)
    local blank = self.buf:match("^[\r\n]+")
    if blank then self.buf = self.buf:sub(#blank + 1) end
    local s, e = self.buf:find("\r?\n\r?\n")
    -- without the blank line yet, up to 3 bytes of it may be held: allowed, so that the same bytes
    -- are refused or taken whatever their split (fuzz/fuzz_http_request.c checks it)
    if (s and s - 1 or #self.buf - 3) > self.max_header_bytes then
      self.failed = true
      return refuse(431, string.format("the request line and headers exceed %d bytes (MAX_HEADER_BYTES)",
        self.max_header_bytes))
    end
    if not s then return nil end
    local head, status, msg = self:parse_head(self.buf:sub(1, s - 1))
    if not head then
      self.failed = true
      return nil, status, msg
    end
    self.head = head
    self.buf = self.buf:sub(e + 1)
  end
  if #self.buf < self.body_len then return nil end
  local req = self.head
  req.body = self.buf:sub(1, self.body_len)
  self.buf = self.buf:sub(self.body_len + 1)
  self.head, self.body_len = nil, nil
  return req
end

--- Keeps bytes for later without reading them (while the server answers the request before).
function Reader:push(data)
  if not self.failed then self.buf = self.buf .. data end
end

--- Bytes held that `feed` has not given back as a request.
function Reader:held()
  return #self.buf
end

--- Where the reader is: "idle" (no byte of a next request yet), "head" (the request line and
-- headers are coming) or "body" (they are read, the body is coming).
function Reader:phase()
  if self.head then return "body" end
  return self.buf:find("[^\r\n]") and "head" or "idle"
end

--- Whether the client waits for "100 Continue" before it sends the body (curl does for big ones).
function Reader:wants_continue()
  return self.head ~= nil and (self.head.headers.expect or ""):lower() == "100-continue"
end

--- Whether the connection stays open after the answer to `req` (RFC 9112 9.3): HTTP/1.1 unless
-- the client says `Connection: close`, HTTP/1.0 only when it says `Connection: keep-alive`.
function M.keep_alive(req)
  local tokens = {}
  for t in (req.headers.connection or ""):lower():gmatch("[^,%s]+") do tokens[t] = true end
  if tokens.close then return false end
  if req.version == "1.0" then return tokens["keep-alive"] == true end
  return true
end

--- The date in the form HTTP wants.
function M.date()
  return os.date("!%a, %d %b %Y %H:%M:%S GMT")
end

--- A response's status line and headers (and the blank line after them).
-- @tparam integer status
-- @tparam table headers an array of `{ name, value }`
-- @tparam[opt] integer length the body's length (Content-Length), nil for a body that ends with the connection
-- @tparam[opt] boolean keep whether the connection stays open for another request (`Connection:
--   keep-alive`; else `close`)
function M.head(status, headers, length, keep)
  local lines = { string.format("HTTP/1.1 %d %s", status, M.REASONS[status] or "Unknown"), "Date: " .. M.date(),
                  "Server: mobilellm", keep and "Connection: keep-alive" or "Connection: close" }
  for _, h in ipairs(headers) do lines[#lines + 1] = h[1] .. ": " .. h[2] end
  if length then lines[#lines + 1] = "Content-Length: " .. length end
  return table.concat(lines, "\r\n") .. "\r\n\r\n"
end

--- A whole response.
-- @tparam integer status
-- @tparam table headers as for `head`
-- @tparam string body
-- @tparam[opt] boolean keep as for `head`
function M.response(status, headers, body, keep)
  return M.head(status, headers, #body, keep) .. body
end

return M
