--- mobilellm: run MobileLLM (and LLaMA-style) language models on the device, from Lua.
--
-- The C core (`mobilellm.core`) loads checkpoints, tokenizes and generates;
-- this module is its Lua face and adds the pieces written in Lua.
--
--     local mllm = require("mobilellm")
--     local model = assert(mllm.load("models/mobilellm-tiny-api"))
--     print(model:generate("Once upon a time", { max_tokens = 32 }))
--
-- Errors: misuse (a wrong type, a bad option, an id outside the vocabulary,
-- a closed object) raises; a failure of the environment (a missing or
-- corrupt file, a prompt that does not fit the context) returns nil, message.
-- @module mobilellm
local core = require("mobilellm.core")

local M = {}
for k, v in pairs(core) do M[k] = v end  -- everything the C core offers, documented below

--- Version of the library.
M.version = core.version

--- Loads a model directory (config.json, model.safetensors or shards, tokenizer.model).
-- @function load
-- @tparam string dir the checkpoint directory
-- @tparam[opt] table opts `threads` (default: all cores), `tokenizer` (path to a
--   tokenizer.model elsewhere), `require_tokenizer` (fail without one), `check` (read every
--   weight first: NaN or infinity fails the load, naming the tensor and the index)
-- @return a model, or nil and a message naming the file and tensor at fault
M.load = core.load

--- Loads a sentencepiece `tokenizer.model` on its own.
-- @function tokenizer
-- @tparam string path
-- @return a tokenizer, or nil and a message
M.tokenizer = core.tokenizer

--- Parses the function calls in a text (see `mobilellm.core.parse_calls`).
-- @function parse_calls
M.parse_calls = core.parse_calls

--- A streaming call parser (see `mobilellm.core.call_parser`).
-- @function call_parser
M.call_parser = core.call_parser

--- Reads a whole regular file: a FIFO, a device or a directory is refused before
-- anything is read (so the call never blocks), a file over `max_bytes` is refused.
-- @function read_file
-- @tparam string path
-- @tparam[opt=16777216] integer max_bytes
-- @return the contents, or nil and a message naming the file
M.read_file = core.read_file

--- The names the `dtype` option of `load` takes besides "auto" ({"f32", "f16", "bf16", "q8", "q4"}),
-- from the engine's one table of weight types.
-- @table dtypes
M.dtypes = core.dtypes

--- The names the `kv_type` option of `session` takes ({"auto", "f32", "f16"}).
-- @table kv_types
M.kv_types = core.kv_types

--- The JSON null sentinel used in parsed call arguments.
M.null = core.null

--- JSON text → Lua value (through cJSON); `nil, message` for invalid JSON.
-- @function json_decode

--- Lua value → JSON text (objects with sorted keys).
-- @function json_encode

--- The keys of an object decoded by `json_decode`, in the order the text had them.
-- @function json_keys

return M
