-- The documentation's code runs as pasted: every ```lua block of README.md and docs/api.md, in a
-- child lua5.4 from the repository root (the LUA_PATH the README gives) against the shipped
-- model, exits 0 with nothing on standard error, and a line `print(...)  -- TEXT` prints TEXT
-- (up to a "...", which stands for the rest). Every `bin/mobilellm ...` line of the README's
-- ```sh blocks runs too, its standard input empty, and exits 0. A block that is not meant to
-- run alone comes right after a line `<!-- not run: why -->`.
local H = require("support.helpers")

local DOCS = { "README.md", "docs/api.md" }
local LUA_PATH = "lua/?.lua;lua/?/init.lua;;"  -- as the README says to run scripts

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

--- The fenced code blocks of a Markdown text: `{ lang =, code =, line =, not_run = why }`,
-- `line` the number of its first line of code; `not_run` the reason of a `<!-- not run: why -->`
-- line right before the fence (blank lines between them allowed).
local function code_blocks(text)
  local blocks, block, marker = {}, nil, nil
  local n = 0
  for line in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if block then
      if line:match("^```%s*$") then
        block.code = table.concat(block.lines, "\n") .. "\n"
        block.lines = nil
        blocks[#blocks + 1] = block
        block = nil
      else
        block.lines[#block.lines + 1] = line
      end
    else
      local lang = line:match("^```(%w*)%s*$")
      if lang then
        block = { lang = lang, line = n + 1, lines = {}, not_run = marker }
        marker = nil
      elseif line:match("%S") then
        marker = line:match("^<!%-%- not run: (.-) %-%->%s*$")
      end
    end
  end
  assert(block == nil, "a code block that is never closed")
  return blocks
end

--- What the `print(...)  -- TEXT` lines of a Lua block say they print: TEXT, cut at a "...".
local function promised_prints(code)
  local t = {}
  for line in code:gmatch("[^\n]+") do
    local said = line:match("^%s*print%b()%s*%-%-%s*(.-)%s*$")
    if said then t[#t + 1] = (said:match("^(.-)%.%.%.") or said) end
  end
  return t
end

-- Runs a shell command from the repository root with the repository's modules; returns the
-- exit status, stdout and stderr.
local function run_sh(command)
  local dir = H.tmpdir()
  local cpath = os.getenv("LUA_CPATH") or "build/?.so;;"
  -- the command on a line of its own: a comment at its end stops at the newline
  local cmd = "export LUA_PATH=" .. sh_quote(LUA_PATH) .. " LUA_CPATH=" .. sh_quote(cpath) .. "; { "
    .. command .. "\n} >" .. dir .. "/out 2>" .. dir .. "/err </dev/null"
  local _, _, code = os.execute(cmd)
  local out, err = H.read(dir .. "/out"), H.read(dir .. "/err")
  H.rmdir(dir)
  return code, out, err
end

-- Runs a Lua block as a script of its own.
local function run_lua(code)
  local dir = H.tmpdir()
  H.write(dir .. "/block.lua", code)
  local status, out, err = run_sh("lua5.4 " .. dir .. "/block.lua")
  H.rmdir(dir)
  return status, out, err
end

describe("the documentation's code", function()
  describe("the block reader", function()
    it("finds fenced blocks, their language, their first line and a not-run mark", function()
      local md = table.concat({
        "# t", "```lua", "print(1)", "```", "",
        "<!-- not run: needs a phone -->", "", "```lua", "phone.ring()", "```",
        "text", "```sh", "bin/mobilellm --help", "```", "<!-- not run: x -->", "words", "```", "y", "```",
      }, "\n")
      local b = code_blocks(md)
      assert.are.same({
        { lang = "lua", line = 3, code = "print(1)\n" },
        { lang = "lua", line = 9, code = "phone.ring()\n", not_run = "needs a phone" },
        { lang = "sh", line = 13, code = "bin/mobilellm --help\n" },
        { lang = "", line = 18, code = "y\n" },  -- a mark counts only right before its block
      }, b)
    end)

    it("reads what print lines promise", function()
      assert.are.same({ "Hello", "mobilellm.Model (mobilellm, " },
        promised_prints('print(x)  -- Hello\nlocal y = 1 -- no\nprint(model)  -- mobilellm.Model (mobilellm, ...)\n'))
    end)

    -- the check can fail: a line that is not a statement, a failing call, a broken promise
    local bad = {
      { "local model = {}\nmodel.config\n", "syntax error" },
      { "assert(nil, 'no model here')\n", "no model here" },
    }
    for _, case in ipairs(bad) do
      it("sees a block that does not run: " .. case[1]:gsub("\n", " "), function()
        local status, _, err = run_lua(case[1])
        assert.are_not.equal(0, status)
        assert.matches(case[2], err, 1, true)
      end)
    end
  end)

  for _, doc in ipairs(DOCS) do
    local blocks = code_blocks(H.read(doc))
    local lua_blocks = 0
    for _, b in ipairs(blocks) do
      if b.lang == "lua" then
        lua_blocks = lua_blocks + 1
        if b.not_run then
          it(doc .. ":" .. b.line .. " is marked as not run, with a reason", function()
            assert.matches("%a", b.not_run)
          end)
        else
          it(doc .. ":" .. b.line .. " (Lua) runs as pasted", function()
            local status, out, err = run_lua(b.code)
            assert.are.equal(0, status, err)
            assert.are.equal("", err)
            for _, said in ipairs(promised_prints(b.code)) do
              assert.matches(said, out, 1, true)
            end
          end)
        end
      elseif b.lang == "sh" and doc == "README.md" and not b.not_run then
        for line in b.code:gmatch("[^\n]+") do
          if line:match("^bin/mobilellm ") then
            it(doc .. ":" .. b.line .. " runs: " .. line:gsub("%s+#.*", ""), function()
              local status, _, err = run_sh(line)
              assert.are.equal(0, status, err)
            end)
          end
        end
      end
    end
    it(doc .. " has Lua blocks to run", function()
      assert.is_true(lua_blocks > 0)
    end)
  end
end)
