--- The prompt format of the API-calling assistant (the shipped model's chat template).
--
-- Mirrors `tools/chat_template.py` byte for byte (the model was trained on
-- exactly this); change both or neither.
--
--     Tools: set_alarm(time,day?,label?) set_timer(duration,label?) ...\n
--     User: wake me up at 7\n
--     Assistant: <tool_call>set_alarm(time="7")</tool_call> Alarm set for 7.\n
--     User: thanks\n
--     Assistant:
--
-- The prompt is encoded with BOS; the model answers with one optional call and
-- a reply, then `</s>`.
-- @module mobilellm.chat
local core = require("mobilellm.core")

local M = {}

--- Largest tool list (apis.json) read, in bytes: the shipped one is 3 KiB.
M.MAX_APIS_BYTES = 4 << 20

--- Largest copy_pointer.json read, in bytes: the shipped one is 61 bytes.
M.MAX_POINTER_BYTES = 1 << 20

--- Largest copy_rule.json read, in bytes: the shipped one is 52 bytes.
M.MAX_COPY_RULE_BYTES = 1 << 16

--- Largest reply_rule.json read, in bytes: the shipped one is 1 KiB.
M.MAX_REPLY_RULE_BYTES = 4 << 20

--- Most titles a copy_rule.json lists, and the most bytes of one (constrain.h's
-- MLLM_CST_MAX_TITLES and MLLM_CST_MAX_TITLE_BYTES).
M.MAX_TITLES = 64
M.MAX_TITLE_BYTES = 15

--- Whether a message of `core.read_file` says that nothing is at the path (no such file,
-- or a directory on the way is a file), as opposed to something there that cannot be read
-- (a FIFO, a directory, a device, no permission): that is an error to report, never a
-- reason to carry on as if the file were absent.
-- @tparam string message
-- @treturn boolean
function M.is_missing(message)
  -- the engine's own wording around strerror (the C locale's, as lua5.4 leaves it)
  return message:find(": cannot open: No such file or directory$") ~= nil
      or message:find(": cannot open: Not a directory$") ~= nil
end

--- Reads an APIs file in the shared format (`{"syntax": ..., "apis": [...]}`): a regular
-- file of at most `MAX_APIS_BYTES` (`core.read_file`: a FIFO or a device is refused, never
-- waited on).
-- @tparam string path
-- @return the array of APIs (parameter order kept, see `core.json_keys`), or nil, message
--   (naming the file)
function M.load_apis(path)
  local text, err = core.read_file(path, M.MAX_APIS_BYTES)
  if not text then return nil, err end
  local doc, jerr = core.json_decode(text)
  if not doc then return nil, path .. ": " .. jerr end
  if type(doc) ~= "table" or type(doc.apis) ~= "table" then
    return nil, path .. ": no \"apis\" array"
  end
  return doc.apis
end

