-- Every path the Lua side reads (issue 34, the Lua half of spec/82): a tool list
-- (--apis, DIR/apis.json, tools.from_apis, agent.new's `tools`), copy_pointer.json, copy_rule.json,
-- an evaluation file, the files `mobilellm convert` copies, a prompt cache's text,
-- and the model directory the CLI checks before loading. Made a FIFO (io.open would
-- wait forever for a writer) or /dev/zero (read("a") would never end), each is
-- refused with a message naming the path and what it is. Every case runs in a child
-- lua5.4 under `timeout 10`, so a regression fails its case instead of hanging the
-- suite, and (outside the sanitizer run, whose shadow memory needs the address
-- space) under a 2 GiB address-space cap, so an endless read fails instead of
-- filling the machine's memory.
local chat = require("mobilellm.chat")
local tools = require("mobilellm.tools")
local H = require("support.helpers")

local SHIPPED = "models/mobilellm-tiny-api"  -- has apis.json and copy_pointer.json
local SMALL = H.FIXTURES .. "/f32-basic"     -- a small model with a tokenizer, for convert
local APIS = "models/mobilellm-tiny-api/apis.json"

local function sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function mkfifo(path)  -- in place of a file a copied model directory has
  os.remove(path)
  assert(os.execute("mkfifo " .. sh_quote(path)))
end

local function exists(path)
  return os.execute("test -e " .. sh_quote(path)) == true
end

local UNDER_ASAN = (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true) ~= nil
local MEMORY_CAP = UNDER_ASAN and "" or "ulimit -v 2097152; "

--- Runs `chunk` (Lua source) with arguments `args` in a child lua5.4, standard input empty;
-- returns its standard output, its standard error and how it ended (as io.popen's close).
local function in_child(work, chunk, args)
  local script = work .. "/child.lua"
  H.write(script, chunk)
  local quoted = {}
  for i, a in ipairs(args or {}) do quoted[i] = sh_quote(a) end
  local p = assert(io.popen(("%stimeout 10 lua5.4 %s %s </dev/null 2>%s"):format(MEMORY_CAP, sh_quote(script),
    table.concat(quoted, " "), sh_quote(work .. "/stderr"))))
  local out = p:read("a")
  local _, how, status = p:close()
  return out, H.read(work .. "/stderr"), how, status
end

local function assert_ended(how, status, what)
  assert(not (how == "exit" and status == 124), what .. " did not end within 10 s")
end

describe("the command line refuses a path that is not a regular file, without blocking", function()
  local work
  before_each(function() work = H.tmpdir() end)
  after_each(function() H.rmdir(work) end)

  -- { what, setup(work) -> argv, the fragment its one-line error has, [check(work) after] }
  local cases = {
    { "info DIR with DIR/config.json a FIFO", function(w)
        H.copy_dir(SHIPPED, w .. "/m")
        os.remove(w .. "/m/config.json")
        mkfifo(w .. "/m/config.json")
        return { "info", w .. "/m" }, w .. "/m/config.json: not a regular file (a FIFO)"
      end },
    { "info DIR where DIR is a FIFO", function(w)
        mkfifo(w .. "/m")
        return { "info", w .. "/m" }, w .. "/m: not a directory (a FIFO)"
      end },
    { "chat --apis naming a FIFO", function(w)
        mkfifo(w .. "/apis.json")
        return { "chat", SHIPPED, "--apis", w .. "/apis.json" }, w .. "/apis.json: not a regular file (a FIFO)"
      end },
    { "agent --apis /dev/zero", function()
        return { "agent", SHIPPED, "--apis", "/dev/zero" }, "/dev/zero: not a regular file (a character device)"
      end },
    { "agent with DIR/apis.json a FIFO", function(w)
        H.copy_dir(SHIPPED, w .. "/m")
        mkfifo(w .. "/m/apis.json")
        return { "agent", w .. "/m" }, w .. "/m/apis.json: not a regular file (a FIFO)"
      end },
    { "agent --copy with DIR/copy_pointer.json a FIFO", function(w)
        H.copy_dir(SHIPPED, w .. "/m")
        os.remove(w .. "/m/copy_pointer.json")
        mkfifo(w .. "/m/copy_pointer.json")
        return { "agent", w .. "/m", "--copy", "--apis", APIS, "--threads", "1" },
          w .. "/m/copy_pointer.json: not a regular file (a FIFO)"
      end },
    { "eval --data naming a FIFO", function(w)
        mkfifo(w .. "/test.jsonl")
        return { "eval", SHIPPED, "--data", w .. "/test.jsonl", "--threads", "1" },
          w .. "/test.jsonl: not a regular file (a FIFO)"
      end },
    { "eval --apis naming a FIFO", function(w)
        mkfifo(w .. "/apis.json")
        return { "eval", SHIPPED, "--apis", w .. "/apis.json", "--threads", "1" },
          w .. "/apis.json: not a regular file (a FIFO)"
      end },
    { "eval with DIR/apis.json a FIFO", function(w)
        H.copy_dir(SHIPPED, w .. "/m")
        mkfifo(w .. "/m/apis.json")
        return { "eval", w .. "/m", "--threads", "1" }, w .. "/m/apis.json: not a regular file (a FIFO)"
      end },
    { "convert with a companion file of DIR a FIFO", function(w)
        H.copy_dir(SMALL, w .. "/m")
        mkfifo(w .. "/m/generation_config.json")
        return { "convert", w .. "/m", w .. "/out", "--dtype", "f32" },
          w .. "/m/generation_config.json: not a regular file (a FIFO)"
      end, function(w) assert.is_false(exists(w .. "/out/model.safetensors")) end },
    { "convert with OUT/model.safetensors a FIFO", function(w)
        assert(os.execute("mkdir " .. sh_quote(w .. "/out")))
        mkfifo(w .. "/out/model.safetensors")
        return { "convert", SMALL, w .. "/out", "--dtype", "f32", "--force" },
          w .. "/out/model.safetensors: not a regular file (a FIFO)"
      end },
    { "convert with OUT/config.json a FIFO (the copy's destination)", function(w)
        assert(os.execute("mkdir " .. sh_quote(w .. "/out")))
        mkfifo(w .. "/out/config.json")
        return { "convert", SMALL, w .. "/out", "--dtype", "f32" }, w .. "/out/config.json: not a regular file (a FIFO)"
      end, function(w) assert.is_false(exists(w .. "/out/model.safetensors")) end },
  }
  for _, case in ipairs(cases) do
    local what, setup, check = case[1], case[2], case[3]
    it(what, function()
      local argv, want = setup(work)
      local out, err, how, status = in_child(work, 'os.exit(require("mobilellm.cli").main(arg), true)', argv)
      assert_ended(how, status, "mobilellm " .. table.concat(argv, " "))
      assert.are.equal(1, status, "stderr: " .. err)
      assert.are.equal("", out)
      assert.matches("^mobilellm: [^\n]*\n$", err)
      assert.matches(want, err, 1, true)
      if check then check(work) end
    end)
  end
end)

describe("the Lua modules refuse a path that is not a regular file, without blocking", function()
  local work
  before_each(function() work = H.tmpdir() end)
  after_each(function() H.rmdir(work) end)

  local PRELUDE = 'local mllm = require("mobilellm"); local chat = require("mobilellm.chat"); '
    .. 'local tools = require("mobilellm.tools"); local agent = require("mobilellm.agent"); '
    .. 'local eval = require("mobilellm.eval"); local w = arg[1]; '
    .. 'print(pcall(function() %s end))'

  -- { what, setup(work), the body of the call (`w` is the work directory), what it prints:
  --   "true\tnil\t" (nil, message) or "false\t" (raised), then the fragment of the message }
  local cases = {
    { "chat.load_apis on a FIFO", function(w) mkfifo(w .. "/apis.json") end,
      'return chat.load_apis(w .. "/apis.json")', "true\tnil\t", "%s/apis.json: not a regular file (a FIFO)" },
    { "chat.load_apis on /dev/zero", function() end,
      'return chat.load_apis("/dev/zero")', "true\tnil\t", "/dev/zero: not a regular file (a character device)" },
    { "tools.from_apis on a FIFO", function(w) mkfifo(w .. "/apis.json") end,
      'return tools.from_apis(w .. "/apis.json")', "true\tnil\t", "%s/apis.json: not a regular file (a FIFO)" },
    { "agent.new with tools naming a FIFO", function(w) mkfifo(w .. "/apis.json") end,
      'return agent.new({}, { tools = w .. "/apis.json" })', "false\t",
      "agent.new: %s/apis.json: not a regular file (a FIFO)" },
    { "chat.load_pointer on a model directory whose copy_pointer.json is a FIFO", function(w)
        H.copy_dir(SHIPPED, w .. "/m")
        os.remove(w .. "/m/copy_pointer.json")
        mkfifo(w .. "/m/copy_pointer.json")
      end, 'return chat.load_pointer(w .. "/m")', "true\tnil\t", "%s/m/copy_pointer.json: not a regular file (a FIFO)" },
    { "chat.load_copy_rule on a model directory whose copy_rule.json is a FIFO", function(w)
        H.copy_dir(SHIPPED, w .. "/m")
        os.remove(w .. "/m/copy_rule.json")
        mkfifo(w .. "/m/copy_rule.json")
      end, 'return chat.load_copy_rule(w .. "/m")', "true\tnil\t", "%s/m/copy_rule.json: not a regular file (a FIFO)" },
    { "eval.run with data naming a FIFO", function(w) mkfifo(w .. "/test.jsonl") end,
      ('return eval.run({ model = %q, data = w .. "/test.jsonl", threads = 1 })'):format(SHIPPED), "true\tnil\t",
      "%s/test.jsonl: not a regular file (a FIFO)" },
    { "eval.run with apis naming a FIFO", function(w) mkfifo(w .. "/apis.json") end,
      ('return eval.run({ model = %q, apis = w .. "/apis.json", threads = 1 })'):format(SHIPPED), "true\tnil\t",
      "%s/apis.json: not a regular file (a FIFO)" },
    { "an agent whose prompt_cache text file is a FIFO", function(w) mkfifo(w .. "/cache.txt") end,
      ('local a = agent.new(assert(mllm.load(%q, { threads = 1 })), { tools = %q, max_tokens = 2, '
        .. 'prompt_cache = w .. "/cache" }); return a:run("hi")'):format(SHIPPED, APIS), "false\t",
      "agent: prompt_cache: %s/cache.txt: not a regular file (a FIFO)" },
  }
  for _, case in ipairs(cases) do
    local what, setup, body, head, want = table.unpack(case)
    it(what, function()
      setup(work)
      want = want:gsub("%%s", function() return work end)
      local out, err, how, status = in_child(work, PRELUDE:format(body), { work })
      assert_ended(how, status, what)
      assert.are.equal(0, status, "stderr: " .. err)
      assert.are.equal(head, out:sub(1, #head), "printed: " .. out)
      assert.matches(want, out, 1, true)
    end)
  end
end)

describe("a file that is not there is still just absent", function()
  it("chat.load_pointer: nil and no message for a directory without copy_pointer.json", function()
    assert.are.same({}, { chat.load_pointer(SMALL) })
  end)

  it("tools.from_apis and chat.load_apis name a missing file", function()
    assert.are.same({ nil, "no.json: cannot open: No such file or directory" }, { tools.from_apis("no.json") })
    assert.are.same({ nil, "no.json: cannot open: No such file or directory" }, { chat.load_apis("no.json") })
  end)

  it("chat.is_missing tells a missing file from one that is there but unreadable", function()
    local dir = H.tmpdir()
    mkfifo(dir .. "/fifo")
    local cases = {
      { dir .. "/absent", true },
      { dir .. "/absent/deeper", true },
      { dir .. "/fifo/x", true },  -- a FIFO on the way: ENOTDIR, nothing can be there
      { dir .. "/fifo", false },
      { dir, false },
      { "/dev/zero", false },
    }
    for _, c in ipairs(cases) do
      local _, err = require("mobilellm").read_file(c[1], 0)
      assert.are.equal(c[2], chat.is_missing(err), c[1] .. ": " .. tostring(err))
    end
    H.rmdir(dir)
  end)

  it("a tool list over chat.MAX_APIS_BYTES is refused, naming the file and the limit", function()
    local dir = H.tmpdir()
    H.write(dir .. "/apis.json", '{"apis": []}' .. (" "):rep(chat.MAX_APIS_BYTES))
    local apis, err = chat.load_apis(dir .. "/apis.json")
    assert.is_nil(apis)
    assert.matches(dir .. "/apis.json: " .. (chat.MAX_APIS_BYTES + 12) .. " bytes, larger than the limit of "
      .. chat.MAX_APIS_BYTES .. " bytes", err, 1, true)
    H.rmdir(dir)
  end)
end)
