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
-- The ids are evaluated in batches from the session's position, which the caller puts
-- at a whole number of batches (0, or past a prefix it kept), so they are the batches
-- `s:generate` would use from the prompt's first token: a request gives exactly the text of
-- `model:generate` for the same prompt, options and seed (batches cut elsewhere can change the
-- last bits of the logits, and then a sampled token).
-- @module mobilellm.server.generation
local M = {}

--- Milliseconds between two polls of the running jobs.
M.POLL_MS = 2

local Generation = {}
Generation.__index = Generation

--- Starts a generation on session `s` (positioned where the prompt goes).
-- @param s the session
-- @tparam table ids the prompt's token ids (at least one)
-- @tparam table gopts the options of `s:generate` (no `on_token`)
-- @return the generation, or nil and a message (the prompt does not fit the context)
function M.start(s, ids, gopts)
  local opts = { async = true }
  for k, v in pairs(gopts) do opts[k] = v end
  local job, err = s:start(ids, opts)
  if not job then return nil, err end
  return setmetatable({ job = job, done = false, prompt_tokens = #ids }, Generation)
end

--- Advances: the text made since the last step.
-- @return the text (`""` when nothing new) and whether the generation has ended; or nil and a
--   message when it failed (the model computed NaN)
function Generation:step()
  if self.done then return "", true end
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
  local info = self.final or self.job:info() -- final: once closed
  return { prompt_tokens = self.prompt_tokens, generated_tokens = info.generated_tokens, stop = info.stop }
end

--- Ends the generation now (cancelled if it runs; the session is free again); idempotent.
function Generation:close()
  if self.final then return end
  self.done = true
  self.job:cancel()
  self.final = self.job:info()
  self.job:close()
end

return M
