--- A checkpoint's own chat template (Hugging Face's `chat_template`), rendered by
-- `mobilellm.jinja` with Hugging Face's variables: `messages`, `add_generation_prompt`,
-- `bos_token`, `eos_token`, `tools`.
--
--     local ct = require("mobilellm.chat_template")
--     local t = assert(ct.load("path/to/checkpoint"))
--     local text = t:apply({ { role = "user", content = "Hi" } }, { add_generation_prompt = true })
--
-- Where the template comes from: `DIR/chat_template.jinja` when it is there (transformers
-- writes the template there, and reads it first, since v4.50), else `chat_template` of
-- `DIR/tokenizer_config.json`: a string, or a list of `{name, template}` of which "default"
-- is taken, and "tool_use" when tools are given and it has one.
-- @module mobilellm.chat_template
local core = require("mobilellm.core")
local jinja = require("mobilellm.jinja")
local options = require("mobilellm.options")

local M = {}

--- Largest tokenizer_config.json read, in bytes (Llama-3's is 50 KiB: its added tokens).
M.MAX_TOKENIZER_CONFIG_BYTES = 16 << 20

local APPLY_OPTS = { "add_generation_prompt", "tools", "vars" }

-- "No such file" in the engine's wording (mobilellm.chat.is_missing's twin, without
-- requiring that module here).
local function is_missing(message)
  return message:find(": cannot open: No such file or directory$") ~= nil
      or message:find(": cannot open: Not a directory$") ~= nil
end

local Template = {}
Template.__index = Template

-- A special token as tokenizer_config.json or special_tokens_map.json writes it: a string or
-- an AddedToken object ({"content": ...}).
local function token_text(v)
  if type(v) == "string" then return v end
  if type(v) == "table" and type(v.content) == "string" then return v.content end
  return nil
end

--- A chat template from its source.
-- @tparam string source the template
-- @tparam[opt] table tokens `bos_token`, `eos_token` (strings the template may print), `name`
--   (how messages name the template; default "chat template")
-- @return a template (`:apply`), or nil and a message naming the construct outside the
--   supported subset and its line
function M.new(source, tokens)
  tokens = tokens or {}
  local name = tokens.name or "chat template"
  local compiled, err = jinja.compile(source, name)
  if not compiled then return nil, err end
  return setmetatable({ default = compiled, source = source, name = name, bos_token = token_text(tokens.bos_token),
                        eos_token = token_text(tokens.eos_token) }, Template)
end

local function read_json(path, max_bytes)
  local text, err = core.read_file(path, max_bytes)
  if not text then return nil, err end
  local doc, jerr = core.json_decode(text)
  if not doc then return nil, path .. ": " .. jerr end
  if type(doc) ~= "table" then return nil, path .. ": not a JSON object" end
  return doc
end

--- The chat template of a checkpoint directory.
-- @tparam string dir
-- @return a template (`:apply`), or nil and a message: the directory has none, a file is
--   unreadable or not JSON, or the template uses a construct outside the subset (named, with
--   its line)
function M.load(dir)
  if type(dir) ~= "string" then error("bad argument #1 to 'load' (string expected, got " .. type(dir) .. ")", 2) end
  local t, err = M.find(dir)
  if t then return t end
  return nil, err or (dir .. " has no chat template (no chat_template in tokenizer_config.json, no "
    .. "chat_template.jinja)")
end

