--- One generation, advanced from the event loop without holding it: the one place of the server
-- that knows how generation runs. The rest of the server calls `start`, `step`, `info` and
-- `close`.
--
-- The generation is an async job (`s:start(ids, { async = true })`): it runs on a worker
-- thread, prefill included, and `step` polls it (`job:poll()`, which never blocks) for the text
-- made since the last step; the loop steps the running requests every `POLL_MS` milliseconds and
-- otherwise waits for I/O. `close` cancels a job that still runs (it stops within one layer's
-- time) and joins its thread.
--
-- A build without jobs (`s.start` missing) gets the stepwise fallback on the loop's own thread:
-- a batch of the prompt per step, then one token per step (`s:eval`, then `s:stream`).
--
-- Either way the ids are evaluated in batches from the session's position, which the caller puts
-- at a whole number of batches (0, or past a prefix it kept), so they are the batches
-- `s:generate` would use from the prompt's first token: a request gives exactly the text of
-- `model:generate` for the same prompt, options and seed (batches cut elsewhere can change the
-- last bits of the logits, and then a sampled token).
-- @module mobilellm.server.generation
local M = {}

--- Milliseconds between two polls of the running jobs.
M.POLL_MS = 2

--- Whether generation runs on worker threads (the loop polls it: `POLL_MS`) rather than in
-- steps on the loop's thread (the loop steps it whenever it is idle).
-- @param s a session
function M.async(s)
  return type(s.start) == "function"
end

local Generation = {}
Generation.__index = Generation

--- Starts a generation on session `s` (positioned where the prompt goes).
-- @param s the session
-- @tparam table ids the prompt's token ids (at least one)
-- @tparam table gopts the options of `s:generate` (no `on_token`)
-- @tparam[opt=64] integer batch tokens evaluated per step of the prompt (the stepwise fallback)
-- @return the generation, or nil and a message (the prompt does not fit the context)
function M.start(s, ids, gopts, batch)
  local g = setmetatable({ s = s, ids = ids, gopts = gopts, batch = batch or 64, fed = 0, done = false,
                           prompt_tokens = #ids }, Generation)
  if M.async(s) then
    local opts = { async = true }
    for k, v in pairs(gopts) do opts[k] = v end
    local job, err = s:start(ids, opts)
    if not job then return nil, err end
    g.job = job
  end
  return g
end

-- The stepwise fallback: a batch of the prompt, or one token.
function Generation:step_here()
  local n = #self.ids
  if self.fed < n then
    local k = math.min(self.batch, n - self.fed)
    local ok, err = self.s:eval(table.move(self.ids, self.fed + 1, self.fed + k, 1, {}))
    if not ok then self.done = true return nil, err end
    self.fed = self.fed + k
    return "", false
  end
  if not self.iter then
    local iter, e2, _, stream = self.s:stream({}, self.gopts)
    if not iter then self.done = true return nil, e2 end
    self.iter, self.stream = iter, stream
  end
  local ok, piece = pcall(self.iter)
  if not ok then self:close() return nil, tostring(piece) end
  if piece == nil then
    self:close()
    return "", true
  end
  return piece, false
end

--- Advances: the text made since the last step.
-- @return the text (`""` when nothing new) and whether the generation has ended; or nil and a
--   message when it failed (the model computed NaN)
function Generation:step()
  if self.done then return "", true end
  if not self.job then return self:step_here() end
  local text, done = self.job:poll()
  if text == nil then
    self.done = true
    return nil, done
  end
  if done then self.done = true end
  return text, done
end

--- The generation's figures: `prompt_tokens`, `generated_tokens`, `stop` ("eos", "stop",
-- "length", "context", "cancelled"; nil before the end).
function Generation:info()
  local info = self.final -- once closed
  if not info then
    if self.job then info = self.job:info()
    else info = self.stream and self.stream:info() or { generated_tokens = 0 } end
  end
  return { prompt_tokens = self.prompt_tokens, generated_tokens = info.generated_tokens, stop = info.stop }
end

--- Ends the generation now (cancelled if it runs; the session is free again); idempotent.
function Generation:close()
  if self.final then return end
  self.done = true
  if self.job then
    self.job:cancel()
    self.final = self.job:info()
    self.job:close()
  elseif self.stream then
    self.final = self.stream:info()
    self.stream:close()
  else
    self.final = { generated_tokens = 0 }
  end
end

return M
