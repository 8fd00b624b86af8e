-- Copy drafts (issue 40, "copy drafts"): with `draft_tokens`, a generation evaluates the
-- tokens that followed the last ones' earlier occurrence in one batch and keeps those the
-- sampler picks; the text must be what plain decoding gives. spec/c/test_drafts.c checks the
-- engine's rows and generator; this checks the Lua option and info, and the shipped model's
-- answers over its test set with the default decoding (constraint, copy rule, pointer).
local mllm = require("mobilellm")
local eval = require("mobilellm.eval")

local SHIPPED = "models/mobilellm-tiny-api"
local under_asan = (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true) ~= nil
-- the examples compared: a tenth of the test set (under ASan, 40); `lua5.4 tools/draft_bench.lua`
-- compares all 3000 and times them
local LIMIT = under_asan and 40 or 300

describe("copy drafts", function()
  local model = assert(mllm.load(SHIPPED, { threads = 1 }))

  it("report what they drafted and kept, and change nothing in the text", function()
    local prompt = "<s>[INST] remind me to call Bob at 7:30 am, then remind me to call Bob at"
    local plain, pinfo = model:generate(prompt, { max_tokens = 40, stop_at_eos = false, bos = false })
    local drafted, dinfo = model:generate(prompt, { max_tokens = 40, stop_at_eos = false, bos = false,
      draft_tokens = 6 })
    assert.are.equal(plain, drafted)
    assert.are.equal(0, pinfo.drafted_tokens)
    assert.are.equal(0, pinfo.accepted_tokens)
    assert.is_true(dinfo.drafted_tokens > 0)
    assert.is_true(dinfo.accepted_tokens > 0 and dinfo.accepted_tokens <= dinfo.drafted_tokens)
    assert.are.equal(pinfo.generated_tokens, dinfo.generated_tokens)
    -- a stream reports them too
    local iter, state, ctl, st = model:stream(prompt, { max_tokens = 40, stop_at_eos = false, bos = false,
      draft_tokens = 6 })
    local text = {}
    for piece in iter, state, ctl do text[#text + 1] = piece end
    assert.are.equal(plain, table.concat(text))
    assert.are.equal(dinfo.accepted_tokens, st:info().accepted_tokens)
  end)

  it("give the shipped model's answers over its test set, token for token", function()
    local function answers(draft)
      local got = {}
      local r = assert(eval.run({ model = SHIPPED, loaded = model, limit = LIMIT, draft_tokens = draft,
        on_example = function(n, answer, info) got[n] = { answer, info.generated_tokens } end }))
      return got, r
    end
    local plain, r0 = answers(0)
    local drafted, r1 = answers(4)
    assert.are.equal(LIMIT, #plain)
    local differ = {}
    for i = 1, LIMIT do
      if plain[i][1] ~= drafted[i][1] or plain[i][2] ~= drafted[i][2] then differ[#differ + 1] = i end
    end
    assert.are.same({}, differ)
    assert.are.equal(r0.em_structure, r1.em_structure)
    assert.are.equal(0, r0.drafted_tokens)
    assert.is_true(r1.accepted_tokens > 0)
  end)

  it("are bounded by mllm.max_draft, the engine's MLLM_MAX_DRAFT, in eval and on its command lines", function()
    assert.are.equal(16, mllm.max_draft)
    assert.has_error(function() eval.run({ model = SHIPPED, loaded = model, draft_tokens = mllm.max_draft + 1 }) end,
      "eval.run: option 'draft_tokens' must be an integer in [0, 16], got 17")
    local p = assert(io.popen("lua5.4 tools/eval.lua --limit 1 --draft 17 2>&1"))
    local out = p:read("a")
    local _, _, code = p:close()
    assert.are.equal(2, code, out)
    assert.matches("--draft expects at most 16 (MLLM_MAX_DRAFT), got 17", out, 1, true)
    -- the command line, in-process (as spec/90 runs it)
    local err = {}
    local stream = function(t)
      return { write = function(self, ...) for _, x in ipairs({ ... }) do t[#t + 1] = tostring(x) end return self end,
               flush = function() end }
    end
    code = require("mobilellm.cli").main({ "eval", SHIPPED, "--limit", "1", "--draft", "17" },
      { out = stream({}), err = stream(err), inp = { read = function() return nil end }, tty = false,
        interactive = false, getenv = function() return nil end })
    assert.are.equal(2, code)
    assert.matches("--draft must be in [0, 16], got 17", table.concat(err), 1, true)
  end)
end)