--- The parameter names of an API in their declared order.
function M.param_names(api)
  local keys = core.json_keys(api.parameters or {})
  if keys then return keys end
  keys = {}
  for k in pairs(api.parameters or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

--- `name(a,b?,c?)`: optional parameters carry a question mark.
function M.api_line(api)
  local parts = {}
  for i, p in ipairs(M.param_names(api)) do
    parts[i] = p .. (api.parameters[p].required and "" or "?")
  end
  return api.name .. "(" .. table.concat(parts, ",") .. ")"
end

--- The first line of every prompt: the tools the model may call.
function M.tools_line(apis)
  local lines = {}
  for i, a in ipairs(apis) do lines[i] = M.api_line(a) end
  return "Tools: " .. table.concat(lines, " ") .. "\n"
end

local function render_value(v)
  local t = math.type(v)
  if type(v) == "boolean" then return v and "true" or "false" end
  if t == "integer" then return tostring(v) end
  if t == "float" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  if type(v) == "string" then return '"' .. v:gsub("\\", "\\\\"):gsub('"', '\\"') .. '"' end
  error("cannot render argument value of type " .. type(v))
end

--- `name(k="v", n=3)`: arguments in the API's parameter order, then any others sorted.
function M.render_call(call, apis)
  local order, seen = {}, {}
  for _, a in ipairs(apis or {}) do
    if a.name == call.name then order = M.param_names(a) end
  end
  local args, keys = call.args or {}, {}
  for _, k in ipairs(order) do
    if args[k] ~= nil then keys[#keys + 1] = k; seen[k] = true end
  end
  local rest = {}
  for k in pairs(args) do if not seen[k] then rest[#rest + 1] = k end end
  table.sort(rest)
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. render_value(args[k]) end
  return call.name .. "(" .. table.concat(parts, ", ") .. ")"
end

--- An assistant turn: the optional call, then the reply.
function M.render_assistant(call, reply, apis)
  local head = call and ("<tool_call>" .. M.render_call(call, apis) .. "</tool_call> ") or ""
  return head .. (reply or "")
end

-- The prompt text, and the 0-based byte offset in it of each user message's content
-- (starts[i] for messages[i]), which copy_positions needs.
local function prompt_layout(messages, apis)
  local parts, starts = { M.tools_line(apis) }, {}
  local at = #parts[1]
  for i, m in ipairs(messages) do
    local part
    if m.role == "user" then
      starts[i] = at + #"User: "
      part = "User: " .. m.content .. "\n"
    elseif m.role == "assistant" then
      part = "Assistant: " .. M.render_assistant(m.call, m.content, apis) .. "\n"
    else
      error("unknown role '" .. tostring(m.role) .. "'")
    end
    parts[#parts + 1] = part
    at = at + #part
  end
  parts[#parts + 1] = "Assistant:"
  return table.concat(parts), starts
end

--- The prompt text for a conversation (an array of `{role=, content=, call=}`).
function M.prompt_text(messages, apis)
  return (prompt_layout(messages, apis))
end

-- The indices of the user messages copy_source joins, in order.
local function source_messages(messages, limit)
  local picked, len = {}, 0
  for i = #messages, 1, -1 do
    local m = messages[i]
    if m.role == "user" then
      local add = #m.content + (#picked > 0 and 1 or 0)
      if len + add > limit then break end
      table.insert(picked, 1, i)
      len = len + add
    end
  end
  return picked
end

--- The text a call's string values may be copied from (the copy constraint's source,
-- `c:set_source`): the conversation's user messages, latest first, joined by newlines while
-- they fit in `limit` bytes (default 256, the constraint's limit); nil when even the last one
-- does not. Earlier messages count: a request may name the recipient in one turn and the
-- message in the next.
-- @tparam table messages the conversation (`{ role =, content = }`)
-- @tparam[opt=256] integer limit
-- @treturn ?string
function M.copy_source(messages, limit)
  local parts = {}
  for _, i in ipairs(source_messages(messages, limit or 256)) do parts[#parts + 1] = messages[i].content end
  return #parts > 0 and table.concat(parts, "\n") or nil
end

--- Where each byte of the copy source sits in the prompt, for the copy constraint's pointer
-- (`c:set_source(source, positions, weight)`): positions[i] is the 0-based position of the
-- prompt token that holds byte i of the source (-1 for the newlines that join messages).
-- @tparam table messages the conversation
-- @tparam table ids the prompt's token ids (`prompt_text(messages, apis)` encoded with BOS)
-- @tparam function piece id -> the token's text (`tokenizer:piece`)
-- @tparam[opt] table apis as for `prompt_text`
-- @tparam[opt=256] integer limit as for `copy_source`
-- @return source, positions; or nil when there is no source or the tokens do not spell the prompt
function M.copy_positions(messages, ids, piece, apis, limit)
  local picked = source_messages(messages, limit or 256)
  if #picked == 0 then return nil end
  local text, start = prompt_layout(messages, apis)
  -- the token holding each prompt byte: the tokens spell " " .. prompt (SentencePiece's dummy space)
  local owner, spelt = {}, {}
  for k, id in ipairs(ids) do
    local p = piece(id)
    spelt[#spelt + 1] = p
    for _ = 1, #p do owner[#owner + 1] = k - 1 end
  end
  if table.concat(spelt) ~= " " .. text then return nil end
  local source, positions = {}, {}
  for n, i in ipairs(picked) do
    if n > 1 then positions[#positions + 1] = -1 end
    source[#source + 1] = messages[i].content
    for b = 1, #messages[i].content do positions[#positions + 1] = owner[start[i] + b + 1] end
  end
  return table.concat(source, "\n"), positions
end

--- Sets a turn's copy rule: each constraint's source (`copy_source`); with `pointer` also the
-- source's prompt positions (`copy_positions`) and the pointer's weight, and the session's
-- attention probe on the pointer's heads (turned off, and the plain rule kept, when the tokens
-- do not spell the prompt or the session has no probe).
-- @tparam table constraints an array of constraints (`mllm.constraint`)
-- @param session the session that will generate the turn
-- @tparam table messages the conversation
-- @tparam table ids the prompt's token ids (`prompt_text(messages, apis)` encoded with BOS)
-- @tparam function piece id -> the token's text (`tokenizer:piece`)
-- @tparam[opt] table apis as for `prompt_text`
-- @tparam[opt] table pointer `{ heads =, weight = }` (`load_pointer`), or nil for none
-- @tparam[opt] table rule `{ titles = {...} }` (`load_copy_rule`): the titles whose period stays
--   inside its word before a name (`c:set_titles`; a constraint without that method, a scripted
--   fake or a binding that cannot take them yet, keeps its own), or nil to leave them as they are
function M.set_copy_rule(constraints, session, messages, ids, piece, apis, pointer, rule)
  local src, positions = nil, nil
  if pointer and session.set_probe then
    src, positions = M.copy_positions(messages, ids, piece, apis)
    session:set_probe(src and pointer.heads or nil)
  end
  if not src then src = M.copy_source(messages) end  -- nil (no copy rule): the last message is too long
  for _, c in ipairs(constraints) do
    if positions then c:set_source(src, positions, pointer.weight) else c:set_source(src) end
    if rule and c.set_titles then c:set_titles(rule.titles) end
  end
end

-- An optional JSON file of a model directory, at most max_bytes: its document and path;
-- nothing when the file is absent; nil and a message naming it when it is there but bad.
local function read_model_json(dir, name, max_bytes)
  local path = dir .. "/" .. name
  local text, rerr = core.read_file(path, max_bytes)
  if not text then
    if M.is_missing(rerr) then return nil end
    return nil, rerr
  end
  local doc, err = core.json_decode(text)
  if not doc then return nil, path .. ": " .. err end
  return doc, path
end

--- The copy pointer a model directory ships (`copy_pointer.json`: `{"heads": [[layer, head],
-- ...], "weight": w}`, 0-based executed layers and query heads), or nil when it has none.
-- @tparam string dir
-- @return `{ heads = {{l, h}, ...}, weight = w }`, or nil (and a message naming the file when
--   it is bad, larger than `MAX_POINTER_BYTES` or not a regular file)
function M.load_pointer(dir)
  local doc, path = read_model_json(dir, "copy_pointer.json", M.MAX_POINTER_BYTES)
  if not doc then return nil, path end
  if type(doc) ~= "table" or type(doc.heads) ~= "table" or type(doc.weight) ~= "number" then
    return nil, path .. ": needs \"heads\" (an array of [layer, head]) and \"weight\" (a number)"
  end
  return { heads = doc.heads, weight = doc.weight }
end

--- The copy rule's language data a model directory ships (`copy_rule.json`: `{"titles": ["mr",
-- "dr", ...]}`, the titles whose period stays inside its word before a name: no copied value
-- stops at "Dr" of "Dr. Megan"), or nil when it has none (the copy rule then knows no titles).
-- @tparam string dir
-- @return `{ titles = {...} }` (each title as written), or nil (and a message naming the file
--   when it is bad, larger than `MAX_COPY_RULE_BYTES` or not a regular file)
function M.load_copy_rule(dir)
  local doc, path = read_model_json(dir, "copy_rule.json", M.MAX_COPY_RULE_BYTES)
  if not doc then return nil, path end
  local list = type(doc) == "table" and doc.titles
  local bad = ("%s: needs \"titles\", an array of at most %d words of 1 to %d ASCII letters")
    :format(path, M.MAX_TITLES, M.MAX_TITLE_BYTES)
  if type(list) ~= "table" then return nil, bad end
  local titles, n = {}, 0
  for _ in pairs(list) do n = n + 1 end
  if n ~= #list or n > M.MAX_TITLES then return nil, bad end
  for i, t in ipairs(list) do
    if type(t) ~= "string" or not t:match("^[A-Za-z]+$") or #t > M.MAX_TITLE_BYTES then
      return nil, bad .. " (title " .. i .. " is not)"
    end
    titles[i] = t
  end
  return { titles = titles }
end

--- The reply rule a model directory ships (`reply_rule.json`: `{"words": [...], "gaps": [...],
-- "end_gaps": [...], "repeatable": [...], "follows": {"<start>": [...], "to": ["<value>"], ...}}`:
-- the words of its training replies with the values copied from requests taken out, the runs of
-- bytes between words and after the last, the words a reply may say more than once, and what
-- followed each word in those replies;
-- `training/make_reply_rule.lua` writes it), or nil when it has none. Set on a constraint
-- (`c:set_reply_rule(rule)`), it holds the words of a reply outside a call to those words in
-- those orders and the words of the request.
-- @tparam string dir
-- @return `{ words =, gaps =, repeatable =, follows = }`, or nil (and a message naming the file
--   when it is bad, larger than `MAX_REPLY_RULE_BYTES` or not a regular file)
function M.load_reply_rule(dir)
  local doc, path = read_model_json(dir, "reply_rule.json", M.MAX_REPLY_RULE_BYTES)
  if not doc then return nil, path end
  local bad = path .. ": needs \"words\" and \"gaps\", arrays of strings (and \"repeatable\", one too, and "
    .. "\"follows\", an object of arrays of strings)"
  if type(doc) ~= "table" or type(doc.words) ~= "table" or type(doc.gaps) ~= "table" then return nil, bad end
  local repeatable, follows, end_gaps = doc.repeatable or {}, doc.follows or {}, doc.end_gaps or {}
  if type(repeatable) ~= "table" or type(follows) ~= "table" or type(end_gaps) ~= "table" then return nil, bad end
  local lists = { doc.words, doc.gaps, end_gaps, repeatable }
  for k, list in pairs(follows) do
    if type(k) ~= "string" or type(list) ~= "table" then return nil, bad end
    lists[#lists + 1] = list
  end
  for _, list in ipairs(lists) do
    for i, w in ipairs(list) do
      if type(w) ~= "string" then return nil, bad .. " (item " .. i .. " is not a string)" end
    end
  end
  return { words = doc.words, gaps = doc.gaps, end_gaps = end_gaps, repeatable = repeatable,
           follows = next(follows) and follows or nil }
end

--- The files of a model directory besides its weights, in the order `mobilellm convert` copies
-- and lists them: the Hugging Face files, the tools, the decoding data of the copy and reply
-- rules, and its evaluation set (paths relative to the directory).
M.COMPANION_FILES = { "config.json", "tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                      "special_tokens_map.json", "generation_config.json", "chat_template.jinja", "apis.json",
                      "copy_pointer.json", "copy_rule.json", "reply_rule.json", "eval/test.jsonl",
                      "eval/tools.json", "eval/tools_test.jsonl" }

--- The companion files a model directory ships (each optional): its tools (`apis.json`), copy
-- pointer (`copy_pointer.json`), copy rule (`copy_rule.json`) and reply rule
-- (`reply_rule.json`), found relative to the directory, never the working directory.
-- @tparam string dir
-- @return `{ apis =, apis_path =, pointer =, copy_rule =, reply_rule = }` (nil for a file the
--   directory does not have), or nil and a message naming the file that is there but bad
function M.load_model_files(dir)
  local files, path = {}, dir .. "/apis.json"
  local apis, aerr = M.load_apis(path)
  if apis then files.apis, files.apis_path = apis, path
  elseif not M.is_missing(aerr) then return nil, aerr end
  local err
  files.pointer, err = M.load_pointer(dir)
  if err then return nil, err end
  files.copy_rule, err = M.load_copy_rule(dir)
  if err then return nil, err end
  files.reply_rule, err = M.load_reply_rule(dir)
  if err then return nil, err end
  return files
end

--- Splits a model answer into its call (via the C parser) and its reply text.
-- @return call table or nil, reply text, and an error message when the call is malformed
function M.parse_answer(text)
  local calls, rest, pos = core.parse_calls(text)
  if not calls then return nil, text, rest, pos end
  local reply = (rest or ""):gsub("^%s+", ""):gsub("%s+$", "")
  return calls[1], reply
end

return M
