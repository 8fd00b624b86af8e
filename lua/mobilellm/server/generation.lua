--- One generation driven in small steps from the event loop, so that no request holds the loop
-- for long: the prompt is evaluated one batch (the session's `n_batch`, 64 by default) per step,
-- then each step samples and evaluates one token.
--
-- This is the one place that knows how generation advances: the rest of the server calls
-- `start`, `step`, `info` and `close`. The ids are evaluated in batches from the session's
-- position, which the caller puts at a whole number of batches (0, or past a prefix it kept), so
-- they are the batches `s:generate` would use from the prompt's first token, and the tokens are
-- sampled by `s:stream` from the logits of the last one: a request gives exactly the text of
-- `model:generate` for the same prompt, options and seed (batches cut elsewhere can change the
-- last bits of the logits, and then a sampled token).
-- @module mobilellm.server.generation
local M = {}

local Generation = {}
Generation.__index = Generation

--- Starts a generation on session `s` (positioned where the prompt goes).
-- @param s the session
-- @tparam table ids the prompt's token ids (at least one)
-- @tparam table gopts the options of `s:stream`
-- @tparam[opt=64] integer batch tokens evaluated per step of the prompt
-- @return the generation
function M.start(s, ids, gopts, batch)
  return setmetatable({ s = s, ids = ids, gopts = gopts, batch = batch or 64, fed = 0, done = false,
                        prompt_tokens = #ids }, Generation)
end

--- Advances by one step: a batch of the prompt, or one token.
-- @return the piece of text of this step (`""` while the prompt is evaluated) and its token id
--   (nil when none), and whether the generation has ended; or nil and a message when it failed
--   (the prompt does not fit, the model computed NaN)
function Generation:step()
  if self.done then return "", nil, true end
  local n = #self.ids
  if self.fed < n then
    local k = math.min(self.batch, n - self.fed)
    local ok, err = self.s:eval(table.move(self.ids, self.fed + 1, self.fed + k, 1, {}))
    if not ok then self.done = true return nil, err end
    self.fed = self.fed + k
    return "", nil, false
  end
  if not self.iter then
    local iter, e2, _, stream = self.s:stream({}, self.gopts)
    if not iter then self.done = true return nil, e2 end
    self.iter, self.stream = iter, stream
  end
  local ok, piece, id = pcall(self.iter)
  if not ok then self:close() return nil, tostring(piece) end
  if piece == nil then
    self:close()
    return "", nil, true
  end
  return piece, id, false
end

--- The generation's figures: `prompt_tokens`, `generated_tokens`, `stop` ("eos", "stop",
-- "length", "context"; nil before the first token).
function Generation:info()
  local info = self.stream and self.stream:info() or { generated_tokens = 0 }
  return { prompt_tokens = self.prompt_tokens, generated_tokens = info.generated_tokens, stop = info.stop }
end

--- Ends the generation now (the session is free again); idempotent.
function Generation:close()
  self.done = true
  if self.stream then
    self.final = self.stream:info()
    self.stream:close()
  end
end

return M
