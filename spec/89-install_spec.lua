-- Installed, it still works (issue 36). `make install PREFIX=<tmp>` and `luarocks-5.4 make
-- --tree <tmp>` put every model directory in the package's data directory and tell the Lua
-- code where (a generated mobilellm/site.lua); the installed CLI and library then find the
-- shipped model by name. Each installed program runs from / in a clean environment (env -i:
-- PATH alone, and LUA_PATH/LUA_CPATH into the prefix only where a bare lua5.4 runs), so
-- nothing of the checkout can be picked up by accident. Then the rule by which a DIR or a
-- name is resolved ($MOBILELLM_MODELS, then the data directory), from the checkout.
local H = require("support.helpers")

local MODEL = "mobilellm-tiny-api"
local REPO = io.popen("pwd"):read("l")  -- busted runs from the checkout
local CLEAN_ENV = "env -i PATH=/usr/local/bin:/usr/bin:/bin"

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs `cmd` (a shell command line) from `dir` (default /) under a clean environment with
-- `vars` ("NAME=value ..." already quoted) added, `input` on its standard input, for at most
-- `seconds` (default 120); returns its exit status, standard output and standard error.
local function run(work, vars, cmd, input, dir, seconds)
  H.write(work .. "/in", input or "")
  local line = string.format("cd %s && timeout %d %s %s %s <%s >%s 2>%s", q(dir or "/"), seconds or 120, CLEAN_ENV,
    vars or "", cmd, q(work .. "/in"), q(work .. "/out"), q(work .. "/err"))
  local _, _, code = os.execute(line)
  return code, H.read(work .. "/out"), H.read(work .. "/err")
end

