--- mobilellm: run MobileLLM (and LLaMA-style) language models on the device, from Lua.
--
-- The C core (`mobilellm.core`) loads checkpoints, tokenizes and generates;
-- this module is its Lua face and adds the pieces written in Lua.
--
--     local mllm = require("mobilellm")
--     local model = assert(mllm.load("mobilellm-tiny-api"))  -- a shipped model, by name
--     print(model:generate("Once upon a time", { max_tokens = 32 }))
--
-- Errors: misuse (a wrong type, a bad option, an id outside the vocabulary,
-- a closed object) raises; a failure of the environment (a missing or
-- corrupt file, a prompt that does not fit the context) returns nil, message.
-- @module mobilellm
local core = require("mobilellm.core")
local chat = require("mobilellm.chat")  -- is_missing: the engine's wording of "no such file"
local chat_template = require("mobilellm.chat_template")
local site = require("mobilellm.site")

local M = {}
for k, v in pairs(core) do M[k] = v end  -- everything the C core offers, documented below

--- Version of the library.
M.version = core.version

-- ------------------------------------------------------------ models by name

--- The directories searched for a model named without a path, in order: those of
-- `$MOBILELLM_MODELS` (colon-separated; empty entries are skipped), then the data directory
-- (the installed models, or the checkout's models/ directory).
-- @treturn {string,...}
function M.model_search_path()
  local dirs = {}
  for d in (os.getenv("MOBILELLM_MODELS") or ""):gmatch("[^:]+") do dirs[#dirs + 1] = d end
  if site.models_dir then dirs[#dirs + 1] = site.models_dir end
  return dirs
end

-- Whether anything (a file, a directory, a FIFO...) is at path; read_file with a limit of
-- 0 bytes checks without reading, and never blocks.
local function exists(path)
  local _, err = core.read_file(path, 0)
  return not (err and chat.is_missing(err))
end

--- The directory of a model: `name` as given when something is there, it has a '/'
-- ("./m", "/opt/m") or it is empty; else the first `DIR/name` that has a config.json, DIR
-- running over `model_search_path()`.
-- @tparam string name a path, or the name of a model ("mobilellm-tiny-api")
-- @return the directory, or nil and a message naming `name` and the places searched
function M.find_model(name)
  if type(name) ~= "string" then
    error("bad argument #1 to 'find_model' (string expected, got " .. type(name) .. ")", 2)
  end
  -- "" too: the engine refuses an empty directory as misuse
  if name == "" or name:find("/", 1, true) or exists(name) then return name end
  local searched = M.model_search_path()
  for _, d in ipairs(searched) do
    local dir = d .. "/" .. name
    if exists(dir .. "/config.json") then return dir end
  end
  return nil, string.format("%s: no such directory, and no model of that name in %s", name,
    #searched > 0 and table.concat(searched, ", ") .. " ($MOBILELLM_MODELS, then the installed models)"
    or "any directory (no $MOBILELLM_MODELS, and no installed models directory)")
end

--- The models that `find_model` finds by name: every subdirectory with a config.json of each
-- directory of `model_search_path()`, sorted by name in each; a name seen before is left out
-- (`find_model` would pick the first).
-- @treturn {{name=string, dir=string},...}
function M.models()
  local list, seen = {}, {}
  for _, d in ipairs(M.model_search_path()) do
    -- Lua has no directory listing: find(1) prints the paths, NUL-terminated ("./" keeps a
    -- directory named "-x" from reading as an option)
    local start = d:sub(1, 1) == "-" and "./" .. d or d
    local p = io.popen("find -L '" .. start:gsub("'", "'\\''") .. "' -mindepth 2 -maxdepth 2 -name config.json "
      .. "-print0 2>/dev/null")
    local names = {}
    if p then
      for path in p:read("a"):gmatch("([^%z]+)%z") do
        local name = path:sub(#start + 2, -#"/config.json" - 1)
        if name ~= "" and not name:find("/", 1, true) then names[#names + 1] = name end
      end
      p:close()
    end
    table.sort(names)
    for _, name in ipairs(names) do
      if not seen[name] then
        seen[name] = true
        list[#list + 1] = { name = name, dir = d .. "/" .. name }
      end
    end
  end
  return list
end

--- Loads a model directory (config.json, model.safetensors or shards, tokenizer.model).
-- @tparam string dir the checkpoint directory, or the name of a model (see `find_model`)
-- @tparam[opt] table opts `threads` (default: all cores), `tokenizer` (path to a
--   tokenizer.model elsewhere), `require_tokenizer` (fail without one), `check` (read every
--   weight first: NaN or infinity fails the load, naming the tensor and the index)
-- @return a model (its `config.dir` the directory it came from), or nil and a message naming
--   the file and tensor at fault, or the name that was not found and where it was looked for
function M.load(...)
  local dir, opts = ...
  -- the engine's own wording, checked before the name is looked up (and pointing at the caller)
  if type(dir) ~= "string" then
    error(string.format("bad argument #1 to 'load' (string expected, got %s)",
      select("#", ...) == 0 and "no value" or type(dir)), 2)
  elseif opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 to 'load' (table of options expected, got " .. type(opts) .. ")", 2)
  end
  local found, err = M.find_model(dir)
  if not found then return nil, err end
  return core.load(found, select(2, ...))
end

-- ------------------------------------------------------------ chat templates

--- A chat template from its source (Jinja, as Hugging Face renders it; the subset is in
-- docs/formats-and-limits.md).
-- @function chat_template
-- @tparam string source
-- @tparam[opt] table tokens `bos_token`, `eos_token`, `name` (for messages)
-- @return a template (`t:apply(messages [, opts])`, as `Model:apply_chat_template`), or nil
--   and a message naming the construct outside the subset and its line
M.chat_template = chat_template.new

--- The chat template of a checkpoint directory: `chat_template.jinja`, else `chat_template`
-- of `tokenizer_config.json` (its `bos_token` and `eos_token` with it).
-- @function load_chat_template
-- @tparam string dir
-- @return a template, or nil and a message (no template, an unreadable file, a construct
--   outside the subset)
M.load_chat_template = chat_template.load

-- Each model's template, loaded once (a 3000-conversation eval renders many prompts).
local templates_of = setmetatable({}, { __mode = "k" })

--- The prompt text of a conversation, rendered from the checkpoint's own chat template
-- (see `load_chat_template`), with Hugging Face's variables: `messages`,
-- `add_generation_prompt`, `bos_token`, `eos_token`, `tools`.
-- @function Model:apply_chat_template
-- @tparam table messages an array of `{ role =, content =, ... }`
-- @tparam[opt] table opts `add_generation_prompt` (default false, as Hugging Face), `tools`
--   (an array of tool definitions), `vars` (more variables: name -> value)
-- @treturn string the text (encode it with `Template:encode`, or with BOS when it does not
--   start with the BOS token itself)
-- @return nil and a message when the directory has no template or it cannot be read or
--   compiled
-- @raise for a wrong argument or option, and for an error while rendering: the message of
--   the template's `raise_exception(message)`, or "NAME line N: ..."
local function apply_chat_template(model, messages, opts)
  local t, err = model:chat_template()
  if not t then return nil, err end
  return t:apply(messages, opts)
end

--- The chat template `apply_chat_template` uses (loaded once per model).
-- @function Model:chat_template
-- @return a template, or nil and a message
local function model_chat_template(model)
  local t = templates_of[model]
  if t then return t end
  local err
  t, err = chat_template.load(model.config.dir)
  if not t then return nil, err end
  templates_of[model] = t
  return t
end

core.add_lua_methods("mobilellm.Model", { apply_chat_template = apply_chat_template,
                                          chat_template = model_chat_template })

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

--- The most tokens a copy draft proposes: the largest `draft_tokens` (16, the engine's
-- `MLLM_MAX_DRAFT`).
M.max_draft = core.max_draft

--- The JSON null sentinel used in parsed call arguments.
M.null = core.null

--- JSON text → Lua value (through cJSON); `nil, message` for invalid JSON.
-- @function json_decode

--- Lua value → JSON text (objects with sorted keys).
-- @function json_encode

--- The keys of an object decoded by `json_decode`, in the order the text had them.
-- @function json_keys

return M
