-- Specs of the function-call parser: mllm.parse_calls, mllm.call_parser, mllm.null.
local mllm = require("mobilellm.core")
local null = mllm.null

local T, C = "<tool_call>", "</tool_call>"

local function tagged(s) return T .. s .. C end

-- The one call in `text`, checked to be alone and to have no text around it.
local function one_call(text, opts)
  local calls, rest, pos = mllm.parse_calls(text, opts)
  assert(calls, rest and (rest .. " (position " .. tostring(pos) .. ")"))
  assert.equal(1, #calls)
  assert.equal("", rest)
  return calls[1]
end

-- Feeds `text` in pieces of sizes given by next_size(); returns the calls, the text and the
-- error event (or nil), checking along the way that no text event is empty.
local function stream(text, next_size, opts)
  local p = mllm.call_parser(opts)
  local calls, texts, err = {}, {}, nil
  local function take(events)
    for _, e in ipairs(events) do
      if e.type == "text" then
        assert.is_true(#e.text > 0, "empty text event")
        texts[#texts + 1] = e.text
      elseif e.type == "call" then
        calls[#calls + 1] = e.call
      else
        assert.equal("error", e.type)
        assert.is_nil(err, "a second error event")
        err = e
      end
    end
  end
  local i = 1
  while i <= #text do
    local n = next_size()
    take(p:feed(text:sub(i, i + n - 1)))
    i = i + n
  end
  take(p:finish())
  p:close()
  return calls, table.concat(texts), err
end

local function bytes() return 1 end
local function random_sizes(max) return function() return math.random(1, max) end end

-- The stream must agree with the whole parse: same calls and text (and, past
-- MLLM_CALLS_MAX_CALLS, the same error with them), or same error.
local function assert_stream_matches(text, next_size, opts)
  local want, want_text, want_message, want_pos = mllm.parse_calls(text, opts)
  local got, got_text, err = stream(text, next_size, opts)
  if want then
    assert.same(want, got)
    assert.is_true(want_text == got_text, "text differs")
    assert.equal(want_message, err and err.message)
    assert.equal(want_pos, err and err.position)
  else
    assert.is_table(err)
    assert.equal(want_text, err.message)
    assert.equal(want_message, err.position)
  end
end

-------------------------------------------------------------------------------------------------
-- Cases shared by the whole-parse and the streaming specs.

-- { description, call inside the tags, expected args, expected positional (default {}) }
local python_cases = {
  { "the shipped syntax", [[set_alarm(time="7:30 am", n=3, on=true)]],
    { time = "7:30 am", n = 3, on = true } },
  { "single-quoted string", [[f(city='Lisbon')]], { city = "Lisbon" } },
  { "quotes of the other kind inside", [[f(a="it's", b='say "hi"')]],
    { a = "it's", b = 'say "hi"' } },
  { "empty string", [[f(a="", b='')]], { a = "", b = "" } },
  { "UTF-8 passes through", [[f(dest="Rue de Rivoli 1, café ☕")]],
    { dest = "Rue de Rivoli 1, café ☕" } },
  { "no arguments", [[get_time()]], {} },
  { "integers", [[f(a=0, b=42, c=-7, d=+5)]], { a = 0, b = 42, c = -7, d = 5 } },
  { "int64 extremes", [[f(max=9223372036854775807, min=-9223372036854775808)]],
    { max = math.maxinteger, min = math.mininteger } },
  { "floats", [[f(a=-1.5e3, b=2.5, c=.5, d=1., e=1E+2, f=3e-2, g=-0.0)]],
    { a = -1500.0, b = 2.5, c = 0.5, d = 1.0, e = 100.0, f = 0.03, g = -0.0 } },
  { "booleans", [[f(a=true, b=false, c=True, d=False)]],
    { a = true, b = false, c = true, d = false } },
  { "null and None", [[f(a=null, b=None)]], { a = null, b = null } },
  { "lists", [=[f(l=[1, 2], e=[], n=[[1, [2]], ["x"]], m=[null, true, 1.5, "s"])]=],
    { l = { 1, 2 }, e = {}, n = { { 1, { 2 } }, { "x" } }, m = { null, true, 1.5, "s" } } },
  { "objects", [[f(o={"a": 1}, e={}, n={"a": {"b": [1, {"c": null}]}}, q={'k': 'v'})]],
    { o = { a = 1 }, e = {}, n = { a = { b = { 1, { c = null } } } }, q = { k = "v" } } },
  { "trailing commas", [[f(a=[1, 2,], b={"k": 1,}, c=3,)]],
    { a = { 1, 2 }, b = { k = 1 }, c = 3 } },
  { "whitespace anywhere", "  f \n( a =\t1 ,\r\n b = [ 1 , 2 ] , c = { \"k\" : 2 } )  ",
    { a = 1, b = { 1, 2 }, c = { k = 2 } } },
  { "positional arguments in order", [[f("a", 2, [3], b=4, None)]],
    { b = 4 }, { "a", 2, { 3 }, null } },
  { "a dotted name", [[weather.get(city="Lisbon")]], { city = "Lisbon" } },
  { "an argument named like a literal", [[f(true=1, None=2)]], { ["true"] = 1, None = 2 } },
  { "apis.json: toggle_setting", [[toggle_setting(setting="do_not_disturb", on=false)]],
    { setting = "do_not_disturb", on = false } },
  { "apis.json: set_volume", [[set_volume(level=40)]], { level = 40 } },
}

local escape_cases = {
  { "\\n \\t \\r", [["a\nb\tc\rd"]], "a\nb\tc\rd" },
  { "\\b \\f \\0 \\/", [["\b\f\0\/"]], "\b\f\0/" },
  { "\\\\ \\\" \\' in double quotes", [["\\ \" \'"]], "\\ \" '" },
  { "\\\\ \\\" \\' in single quotes", [['\\ \" \'']], "\\ \" '" },
  { "\\u ASCII", [["\u0041\u007a"]], "Az" },
  { "\\u two and three bytes", [["\u00e9\u20AC"]], "é€" },
  { "\\u surrogate pair", [["\ud83d\ude00"]], "😀" },
  { "\\u surrogate pair, upper case", [["x\uD834\uDD1Ey"]], "x𝄞y" },
  { "\\U", [["\U0001F600\U00000041"]], "😀A" },
  { "\\u0000 keeps the length", [["a\u0000b"]], "a\0b" },
  { "escapes in single quotes", [['\u00e9\n']], "é\n" },
}

-- { description, the whole tag content, expected name, expected args }
local json_cases = {
  { "arguments object", [[{"name": "set_alarm", "arguments": {"time": "7:30 am", "n": 3}}]],
    "set_alarm", { time = "7:30 am", n = 3 } },
  { "parameters", [[{"name": "f", "parameters": {"on": true}}]], "f", { on = true } },
  { "arguments first", [[{"arguments": {"x": 1}, "name": "f"}]], "f", { x = 1 } },
  { "arguments as a string",
    [[{"name": "get_weather", "arguments": "{\"city\": \"Lisbon\", \"days\": [1, 2]}"}]],
    "get_weather", { city = "Lisbon", days = { 1, 2 } } },
  { "arguments string with escapes",
    [[{"name": "f", "arguments": "{\"s\": \"a\\\"b \\u00e9\"}"}]], "f", { s = 'a"b é' } },
  { "arguments as an empty string", [[{"name": "f", "arguments": ""}]], "f", {} },
  { "empty arguments", [[{"name": "f", "arguments": {}}]], "f", {} },
  { "other keys are ignored", [[{"id": 7, "type": "function", "name": "f", "arguments": {}}]],
    "f", {} },
  { "nested values and null", [[{"name": "f", "arguments": {"a": [1, {"b": null}], "c": false}}]],
    "f", { a = { 1, { b = null } }, c = false } },
  { "pretty-printed",
    '\n  {\n    "name": "f",\n    "arguments": {\n      "x": 1.25\n    }\n  }\n', "f", { x = 1.25 } },
  { "single quotes", [[{'name': 'f', 'arguments': {'k': 'v'}}]], "f", { k = "v" } },
}

-- { description, input, expected message, expected position, opts }
local malformed_cases = {
  { "missing comma", tagged([[set_alarm(time="7:30 am" n=3)]]),
    "expected ',' or ')' after argument 'time' at byte 37", 37 },
  { "missing ')'", tagged("f(x=1"), "expected ',' or ')' after argument 'x' at byte 17", 17 },
  { "after a positional argument", tagged("f(1 2)"),
    "expected ',' or ')' after positional argument 1 at byte 16", 16 },
  { "missing closing tag", T .. "f(x=1)", "expected '</tool_call>' after call at byte 18", 18 },
  { "missing closing tag, whitespace", T .. "f(x=1)  \n",
    "expected '</tool_call>' after call at byte 21", 21 },
  { "junk after the call", tagged("f(x=1) junk"),
    "expected '</tool_call>' after call at byte 19", 19 },
  { "two calls in one tag", tagged("f() g()"), "expected '</tool_call>' after call at byte 16", 16 },
  { "empty tag", tagged(""), "expected a call name or '{' at byte 12", 12 },
  { "blank tag", tagged("  "), "expected a call name or '{' at byte 14", 14 },
  { "nested open tag", T .. tagged("f()"), "expected a call name or '{' at byte 12", 12 },
  { "name starts with a digit", tagged("3f(x=1)"), "expected a call name or '{' at byte 12", 12 },
  { "missing '('", tagged("f x=1)"), "expected '(' after call name 'f' at byte 14", 14 },
  { "missing value", tagged("f(x=)"), "expected a value for argument 'x' at byte 16", 16 },
  { "unknown word as value", tagged("f(x=maybe)"),
    "expected a value for argument 'x' at byte 16", 16 },
  { "missing '='", tagged([[f(time "7")]]), "expected '=' after argument name 'time' at byte 19", 19 },
  { "empty argument", tagged("f(x=1,,)"), "expected an argument or ')' at byte 18", 18 },
  { "duplicate argument", tagged("f(x=1, x=2)"), "duplicate argument 'x' at byte 19", 19 },
  { "list without comma", tagged("f(x=[1 2])"), "expected ',' or ']' in list at byte 19", 19 },
  { "list not closed", tagged("f(x=[1,)"), "expected a value or ']' in list at byte 19", 19 },
  { "object without ':'", tagged([[f(x={"a" 1})]]),
    "expected ':' after key 'a' in object at byte 21", 21 },
  { "object with a bare key", tagged("f(x={a: 1})"),
    "expected a string key or '}' in object at byte 17", 17 },
  { "object without comma", tagged([[f(x={"a": 1 "b": 2})]]),
    "expected ',' or '}' in object at byte 24", 24 },
  { "object value missing", tagged([[f(x={"a": })]]), "expected a value for key 'a' at byte 22", 22 },
  { "duplicate key", tagged([[f(x={"a": 1, "a": 2})]]), "duplicate key 'a' in object at byte 25", 25 },
  { "unterminated string", tagged([[f(x="abc)]]), "unterminated string at byte 16", 16 },
  { "unterminated string hides the tag", T .. [[f(x="abc)</tool_call> more]],
    "unterminated string at byte 16", 16 },
  { "invalid escape", tagged([[f(x="a\qb")]]), "invalid escape '\\q' in string at byte 18", 18 },
  { "short \\u", tagged([[f(x="\u12")]]), "invalid \\u escape: expected 4 hex digits at byte 17", 17 },
  { "lone high surrogate", tagged([[f(x="\ud83d")]]),
    "invalid \\u escape: high surrogate without a low surrogate at byte 17", 17 },
  { "high surrogate + non-surrogate", tagged([[f(x="\ud83d\u0041")]]),
    "invalid \\u escape: high surrogate without a low surrogate at byte 17", 17 },
  { "lone low surrogate", tagged([[f(x="\ude00")]]),
    "invalid \\u escape: low surrogate without a high surrogate at byte 17", 17 },
  { "\\U beyond Unicode", tagged([[f(x="\U00110000")]]),
    "invalid \\U escape: expected 8 hex digits of a code point at byte 17", 17 },
  { "int64 overflow", tagged("f(x=9223372036854775808)"),
    "integer out of range (int64) at byte 16", 16 },
  { "int64 underflow", tagged("f(x=-9223372036854775809)"),
    "integer out of range (int64) at byte 16", 16 },
  { "float overflow", tagged("f(x=1e999)"), "number out of range (double) at byte 16", 16 },
  { "number glued to letters", tagged("f(x=12abc)"), "invalid number at byte 16", 16 },
  { "two dots", tagged("f(x=1.2.3)"), "invalid number at byte 16", 16 },
  { "sign alone", tagged("f(x=-)"), "invalid number at byte 16", 16 },
  { "exponent without digits", tagged("f(x=1e)"), "invalid number at byte 16", 16 },
  { "number too long", tagged("f(x=" .. ("1"):rep(100) .. "." .. ("1"):rep(100) .. ")"),
    "number longer than MLLM_CALLS_MAX_NUMBER (128 bytes) at byte 16", 16 },
  { "name too long", tagged(("n"):rep(65) .. "()"),
    "call name longer than MLLM_CALLS_MAX_NAME (64 bytes) at byte 12", 12 },
  { "JSON: no arguments", tagged([[{"name": "f"}]]),
    "expected key 'arguments' (or 'parameters') in call object at byte 24", 24 },
  { "JSON: no name", tagged([[{"arguments": {}}]]), "expected key 'name' in call object at byte 28", 28 },
  { "JSON: name not a string", tagged([[{"name": 3, "arguments": {}}]]),
    "expected a string for 'name' at byte 21", 21 },
  { "JSON: empty name", tagged([[{"name": "", "arguments": {}}]]),
    "expected a call name without NUL bytes for 'name' at byte 21", 21 },
  { "JSON: arguments a number", tagged([[{"name": "f", "arguments": 3}]]),
    "expected an object or a string for 'arguments' at byte 39", 39 },
  { "JSON: arguments a list", tagged([[{"name": "f", "parameters": [1]}]]),
    "expected an object or a string for 'parameters' at byte 40", 40 },
  { "JSON: bad arguments string", tagged([[{"name": "f", "arguments": "{\"a\": }"}]]),
    "in the 'arguments' string at offset 6: expected a value for key 'a' at byte 39", 39 },
  { "JSON: arguments string not an object", tagged([[{"name": "f", "arguments": "[1]"}]]),
    "in the 'arguments' string at offset 0: expected '{' at byte 39", 39 },
  { "JSON: arguments string with junk", tagged([[{"name": "f", "arguments": "{} x"}]]),
    "in the 'arguments' string at offset 3: expected the end after the object at byte 39", 39 },
  { "JSON: duplicate name", tagged([[{"name": "f", "arguments": {}, "name": "g"}]]),
    "duplicate key 'name' in call object at byte 43", 43 },
  { "JSON: arguments and parameters", tagged([[{"name": "f", "arguments": {}, "parameters": {}}]]),
    "duplicate key 'parameters' in call object at byte 43", 43 },
  { "JSON: missing comma", tagged([[{"name": "f" "arguments": {}}]]),
    "expected ',' or '}' in call object at byte 25", 25 },
  { "JSON: bare key", tagged([[{name: "f"}]]), "expected a string key or '}' in call object at byte 13", 13 },
  { "JSON: unclosed", T .. [[{"name": "f", "arguments": {}]],
    "expected ',' or '}' in call object at byte 41", 41 },
  { "error in the second call", "a " .. tagged("f()") .. " b " .. tagged("g(,)"),
    "expected an argument or ')' at byte 45", 45 },
  { "custom tags", "[call]f(x=1 [/call]", "expected ',' or ')' after argument 'x' at byte 13", 13,
    { open = "[call]", close = "[/call]" } },
  { "bare: prose with parentheses", "call me(maybe)",
    "expected '=' after argument name 'maybe' at byte 14", 14, { bare = true } },
  { "bare: unclosed call", "ok f(x=1", "expected ',' or ')' after argument 'x' at byte 9", 9,
    { bare = true } },
  { "bare: mismatched brackets", "f(x=[1)", "expected ',' or ']' in list at byte 7", 7,
    { bare = true } },
  { "bare: bad JSON call", [[see {"name": "f", "arguments": {"a": [1}}]],
    "expected ',' or ']' in list at byte 40", 40, { bare = true } },
}

-------------------------------------------------------------------------------------------------

describe("parse_calls", function()
  describe("Python-like calls", function()
    for _, case in ipairs(python_cases) do
      it(case[1], function()
        local call = one_call(tagged(case[2]))
        assert.equal(case[2]:match("^%s*([%w_.]+)"), call.name)
        assert.same(case[3], call.args)
        assert.same(case[4] or {}, call.positional)
      end)
    end

    it("keeps integers as integers and floats as floats", function()
      local args = one_call(tagged("f(i=3, f=3.0, e=1e2, big=9223372036854775807)")).args
      assert.equal("integer", math.type(args.i))
      assert.equal("float", math.type(args.f))
      assert.equal("float", math.type(args.e))
      assert.equal("integer", math.type(args.big))
    end)

    it("reads -0.0 as a negative zero float", function()
      local g = one_call(tagged("f(g=-0.0)")).args.g
      assert.equal("float", math.type(g))
      assert.equal(-math.huge, 1 / g)
    end)
  end)

  describe("string escapes", function()
    for _, case in ipairs(escape_cases) do
      it(case[1], function()
        assert.equal(case[3], one_call(tagged("f(s=" .. case[2] .. ")")).args.s)
      end)
    end
  end)

  describe("JSON calls", function()
    for _, case in ipairs(json_cases) do
      it(case[1], function()
        local call = one_call(tagged(case[2]))
        assert.equal(case[3], call.name)
        assert.same(case[4], call.args)
        assert.same({}, call.positional)
      end)
    end
  end)

  describe("the call table", function()
    it("has name, args, positional, raw, first and last", function()
      local text = "Sure! " .. tagged([[set_alarm(time="7:30 am")]]) .. " Alarm set for 7:30 am."
      local calls, rest = mllm.parse_calls(text)
      assert.same({ {
        name = "set_alarm", args = { time = "7:30 am" }, positional = {},
        raw = tagged([[set_alarm(time="7:30 am")]]), first = 7, last = 54,
      } }, calls)
      assert.equal(calls[1].raw, text:sub(calls[1].first, calls[1].last))
      assert.equal("Sure!  Alarm set for 7:30 am.", rest)
    end)

    it("represents null as mllm.null, a light userdata equal to itself", function()
      assert.equal("userdata", type(null))
      local args = one_call(tagged("f(a=None, l=[null, 1])")).args
      assert.equal(null, args.a)
      assert.equal(2, #args.l)
      assert.equal(null, args.l[1])
      assert.equal(mllm.null, require("mobilellm.core").null)
    end)

    it("decodes embedded zero bytes in strings and keys", function()
      local args = one_call(tagged([[f(o={"a\u0000b": "c\0d"})]])).args
      assert.equal("c\0d", args.o["a\0b"])
    end)
  end)

  describe("text outside calls", function()
    it("returns text without calls unchanged", function()
      local calls, rest = mllm.parse_calls("Just a reply, no action (none needed).")
      assert.same({}, calls)
      assert.equal("Just a reply, no action (none needed).", rest)
    end)

    it("returns an empty text for an empty input", function()
      local calls, rest = mllm.parse_calls("")
      assert.same({}, calls)
      assert.equal("", rest)
    end)

    it("finds several calls and concatenates the text between them", function()
      local text = "a " .. tagged("f()") .. " b\n" .. tagged([[{"name": "g", "arguments": {}}]])
                   .. tagged("h(1)") .. " c"
      local calls, rest = mllm.parse_calls(text)
      assert.equal(3, #calls)
      assert.same({ "f", "g", "h" }, { calls[1].name, calls[2].name, calls[3].name })
      for _, call in ipairs(calls) do
        assert.equal(call.raw, text:sub(call.first, call.last))
      end
      assert.equal("a  b\n c", rest)
    end)

    it("keeps a stray closing tag and a lone '<' as text", function()
      local calls, rest = mllm.parse_calls("x </tool_call> 1 < 2 <tool")
      assert.same({}, calls)
      assert.equal("x </tool_call> 1 < 2 <tool", rest)
    end)

    it("finds the closing tag outside strings only", function()
      local call = one_call(tagged([[f(a="</tool_call>", b='x</tool_call>y')]]))
      assert.same({ a = "</tool_call>", b = "x</tool_call>y" }, call.args)
    end)

    it("ignores calls written without tags unless bare", function()
      local calls, rest = mllm.parse_calls([[f(x=1) {"name": "g", "arguments": {}}]])
      assert.same({}, calls)
      assert.equal([[f(x=1) {"name": "g", "arguments": {}}]], rest)
    end)
  end)

  describe("custom tags", function()
    it("uses the open and close options", function()
      local opts = { open = "[TOOL]", close = "[/TOOL]" }
      local calls, rest = mllm.parse_calls("a [TOOL]f(x=1)[/TOOL] b " .. tagged("g()"), opts)
      assert.equal(1, #calls)
      assert.equal("f", calls[1].name)
      assert.equal("[TOOL]f(x=1)[/TOOL]", calls[1].raw)
      assert.equal("a  b " .. tagged("g()"), rest)
    end)

    it("accepts the same string for both tags", function()
      local calls, rest = mllm.parse_calls("a ```f(x=1)``` b ```g()```", { open = "```", close = "```" })
      assert.equal(2, #calls)
      assert.equal("a  b ", rest)
    end)

    it("accepts multi-byte UTF-8 tags", function()
      local calls, rest = mllm.parse_calls("é «f(x=1)» è", { open = "«", close = "»" })
      assert.equal(1, #calls)
      assert.equal("é  è", rest)
    end)
  end)

  describe("bare mode", function()
    local bare = { bare = true }

    it("finds name( calls and JSON calls in free text", function()
      local text = [[Sure. set_alarm(time="7:30 am") then {"name": "h", "arguments": {}} done]]
      local calls, rest = mllm.parse_calls(text, bare)
      assert.equal(2, #calls)
      assert.equal("set_alarm", calls[1].name)
      assert.same({ time = "7:30 am" }, calls[1].args)
      assert.equal([[set_alarm(time="7:30 am")]], calls[1].raw)
      assert.equal("h", calls[2].name)
      assert.equal("Sure.  then  done", rest)
      for _, call in ipairs(calls) do
        assert.equal(call.raw, text:sub(call.first, call.last))
      end
    end)

    it("still honours tags", function()
      local calls, rest = mllm.parse_calls("x " .. tagged("f(1)") .. " g(2)", bare)
      assert.equal(2, #calls)
      assert.equal(tagged("f(1)"), calls[1].raw)
      assert.equal("g(2)", calls[2].raw)
      assert.equal("x  ", rest)
    end)

    it("leaves prose alone", function()
      local prose = [[Alarm set (for 7:30). 7:30am(x) is fine; {"a": 1} and { "b" } too. ]]
        .. "café(x) " .. ("n"):rep(65) .. "(1) Done."
      local calls, rest = mllm.parse_calls(prose, bare)
      assert.same({}, calls)
      assert.equal(prose, rest)
    end)

    it("takes dotted names and single-quoted JSON", function()
      local calls = mllm.parse_calls([[weather.get(city='Lisbon') {'name': 'f', 'arguments': {}}]], bare)
      assert.equal("weather.get", calls[1].name)
      assert.equal("f", calls[2].name)
    end)

    it("finds a call at the very end", function()
      local calls, rest = mllm.parse_calls("ok f()", bare)
      assert.equal("f", calls[1].name)
      assert.equal("ok ", rest)
    end)
  end)

  describe("malformed calls", function()
    for _, case in ipairs(malformed_cases) do
      it(case[1], function()
        local calls, message, position = mllm.parse_calls(case[2], case[5])
        assert.is_nil(calls)
        assert.equal(case[3], message)
        assert.equal(case[4], position)
      end)
    end
  end)

  describe("limits", function()
    local function nested(n) return ("["):rep(n) .. ("]"):rep(n) end

    it("accepts nesting up to MLLM_CALLS_MAX_DEPTH (64)", function()
      -- the call's '(' is one level
      local args = one_call(tagged("f(x=" .. nested(63) .. ")")).args
      local v, depth = args.x, 1
      while v[1] do v, depth = v[1], depth + 1 end
      assert.equal(63, depth)
      local json = tagged([[{"name": "f", "arguments": {"x": ]] .. nested(61) .. "}}")
      assert.is_table(one_call(json).args.x)
    end)

    it("rejects deeper nesting, naming the limit", function()
      local calls, message, position = mllm.parse_calls(tagged("f(x=" .. nested(64) .. ")"))
      assert.is_nil(calls)
      assert.equal("nesting deeper than MLLM_CALLS_MAX_DEPTH (64) at byte 79", message)
      assert.equal(79, position)
      calls, message, position = mllm.parse_calls("f(x=" .. nested(64) .. ")", { bare = true })
      assert.is_nil(calls)
      assert.equal("nesting deeper than MLLM_CALLS_MAX_DEPTH (64) at byte 68", message)
      assert.equal(68, position)
    end)

    it("accepts MLLM_CALLS_MAX_CALLS (1024) calls with no error", function()
      local many = ("x" .. tagged("f()")):rep(1024)
      local calls, rest, message = mllm.parse_calls(many)
      assert.equal(1024, #calls)
      assert.equal(("x"):rep(1024), rest)
      assert.is_nil(message)
    end)

    it("past MLLM_CALLS_MAX_CALLS (1024) returns the first 1024 calls, all the text and an error", function()
      local many = ("x" .. tagged("f(n=1)")):rep(1024)
      -- a malformed call after the limit is not parsed, so it is only counted
      local more = "y" .. tagged("g()") .. "z" .. tagged("h(") .. "w"
      local calls, rest, message, position = mllm.parse_calls(many .. more)
      assert.equal(1024, #calls)
      assert.same({ n = 1 }, calls[1024].args)
      assert.equal(("x"):rep(1024) .. "yzw", rest)
      assert.equal(#many + 2, position)
      assert.equal("2 more calls after the limit of 1024 (MLLM_CALLS_MAX_CALLS) were not parsed at byte "
                   .. position, message)
      -- an unclosed call at the end counts too; one call is "1 more call ... was"
      calls, rest, message = mllm.parse_calls(many .. "y" .. T .. "g(")
      assert.equal(1024, #calls)
      assert.equal(("x"):rep(1024) .. "y", rest)
      assert.equal("1 more call after the limit of 1024 (MLLM_CALLS_MAX_CALLS) was not parsed at byte "
                   .. #many + 2, message)
      -- bare mode: the same
      calls, rest, message = mllm.parse_calls(("x f() "):rep(1025) .. "end", { bare = true })
      assert.equal(1024, #calls)
      assert.equal(("x  "):rep(1025) .. "end", rest)
      assert.equal("1 more call after the limit of 1024 (MLLM_CALLS_MAX_CALLS) was not parsed at byte "
                   .. 1024 * 6 + 3, message)
      -- a malformed call before the limit still fails the whole parse
      calls, message = mllm.parse_calls(tagged("f(") .. many .. more)
      assert.is_nil(calls)
      assert.matches("^expected", message)
    end)

    it("streams the same past MLLM_CALLS_MAX_CALLS: 1024 call events, all the text, then the error", function()
      local one = "x" .. tagged("f()")
      local text = one:rep(1030) .. "end"
      assert_stream_matches(text, random_sizes(40))
      local calls, rest, err = stream(text, random_sizes(40))
      assert.equal(1024, #calls)
      assert.equal(("x"):rep(1030) .. "end", rest)
      assert.equal("6 more calls after the limit of 1024 (MLLM_CALLS_MAX_CALLS) were not parsed at byte "
                   .. 1024 * #one + 2, err.message)
      assert_stream_matches(("x f() "):rep(1030) .. "end", random_sizes(40), { bare = true })
      -- the parser is spent after it
      local p = mllm.call_parser()
      p:feed(text)
      local events = p:finish()
      assert.equal("error", events[#events].type)
      assert.same({}, p:finish())
    end)

    it("accepts a name of MLLM_CALLS_MAX_NAME (64) bytes", function()
      assert.equal(("n"):rep(64), one_call(tagged(("n"):rep(64) .. "()")).name)
    end)
  end)

  describe("1 MB inputs", function()
    local MB = 1024 * 1024

    it("'[' inside a call: depth error", function()
      local calls, message, position = mllm.parse_calls(T .. "f(x=" .. ("["):rep(MB))
      assert.is_nil(calls)
      assert.equal("nesting deeper than MLLM_CALLS_MAX_DEPTH (64) at byte 79", message)
      assert.equal(79, position)
    end)

    it("'[' and '{' as text, tagged and bare", function()
      for _, text in ipairs({ ("["):rep(MB), ("{"):rep(MB), ("{ "):rep(MB // 2) }) do
        for _, opts in ipairs({ {}, { bare = true } }) do
          local calls, rest = mllm.parse_calls(text, opts)
          assert.same({}, calls)
          assert.is_true(rest == text)
        end
      end
    end)

    it("text without calls, tagged and bare", function()
      local words = { "alarm ", "set ", "<tool ", "<", "tool_call ", "x.y ", "(a) ", "f (x) ",
                      "café ", "{\"a\": 1} " }
      local parts, n = {}, 0
      math.randomseed(7)
      while n < MB do
        local w = words[math.random(#words)]
        parts[#parts + 1] = w
        n = n + #w
      end
      local text = table.concat(parts)
      for _, opts in ipairs({ {}, { bare = true } }) do
        local calls, rest = mllm.parse_calls(text, opts)
        assert.same({}, calls)
        assert.is_true(rest == text)
      end
      local calls, rest = mllm.parse_calls(("a"):rep(MB), { bare = true })
      assert.same({}, calls)
      assert.equal(MB, #rest)
    end)

    it("a 1 MB string argument", function()
      local s = ("é\\n"):rep(MB // 4)
      local call = one_call(tagged('f(s="' .. s .. '")'))
      assert.equal(("é\n"):rep(MB // 4), call.args.s)
    end)

    it("a 1 MB list argument", function()
      local call = one_call(tagged("f(l=[" .. ("1,"):rep(MB // 2) .. "])"))
      assert.equal(MB // 2, #call.args.l)
    end)

    it("a 1 MB object with many keys", function()
      local parts = {}
      for i = 1, 60000 do parts[i] = ('"k%d": %d'):format(i, i) end
      local call = one_call(tagged("f(o={" .. table.concat(parts, ", ") .. "})"))
      assert.equal(60000, call.args.o.k60000)
      parts[60001] = '"k17": 0'
      local calls, message = mllm.parse_calls(tagged("f(o={" .. table.concat(parts, ", ") .. "})"))
      assert.is_nil(calls)
      assert.matches("^duplicate key 'k17' in object at byte %d+$", message)
    end)

    it("quotes and backslashes inside an unclosed call", function()
      local calls, message = mllm.parse_calls(T .. "f(x=" .. ('"'):rep(MB))
      assert.is_nil(calls)
      assert.equal("expected ',' or ')' after argument 'x' at byte 18", message)
      calls, message = mllm.parse_calls(T .. 'f(x="' .. ("\\"):rep(MB))
      assert.is_nil(calls)
      assert.equal("unterminated string at byte 16", message)
    end)

    it("many calls", function()
      local text = ("ab " .. tagged("f(x=1)")):rep(1000)
      local calls, rest = mllm.parse_calls(text)
      assert.equal(1000, #calls)
      assert.equal(("ab "):rep(1000), rest)
    end)
  end)

  describe("arguments", function()
    it("requires a string text", function()
      assert.has_error(function() mllm.parse_calls() end,
        "bad argument #1 to 'parse_calls' (string expected, got no value)")
      assert.has_error(function() mllm.parse_calls({}) end,
        "bad argument #1 to 'parse_calls' (string expected, got table)")
    end)

    local bad_opts = {
      { "opts not a table", "x", "bad argument #2 to 'parse_calls' (table of options expected, got string)" },
      { "open not a string", { open = 1 },
        "option 'open' must be a string, got number" },
      { "close not a string", { close = true },
        "option 'close' must be a string, got boolean" },
      { "empty open", { open = "" },
        "bad argument #2 to 'parse_calls' (option 'open' must be 1 to 64 bytes (MLLM_CALLS_MAX_TAG))" },
      { "close too long", { close = ("x"):rep(65) },
        "bad argument #2 to 'parse_calls' (option 'close' must be 1 to 64 bytes (MLLM_CALLS_MAX_TAG))" },
      { "open with a zero byte", { open = "a\0b" },
        "option 'open' holds a NUL byte (at byte 2)" },
      { "bare not a boolean", { bare = "yes" },
        "option 'bare' must be a boolean, got string" },
      { "unknown option", { opne = "<x>" }, "unknown option 'opne' to parse_calls (did you mean 'open'?)" },
      { "unknown option far from any", { tag = "<x>" }, "unknown option 'tag' to parse_calls (known: open, close, bare)" },
      { "non-string key", { [1] = true }, "unknown option key of type number to parse_calls (known: open, close, bare)" },
    }
    for _, case in ipairs(bad_opts) do
      -- unknown keys show only in a table's own keys: the proxy run of test-asan leaves those out
      it("rejects " .. case[1] .. ((case[1]:find("key") or case[1]:find("unknown")) and " #raw_keys" or ""), function()
        assert.has_error(function() mllm.parse_calls("x", case[2]) end, case[3])
      end)
    end

    it("accepts nil opts and an empty table", function()
      assert.same({}, (mllm.parse_calls("x", nil)))
      assert.same({}, (mllm.parse_calls("x", {})))
      assert.equal(1, #mllm.parse_calls(tagged("f()"), { bare = false }))
    end)
  end)
end)

-------------------------------------------------------------------------------------------------

describe("call_parser", function()
  -- every valid input from the tables above, and some combinations
  local corpus = {}
  for _, case in ipairs(python_cases) do corpus[#corpus + 1] = { "x " .. tagged(case[2]) .. " y" } end
  for _, case in ipairs(escape_cases) do corpus[#corpus + 1] = { tagged("f(s=" .. case[2] .. ")") } end
  for _, case in ipairs(json_cases) do corpus[#corpus + 1] = { tagged(case[2]) .. " ok" } end
  for _, case in ipairs(malformed_cases) do corpus[#corpus + 1] = { case[2], case[5] } end
  local extra = {
    { "Sure! " .. tagged([[set_alarm(time="7:30 am", label='a</tool_call>b')]]) .. " Done." },
    { "a " .. tagged("f()") .. tagged("g()") .. "<tool_ <<tool_call>h()</tool_call> <" },
    { "café ☕ " .. tagged([[f(x="€", y='😀')]]) .. " naïve 😀" },
    { "x [TOOL]f(x=1)[/TOOL] y [TOOL", { open = "[TOOL]", close = "[/TOOL]" } },
    { "é «f(x=1)» è «", { open = "«", close = "»" } },
    { "a ```f(x=1)``` b ```g()``` c", { open = "```", close = "```" } },
    { [[Sure. set_alarm(time="7:30 am") then {"name": "h", "arguments": {}} done f]], { bare = true } },
    { "x " .. tagged("f(1)") .. " g(2) weather.get(city='x') {'name': 'f', 'arguments': {}}",
      { bare = true } },
    { [[Alarm set (for 7:30). 7:30am(x) is fine; {"a": 1} and { "b" } too. café(x) Done. {]],
      { bare = true } },
    { "lots " .. ("n"):rep(70) .. "(1) and " .. ("m"):rep(64) .. "(k=1) end", { bare = true } },
    { "{" .. (" "):rep(70) .. [["name": 1} {  "name"  : "f", "arguments": {}}]], { bare = true } },
    { "" },
    { "<" },
    { tagged("f()") },
  }
  for _, case in ipairs(extra) do corpus[#corpus + 1] = case end

  it("gives the same calls and text as parse_calls, fed one byte at a time", function()
    for _, case in ipairs(corpus) do
      assert_stream_matches(case[1], bytes, case[2])
    end
  end)

  it("gives the same calls and text as parse_calls, fed in random pieces", function()
    math.randomseed(42)
    for _, max in ipairs({ 3, 8, 40 }) do
      for _, case in ipairs(corpus) do
        for _ = 1, 5 do
          assert_stream_matches(case[1], random_sizes(max), case[2])
        end
      end
    end
  end)

  it("reports text at once and holds back only a possible tag", function()
    local p = mllm.call_parser()
    assert.same({ { type = "text", text = "Hello wor" } }, p:feed("Hello wor"))
    assert.same({ { type = "text", text = "ld " } }, p:feed("ld <to"))
    assert.same({}, p:feed("ol_c"))
    assert.same({}, p:feed("all>set_alarm(time=\"7:30"))
    assert.same({}, p:feed(" am\")</tool_"))
    local events = p:feed("call> Alarm set. <tool_cx")
    assert.same({ { type = "call", call = {
      name = "set_alarm", args = { time = "7:30 am" }, positional = {},
      raw = tagged([[set_alarm(time="7:30 am")]]), first = 13, last = 60,
    } }, { type = "text", text = " Alarm set. <tool_cx" } }, events)
    assert.same({}, p:feed("<tool"))
    assert.same({ { type = "text", text = "<tool" } }, p:finish())
  end)

  it("does not split UTF-8 sequences across text events", function()
    local p = mllm.call_parser()
    assert.same({ { type = "text", text = "caf" } }, p:feed("caf\xC3"))
    assert.same({ { type = "text", text = "é " } }, p:feed("\xA9 \xE2\x82"))
    assert.same({}, p:feed(""))
    assert.same({ { type = "text", text = "€" } }, p:feed("\xAC"))
    assert.same({}, p:feed("\xF0\x9F"))
    assert.same({ { type = "text", text = "\xF0\x9F" } }, p:finish())
  end)

  it("reports a tag split across pieces as a call", function()
    local pieces = { "<", "t", "ool_ca", "ll>", "f(x=", "1)<", "/", "tool_call", ">" }
    local p = mllm.call_parser()
    local got = {}
    for _, piece in ipairs(pieces) do
      for _, e in ipairs(p:feed(piece)) do got[#got + 1] = e end
    end
    assert.equal(1, #got)
    assert.equal("call", got[1].type)
    assert.same({ x = 1 }, got[1].call.args)
    assert.same({}, p:finish())
  end)

  it("holds a possible bare call start back", function()
    local p = mllm.call_parser({ bare = true })
    assert.same({ { type = "text", text = "ok " } }, p:feed("ok set_al"))
    assert.same({}, p:feed("arm"))
    assert.same({}, p:feed("(x=1"))
    local events = p:feed(") {")
    assert.equal("set_alarm", events[1].call.name)
    assert.same({ { type = "text", text = "{ " } }, p:feed(" x"))    -- x( could follow
    assert.same({ { type = "text", text = "x" } }, p:finish())
  end)

  it("reports an unterminated call at finish as an error event", function()
    local p = mllm.call_parser()
    assert.same({ { type = "text", text = "Sure. " } }, p:feed("Sure. <tool_call>set_alarm(time="))
    assert.same({}, p:feed('"7:30 am")'))
    assert.same({ { type = "error", message = "expected '</tool_call>' after call at byte 43",
                    position = 43 } }, p:finish())
    p = mllm.call_parser()
    p:feed('<tool_call>f(x="a')
    assert.same({ { type = "error", message = "unterminated string at byte 16", position = 16 } },
                p:finish())
  end)

  it("reports a malformed call as soon as its closing tag arrives, then stays quiet", function()
    local p = mllm.call_parser()
    assert.same({ { type = "text", text = "a " } }, p:feed("a <tool_call>f(x=1 y=2)</tool_ca"))
    assert.same({ { type = "error", message = "expected ',' or ')' after argument 'x' at byte 20",
                    position = 20 } }, p:feed("ll> more"))
    assert.same({}, p:feed("text " .. tagged("f()")))
    assert.same({}, p:finish())
  end)

  it("counts first and last from the first byte fed", function()
    local p = mllm.call_parser()
    p:feed(("x"):rep(5000))
    local events = p:feed(tagged("f()") .. ("y"):rep(5000) .. tagged("g()"))
    assert.equal(5001, events[1].call.first)
    assert.equal(5026, events[1].call.last)
    assert.equal(10027, events[3].call.first)
  end)

  it("streams 1 MB inputs in random pieces", function()
    math.randomseed(3)
    local MB = 1024 * 1024
    local inputs = {
      { ("["):rep(MB) },
      { ("{ "):rep(MB // 2), { bare = true } },
      { ("ab " .. tagged("f(x=[1, 2])")):rep(MB // 27 // 2) .. ("z"):rep(MB // 2) },
      { tagged('f(s="' .. ("a"):rep(MB) .. '")') },
      { T .. "f(x=" .. ("["):rep(MB) },
      { ("word "):rep(MB // 5), { bare = true } },
    }
    for _, case in ipairs(inputs) do
      assert_stream_matches(case[1], random_sizes(4000), case[2])
    end
  end)

  it("streams 1 MB of text one byte at a time", function()
    local text = ("alarm <tool set(x) "):rep(1024 * 1024 // 19)
    local p = mllm.call_parser({ bare = false })
    local n = 0
    for i = 1, #text do
      for _, e in ipairs(p:feed(text:sub(i, i))) do n = n + #e.text end
    end
    for _, e in ipairs(p:finish()) do n = n + #e.text end
    assert.equal(#text, n)
  end)

  describe("object", function()
    it("is a mobilellm.CallParser with a __tostring", function()
      local p = mllm.call_parser()
      assert.matches("^mobilellm%.CallParser %(0?x?%x+%)$", tostring(p))
      assert.equal("mobilellm.CallParser", getmetatable(p).__name)
      p:close()
      assert.equal("mobilellm.CallParser (closed)", tostring(p))
    end)

    it("closes idempotently; use after close raises", function()
      local p = mllm.call_parser()
      p:close()
      p:close()
      assert.has_error(function() p:feed("x") end, "attempt to use a closed CallParser")
      assert.has_error(function() p:finish() end, "attempt to use a closed CallParser")
    end)

    it("is a to-be-closed value", function()
      local saved
      do
        local p <close> = mllm.call_parser()
        saved = p
        p:feed("abc")
      end
      assert.equal("mobilellm.CallParser (closed)", tostring(saved))
    end)

    it("raises on feed after finish; finish twice returns no events", function()
      local p = mllm.call_parser()
      assert.same({ { type = "text", text = "a" } }, p:feed("a<"))
      assert.same({ { type = "text", text = "<" } }, p:finish())
      assert.same({}, p:finish())
      assert.has_error(function() p:feed("x") end, "attempt to feed a finished CallParser")
    end)

    it("checks its arguments", function()
      local p = mllm.call_parser()
      assert.has_error(function() p:feed() end, "bad argument #1 to 'feed' (string expected, got no value)")
      assert.has_error(function() p.feed({}, "x") end,
        "bad argument #1 to 'feed' (mobilellm.CallParser expected, got table)")
      assert.has_error(function() mllm.call_parser({ open = "" }) end,
        "bad argument #1 to 'call_parser' (option 'open' must be 1 to 64 bytes (MLLM_CALLS_MAX_TAG))")
      assert.has_error(function() mllm.call_parser({ bare = 1 }) end,
        "option 'bare' must be a boolean, got number")
      assert.has_error(function() mllm.call_parser(3) end,
        "bad argument #1 to 'call_parser' (table of options expected, got number)")
    end)

    it("is collected without being closed", function()
      for _ = 1, 100 do
        local p = mllm.call_parser()
        p:feed("<tool_call>f(x=" .. ("1,"):rep(100))
      end
      collectgarbage()
      collectgarbage()
    end)
  end)
end)