--- As `load`, for callers that carry on without a template (the CLI's chat of the shipped
-- format): nothing when the directory has none.
-- @tparam string dir
-- @return a template; nothing when the directory has none; nil and a message when it has one
--   that cannot be used
function M.find(dir)
  local cfg_path = dir .. "/tokenizer_config.json"
  local cfg, cerr = read_json(cfg_path, M.MAX_TOKENIZER_CONFIG_BYTES)
  if not cfg then
    if not is_missing(cerr) then return nil, cerr end
    cfg = {}
  end
  local tokens = { bos_token = cfg.bos_token, eos_token = cfg.eos_token }
  if tokens.bos_token == nil and tokens.eos_token == nil then
    local map, merr = read_json(dir .. "/special_tokens_map.json", M.MAX_TOKENIZER_CONFIG_BYTES)
    if map then
      tokens.bos_token, tokens.eos_token = map.bos_token, map.eos_token
    elseif not is_missing(merr) then
      return nil, merr
    end
  end
  local file_path = dir .. "/chat_template.jinja"
  local source, ferr = core.read_file(file_path, jinja.MAX_SOURCE_BYTES)
  if source then
    tokens.name = file_path
    return M.new(source, tokens)
  elseif not is_missing(ferr) then
    return nil, ferr
  end
  local ct = cfg.chat_template
  if ct == nil or ct == core.null then return nil end
  tokens.name = cfg_path .. " chat_template"
  if type(ct) == "string" then return M.new(ct, tokens) end
  -- a list of named templates
  local named = {}
  if type(ct) == "table" then
    for _, entry in ipairs(ct) do
      if type(entry) ~= "table" or type(entry.name) ~= "string" or type(entry.template) ~= "string" then
        named = nil
        break
      end
      named[entry.name] = entry.template
    end
  end
  if not named or next(named) == nil then
    return nil, cfg_path .. ": chat_template must be a string or a list of {\"name\", \"template\"}"
  end
  if not named.default then
    return nil, cfg_path .. ": chat_template has no template named \"default\""
  end
  local t, err = M.new(named.default, { name = cfg_path .. " chat_template \"default\"", bos_token = tokens.bos_token,
                                        eos_token = tokens.eos_token })
  if not t then return nil, err end
  if named.tool_use then
    local tool_name = cfg_path .. " chat_template \"tool_use\""
    t.tool_use, err = jinja.compile(named.tool_use, tool_name)
    if not t.tool_use then return nil, err end
  end
  return t
end

--- Renders a conversation.
-- @tparam table messages an array of `{ role =, content =, ... }` (any other fields, such as
--   `tool_calls`, reach the template as they are)
-- @tparam[opt] table opts `add_generation_prompt` (default false, as Hugging Face: true ends
--   the text with the opening of the assistant's turn), `tools` (an array of tool definitions,
--   the template's `tools`), `vars` (more variables, a table name -> value)
-- @treturn string the prompt text
-- @raise for a wrong argument or option; for an error the template raises
--   (`raise_exception(message)`: that message), or one while rendering ("NAME line N: ...")
function Template:apply(messages, opts)
  if type(messages) ~= "table" then
    error("bad argument #1 to 'apply_chat_template' (table of messages expected, got " .. type(messages) .. ")", 2)
  end
  opts = options.check(opts, APPLY_OPTS, "apply_chat_template")
  if opts.vars ~= nil and type(opts.vars) ~= "table" then
    error("apply_chat_template: vars must be a table, got " .. type(opts.vars), 2)
  end
  if opts.tools ~= nil and type(opts.tools) ~= "table" then
    error("apply_chat_template: tools must be an array, got " .. type(opts.tools), 2)
  end
  local vars = {}
  for k, v in pairs(opts.vars or {}) do vars[k] = v end
  vars.messages = messages
  vars.add_generation_prompt = opts.add_generation_prompt and true or false
  vars.bos_token, vars.eos_token = self.bos_token, self.eos_token
  vars.tools = opts.tools
  local t = (opts.tools and self.tool_use) or self.default
  return t:render(vars, { keys_of = core.json_keys, null = core.null })
end

--- The token ids of a rendered prompt for `model`. A template that knows the BOS token
-- (`bos_token`) writes it itself, and a tokenizer may read it as plain text: a text that
-- starts with it is encoded with the tokenizer's BOS in its place, one that does not without
-- BOS. A template without a `bos_token` (a directory without tokenizer_config.json, as the
-- shipped model's) leaves BOS to the tokenizer, which adds it as to any prompt.
-- @param model a model with a tokenizer
-- @tparam string text from `apply`
-- @treturn {integer,...}
function Template:encode(model, text)
  local bos = self.bos_token
  if bos == nil or bos == "" then return model:tokenize(text, { bos = true }) end
  if text:sub(1, #bos) == bos then return model:tokenize(text:sub(#bos + 1), { bos = true }) end
  return model:tokenize(text, { bos = false })
end

return M
