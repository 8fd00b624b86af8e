-- game_npc.lua — an NPC in a game loop. The player talks to a blacksmith; the model answers
-- by calling game functions (give_item, move_to, set_mood) through mobilellm.agent, with
-- constrained decoding so every call is one the game can run.
--
-- A frame must not block. `npc:update(budget)` is all a game loop calls; the NPC thinks in one
-- of three modes (opts.mode):
--   "step" (the default): each stretch of generation is a stepwise job (Session:start) that
--     job:step(budget) advances inside the frame, the prompt's prefill in chunks sized from the
--     measured speed, so no frame waits for a whole prompt; the NPC's coroutine yields between
--     steps.
--   "async": each stretch of generation is a job on a worker thread (the agent's async = true)
--     that each frame polls without blocking; the agent runs a call's tool once the stretch
--     that wrote it is done and feeds the result back, as in step mode.
--   "yield": the older way, the agent's on_token yields once the budget is spent (decoding only:
--     a line's prefill is one call, which stalls its frame).
--
--   lua5.4 examples/game_npc.lua [MODEL_DIR [DTYPE]]  a game loop in Lua (DTYPE: load as q4, q8, ...)
--   build/examples/host [MODEL_DIR]                 the same NPC inside a C host (make examples)
--
-- As a module (`dofile` or `require`), it returns { new = ..., TOOLS = ..., run_demo = ... };
-- the C host in examples/host/ uses it that way, with its own give_item and move_to.
if not os.getenv("LUA_PATH") then package.path = "lua/?.lua;lua/?/init.lua;" .. package.path end
if not os.getenv("LUA_CPATH") then package.cpath = "build/?.so;" .. package.cpath end

local mllm = require("mobilellm")
local core = require("mobilellm.core")
local tools = require("mobilellm.tools")
local agent = require("mobilellm.agent")

local M = {}

M.ITEMS = { "sword", "shield", "potion", "key", "map" }
M.PLACES = { "forge", "gate", "tavern", "well", "market" }
M.MOODS = { "friendly", "grumpy", "scared" }

--- The tools of the NPC, calling the functions of `game` (give_item(item, count), move_to(place),
-- and optionally set_mood(mood)).
function M.registry(game)
  return tools.registry {
    { name = "give_item", description = "Give the player an item.",
      params = { { name = "item", type = "enum", values = M.ITEMS, required = true },
                 { name = "count", type = "integer", min = 1, max = 3, default = 1 } },
      fn = function(args) return game.give_item(args.item, args.count) end },
    { name = "move_to", description = "Walk to a place.",
      params = { { name = "place", type = "enum", values = M.PLACES, required = true } },
      fn = function(args) return game.move_to(args.place) end },
    { name = "set_mood", description = "Change the NPC's mood.",
      params = { { name = "mood", type = "enum", values = M.MOODS, required = true } },
      fn = function(args) if game.set_mood then return game.set_mood(args.mood) end end },
  }
end

local NPC = {}
NPC.__index = NPC

M.MODES = { step = true, async = true, yield = true }

--- An NPC driven by `model`, acting through `game`.
-- @tparam table opts `name`, `clock` (seconds; default os.clock), `mode` ("step", the default,
--   "async" or "yield", see above), `call` ("required" forces a call per line, for untrained
--   weights), agent options (`max_tokens`, `max_steps`, ...)
function M.new(model, game, opts)
  opts = opts or {}
  local mode = opts.mode or "step"
  assert(M.MODES[mode], "mode must be \"step\", \"async\" or \"yield\"")
  local npc = setmetatable({ queue = {}, log = {}, clock = opts.clock or os.clock, name = opts.name or "Smith",
                             deadline = math.huge, tokens = 0, decode_s = 0, unit_s = 0, mode = mode, model = model,
                             max_tokens = opts.max_tokens or 48 }, NPC)
  local constrain = core.constraint ~= nil
  npc.agent = agent.new(model, {
    tools = M.registry(game),
    constrain = constrain,
    call = constrain and opts.call or nil,
    max_steps = opts.max_steps or 2,
    max_tokens = npc.max_tokens,
    max_string = 24,
    on_token = mode == "yield" and function()
      if npc.clock() >= npc.deadline then coroutine.yield("thinking") end
    end or nil,
    -- step mode: what is left of the frame's budget for this step, then back to the game
    step = mode == "step" and function(job)
      -- a step does at least one unit of work (a prompt token or a generated one): a frame
      -- that has worked already (a job ended in it, the next one starts) and has less left
      -- than one unit costs leaves it to the next frame
      local left = npc.deadline - npc.clock()
      if left <= 0 or (npc.worked and left < npc.unit_s) then coroutine.yield("thinking") end
      local text, done = job:step(math.max(0, npc.deadline - npc.clock()) * 1e3)
      npc.worked = true
      local info = job:info()  -- what one generated token costs, measured
      if info.generated_tokens > 0 then npc.unit_s = info.decode_seconds / info.generated_tokens end
      if text and not done then coroutine.yield("thinking") end
      return text, done
    end or mode == "async" and function(job)  -- async: one poll per frame, never a wait
      local text, done = job:poll()
      if text and not done then coroutine.yield("thinking") end
      return text, done
    end or nil,
    async = mode == "async" or nil,
    on_call = function(call) npc.log[#npc.log + 1] = "call " .. call.raw end,
  })
  -- the sessions (the tool list's prefill and the conversation's fork of it) are made now,
  -- while the game loads, not in the frame where the first line starts
  npc.conv = assert(npc.agent:conversation():prepare())
  return npc
end

--- The player says something; the NPC answers over the next frames.
function NPC:hear(text)
  self.queue[#self.queue + 1] = text
end

--- Advances the NPC by at most `budget` seconds of work (plus one token). Returns "idle",
-- "thinking", or "answered" and the agent's result for the line it finished.
function NPC:update(budget)
  self.deadline, self.worked = self.clock() + budget, false
  if not self.co then
    local line = table.remove(self.queue, 1)
    if not line then return "idle" end
    self.co = coroutine.create(function() return "answered", self.conv:send(line) end)
  end
  local ok, status, result = coroutine.resume(self.co)
  if not ok then
    self.co = nil
    error(status, 0)
  end
  if coroutine.status(self.co) == "dead" then
    self.co = nil
    if type(result) == "table" and result.info then  -- the cost of one decode step, measured
      self.decode_s = self.decode_s + result.info.decode_seconds
      self.tokens = self.tokens + result.info.generated_tokens
    end
    return status, result
  end
  return status
end

--- Frees the model's sessions.
function NPC:close()
  self.conv:close()
  self.agent:close()
end

--- A short scene: the player's lines at given frames, `npc:update(budget)` once per frame.
-- Returns a summary table. `print` receives every line of the log.
function M.run_demo(model, game, opts)
  opts = opts or {}
  local say = opts.print or print
  local npc = M.new(model, game, opts)
  local lines = opts.lines or {
    [1] = "Hello! Could you give me a sword? I have a long road ahead.",
    [40] = "Thanks. Meet me at the tavern tonight.",
  }
  local budget = opts.budget or 0.004
  -- frames are timed on the wall clock; opts.fps (none by default) paces the loop, as a game's
  -- vsync would (by spinning: Lua has no sleep), which an async job needs to make progress
  local wall, frame_s = core.clock, opts.fps and 1 / opts.fps
  local frame, busy, answered = 0, 0, 0
  local times = {}
  local last_line = 0
  for f in pairs(lines) do if f > last_line then last_line = f end end
  local next_frame = wall()
  while frame < (opts.max_frames or 100000) do
    frame = frame + 1
    if lines[frame] then
      say(string.format("[frame %4d] Player: %s", frame, lines[frame]))
      npc:hear(lines[frame])
    end
    local t0 = wall()
    local status, r = npc:update(budget)
    local dt = wall() - t0
    if status ~= "idle" then
      busy = busy + 1
      times[#times + 1] = dt
    end
    if status == "answered" then
      answered = answered + 1
      for _, c in ipairs(r.calls) do
        say(string.format("[frame %4d]   %s(%s) -> %s", frame, c.name or "?", c.raw and c.raw:match("%((.*)%)") or "",
          c.ok and tostring(c.result) or ("error: " .. tostring(c.error))))
      end
      say(string.format("[frame %4d] %s: %s", frame, npc.name, r.reply))
    end
    if status == "idle" and frame > last_line and #npc.queue == 0 then break end
    if frame_s then
      next_frame = next_frame + frame_s
      while wall() < next_frame do end
    end
  end
  table.sort(times)
  local function at(q) return #times > 0 and times[math.max(1, math.ceil(q * #times))] * 1e3 or 0 end
  local step_ms = npc.tokens > 0 and npc.decode_s / npc.tokens * 1e3 or nil
  local summary = { frames = frame, busy_frames = busy, answered = answered, tokens = npc.tokens,
                    max_frame_ms = at(1), p99_frame_ms = at(0.99), budget_ms = budget * 1e3, mode = npc.mode,
                    decode_step_ms = step_ms }
  say(string.format("%d frames, %d spent thinking (%d tokens); mode %s: worst frame %.2f ms, 99th percentile "
    .. "%.2f ms, for a budget of %.1f ms%s", summary.frames, summary.busy_frames, summary.tokens, npc.mode,
    summary.max_frame_ms, summary.p99_frame_ms, summary.budget_ms,
    step_ms and string.format("; one decode step %.2f ms (worst frame %.2fx)", step_ms, summary.max_frame_ms / step_ms)
      or ""))
  npc:close()
  return summary
end

-- Standalone: a game in Lua.
local function main(args)
  local dir = args[1] or "models/mobilellm-tiny-api"
  local trained = io.open(dir .. "/config.json") ~= nil
  if not trained then
    dir = "spec/fixtures/models/bf16-vocab32k"
    print("(the shipped model is not there yet: random weights, so every line is forced to be a call)")
  end
  local model = assert(mllm.load(dir, { threads = 1, dtype = args[2] }))
  local state = { inventory = {}, place = "forge" }
  local game = {
    give_item = function(item, count)
      state.inventory[item] = (state.inventory[item] or 0) + count
      return string.format("The player now has %d %s.", state.inventory[item], item)
    end,
    move_to = function(place)
      state.place = place
      return nil -- nothing to report: the NPC says it
    end,
  }
  print(tostring(model))
  -- the scene twice at 60 fps: stepwise jobs (the default), then async polling
  for _, mode in ipairs { "step", "async" } do
    print(("-- mode %s, 60 fps"):format(mode))
    M.run_demo(model, game, { call = not trained and "required" or nil, mode = mode, fps = 60 })
  end
  local inv = {}
  for k, v in pairs(state.inventory) do inv[#inv + 1] = v .. " " .. k end
  table.sort(inv)
  print("player inventory: " .. (#inv > 0 and table.concat(inv, ", ") or "empty") .. "; the NPC is at the "
    .. state.place)
end

if arg and arg[0] and arg[0]:find("game_npc%.lua$") then main(arg) end

return M
