--- The sessions of `mobilellm serve` (`--parallel N`, on one model) and the queue of the
-- requests waiting for one.
--
-- A task is an object with `begin(slot)` (start on a free slot: true, or nil and a message),
-- `step()` (advance a little: true while it has more to do) and `close()` (stop and let the
-- slot go; idempotent). `tick` steps every running task once, so N requests advance side by
-- side, a step each; a task that ends, fails or is cancelled frees its slot for the first
-- task in the queue.
-- @module mobilellm.server.slots
local M = {}

local Pool = {}
Pool.__index = Pool

--- A pool of `n` sessions of `model`.
-- @param model
-- @tparam integer n
-- @tparam table sopts the sessions' options (`n_ctx`, `kv_type`, `n_batch`)
-- @tparam integer max_queue the most tasks waiting
-- @return the pool, or nil and the engine's message
function M.new(model, n, sopts, max_queue)
  local pool = setmetatable({ slots = {}, queue = {}, max_queue = max_queue }, Pool)
  for i = 1, n do
    local s, err = model:session(sopts)
    if not s then
      pool:close()
      return nil, err
    end
    pool.slots[i] = { id = i, session = s, task = nil }
  end
  return pool
end

-- Starts task on slot; a task that cannot begin is closed and the slot stays free.
local function begin(slot, task)
  slot.task = task
  task.slot = slot
  local ok, started = pcall(task.begin, task, slot)
  if not ok or not started then
    slot.task, task.slot = nil, nil
    if not ok and task.crashed then task:crashed(started) end
    task:close()
    return false
  end
  return true
end

-- Gives free slots to waiting tasks.
function Pool:dispatch()
  for _, slot in ipairs(self.slots) do
    while not slot.task and #self.queue > 0 do
      begin(slot, table.remove(self.queue, 1))
    end
  end
end

--- Queues a task (it begins at once when a slot is free).
-- @return true, or nil and a message when the queue is full
function Pool:submit(task)
  if #self.queue >= self.max_queue then
    return nil, string.format("%d requests are waiting already (MAX_QUEUE)", self.max_queue)
  end
  self.queue[#self.queue + 1] = task
  self:dispatch()
  return true
end

--- Stops a task, running or waiting (its client went away); its slot goes to the next.
function Pool:cancel(task)
  for i, t in ipairs(self.queue) do
    if t == task then table.remove(self.queue, i) break end
  end
  local slot = task.slot
  if slot and slot.task == task then
    slot.task, task.slot = nil, nil
  end
  task:close()
  self:dispatch()
end

--- Whether any task runs.
function Pool:running()
  for _, slot in ipairs(self.slots) do
    if slot.task then return true end
  end
  return false
end

--- How many slots run a task, and how many tasks wait.
function Pool:counts()
  local busy = 0
  for _, slot in ipairs(self.slots) do
    if slot.task then busy = busy + 1 end
  end
  return busy, #self.queue
end

--- Steps every running task once; a task done frees its slot for the next in the queue.
function Pool:tick()
  for _, slot in ipairs(self.slots) do
    local task = slot.task
    if task then
      local ok, more = pcall(task.step, task)
      if not ok and task.crashed then task:crashed(more) end
      if not ok or not more then
        if slot.task == task then slot.task, task.slot = nil, nil end
        task:close()
      end
    end
  end
  self:dispatch()
end

--- Stops every task and frees the sessions.
function Pool:close()
  for _, t in ipairs(self.queue) do t:close() end
  self.queue = {}
  for _, slot in ipairs(self.slots) do
    if slot.task then slot.task:close() end
    slot.task = nil
    slot.session:close()
  end
end

return M
