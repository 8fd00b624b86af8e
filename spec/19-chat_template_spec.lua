-- A checkpoint's own chat template: model:apply_chat_template on fixture directories whose
-- tokenizer_config.json or chat_template.jinja carry the templates of spec/fixtures/jinja/,
-- compared with what jinja2 rendered for them (golden.json); where the template comes from,
-- its options, and the directories that have none or a bad one.
local mllm = require("mobilellm")
local H = require("support.helpers")

local MODEL = H.FIXTURES .. "/bf16-vocab32k"  -- a random-weights model with a tokenizer
local JINJA = "spec/fixtures/jinja/"

local golden = assert(mllm.json_decode(H.read(JINJA .. "golden.json")))

-- jinja2's output for a template and variable set, and that set.
local function golden_case(template, n)
  local vars = assert(mllm.json_decode(H.read(JINJA .. template .. ".json")))[n]
  for _, c in ipairs(golden.cases) do
    if c.template == template and c.vars == n then return c, vars end
  end
  error("no golden case " .. template .. " " .. n)
end

-- A model directory: the fixture's files, plus `files` (name -> text).
local function model_dir(files)
  local dir = H.tmpdir()
  for _, f in ipairs({ "config.json", "model.safetensors", "tokenizer.model" }) do
    assert(os.execute(("cp '%s/%s' '%s/'"):format(MODEL, f, dir)))
  end
  for name, text in pairs(files) do H.write(dir .. "/" .. name, text) end
  return dir
end

local function load(dir) return assert(mllm.load(dir, { threads = 1 })) end

