-- The command line with a checkpoint's own chat template: `run --chat` wraps the prompt in it,
-- `chat` renders every turn with it (and --system), on a fixture model whose directory
-- carries the ChatML template of spec/fixtures/jinja/ (the prompt shown by --show-prompt is
-- compared with jinja2's golden, and the prompt's token count with the template's encoding).
local mllm = require("mobilellm")
local H = require("support.helpers")

local MODEL = H.FIXTURES .. "/bf16-vocab32k"
local JINJA = "spec/fixtures/jinja/"

local run = H.cli

local function golden_output(template, n)
  local golden = assert(mllm.json_decode(H.read(JINJA .. "golden.json")))
  for _, c in ipairs(golden.cases) do
    if c.template == template and c.vars == n then return c.output end
  end
end

describe("mobilellm with a chat template", function()
  local dir = H.tmpdir()
  for _, f in ipairs({ "config.json", "model.safetensors", "tokenizer.model" }) do
    assert(os.execute(("cp '%s/%s' '%s/'"):format(MODEL, f, dir)))
  end
  H.write(dir .. "/chat_template.jinja", H.read(JINJA .. "chatml.jinja"))
  local model = assert(mllm.load(dir, { threads = 1 }))
  local template = assert(model:chat_template())
  teardown(function() H.rmdir(dir) end)

  local function prompt_tokens(err)
    return tonumber(err:match("%[prompt: (%d+) tokens"))
  end

  describe("run --chat", function()
    it("wraps PROMPT in the template, as jinja2 renders it, and tokenizes that text", function()
      local code, _, err = run({ "run", dir, "--chat", "--show-prompt", "--max-tokens", "1", "--threads", "1",
                                 "Hello, who are you?" })
      assert.are.equal(0, code, err)
      local expected = golden_output("chatml", 1)
      assert.are.equal(expected, err:sub(1, #expected))
      assert.are.equal(#template:encode(model, expected), prompt_tokens(err))
    end)

    it("puts --system first", function()
      local code, _, err = run({ "run", dir, "--chat", "--system", "Answer in French.", "--show-prompt",
                                 "--max-tokens", "1", "--threads", "1", "Hi" })
      assert.are.equal(0, code, err)
      local expected = "<|im_start|>system\nAnswer in French.<|im_end|>\n\n<|im_start|>user\nHi<|im_end|>\n\n"
        .. "<|im_start|>assistant\n\n"
      assert.are.equal(expected, err:sub(1, #expected))
    end)

    it("gives the template a tool-calling model's tool list: the shipped model's prompt is its chat format's", function()
      local chat = require("mobilellm.chat")
      local shipped = "models/mobilellm-tiny-api"
      local code, _, err = run({ "run", shipped, "--chat", "--show-prompt", "--max-tokens", "1", "--threads", "1",
                                 "wake me up at 7 am" })
      assert.are.equal(0, code, err)
      local expected = chat.prompt_text({ { role = "user", content = "wake me up at 7 am" } },
                                        assert(chat.load_apis(shipped .. "/apis.json")))
      assert.are.equal(expected .. "\n", err:sub(1, #expected + 1))
      -- without tokenizer_config.json the template has no BOS token: the tokenizer adds it
      local m <close> = assert(mllm.load(shipped, { threads = 1 }))
      assert.are.equal(#m:tokenize(expected, { bos = true }), prompt_tokens(err))
    end)

    it("fails on a directory without a chat template, naming it", function()
      local code, _, err = run({ "run", MODEL, "--chat", "--max-tokens", "1", "Hi" })
      assert.are.equal(1, code)
      assert.are.equal("mobilellm: " .. MODEL .. " has no chat template (no chat_template in "
        .. "tokenizer_config.json, no chat_template.jinja)\n", err)
    end)

    it("refuses flags of the shipped chat format, and --system without --chat", function()
      local code, _, err = run({ "run", dir, "--chat", "--raw", "Hi" })
      assert.are.equal(2, code)
      assert.matches("--chat wraps PROMPT in DIR's chat template: --raw is for the answer to a request", err, 1, true)
      code, _, err = run({ "run", dir, "--system", "x", "Hi" })
      assert.are.equal(2, code)
      assert.matches("--system needs --chat", err, 1, true)
    end)
  end)

  describe("chat", function()
    it("renders every turn with the template, the history and --system included", function()
      local code, out, err = run({ "chat", dir, "--system", "Be brief.", "--show-prompt", "--max-tokens", "3",
                                   "--threads", "1" }, "Hi\nAgain\n")
      assert.are.equal(0, code, err)
      local first = template:apply({ { role = "system", content = "Be brief." }, { role = "user", content = "Hi" } },
                                   { add_generation_prompt = true })
      assert.are.equal(first, err:sub(1, #first))
      -- the second prompt holds the first answer as the assistant's message
      local answer = out:match("^> Hi\n(.-)\n")  -- after the echo of the line read
      local second = template:apply({ { role = "system", content = "Be brief." }, { role = "user", content = "Hi" },
                                      { role = "assistant", content = answer }, { role = "user", content = "Again" } },
                                    { add_generation_prompt = true })
      assert.truthy(err:find(second, 1, true), "the second turn's prompt is not in:\n" .. err)
    end)

    it("reports a turn the template refuses (raise_exception) and goes on without it", function()
      local strict = H.tmpdir()
      for _, f in ipairs({ "config.json", "model.safetensors", "tokenizer.model" }) do
        assert(os.execute(("cp '%s/%s' '%s/'"):format(MODEL, f, strict)))
      end
      H.write(strict .. "/chat_template.jinja", "{% for m in messages %}{% if m.content == 'bad' %}"
        .. "{{ raise_exception('no bad words') }}{% endif %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
      local code, _, err = run({ "chat", strict, "--show-prompt", "--max-tokens", "2", "--threads", "1" }, "bad\nok\n")
      H.rmdir(strict)
      assert.are.equal(0, code, err)
      assert.matches("mobilellm: no bad words (the message was not kept", err, 1, true)
      assert.matches("\nuser: ok\n", "\n" .. err, 1, true)  -- the next turn's prompt, without the refused one
      assert.is_nil(err:find("user: bad", 1, true))
    end)

    it("refuses --system on a checkpoint without a template", function()
      local code, _, err = run({ "chat", MODEL, "--system", "x" }, "")
      assert.are.equal(2, code)
      assert.matches("--system needs a chat template: " .. MODEL .. " has none", err, 1, true)
    end)
  end)
end)
