--- The bounds of `mobilellm serve`, in one place (as include/mobilellm_limits.h holds the
-- engine's): what a client can make the server hold or do. A request past one gets an error
-- that names the bound and its value (or, before a request is read, a closed connection).
-- A server takes other values of the bounds of its connections and queue (`server.new`'s
-- `limits`, the names in `mobilellm.server.PER_SERVER`), as the specs do to wait seconds, not tens.
-- @module mobilellm.server.limits
return {
  --- Bytes of a request's line and headers together (past it: 431).
  MAX_HEADER_BYTES = 16 * 1024,
  --- Header fields in one request (past it: 431).
  MAX_HEADERS = 64,
  --- Bytes of a request body (past it: 413). A long conversation of the shipped model's 512
  -- tokens is a few KiB; a big tool list a few tens.
  MAX_BODY_BYTES = 1024 * 1024,
  --- Messages in one chat completion request (past it: 400).
  MAX_MESSAGES = 256,
  --- Tools in one request (past it: 400).
  MAX_TOOLS = 64,
  --- Stop strings in one request, as OpenAI allows (past it: 400), and the bytes of one.
  MAX_STOP = 4,
  MAX_STOP_BYTES = 256,
  --- Bytes of a client's string (a field name, a role) an error message quotes (past it: cut, "...").
  MAX_QUOTE_BYTES = 64,
  --- Bytes of an error's message and `param` (past it: cut): whatever quotes a client's value.
  MAX_ERROR_BYTES = 1024,
  --- Requests waiting for a free session (past it: 503).
  MAX_QUEUE = 64,
  --- Open connections (past it a new one is closed at once).
  MAX_CONNECTIONS = 256,
  --- Seconds a client has, from the first byte of a request (of a new connection: from its
  -- opening), to send the request line and headers (past it: 408 and closed): a client sending
  -- a byte a second holds its connection no longer than this.
  HEADER_SECONDS = 10,
  --- Seconds a client has, once the headers are read, to send the body (past it: 408 and closed).
  BODY_SECONDS = 30,
  --- Seconds a kept-alive connection may wait, after an answer, for the first byte of its next
  -- request (past it: closed without a word, as a client that reuses a connection expects).
  IDLE_SECONDS = 5,
  --- Bytes a client may send ahead (pipelined requests) while its request is answered; past it
  -- the server stops reading the connection until the answer is written.
  MAX_PIPELINE_BYTES = 64 * 1024,
  --- Bytes of a response waiting in the kernel's and libuv's queues for a client that does not
  -- read: past it the client is dropped and its generation cancelled.
  MAX_WRITE_QUEUE = 4 * 1024 * 1024,
  --- Seconds a finished connection is drained (what the client still sends is read and
  -- dropped, so that closing does not reset a response it has not read) before it is closed.
  LINGER_SECONDS = 2,
}
