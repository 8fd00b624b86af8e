--- `mobilellm info DIR`: a model's architecture, parameters, layer sharing, dtype,
-- kernels and memory, every weight checked for NaN and infinity as it loads (`--json`:
-- the configuration as JSON).
-- @module mobilellm.cli.info
local mllm = require("mobilellm")
local common = require("mobilellm.cli.common")

local human_bytes = common.human_bytes
local human_count = common.human_count
local concat_opts = common.concat_opts
local load_model = common.load_model
local LOAD_OPTS = common.LOAD_OPTS

local M = {
  name = "info", args = { "DIR" },
  brief = "architecture, parameters, layer sharing, dtype, kernels, memory",
  summary = "Show a model's architecture, parameters, layer sharing, dtype, kernels and memory.",
  details = "Every weight is checked for NaN and infinity as the model loads: a corrupt checkpoint "
    .. "fails with the tensor and the index of the first bad value.",
  options = concat_opts(LOAD_OPTS, { { "json", kind = "flag", help = "print the configuration as JSON" } }),
}

-- 0-based layer numbers as "1, 3", or "none".
local function layer_list(t)
  return #t > 0 and table.concat(t, ", ") or "none"
end

--- The attention of a llama4_text model in one line: RoPE, QK-norm, NoPE and chunked layers.
-- @tparam table c `model.config`
-- @treturn string
function M.llama4_attention(c)
  local nope = layer_list(c.nope_layers)
  if #c.nope_layers > 0 then
    nope = nope .. (c.temperature_tuning
      and string.format(" (temperature tuning: floor_scale %g, attn_scale %g)", c.floor_scale, c.attn_scale)
      or " (no temperature tuning)")
  end
  local chunked = layer_list(c.chunked_layers)
  if #c.chunked_layers > 0 then chunked = chunked .. string.format(" (chunk %d)", c.attention_chunk_size) end
  return string.format("RoPE on adjacent pairs (theta %.10g)%s; NoPE layers: %s; chunked layers: %s",
    c.rope_theta, c.qk_norm and ", QK-norm" or "", nope, chunked)
end

--- Runs the command.
-- @tparam table ctx the run's context (`mobilellm.cli.common`)
-- @tparam table opts its options (`mobilellm.cli.args`)
-- @tparam {string,...} pos its positional arguments
-- @treturn integer the exit status
function M.run(ctx, opts, pos)
  local dir = common.model_dir(pos[1])
  -- every weight is read once for NaN and infinity: a corrupt checkpoint fails
  -- here with the tensor and index, not later as "⁇ ⁇ ⁇" text
  local model, load_s = load_model(ctx, dir, opts, { check = true })
  local c = model.config
  if opts.json then
    local t = {}
    for k, v in pairs(c) do t[k] = v end
    t.path, t.load_seconds, t.weights_checked = dir, load_s, true
    ctx.out:write(mllm.json_encode(t), "\n")
    return 0
  end
  local eos = table.concat(c.eos_ids, ", ")
  local kv_dim = c.kv_heads * c.head_dim
  local kv_per_token = 2 * c.executed_layers * kv_dim * 4
  local rows = {
    { "model", dir },
    { "architecture", string.format("%s: dim %d, %d heads / %d KV heads (head_dim %d), FFN %d",
      c.model_type, c.dim, c.heads, c.kv_heads, c.head_dim, c.ffn_dim) },
    { "layers", c.layer_sharing
      and string.format("%d stored, %d executed (layer sharing: each block runs twice)", c.layers, c.executed_layers)
      or string.format("%d (no layer sharing)", c.layers) },
    { "parameters", string.format("%s (%d)", human_count(c.params), c.params) },
    { "embedding", c.share_embedding and "shared with the output head" or "separate output head (lm_head)" },
    { "vocabulary", string.format("%d tokens, bos %d, eos %s, tokenizer: %s", c.vocab_size, c.bos, eos,
      c.tokenizer_format or "none") },
    { "context", string.format("%d tokens, rope theta %g%s", c.max_seq_len, c.rope_theta, c.rope_scaling
      and string.format(" (llama3 scaling: factor %g over %d positions)", c.rope_scaling.factor,
        c.rope_scaling.original_max_position_embeddings) or "") },
    { "dtype", string.format("stored %s, computing in %s%s", c.dtype, c.compute,
      c.compute == c.dtype and " (used as stored)" or " (converted on load)") },
    { "kernels", string.format("%s, %d thread%s", c.kernels, c.threads, c.threads == 1 and "" or "s") },
    { "memory", string.format("weights %s; KV cache %s per token, %s at the full context", human_bytes(c.weight_bytes),
      human_bytes(kv_per_token), human_bytes(kv_per_token * c.max_seq_len)) },
    { "weights", "checked: no NaN or infinity" },
    { "load time", string.format("%.2f s (with the weight check)", load_s) },
  }
  if c.rope_layout == "pairs" then table.insert(rows, 4, { "attention", M.llama4_attention(c) }) end
  for _, r in ipairs(rows) do ctx.out:write(string.format("%-13s %s\n", r[1], r[2])) end
  model:close()
  return 0
end

return M
