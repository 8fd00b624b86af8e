--- `mobilellm bench DIR`: the prompt (prefill) and decode speed of a model on
-- deterministic token ids, greedy, with the peak resident memory.
-- @module mobilellm.cli.bench
local mllm = require("mobilellm")
local common = require("mobilellm.cli.common")

local fail = common.fail
local human_bytes = common.human_bytes
local status = common.status
local concat_opts = common.concat_opts
local load_model = common.load_model
local new_session = common.new_session
local LOAD_OPTS = common.LOAD_OPTS

local M = {
  name = "bench", args = { "DIR" },
  brief = "prompt and decode speed (128-token prompt, 128 generated)",
  summary = "Measure the prompt (prefill) and decode speed of the model: a 128-token prompt, 128 generated "
    .. "tokens, greedy.",
  options = concat_opts({
    { "prompt-tokens", "N", kind = "int", min = 1, max = 131072, help = "prompt length (default 128)" },
    { "gen-tokens", "N", kind = "int", min = 1, max = 131072, help = "tokens generated (default 128)" },
    { "json", kind = "flag", help = "one JSON line" },
  }, LOAD_OPTS),
}

local function peak_rss()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  local kb = tonumber(s:match("VmHWM:%s*(%d+)"))
  return kb and kb * 1024
end

-- n deterministic token ids (BOS first), as tools/bench.lua makes them (tiny
-- vocabularies, as in the test fixtures, use all their ids from 3 on).
local function bench_prompt(n, vocab)
  local ids, x = { 1 }, 12345
  local first, span = 100, vocab - 200
  if vocab <= 300 then first, span = 3, vocab - 3 end
  for i = 2, n do
    x = (x * 1103515245 + 12345) % 2147483648
    ids[i] = first + x % span
  end
  return ids
end

--- Runs the command.
-- @tparam table ctx the run's context (`mobilellm.cli.common`)
-- @tparam table opts its options (`mobilellm.cli.args`)
-- @tparam {string,...} pos its positional arguments
-- @treturn integer the exit status
function M.run(ctx, opts, pos)
  local dir = common.model_dir(pos[1])
  local np, ng = opts.prompt_tokens or 128, opts.gen_tokens or 128
  local model, load_s = load_model(ctx, dir, opts)
  local c = model.config
  if np + ng > c.max_seq_len then
    fail(string.format("the model's context (%d tokens) is smaller than %d prompt + %d generated tokens",
      c.max_seq_len, np, ng))
  end
  local s <close> = new_session(model, np + ng, math.min(np, 128))
  local done = status(ctx, string.format("running %d + %d tokens", np, ng))
  local text, info = s:generate(bench_prompt(np, c.vocab_size),
    { max_tokens = ng, stop_at_eos = false, temperature = 0 })
  done()
  if not text then fail(info) end
  local rss = peak_rss()
  if opts.json then
    ctx.out:write(mllm.json_encode({
      model = dir, compute = c.compute, kernels = c.kernels, threads = c.threads, load_s = load_s,
      prompt_tokens = info.prompt_tokens, prefill_tps = info.prefill_tps,
      generated_tokens = info.generated_tokens, decode_tps = info.decode_tps, rss_bytes = rss,
    }), "\n")
    return 0
  end
  ctx.out:write(string.format("%s\n", tostring(model)))
  ctx.out:write(string.format("load      %.2f s\n", load_s))
  ctx.out:write(string.format("prompt    %d tokens in %.3f s: %.1f tok/s\n", info.prompt_tokens,
    info.prefill_seconds, info.prefill_tps))
  ctx.out:write(string.format("decode    %d tokens in %.3f s: %.1f tok/s\n", info.generated_tokens,
    info.decode_seconds, info.decode_tps))
  if rss then ctx.out:write(string.format("peak RSS  %s\n", human_bytes(rss))) end
  return 0
end

return M
