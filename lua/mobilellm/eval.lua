--- The paper's API-calling metrics, through our own engine.
--
-- Runs a model over an evaluation file in the shared format (JSON Lines, see
-- `data/api-calling/README.md`) with the project's chat template
-- (`mobilellm.chat`) and greedy decoding, and measures EM_intent,
-- EM_structure, ROUGE-1, ROUGE-L (F1 on the reply outside the call) and the
-- share of calls that parse. `tools/eval.lua` and `mobilellm eval` are its
-- command lines.
--
--     local eval = require("mobilellm.eval")
--     local result = assert(eval.run({ model = "models/mobilellm-tiny-api", limit = 100 }))
--     io.write(eval.report(result))
--
-- Every default path is the model directory's (`DIR/eval/test.jsonl`, `DIR/apis.json`), never
-- the working directory's; so is the default decoding (`decoding`): the best the directory
-- ships for.
-- @module mobilellm.eval
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")
local options = require("mobilellm.options")
local tools = require("mobilellm.tools")

local M = {}

--- Defaults of `run` besides the paths, which are the model directory's: `data`
-- `DIR/eval/test.jsonl` (the held-out set), `apis` `DIR/apis.json` (its tool list).
M.DEFAULTS = { threads = 0, limit = math.huge }

--- Where a model directory keeps its held-out set and its tool list.
M.DATA_FILE = "eval/test.jsonl"
M.APIS_FILE = "apis.json"

--- The options `run` takes (any other key raises).
M.OPTIONS = { "model", "data", "apis", "threads", "dtype", "tokenizer", "limit", "free", "constrain", "copy",
              "pointer", "reply_rule", "verbose", "loaded", "log", "on_example", "draft_tokens" }

--- Largest evaluation file read, in bytes (it is held in memory whole; the task's
-- training set, 16 MiB, fits many times over).
M.MAX_DATA_BYTES = 256 << 20

