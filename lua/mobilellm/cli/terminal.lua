--- The input side of `chat` and `agent`: where their lines come from, and what is
-- taken out of a line before it becomes a turn.
--
-- On a terminal (standard input and output both terminals, and the module
-- `mobilellm.lineedit` there: it is built on libedit) a line is read with editing
-- (arrow keys, Ctrl-A/Ctrl-E/Ctrl-K, the history with Up/Down), and Ctrl-C at the
-- prompt ends the read ("interrupted"). Anywhere else, plain reads from `ctx.inp`.
--
-- The history is kept in a file (`history_path`) unless `MOBILELLM_HISTORY` is `0`
-- or empty; it holds at most MLLM_MAX_HISTORY_LINES lines.
-- @module mobilellm.cli.terminal
local M = {}

-- ------------------------------------------------------------ cleaning

-- Escape sequences a terminal sends or a paste carries: CSI (ESC [ ... final byte),
-- OSC/DCS/PM/APC strings (ESC ] ... ended by BEL or ESC \), SS3 (ESC O + one byte: F1-F4,
-- the keypad), then any other ESC + one byte (Alt + a key).
local function strip_escapes(s)
  s = s:gsub("\27%[[\48-\63]*[\32-\47]*[\64-\126]?", "")
  s = s:gsub("\27[%]P%^_][^\7\27]*\7", ""):gsub("\27[%]P%^_][^\7\27]*\27\\", "")
  s = s:gsub("\27[%]P%^_][^\7\27]*$", "")
  s = s:gsub("\27O.?", ""):gsub("\27.?", "")
  -- C1 controls written as UTF-8 (U+0080..U+009F; U+009B is an 8-bit CSI)
  s = s:gsub("\194\155[\48-\63]*[\32-\47]*[\64-\126]?", ""):gsub("\194[\128-\159]", "")
  return s
end

--- A line as the model may see it: escape sequences removed, then every control
-- character (C0 but tab, DEL, C1) removed; tab stays (it is text: a pasted table,
-- code). Leading and trailing white space is trimmed.
-- @tparam string line
-- @treturn string
function M.clean(line)
  line = strip_escapes(line)
  line = line:gsub("[\0-\8\10-\31\127]", "")
  return (line:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- ------------------------------------------------------------ the history file

--- Where the history of the prompts is kept: `$MOBILELLM_HISTORY` when set (`0` or
-- empty: nowhere), else `$XDG_STATE_HOME/mobilellm/history`, else
-- `~/.local/state/mobilellm/history`; nil when there is no such place.
-- @tparam function getenv
-- @treturn ?string
function M.history_path(getenv)
  local set = getenv("MOBILELLM_HISTORY")
  if set ~= nil then
    if set == "" or set == "0" then return nil end
    return set
  end
  local state = getenv("XDG_STATE_HOME")
  if state and state:sub(1, 1) == "/" then return state .. "/mobilellm/history" end
  local home = getenv("HOME")
  if home and home ~= "" then return home .. "/.local/state/mobilellm/history" end
  return nil
end

-- ------------------------------------------------------------ readers

local Plain = {}
Plain.__index = Plain

function Plain:read()
  local line = self.inp:read("l")
  if line == nil then return nil, "eof" end
  return line
end

function Plain.add() end
function Plain.close() end

local Edited = {}
Edited.__index = Edited

function Edited:read(prompt)
  return self.ed:read(prompt)
end

function Edited:add(line)
  self.ed:add(line)
end

-- Saves the history (a failure is told once on stderr: the chat itself went well).
function Edited:close()
  if not self.ed then return end
  if self.path then
    local ok, err = self.ed:save(self.path)
    if not ok then self.ctx.err:write("mobilellm: history not saved: ", err, "\n") end
  end
  self.ed:close()
  self.ed = nil
end

--- The reader of a chat or agent loop: `reader:read(prompt)` returns a line, or nil and
-- "eof" or "interrupted" (Ctrl-C at the prompt: only when editing); `reader:add(line)`
-- adds to the history; `reader:close()` saves it. `reader.editing` is true when lines
-- are edited (then the reader writes the prompt itself).
-- @tparam table ctx the run's context: lines are edited when `ctx.interactive`, `ctx.inp`
--   is the process's standard input and mobilellm.lineedit loads
-- @tparam[opt] function getenv
function M.reader(ctx, getenv)
  getenv = getenv or os.getenv
  if ctx.interactive and ctx.inp == io.stdin and getenv("MOBILELLM_LINEEDIT") ~= "0" then
    local found, le = pcall(require, "mobilellm.lineedit")
    local ed = found and le.open("mobilellm")
    if ed then
      local path = M.history_path(getenv)
      if path then ed:load(path) end  -- none yet, or unreadable: start empty
      return setmetatable({ ed = ed, path = path, ctx = ctx, editing = true }, Edited)
    end
  end
  return setmetatable({ inp = ctx.inp, editing = false }, Plain)
end

return M
