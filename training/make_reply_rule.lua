-- make_reply_rule.lua — writes a model directory's reply_rule.json: the words its training
-- replies are made of once the values copied from the user's words are taken out, and the runs
-- of bytes between words, its gaps (the reply rule of constrained decoding,
-- `Constraint:set_reply_words`: outside a call every word is one of these or a word of the
-- request, every gap one of these, a word at most once unless it is repeatable: one that
-- training replies repeat, "the", "and"; and each word, value or end after the two items it came
-- after in a training reply: "follows", keyed "a b", "<start> a" and "<start>").
--
--   lua5.4 training/make_reply_rule.lua [TRAIN.jsonl] [MODEL_DIR]
--
-- Defaults: data/api-calling/train.jsonl (`make dataset` writes it) and
-- models/mobilellm-tiny-api. Every assistant text of the file counts (the expected reply and
-- earlier assistant turns); in each, the words that overlap a value of its call found in the
-- record's user messages ("Message sent to Priya." loses "Priya") are left out, so a name in a
-- reply must come from the request at hand, never from the names of the training set. Words
-- are split as the rule splits them (src/calls/reply_rule.c): a letter, a digit or a UTF-8 byte,
-- then any of those and apostrophes.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local mllm = require("mobilellm")

local train = arg[1] or "data/api-calling/train.jsonl"
local dir = arg[2] or "models/mobilellm-tiny-api"

-- The enum parameters of the tools (tool -> parameter -> true): a reply names an enum's value in
-- its own words ("on WhatsApp"), which are words of the replies, not copies.
local enums = {}
do
  local chat = require("mobilellm.chat")
  for _, api in ipairs(assert(chat.load_apis(dir .. "/apis.json"))) do
    enums[api.name] = {}
    for name, p in pairs(api.parameters or {}) do
      if p.type == "enum" then enums[api.name][name] = true end
    end
  end
end

-- The byte spans [a, b] of reply that hold a value of call copied from the user's words (any
-- case: "Searching the web for how far ..." copies "How far ..."), enums aside.
local function value_spans(reply, call, users)
  local spans, lower = {}, reply:lower()
  for k, v in pairs(call and call.args or {}) do
    if enums[call.name] and enums[call.name][k] then v = nil end
    local text = math.type(v) == "integer" and tostring(v) or type(v) == "string" and v or nil
    if text and #text > 0 and users:find(text, 1, true) then
      local from, value = 1, text:lower()
      while true do
        local a, b = lower:find(value, from, true)
        if not a then break end
        spans[#spans + 1] = { a, b }
        from = b + 1
      end
    end
  end
  return spans
end

local WORD = "[%w\128-\255][%w\128-\255']*"
local words, gaps, end_gaps, n_texts = {}, { [" "] = true }, {}, 0  -- " ": after the call's closing tag
local repeats = {}  -- word -> replies that say it more than once
local follows = {}  -- "a b" (the two items before) -> set of the items that followed them
local function saw(context, item)
  follows[context] = follows[context] or {}
  follows[context][item] = true
end
local function add(reply, call, users)
  if type(reply) ~= "string" or reply == "" then return end
  n_texts = n_texts + 1
  local spans = value_spans(reply, call, users)
  local said, prev2, prev, prev_span, prev_end = {}, "<start>", "<start>", nil, nil
  local function context() return prev == "<start>" and "<start>" or prev2 .. " " .. prev end
  for a, w in reply:gmatch("()(" .. WORD .. ")") do
    local b, span = a + #w - 1, nil
    for k, s in ipairs(spans) do
      if a <= s[2] and b >= s[1] then span = k break end
    end
    -- the run since the word before: a gap, unless both words are of one value (the copy's own)
    if prev_end and not (span and span == prev_span) then
      -- the bytes of neither value: a value may end or begin with a mark of its own ("5 p.m.")
      local from, to = prev_end + 1, a - 1
      if prev_span then from = math.max(from, spans[prev_span][2] + 1) end
      if span then to = math.min(to, spans[span][1] - 1) end
      if from <= to then gaps[reply:sub(from, to)] = true end
    end
    prev_end = b
    local item = span and "<value>" or w
    if not (span and span == prev_span) then  -- the words of one value are one item
      saw(context(), item)
      prev2, prev = prev, item
    end
    prev_span = span
    if not span then
      words[w] = true
      if said[w] == 1 then repeats[w] = (repeats[w] or 0) + 1 end
      said[w] = (said[w] or 0) + 1
    end
  end
  if prev_end then
    local from = prev_span and math.max(prev_end, spans[prev_span][2]) + 1 or prev_end + 1
    if from <= #reply then end_gaps[reply:sub(from)] = true end
  end
  saw(context(), "<end>")
end

local f = assert(io.open(train, "rb"))
for line in f:lines() do
  local rec = assert(mllm.json_decode(line))
  local users = {}
  for _, m in ipairs(rec.messages) do
    if m.role == "user" then users[#users + 1] = m.content end
  end
  users = table.concat(users, "\n")
  for _, m in ipairs(rec.messages) do
    if m.role == "assistant" then add(m.content, m.call, users) end
  end
  add(rec.expected.reply, rec.expected.call ~= mllm.null and rec.expected.call or nil, users)
end
f:close()

-- a word repeated in at least this many training replies may come more than once in a reply
local MIN_REPEATS = 5
local repeatable = {}
for w, n in pairs(repeats) do if n >= MIN_REPEATS then repeatable[#repeatable + 1] = w end end
table.sort(repeatable)
local function sorted(set)
  local l = {}
  for k in pairs(set) do l[#l + 1] = k end
  table.sort(l)
  return l
end
local list, gap_list, end_gap_list = sorted(words), sorted(gaps), sorted(end_gaps)
local follows_lists = {}
for item, set in pairs(follows) do follows_lists[item] = sorted(set) end
local out = dir .. "/reply_rule.json"
local w = assert(io.open(out, "wb"))
w:write(mllm.json_encode({
  about = "the reply rule of constrained decoding (Constraint:set_reply_words): the words of the training "
    .. "replies, values copied from requests taken out, and the runs of bytes between words; made by "
    .. "training/make_reply_rule.lua",
  words = list, gaps = gap_list, end_gaps = end_gap_list, repeatable = repeatable, follows = follows_lists,
}), "\n")
w:close()
print(string.format("%s: %d words (%d repeatable), %d gaps, %d end gaps, from %d replies of %s", out, #list,
  #repeatable, #gap_list, #end_gap_list, n_texts, train))