describe("chat templates", function()
  local dirs = {}
  local function fixture(files)
    local d = model_dir(files)
    dirs[#dirs + 1] = d
    return d
  end
  teardown(function() for _, d in ipairs(dirs) do H.rmdir(d) end end)

  describe("model:apply_chat_template", function()
    local llama3 = H.read(JINJA .. "llama3_tools.jinja")
    local dir = fixture({ ["tokenizer_config.json"] = mllm.json_encode({
      chat_template = llama3,
      bos_token = { __type = "AddedToken", content = "<|begin_of_text|>", lstrip = false },
      eos_token = "<|eot_id|>",
    }) })
    local model = load(dir)

    it("renders tokenizer_config.json's template as jinja2 does, with tools", function()
      local case, vars = golden_case("llama3_tools", 2)
      local text = model:apply_chat_template(vars.messages, { tools = vars.tools, add_generation_prompt = true,
                                                              vars = { date_string = vars.date_string } })
      assert.are.equal(case.output, text)
    end)

    it("takes bos_token from an AddedToken object and leaves add_generation_prompt off by default", function()
      local case, vars = golden_case("llama3_tools", 1)
      local text = model:apply_chat_template(vars.messages, { vars = { date_string = vars.date_string } })
      local opening = "<|start_header_id|>assistant<|end_header_id|>\n\n"
      assert.are.equal(case.output:sub(1, -#opening - 1), text)
      assert.are.equal(case.output, model:apply_chat_template(vars.messages, {
        add_generation_prompt = true, vars = { date_string = vars.date_string } }))
    end)

    it("raises the template's raise_exception message", function()
      local case, vars = golden_case("llama3_tools", 4)
      local ok, err = pcall(model.apply_chat_template, model, vars.messages, { tools = vars.tools,
                                                                              vars = { date_string = "x" } })
      assert.is_false(ok)
      assert.are.equal(case.raised, err)
    end)

    it("rejects an unknown option, naming the one it most likely meant", function()
      assert.has_error(function()
        model:apply_chat_template({}, { add_generation_promt = true })
      end, "apply_chat_template: unknown option 'add_generation_promt' (did you mean 'add_generation_prompt'?)")
      assert.has_error(function() model:apply_chat_template({}, { tools = "all" }) end,
        "apply_chat_template: tools must be an array, got string")
      assert.has_error(function() model:apply_chat_template("hi") end,
        "bad argument #1 to 'apply_chat_template' (table of messages expected, got string)")
    end)

    it("encodes a text that starts with the BOS token with the tokenizer's BOS", function()
      local t = assert(model:chat_template())
      local text = "<|begin_of_text|>Hello there"
      local ids = t:encode(model, text)
      assert.are.same(model:tokenize("Hello there", { bos = true }), ids)
      assert.are.same(model:tokenize("Hello there"), t:encode(model, "Hello there"))
    end)

    it("leaves BOS to the tokenizer when the template has no BOS token", function()
      local t = assert(mllm.chat_template("{{ messages[0].content }}"))
      assert.are.same(model:tokenize("Hello there", { bos = true }), t:encode(model, "Hello there"))
    end)
  end)

  it("prefers chat_template.jinja to tokenizer_config.json's chat_template", function()
    local dir = fixture({ ["chat_template.jinja"] = H.read(JINJA .. "chatml.jinja"),
                          ["tokenizer_config.json"] = '{"chat_template": "not this one", "eos_token": "<|im_end|>"}' })
    local case, vars = golden_case("chatml", 1)
    assert.are.equal(case.output, load(dir):apply_chat_template(vars.messages, { add_generation_prompt = true }))
  end)

  it("picks \"default\" from a list of named templates, and \"tool_use\" when tools are given", function()
    local dir = fixture({ ["tokenizer_config.json"] = mllm.json_encode({ chat_template = {
      { name = "default", template = "plain:{{ messages[0].content }}" },
      { name = "tool_use", template = "tools:{{ tools | map(attribute='name') | join(',') }}" } } }) })
    local model = load(dir)
    local msgs = { { role = "user", content = "hi" } }
    assert.are.equal("plain:hi", model:apply_chat_template(msgs))
    assert.are.equal("tools:a,b", model:apply_chat_template(msgs, { tools = { { name = "a" }, { name = "b" } } }))
  end)

  it("renders a template given as a string: mllm.chat_template", function()
    local case, vars = golden_case("r1", 2)
    local t = assert(mllm.chat_template(H.read(JINJA .. "r1.jinja"), { bos_token = "<|begin_of_text|>" }))
    assert.are.equal(case.output, t:apply(vars.messages, { add_generation_prompt = true }))
  end)

  it("of the shipped model renders every conversation of its evaluation set as mobilellm.chat does", function()
    -- one format, two renderers: chat.prompt_text (the hot path, with the byte offsets the copy
    -- rule needs) and chat_template.jinja (for any Hugging Face tool); checked on all 3000
    local chat = require("mobilellm.chat")
    local dir = "models/mobilellm-tiny-api"
    local apis = assert(chat.load_apis(dir .. "/apis.json"))
    local t = assert(mllm.load_chat_template(dir))
    local n = 0
    for line in io.lines(dir .. "/eval/test.jsonl") do
      local messages = assert(mllm.json_decode(line)).messages
      local want = chat.prompt_text(messages, apis)
      local got = t:apply(messages, { tools = apis, add_generation_prompt = true })
      if got ~= want then assert.are.equal(want, got, "conversation " .. (n + 1)) end
      n = n + 1
    end
    assert.are.equal(3000, n)
  end)

  describe("a directory without a usable template", function()
    it("returns nil and a message when there is none", function()
      local model = load(MODEL)
      local text, err = model:apply_chat_template({ { role = "user", content = "hi" } })
      assert.is_nil(text)
      assert.are.equal(MODEL .. " has no chat template (no chat_template in tokenizer_config.json, no "
        .. "chat_template.jinja)", err)
    end)

    it("returns nil and a message naming the construct and line outside the subset", function()
      local dir = fixture({ ["chat_template.jinja"] = "{% for m in messages %}\n{{ m.content | wordwrap }}\n{% endfor %}" })
      local text, err = load(dir):apply_chat_template({})
      assert.is_nil(text)
      assert.are.equal(dir .. "/chat_template.jinja line 2: filter 'wordwrap' is not supported", err)
    end)

    it("returns nil and a message naming a tokenizer_config.json that is not JSON", function()
      local dir = fixture({ ["tokenizer_config.json"] = "{ chat_template: " })
      local text, err = load(dir):apply_chat_template({})
      assert.is_nil(text)
      assert.matches(dir .. "/tokenizer_config.json: invalid JSON", err, 1, true)
    end)

    it("returns nil and a message for a chat_template of the wrong shape", function()
      local dir = fixture({ ["tokenizer_config.json"] = '{"chat_template": [{"name": "other", "template": "x"}]}' })
      local text, err = load(dir):apply_chat_template({})
      assert.is_nil(text)
      assert.are.equal(dir .. "/tokenizer_config.json: chat_template has no template named \"default\"", err)
      dir = fixture({ ["tokenizer_config.json"] = '{"chat_template": 42}' })
      text, err = load(dir):apply_chat_template({})
      assert.is_nil(text)
      assert.are.equal(dir .. "/tokenizer_config.json: chat_template must be a string or a list of {\"name\", "
        .. "\"template\"}", err)
    end)

    it("refuses a FIFO as chat_template.jinja without waiting on it", function()
      local dir = fixture({})
      assert(os.execute("mkfifo '" .. dir .. "/chat_template.jinja'"))
      local text, err = load(dir):apply_chat_template({})
      assert.is_nil(text)
      assert.matches(dir .. "/chat_template.jinja", err, 1, true)
    end)
  end)
end)