--- Words for ROUGE: lower-case runs of letters and digits.
-- @tparam string s
-- @treturn {string,...}
function M.words(s)
  local t = {}
  for w in (s or ""):lower():gmatch("[%w]+") do t[#t + 1] = w end
  return t
end

local function f1(p, r)
  if p + r == 0 then return 0 end
  return 2 * p * r / (p + r)
end

--- ROUGE-1 F1 of two word lists.
-- @tparam {string,...} cand
-- @tparam {string,...} ref
-- @treturn number in [0, 1]
function M.rouge1(cand, ref)
  if #cand == 0 and #ref == 0 then return 1 end
  if #cand == 0 or #ref == 0 then return 0 end
  local counts, overlap = {}, 0
  for _, w in ipairs(ref) do counts[w] = (counts[w] or 0) + 1 end
  for _, w in ipairs(cand) do
    if (counts[w] or 0) > 0 then overlap = overlap + 1; counts[w] = counts[w] - 1 end
  end
  return f1(overlap / #cand, overlap / #ref)
end

--- ROUGE-L F1 (longest common subsequence) of two word lists.
-- @tparam {string,...} cand
-- @tparam {string,...} ref
-- @treturn number in [0, 1]
function M.rougeL(cand, ref)
  if #cand == 0 and #ref == 0 then return 1 end
  if #cand == 0 or #ref == 0 then return 0 end
  local prev = {}
  for j = 0, #ref do prev[j] = 0 end
  for a = 1, #cand do
    local cur = { [0] = 0 }
    for b = 1, #ref do
      if cand[a] == ref[b] then cur[b] = prev[b - 1] + 1
      else cur[b] = math.max(prev[b], cur[b - 1]) end
    end
    prev = cur
  end
  local lcs = prev[#ref]
  return f1(lcs / #cand, lcs / #ref)
end

--- Same value: strings exactly, numbers by value (3 == 3.0), tables key by key.
-- @return boolean
function M.same(a, b)
  if type(a) == "number" and type(b) == "number" then return a == b end
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not M.same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function is_call(c) return type(c) == "table" and type(c.name) == "string" end

-- ------------------------------------------------------------ decoding

--- Constraint options of every decoding that constrains: string values are bounded (96 bytes,
-- longer than any value the task has) and one call per answer at most, as the task says.
M.CONSTRAINT_OPTS = { max_string = 96, max_calls = 1 }

local Decoding = {}
Decoding.__index = Decoding

--- How answers are decoded, from the flags `free`, `constrain`, `copy` and `pointer`:
--
-- * `free`: no constraint;
-- * `constrain`: calls held to the tools' grammar (`mllm.constraint`);
-- * `copy` (implies `constrain`): string values also copied from the user's words, with the
--   model directory's copy pointer (`copy_pointer.json`; `pointer` a table: that one; `pointer =
--   false`: none), its copy rule's titles (`copy_rule.json`) and its reply rule
--   (`reply_rule.json`; `reply_rule = false`: none), each when it ships one;
-- * none of them: the best the directory ships for: `copy` when it has a copy pointer, else
--   `free`.
--
-- `free` with `constrain` or `copy`, and `pointer = false` with `free` or `constrain` alone,
-- contradict each other: a wrong command line.
-- @tparam string dir the model directory
-- @tparam[opt] table flags
-- @return the decoding (for one model and one tool list): `name` ("free", "constrain" or
--   "copy"), `label` (what it uses: "constrain + copy + pointer + copy rule"), `pointer`,
--   `rule`, and the method `start`; or nil, message, and true when the flags contradict each
--   other (else the message names a file of the directory that is there but bad)
function M.decoding(dir, flags)
  flags = flags or {}
  if flags.free and (flags.constrain or flags.copy) then
    return nil, "--free excludes --constrain and --copy", true
  end
  for _, f in ipairs { { "pointer", "--no-pointer" }, { "reply_rule", "--no-reply-rule" } } do
    if flags[f[1]] == false and (flags.free or (flags.constrain and not flags.copy)) then
      return nil, f[2] .. " goes with the copy decoding (--copy, or the default for a model directory "
        .. "with a copy_pointer.json), not with --" .. (flags.free and "free" or "constrain"), true
    end
  end
  local d = setmetatable({ name = "free" }, Decoding)
  if flags.copy then d.name = "copy"
  elseif flags.constrain then d.name = "constrain"
  elseif not flags.free then
    local pointer, err = chat.load_pointer(dir)
    if err then return nil, err end
    if pointer then d.name = "copy" end
  end
  if d.name == "copy" then
    local err
    if flags.pointer ~= false then
      d.pointer = flags.pointer
      if d.pointer == nil then
        d.pointer, err = chat.load_pointer(dir)
        if err then return nil, err end
      end
    end
    d.rule, err = chat.load_copy_rule(dir)
    if err then return nil, err end
    if flags.reply_rule ~= false then
      d.reply, err = chat.load_reply_rule(dir)
      if err then return nil, err end
    end
  end
  local parts = { d.name == "free" and "free" or "constrain" }
  if d.name == "copy" then parts[#parts + 1] = "copy" end
  if d.pointer then parts[#parts + 1] = "pointer" end
  if d.rule then parts[#parts + 1] = "copy rule" end
  if d.reply then parts[#parts + 1] = "reply rule" end
  d.label = table.concat(parts, " + ")
  return d
end

--- Readies the decoding for one answer: the constraint of its tool list (made at the list's
-- first answer, then kept), and the copy rule's source, the conversation's user words.
-- @param model the model
-- @param apis the tool list (`chat.load_apis`)
-- @param session the session that will generate the answer
-- @tparam table messages the conversation
-- @tparam table ids the prompt's token ids (`chat.prompt_text(messages, apis)` encoded with BOS)
-- @tparam[opt] string key what tells this tool list from the others the decoding is given
--   (an example's tool names); nil for the only one (`constraint`, which a caller may set)
-- @return the generation's `constraint` option (nil: free decoding), or nil and a message
function Decoding:start(model, apis, session, messages, ids, key)
  if self.name == "free" then return nil end
  local constraint
  if key == nil then constraint = self.constraint
  elseif key == self.tools_key then constraint = self.tools_constraint end
  if not constraint then
    if not mllm.constraint then return nil, "this build has no constrained decoding (mllm.constraint)" end
    constraint = mllm.constraint(apis, model, M.CONSTRAINT_OPTS)
    if self.reply then constraint:set_reply_rule(self.reply) end
    if key == nil then self.constraint = constraint
    else  -- one list's kept at a time: making one takes about a millisecond
      if self.tools_constraint then self.tools_constraint:close() end
      self.tools_key, self.tools_constraint = key, constraint
    end
  end
  if self.name == "copy" then
    chat.set_copy_rule({ constraint }, session, messages, ids, function(id) return model:token_piece(id) end,
      apis, self.pointer, self.rule)
  end
  return constraint
end

--- The characters of a model directory's replies: those of its reply rule's words and gaps
-- (`reply_rule.json`: its training replies with the values copied from requests taken out), or
-- nil when it ships none.
-- @tparam string dir
-- @treturn ?table character -> true
function M.reply_chars(dir)
  local rule = chat.load_reply_rule(dir)
  if not rule then return nil end
  local set = {}
  for _, list in ipairs { rule.words, rule.gaps, rule.end_gaps or {} } do
    for _, w in ipairs(list) do
      for ch in w:gmatch(utf8.charpattern) do set[ch] = true end
    end
  end
  return set
end

--- Whether a reply holds a character that neither the conversation's user messages nor
-- `reply_chars` have: a garbled reply.
-- @tparam string reply
-- @tparam table messages the conversation
-- @tparam table reply_chars from `reply_chars`
-- @treturn boolean
function M.foreign(reply, messages, reply_chars)
  local request = {}
  for _, m in ipairs(messages) do
    if m.role == "user" then
      for ch in m.content:gmatch(utf8.charpattern) do request[ch] = true end
    end
  end
  for ch in reply:gmatch(utf8.charpattern) do
    if not request[ch] and not reply_chars[ch] then return true end
  end
  return false
end

--- The tool list of one example: all of `apis`, or, when the example has `"tools"` (an array of
-- names of `apis`, or of tools in the apis.json format, as `training/gen_toolsets.py` writes),
-- those tools in that order: its prompt lists them and its calls are held to them.
-- @tparam table ex the example
-- @tparam table apis the tools of the evaluation (`chat.load_apis`)
-- @tparam table by_name name -> API of `apis`
-- @tparam string apis_path where `apis` came from, for messages
-- @return the tool list and a key naming it (nil for all of `apis`), or nil, nil, message
function M.example_tools(ex, apis, by_name, apis_path)
  local names = ex.tools
  if names == nil then return apis, nil end
  if type(names) ~= "table" or #names == 0 then
    return nil, nil, "\"tools\" must be a non-empty array of tool names"
  end
  local list, seen = {}, {}
  for i, name in ipairs(names) do
    local api
    if type(name) == "table" and type(name.name) == "string" then  -- the tool itself
      api, name = name, name.name
      if api.parameters ~= nil and type(api.parameters) ~= "table" then
        return nil, nil, "tool '" .. name .. "': \"parameters\" is not an object"
      end
    elseif type(name) ~= "string" then
      return nil, nil, "\"tools\" item " .. i .. " is neither a tool name nor a tool"
    else
      api = by_name[name]
      if not api then return nil, nil, "tool '" .. name .. "' is not in " .. apis_path end
    end
    if seen[name] then return nil, nil, "tool '" .. name .. "' is listed twice in \"tools\"" end
    seen[name] = true
    list[i] = api
  end
  return list, mllm.json_encode(names)
end

--- Evaluates a model on a data file.
-- @tparam table opts `model` (the model directory, required), `data` (default
--   `DIR/eval/test.jsonl`), `apis` (default `DIR/apis.json`), `threads`, `dtype`, `tokenizer`,
--   `limit`, the decoding's flags `free`, `constrain`, `copy` and `pointer` (`decoding`; none:
--   the directory's best), `verbose` (defaults: `DEFAULTS`); `loaded` (an already loaded model
--   to use instead of loading `model`); `log(text)` for verbose output (default: standard
--   error); `on_example(n, answer, info)` after each example (its generation's info);
--   `draft_tokens` (copy drafts, as the generation option; default 0: off)
-- An example may carry its own tool list (`example_tools`: `"tools"`, names of `apis` or tools).
-- @return a result `{ n, em_intent, em_structure, rouge1, rougeL, parsed, valid, no_call, no_call_n, seconds,
--   model, data, decoding, generated_tokens, decode_seconds, drafted_tokens,
--   accepted_tokens }` (percentages; `decoding` its label), or nil, message
-- @raise when `model` is missing or the decoding's flags contradict each other
function M.run(opts)
  opts = options.check(opts, M.OPTIONS, "eval.run")
  local o = {}
  for k, v in pairs(M.DEFAULTS) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  local log = o.log or function(text) io.stderr:write(text) end
  local dir = o.model
  if type(dir) ~= "string" then error("eval.run: option 'model' (the model directory) is required", 2) end
  local draft = o.draft_tokens
  if draft ~= nil and (math.type(draft) ~= "integer" or draft < 0 or draft > mllm.max_draft) then
    error("eval.run: option 'draft_tokens' must be an integer in [0, " .. mllm.max_draft .. "], got "
      .. tostring(draft), 2)
  end

  local decoding, cerr, contradiction = M.decoding(dir, o)
  if contradiction then error("eval.run: " .. cerr, 2) end
  if not decoding then return nil, cerr end
  -- the directory's own files unless told otherwise; a missing one says how to name another
  local function read_default(given, name, read, flag)
    local value, err = read(given or (dir .. "/" .. name))
    if not value and not given and chat.is_missing(err) then
      err = err .. " (" .. dir .. " has no " .. name .. "; " .. flag .. " names one)"
    end
    return value, err
  end
  local apis, aerr = read_default(o.apis, M.APIS_FILE, chat.load_apis, "--apis FILE")
  if not apis then return nil, aerr end
  -- a regular file only (a FIFO or a device is refused, never waited on), read before the
  -- model loads so that a bad path fails at once
  local given_data = o.data
  o.data = given_data or (dir .. "/" .. M.DATA_FILE)
  local data, derr = read_default(given_data, M.DATA_FILE,
    function(path) return mllm.read_file(path, M.MAX_DATA_BYTES) end, "--data FILE")
  if not data then return nil, derr end
  local model = o.loaded
  if not model then
    local err
    model, err = mllm.load(dir, { threads = o.threads, dtype = o.dtype, tokenizer = o.tokenizer,
                                  require_tokenizer = o.tokenizer ~= nil })
    if not model then return nil, err end
  end

  -- The tools line is the same for every example: compute it once, fork per example.
  local tok = model:tokenizer()
  local prefix_ids = tok:encode(chat.tools_line(apis), { bos = true })
  local base = model:session({ n_ctx = model.config.max_seq_len })
  assert(base:eval(prefix_ids))

  local by_name = {}
  for _, a in ipairs(apis) do by_name[a.name] = a end
  local apis_path = o.apis or (dir .. "/" .. M.APIS_FILE)
  local reg, reg_key = nil, false  -- the registry of the last tool list, to validate calls against
  local n, intent, structure, r1, rl, attempted, parsed, valid = 0, 0, 0, 0, 0, 0, 0, 0
  local no_call_wanted, no_call_kept = 0, 0
  -- replies holding a character that neither the request nor the model's replies have (the
  -- characters of its reply rule's words and gaps: its training replies, the copied values out)
  local reply_chars, foreign = M.reply_chars(dir), 0
  local tokens, decode_s, drafted, accepted = 0, 0, 0, 0
  local t0 = os.clock()
  for line in data:gmatch("[^\n]+") do
    if n >= o.limit then break end
    if line:match("%S") then
      local ex, jerr = mllm.json_decode(line)
      if not ex then base:close() return nil, o.data .. ":" .. (n + 1) .. ": " .. jerr end
      local ex_apis, key, terr = M.example_tools(ex, apis, by_name, apis_path)
      if terr then base:close() return nil, o.data .. ":" .. (n + 1) .. ": " .. terr end
      if key ~= reg_key then  -- an example's own tools may be malformed: say where
        local ok, r = pcall(tools.from_apis, ex_apis)
        if not ok then  -- the message without the "tools.lua:N: " that error() put before it
          base:close()
          return nil, o.data .. ":" .. (n + 1) .. ": " .. tostring(r):gsub("^[^:\n]-%.lua:%d+: ", "")
        end
        reg, reg_key = r, key
      end
      local prompt_ids = tok:encode(chat.prompt_text(ex.messages, ex_apis), { bos = true })
      local s, feed
      local shared = key == nil and #prompt_ids > #prefix_ids
      for k = 1, #prefix_ids do if prompt_ids[k] ~= prefix_ids[k] then shared = false break end end
      if shared then
        s = base:fork()
        feed = { table.unpack(prompt_ids, #prefix_ids + 1) }
      else
        s = model:session({ n_ctx = model.config.max_seq_len })
        feed = prompt_ids
      end
      local constraint, serr = decoding:start(model, ex_apis, s, ex.messages, prompt_ids, key)
      if serr then s:close() base:close() return nil, serr end
      -- constrained: the budget leaves room to close any call of values so bounded (96 bytes), so a
      -- call is never cut off half-written by max_tokens
      local answer, info = s:generate(feed, { max_tokens = constraint and 256 or 96, temperature = 0,
        constraint = constraint, draft_tokens = o.draft_tokens })
      if not answer then s:close() base:close() return nil, info end
      s:close()
      local call, reply, perr = chat.parse_answer(answer)
      if answer:find("<tool_call>", 1, true) then
        attempted = attempted + 1
        if call then
          parsed = parsed + 1
          if reg:validate(call) then valid = valid + 1 end
        end
      end
      if perr then reply = answer end
      local want = ex.expected or {}
      local want_call = is_call(want.call) and want.call or nil
      local got = call and { name = call.name, args = call.args } or nil
      local ok_intent = (got == nil and want_call == nil) or (got and want_call and got.name == want_call.name)
      local ok_structure = (got == nil and want_call == nil)
        or (got and want_call and got.name == want_call.name and M.same(got.args or {}, want_call.args or {}))
      n = n + 1
      if ok_intent then intent = intent + 1 end
      if want_call == nil then
        no_call_wanted = no_call_wanted + 1
        if got == nil then no_call_kept = no_call_kept + 1 end
      end
      if ok_structure then structure = structure + 1 end
      if reply_chars and M.foreign(reply, ex.messages, reply_chars) then
        foreign = foreign + 1
        if o.verbose then log(string.format("[%s] a character of neither the request nor the replies: %s\n",
          tostring(ex.id), reply)) end
      end
      local cw, rw = M.words(reply), M.words(want.reply)
      r1 = r1 + M.rouge1(cw, rw)
      rl = rl + M.rougeL(cw, rw)
      if o.verbose and not ok_structure then
        log(string.format("[%s] %s\n  got:  %s\n  want: %s\n", tostring(ex.id), ex.messages[#ex.messages].content,
          answer, chat.render_assistant(want_call, want.reply or "", ex_apis)))
      end
      tokens, decode_s = tokens + info.generated_tokens, decode_s + info.decode_seconds
      drafted, accepted = drafted + info.drafted_tokens, accepted + info.accepted_tokens
      if o.on_example then o.on_example(n, answer, info) end
    end
  end
  base:close()
  if n == 0 then return nil, o.data .. ": no examples" end

  local pct = function(x) return 100 * x / n end
  return {
    n = n, em_intent = pct(intent), em_structure = pct(structure), rouge1 = pct(r1), rougeL = pct(rl),
    parsed = attempted > 0 and 100 * parsed / attempted or 100,
    valid = attempted > 0 and 100 * valid / attempted or 100,
    no_call = no_call_wanted > 0 and 100 * no_call_kept / no_call_wanted or nil, no_call_n = no_call_wanted,
    seconds = os.clock() - t0, model = dir, data = o.data, decoding = decoding.label,
    foreign = reply_chars and foreign or nil,
    generated_tokens = tokens, decode_seconds = decode_s, drafted_tokens = drafted, accepted_tokens = accepted,
  }
end

--- The result as the table `tools/eval.lua` prints (a Markdown table under a
-- one-line summary); with `json`, one more line: the numbers as a JSON object.
-- @tparam table result from `run`
-- @tparam[opt] boolean json
-- @treturn string lines, each ending in a newline
function M.report(result, json)
  local lines = {
    string.format("model %s, data %s, %d examples, decoding %s, %.1f s", result.model, result.data, result.n,
      result.decoding, result.seconds),
    "| metric | % |",
    "|---|---|",
    string.format("| EM_intent | %.1f |", result.em_intent),
    string.format("| EM_structure | %.1f |", result.em_structure),
    string.format("| ROUGE-1 | %.1f |", result.rouge1),
    string.format("| ROUGE-L | %.1f |", result.rougeL),
    string.format("| calls that parse | %.1f |", result.parsed),
    string.format("| calls that validate (the prompt's tools, names, types, ranges) | %.1f |", result.valid),
  }
  if result.no_call then
    lines[#lines + 1] = string.format("| no-call requests answered without a call | %.1f (of %d) |", result.no_call,
      result.no_call_n)
  end
  if result.foreign then
    lines[#lines + 1] = string.format("| replies with a character of neither the request nor the replies | %d of %d |",
      result.foreign, result.n)
  end
  if (result.drafted_tokens or 0) > 0 then
    lines[#lines + 1] = string.format("| copy-draft tokens kept | %d of %d drafted (%d generated) |",
      result.accepted_tokens, result.drafted_tokens, result.generated_tokens)
  end
  if json then
    lines[#lines + 1] = mllm.json_encode({
      n = result.n, em_intent = result.em_intent, em_structure = result.em_structure,
      rouge1 = result.rouge1, rougeL = result.rougeL, parsed = result.parsed, decoding = result.decoding,
      foreign = result.foreign, valid = result.valid, no_call = result.no_call,
    })
  end
  return table.concat(lines, "\n") .. "\n"
end

return M
