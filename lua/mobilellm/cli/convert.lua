--- `mobilellm convert DIR OUT --dtype T`: writes the checkpoint in DIR to OUT with its
-- weights in another format (as they are in memory after loading in that format), with
-- copies of its small files, so that OUT loads without conversion or quantization.
-- @module mobilellm.cli.convert
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")
local common = require("mobilellm.cli.common")

local fail = common.fail
local human_bytes = common.human_bytes
local human_count = common.human_count
local new_bar = common.new_bar
local file_exists = common.file_exists
local load_model = common.load_model

local M = {
  name = "convert", args = { "DIR", "OUT" },
  brief = "write a checkpoint in another dtype (loads without conversion)",
  summary = "Write the checkpoint in DIR (safetensors or pytorch_model.bin, sharded or not) to the "
    .. "directory OUT with its weights in another format, so that it loads without conversion or "
    .. "quantization.",
  details = "OUT gets model.safetensors (matrices in the new format; q8 and q4 as the Q8_0 and Q4_0 "
    .. "blocks of docs/formats-and-limits.md, 8 rows interleaved where the kernels take them so; "
    .. "norms in F32) and copies of config.json, tokenizer.model and the "
    .. "other small files of DIR. OUT may be DIR itself (with --force).",
  options = {
    { "dtype", "T", kind = "choice", values = mllm.dtypes, required = true,
      help = "format of the weights: f32, f16, bf16, q8, q4" },
    { "force", kind = "flag", help = "replace OUT/model.safetensors if it exists" },
    { "threads", "N", kind = "int", min = 0, max = 1024, help = "threads (default: all cores)" },
  },
}

-- The files of a checkpoint directory, other than its weights, that travel with it.
local COMPANIONS = chat.COMPANION_FILES

-- Largest companion file copied, in bytes: the engine's own cap on tokenizer.model
-- (MLLM_MAX_TOKENIZER_BYTES), the largest of them.
local MAX_COMPANION_BYTES = 64 << 20

-- The companion files of dir that are there (name -> contents), read before anything is
-- written, each a regular file at most MAX_COMPANION_BYTES long whose destination in out is
-- absent or a regular file: a FIFO would block the read, or the write when it is the
-- destination, so either fails the command naming it.
local function read_companions(dir, out)
  local found = {}
  for _, name in ipairs(COMPANIONS) do
    local data, err = mllm.read_file(dir .. "/" .. name, MAX_COMPANION_BYTES)
    if data then
      local present, terr = file_exists(out .. "/" .. name)
      if present == nil then fail(terr) end
      found[name] = data
    elseif not chat.is_missing(err) then
      fail(err)
    end
  end
  return found
end

local function write_file(path, data)
  local f, oerr = io.open(path, "wb")
  if not f then fail(oerr) end
  local ok, werr = f:write(data)
  if ok then ok, werr = f:close() else f:close() end
  if not ok then fail(path .. ": " .. tostring(werr)) end
end

local function same_dir(a, b)
  local function norm(p) return (p:gsub("/+$", ""):gsub("/%./", "/")) end
  return norm(a) == norm(b)
end

-- Loads DIR in the requested format and saves its weights as they are in memory
-- (model:save), so the new checkpoint loads in place: no conversion, no quantization.
--- Runs the command.
-- @tparam table ctx the run's context (`mobilellm.cli.common`)
-- @tparam table opts its options (`mobilellm.cli.args`)
-- @tparam {string,...} pos its positional arguments
-- @treturn integer the exit status
function M.run(ctx, opts, pos)
  local dir, out = common.model_dir(pos[1]), pos[2]
  local target = out .. "/model.safetensors"
  local present, terr = file_exists(target)
  if present == nil then fail(terr) end
  if present and not opts.force then fail(target .. " already exists (--force replaces it)") end
  local companions = not same_dir(dir, out) and read_companions(dir, out) or {}
  local model = load_model(ctx, dir, { dtype = opts.dtype, threads = opts.threads })
  if not os.execute("mkdir -p '" .. out:gsub("'", "'\\''") .. "'") then fail(out .. ": cannot create the directory") end
  local bar = new_bar(ctx, "writing " .. target, 1000)
  local ok, err = model:save(target, { on_progress = function(f) bar:update(math.floor(f * 1000)) end })
  bar:finish()
  if not ok then fail(err) end
  local copied = {}
  for _, name in ipairs(COMPANIONS) do
    if companions[name] then
      local sub = name:match("^(.*)/[^/]*$")
      if sub and not os.execute("mkdir -p '" .. (out .. "/" .. sub):gsub("'", "'\\''") .. "'") then
        fail(out .. "/" .. sub .. ": cannot create the directory")
      end
      write_file(out .. "/" .. name, companions[name])
      copied[#copied + 1] = name
    end
  end
  local params = model.config.params
  model:close()
  local check, lerr = mllm.load(out, { threads = 1 })
  if not check then fail(out .. " was written but does not load: " .. lerr) end
  local f = io.open(target, "rb")
  local size = f and f:seek("end") or 0
  if f then f:close() end
  ctx.out:write(string.format("wrote %s: %s parameters in %s, %s; loads as %s without conversion\n", target,
    human_count(params), check.config.dtype, human_bytes(size), check.config.compute))
  check:close()
  if #copied > 0 then ctx.out:write("copied from " .. dir .. ": " .. table.concat(copied, ", ") .. "\n") end
  return 0
end

return M
