-- Shared helpers for the specs: fixtures, golden data, crafted files.
local luassert = require("luassert")

local H = {}

--- Marks a config key to delete in crafted configs.
H.DELETE = setmetatable({}, { __name = "DELETE" })

--- Asserts that fn(...) raises an error message (a string) containing `want`, as plain text;
-- returns the message.
function H.raises(want, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error containing: " .. want)
  luassert.is_string(err)
  assert(err:find(want, 1, true), ("error %q does not contain %q"):format(err, want))
  return err
end

H.FIXTURES = "spec/fixtures/models"
H.TOKENIZER = "models/llama2-tokenizer/tokenizer.model"
H.VARIANTS = { "f32-basic", "f32-ls", "f16-gqa3", "bf16-headdim", "f32-sharded", "f32-untied-mobilellm",
               "f32-llama3-rope" }

function H.read(path)
  local f = assert(io.open(path, "rb"))
  local d = f:read("a")
  f:close()
  return d
end

function H.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

--- Little-endian float32 array from a file.
function H.read_f32(path)
  local d = H.read(path)
  local t = {}
  for i = 1, #d // 4 do t[i] = string.unpack("<f", d, 4 * (i - 1) + 1) end
  return t
end

function H.expected(name)
  local dir = H.FIXTURES .. "/" .. name
  local e = dofile(dir .. "/expected.lua")
  e.dir = dir
  e.logits = H.read_f32(dir .. "/" .. e.logits_file)
  return e
end

--- Max |a[i] - ref[offset + i]| over n values.
function H.max_diff(a, ref, offset, n)
  local m = 0
  for i = 1, n do
    local d = math.abs(a[i] - ref[offset + i])
    if d ~= d then return math.huge end
    if d > m then m = d end
  end
  return m
end

function H.argmax(t)
  local best = 1
  for i = 2, #t do if t[i] > t[best] then best = i end end
  return best - 1
end

local counter = 0
--- A fresh temporary directory.
function H.tmpdir()
  counter = counter + 1
  local p = os.tmpname()
  os.remove(p)
  p = p .. "-mllm" .. counter
  assert(os.execute("mkdir -p '" .. p .. "'"))
  return p
end

function H.rmdir(p)
  os.execute("rm -rf '" .. p .. "'")
end

--- Fails unless generation consults constraint c: one token of model's under it must move
-- its counters (a build whose generate ignores the option leaves them at 0).
function H.assert_constraint_consulted(model, c)
  model:generate("x", { max_tokens = 1, constraint = c })
  local st = c:stats()
  luassert.is_true(st.masks + st.free > 0, "model:generate ignored its 'constraint' option (no mask, no free step counted)")
end

function H.copy_dir(src, dst)
  assert(os.execute("mkdir -p '" .. dst .. "' && cp -r '" .. src .. "'/. '" .. dst .. "'"))
end

--- Encodes a JSON value (enough for configs and safetensors headers).
local function json(v)
  local t = type(v)
  if t == "table" then
    if v[1] ~= nil or next(v) == nil and getmetatable(v) == "array" then
      local parts = {}
      for i = 1, #v do parts[i] = json(v[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = string.format("%q", k) .. ":" .. json(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "string" then
    return string.format("%q", v)
  elseif t == "boolean" then
    return tostring(v)
  elseif math.type(v) == "integer" then
    return tostring(v)
  elseif t == "number" then
    return string.format("%.17g", v)
  end
  error("cannot encode " .. t)
end
H.json = json

--- The tensors (name, shape) of a checkpoint for a config table.
function H.tensor_list(cfg)
  local d, hd = cfg.hidden_size, cfg.head_dim or cfg.hidden_size // cfg.num_attention_heads
  local q, kv = cfg.num_attention_heads * hd, (cfg.num_key_value_heads or cfg.num_attention_heads) * hd
  local list = { { "model.embed_tokens.weight", { cfg.vocab_size, d } }, { "model.norm.weight", { d } } }
  for l = 0, cfg.num_hidden_layers - 1 do
    local p = "model.layers." .. l .. "."
    for _, t in ipairs {
      { "input_layernorm.weight", { d } }, { "self_attn.q_proj.weight", { q, d } },
      { "self_attn.k_proj.weight", { kv, d } }, { "self_attn.v_proj.weight", { kv, d } },
      { "self_attn.o_proj.weight", { d, q } }, { "post_attention_layernorm.weight", { d } },
      { "mlp.gate_proj.weight", { cfg.intermediate_size, d } }, { "mlp.up_proj.weight", { cfg.intermediate_size, d } },
      { "mlp.down_proj.weight", { d, cfg.intermediate_size } },
    } do
      list[#list + 1] = { p .. t[1], t[2] }
    end
  end
  return list
end

--- Writes a safetensors file; tensors = array of { name, shape, dtype = "F32", data = bytes? }.
-- Data defaults to small deterministic values. `header_override(header_table)` may edit the header.
function H.write_safetensors(path, tensors, opts)
  opts = opts or {}
  local header, chunks, offset = {}, {}, 0
  for i, t in ipairs(tensors) do
    local dtype = t.dtype or "F32"
    local n = 1
    for _, s in ipairs(t[2]) do n = n * s end
    local size = (dtype == "F32" and 4 or 2) * n
    local data = t.data
    if not data then
      local parts = {}
      for k = 1, n do parts[k] = string.pack("<f", ((k * 7 + i) % 13 - 6) / 100) end
      data = table.concat(parts)
      if dtype ~= "F32" then data = data:sub(1, size) end
    end
    header[t[1]] = { dtype = dtype, shape = t[2], data_offsets = { offset, offset + #data } }
    chunks[#chunks + 1] = data
    offset = offset + #data
  end
  if opts.header_override then opts.header_override(header) end
  local hjson = opts.raw_header or json(header)
  while #hjson % 8 ~= 0 do hjson = hjson .. " " end
  local len = opts.header_len or #hjson
  H.write(path, string.pack("<I8", len) .. hjson .. table.concat(chunks))
end

--- A complete small model directory with crafted weights. cfg overrides the
-- default config; mutate(tensors) may edit the tensor list before writing.
function H.make_model(cfg_over, mutate, st_opts)
  local cfg = {
    model_type = "mobilellm", hidden_size = 16, intermediate_size = 24, num_attention_heads = 2,
    num_key_value_heads = 1, num_hidden_layers = 1, vocab_size = 32, share_embedding = true,
    max_position_embeddings = 64,
  }
  for k, v in pairs(cfg_over or {}) do cfg[k] = v end
  local dir = H.tmpdir()
  H.write(dir .. "/config.json", json(cfg))
  local tensors = H.tensor_list(cfg)
  if mutate then mutate(tensors, cfg) end
  H.write_safetensors(dir .. "/model.safetensors", tensors, st_opts)
  return dir, cfg
end

--- Runs the CLI in-process (no terminal, no environment), `input` its standard input;
-- returns the exit status, what it wrote to stdout and to stderr.
function H.cli(argv, input)
  local out, err = {}, {}
  local function sink(parts)
    return { write = function(self, ...)
      for _, s in ipairs({ ... }) do parts[#parts + 1] = tostring(s) end
      return self
    end, flush = function() end }
  end
  local lines = {}
  for l in (input or ""):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  local inp = { read = function() return table.remove(lines, 1) end }
  local code = require("mobilellm.cli").main(argv, { out = sink(out), err = sink(err), inp = inp, tty = false,
                                                     interactive = false, getenv = function() return nil end })
  return code, table.concat(out), table.concat(err)
end

--- A scripted stand-in for a model, for the CLI's chat and agent loops: a byte tokenizer (id =
-- byte + 3, bos 1) and sessions whose `stream` hands out answers one byte a token, the leading
-- space of a generation dropped as the engine does. An answer left unfinished (the loop broke
-- off) goes on in the next stream. Options: `answers` (a table indexed by the answer's number;
-- "..." after the last), `stop` (the info's stop reason, default "eos"), `on_token(n)` (before
-- the n-th token of a stream is handed out) and `on_close()` (a session closes).
function H.fake_chat_model(o)
  local m = { config = { has_tokenizer = true, vocab_size = 259, max_seq_len = 4096 }, turn = 0 }
  local rest = ""
  function m.tokenize(_, text, opts)
    local ids = (opts and opts.bos) and { 1 } or {}
    for i = 1, #text do ids[#ids + 1] = text:byte(i) + 3 end
    return ids
  end
  function m.token_piece(_, id) return id >= 3 and string.char(id - 3) or "" end
  function m.session()
    local s = { ids = {} }
    function s.pos() return #s.ids end
    function s.rewind(_, n) for i = #s.ids, n + 1, -1 do s.ids[i] = nil end end
    function s.eval(_, ids) for _, id in ipairs(ids) do s.ids[#s.ids + 1] = id end return true end
    function s.close() if o.on_close then o.on_close() end end
    function s.stream(_, ids)
      s:eval(ids)
      if rest == "" then
        m.turn = m.turn + 1
        rest = o.answers[m.turn] or "..."
      end
      local info = { prompt_tokens = #ids, generated_tokens = 0, prefill_seconds = 0, decode_seconds = 0,
                     stop = o.stop or "eos" }
      local closer = setmetatable({}, { __close = function() end, __index = { info = function() return info end } })
      local first = true
      return function()
        if rest == "" then return nil end
        local c = rest:sub(1, 1)
        rest = rest:sub(2)
        info.generated_tokens = info.generated_tokens + 1
        if o.on_token then o.on_token(info.generated_tokens) end
        s.ids[#s.ids + 1] = c:byte() + 3
        local piece = (first and c == " ") and "" or c
        first = false
        return piece, c:byte() + 3
      end, nil, nil, closer
    end
    return s
  end
  return setmetatable(m, { __tostring = function() return "fake model" end })
end

return H