-- LUA_PATH and LUA_CPATH that reach only a Lua and a C module directory (no ";;": not even
-- the system's defaults).
local function lua_paths(luadir, libdir)
  return string.format("LUA_PATH=%s LUA_CPATH=%s", q(luadir .. "/?.lua;" .. luadir .. "/?/init.lua"),
    q(libdir .. "/?.so"))
end

-- The model directories of the checkout: models/NAME with a config.json.
local function shipped_models()
  local names = {}
  for name in io.popen("cd models && ls -1"):lines() do
    if io.open("models/" .. name .. "/config.json") then names[#names + 1] = name end
  end
  return names
end

-- Each way to install: `install(root, work)` installs under root and returns the installed
-- bin/mobilellm, the Lua and C module directories and the models directory.
local INSTALLS = {
  { "make install PREFIX=<tmp>", function(root, work)
      local prefix = root .. "/pre fix"  -- a space: every generated path must be quoted
      -- `all` is built (make test builds it first), so this only copies; a fresh clone's
      -- sanitizer run builds it here first, hence the time allowed
      local code, _, err = run(work, "HOME=" .. q(work), "make --no-print-directory -s install PREFIX=" .. q(prefix),
        nil, REPO, 900)
      assert(code == 0, "make install failed: " .. err)
      return prefix .. "/bin/mobilellm", prefix .. "/share/lua/5.4", prefix .. "/lib/lua/5.4",
        prefix .. "/share/mobilellm/models"
    end },
  { "luarocks-5.4 make --tree <tmp>", function(root, work)
      local tree = root .. "/tree"
      assert(os.execute("command -v luarocks-5.4 >/dev/null"), "luarocks-5.4 is missing: `make deps` installs it")
      -- PREFIX in the environment is the Makefile's default PREFIX: a rock must not write there
      -- (install-rock once put the C library and headers in /usr/local, outside the tree)
      local code, _, err = run(work, "HOME=" .. q(work) .. " PREFIX=" .. q(root .. "/outside"),
        "luarocks-5.4 make --tree " .. q(tree) .. " mobilellm-scm-1.rockspec", nil, REPO, 900)
      assert(code == 0, "luarocks-5.4 make failed: " .. err)
      -- the models stay in the rock's own directory, as its other files (doc/) do
      return tree .. "/bin/mobilellm", tree .. "/share/lua/5.4", tree .. "/lib/lua/5.4",
        tree .. "/lib/luarocks/rocks-5.4/mobilellm/scm-1/share/mobilellm/models"
    end },
}

for _, inst in ipairs(INSTALLS) do
  describe(inst[1], function()
    local root, work, bin, luadir, libdir, models

    setup(function()
      root, work = H.tmpdir(), H.tmpdir()
      bin, luadir, libdir, models = inst[2](root, work)
    end)

    teardown(function()
      H.rmdir(root)
      H.rmdir(work)
    end)

    it("writes nothing outside its directory", function()
      local p = io.popen("cd " .. q(root) .. " && ls -A")
      assert.are.equal(inst[1]:find("luarocks") and "tree\n" or "pre fix\n", p:read("a"))
      p:close()
    end)

    it("copies every model directory whole into the data directory", function()
      local names = shipped_models()
      assert.is_true(#names > 0)
      for _, name in ipairs(names) do
        local code, out = run(work, "", "diff -r " .. q("models/" .. name) .. " " .. q(models .. "/" .. name), nil, REPO)
        assert.are.equal(0, code, name .. " is not installed as it is in models/:\n" .. out)
      end
    end)

    it("runs `mobilellm agent " .. MODEL .. "` from /: the model found by name, with its tools", function()
      local code, out, err = run(work, "", q(bin) .. " agent " .. MODEL, "wake me at 7\n")
      assert.are.equal("", err)
      assert.are.equal(0, code)
      local call = out:match("^%[call%] (set_alarm%b())\n") or out:match("\n%[call%] (set_alarm%b())\n")
      assert.is_truthy(call, "no line '[call] set_alarm(...)' in:\n" .. out)
      -- valid: the engine's parser reads it as a set_alarm call with the time set
      local calls = require("mobilellm").parse_calls("<tool_call>" .. call .. "</tool_call>")
      assert.are.equal(1, #calls)
      assert.are.equal("set_alarm", calls[1].name)
      assert.matches("7", calls[1].args.time)
      assert.matches('\n%[result%] {[^\n]*"status":"done"[^\n]*"tool":"set_alarm"', out)
    end)

    it("lists the installed models with `mobilellm list`", function()
      local code, out, err = run(work, "", q(bin) .. " list")
      assert.are.equal("", err)
      assert.are.equal(0, code)
      for _, name in ipairs(shipped_models()) do
        assert.matches(name:gsub("%p", "%%%0") .. " +[^\n]+; [^\n]*tool", out)
        assert.is_truthy(out:find("\n +" .. (models .. "/" .. name):gsub("%p", "%%%0") .. "\n"), out)
      end
    end)

    it("loads the model by name from a Lua script run with the installed paths", function()
      local code, out, err = run(work, lua_paths(luadir, libdir), "lua5.4 -e " .. q(
        'local mllm = require("mobilellm") local m = assert(mllm.load("' .. MODEL .. '")) '
        .. 'io.write(package.searchpath("mobilellm", package.path), "\\n", m.config.dir, "\\n")'))
      assert.are.equal("", err)
      assert.are.equal(0, code)
      assert.are.equal(luadir .. "/mobilellm/init.lua\n" .. models .. "/" .. MODEL .. "\n", out)
    end)

    it("fails on an unknown name, naming it and the places searched", function()
      local code, out, err = run(work, "MOBILELLM_MODELS=/nonexistent-a:", q(bin) .. " run no-such-model hello")
      assert.are.equal(1, code)
      assert.are.equal("", out)
      assert.are.equal("mobilellm: no-such-model: no such directory, and no model of that name in /nonexistent-a, "
        .. models .. " ($MOBILELLM_MODELS, then the installed models)\n", err)
    end)
  end)
end

-- The rule, from the checkout: each case runs a Lua chunk in a child (so $MOBILELLM_MODELS and
-- the working directory are its own) with the checkout's modules, from `dir`.
describe("a model named without a path", function()
  local work
  before_each(function() work = H.tmpdir() end)
  after_each(function() H.rmdir(work) end)

  local CHECKOUT_PATHS = lua_paths(REPO .. "/lua", REPO .. "/build")
  local DATA = REPO .. "/models"  -- the checkout's data directory

  -- a fake model directory: find_model and models() need its config.json only
  local function fake_model(dir, model_type)
    assert(os.execute("mkdir -p " .. q(dir)))
    H.write(dir .. "/config.json", '{"model_type": "' .. model_type .. '", "num_hidden_layers": 2, "hidden_size": 8}')
  end

  local function lua(vars, chunk, dir)
    local code, out, err = run(work, CHECKOUT_PATHS .. " " .. vars, "lua5.4 -e " .. q(chunk), nil, dir)
    assert.are.equal("", err)
    assert.are.equal(0, code)
    return out
  end

  it("is found in the checkout's models/ beside lua/, whatever the working directory", function()
    assert.are.equal(DATA .. "/" .. MODEL .. "\n",
      lua("", 'print(require("mobilellm").find_model("' .. MODEL .. '"))'))
    assert.are.equal(DATA .. "/" .. MODEL .. "\n",
      lua("", 'print(require("mobilellm").find_model("' .. MODEL .. '"))', work))
  end)

  it("is looked up in $MOBILELLM_MODELS first, in order, then the data directory", function()
    fake_model(work .. "/a/only-a", "a")
    fake_model(work .. "/b/only-a", "b")
    fake_model(work .. "/b/" .. MODEL, "b")
    os.execute("mkdir -p " .. q(work .. "/a/no-config"))
    local vars = "MOBILELLM_MODELS=" .. q(work .. "/a::" .. work .. "/b")
    local out = lua(vars, [[
      local mllm = require("mobilellm")
      for _, n in ipairs({ "only-a", "]] .. MODEL .. [[", "no-config" }) do print(mllm.find_model(n)) end
      for _, m in ipairs(mllm.models()) do print(m.name, m.dir) end
      print(table.concat(mllm.model_search_path(), "|"))]])
    assert.are.equal(table.concat({
      work .. "/a/only-a", work .. "/b/" .. MODEL,
      "nil\tno-config: no such directory, and no model of that name in " .. work .. "/a, " .. work .. "/b, " .. DATA
        .. " ($MOBILELLM_MODELS, then the installed models)",
      -- each directory's models sorted by name; a name found before is left out
      "only-a\t" .. work .. "/a/only-a", MODEL .. "\t" .. work .. "/b/" .. MODEL,
      work .. "/a|" .. work .. "/b|" .. DATA, "" }, "\n"), out)
  end)

  it("is a path when something is there or it has a '/', never looked up", function()
    fake_model(work .. "/" .. MODEL, "local")
    fake_model(work .. "/elsewhere/" .. MODEL, "elsewhere")
    local vars = "MOBILELLM_MODELS=" .. q(work .. "/elsewhere")
    local out = lua(vars, [[
      local mllm = require("mobilellm")
      print(mllm.find_model("]] .. MODEL .. [["))      -- a directory here: used as given
      print(mllm.find_model("./]] .. MODEL .. [["))
      print(mllm.find_model("missing/]] .. MODEL .. [["))  -- a path that is not there: as given
      print(select("#", mllm.find_model("missing/x")))]], work)
    assert.are.equal(MODEL .. "\n./" .. MODEL .. "\nmissing/" .. MODEL .. "\n1\n", out)
  end)

  it("loads by name: config.dir is the directory found, and the CLI reads the companion files there", function()
    assert.are.equal(DATA .. "/" .. MODEL .. "\n", lua("", 'print(require("mobilellm").load("' .. MODEL
      .. '", { threads = 1 }).config.dir)', "/"))
    -- a copy found through $MOBILELLM_MODELS whose companion files are broken: the errors
    -- name them in the directory found (an unresolved name would look in ./mine, where
    -- nothing is, and the CLI would go on without them or fail differently)
    H.copy_dir("models/" .. MODEL, work .. "/m/mine")
    local vars = "MOBILELLM_MODELS=" .. q(work .. "/m")
    H.write(work .. "/m/mine/copy_pointer.json", "not json")
    local code, out, err = run(work, vars, q(REPO .. "/bin/mobilellm") .. " agent mine --copy --threads 1", "hi\n")
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.matches("^mobilellm: " .. (work .. "/m/mine/copy_pointer.json: "):gsub("%p", "%%%0"), err)
    H.write(work .. "/m/mine/apis.json", "not json")
    for _, cmd in ipairs({ "agent", "chat" }) do
      code, out, err = run(work, vars, q(REPO .. "/bin/mobilellm") .. " " .. cmd .. " mine --threads 1", "hi\n")
      assert.are.equal(1, code)
      assert.are.equal("", out)
      assert.matches("^mobilellm: " .. (work .. "/m/mine/apis.json: "):gsub("%p", "%%%0"), err)
    end
  end)

  it("is listed by `mobilellm list` from the checkout, and an unknown name fails before anything loads", function()
    fake_model(work .. "/m/tiny-fake", "fake")
    local vars = "MOBILELLM_MODELS=" .. q(work .. "/m")
    local code, out, err = run(work, vars, q(REPO .. "/bin/mobilellm") .. " list")
    assert.are.equal("", err)
    assert.are.equal(0, code)
    local n_tools = #assert(require("mobilellm.chat").load_apis("models/" .. MODEL .. "/apis.json"))
    local pad = (" "):rep(#MODEL + 2)
    assert.are.equal("tiny-fake" .. pad:sub(#"tiny-fake" + 1) .. "fake, 2 layers, dim 8; no tools\n"
      .. pad .. work .. "/m/tiny-fake\n"
      .. MODEL .. "  mobilellm, 8 layers (each run twice), dim 128, bfloat16; " .. n_tools .. " tools (apis.json)\n"
      .. pad .. DATA .. "/" .. MODEL .. "\n", out)
    code, out, err = run(work, vars, q(REPO .. "/bin/mobilellm") .. " list --json")
    assert.are.equal(0, code, err)
    local doc = require("mobilellm").json_decode(out)
    assert.are.same({ work .. "/m", DATA }, doc.searched)
    assert.are.same({ "tiny-fake", work .. "/m/tiny-fake", 0 }, { doc.models[1].name, doc.models[1].dir,
      doc.models[1].tools })
    assert.are.same({ MODEL, DATA .. "/" .. MODEL, n_tools }, { doc.models[2].name, doc.models[2].dir, doc.models[2].tools })
    code, out, err = run(work, "MOBILELLM_MODELS=", q(REPO .. "/bin/mobilellm") .. " info nothing-here")
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.matches("^mobilellm: nothing%-here: no such directory, and no model of that name in ", err)
  end)
end)
