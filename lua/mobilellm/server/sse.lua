--- Server-sent events, as OpenAI streams a chat completion: each chunk one `data: JSON` event,
-- the end `data: [DONE]`.
-- @module mobilellm.server.sse
local core = require("mobilellm.core")

local M = {}

--- The response headers of an event stream.
M.HEADERS = { { "Content-Type", "text/event-stream" }, { "Cache-Control", "no-cache" } }

--- One event carrying a value as JSON.
-- @param value a table (`core.json_encode`)
-- @treturn string
function M.event(value)
  return "data: " .. core.json_encode(value) .. "\n\n"
end

--- The event that ends the stream.
M.DONE = "data: [DONE]\n\n"

return M
