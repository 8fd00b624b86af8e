-- The Jinja interpreter (mobilellm.jinja) against jinja2 itself: every template of
-- spec/fixtures/jinja/ rendered with each of its variable sets, compared with the output
-- jinja2 gave in Hugging Face's configuration (tools/make_jinja_golden.py wrote golden.json);
-- then what lies outside the subset, raise_exception, and the bounds.
local mllm = require("mobilellm")
local jinja = require("mobilellm.jinja")
local H = require("support.helpers")

local DIR = "spec/fixtures/jinja/"

-- Renders as the golden was made: dict keys in the JSON text's order, JSON null as None.
local function render(t, vars, opts)
  opts = opts or {}
  opts.keys_of, opts.null = mllm.json_keys, mllm.null
  return t:render(vars, opts)
end

local function compile_ok(source)
  local t, err = jinja.compile(source, "chat template")
  assert(t, err)
  return t
end

describe("jinja", function()
  local golden = assert(mllm.json_decode(H.read(DIR .. "golden.json")))

  for _, case in ipairs(golden.cases) do
    it(("renders %s.jinja with variable set %d as jinja2 does"):format(case.template, case.vars), function()
      local t = compile_ok(H.read(DIR .. case.template .. ".jinja"))
      local sets_text = io.open(DIR .. case.template .. ".json") and H.read(DIR .. case.template .. ".json") or "[{}]"
      local vars = assert(mllm.json_decode(sets_text))[case.vars]
      if case.output then
        assert.are.equal(case.output, render(t, vars))
      elseif case.raised then
        local ok, err = pcall(render, t, vars)
        assert.is_false(ok)
        assert.are.equal(case.raised, err)  -- raise_exception's message, bare
      else
        assert.is_false((pcall(render, t, vars)))
      end
    end)
  end

  describe("outside the subset", function()
    -- each: the source, then what the message must name (at the source's last line)
    local cases = {
      { "hi\n{{ text | wordwrap }}", "line 2: filter 'wordwrap' is not supported" },
      { "{% include 'other.jinja' %}", "line 1: tag 'include' is not supported" },
      { "a\nb\n{% extends 'base' %}", "line 3: tag 'extends' is not supported" },
      { "{% import 'm' as m %}", "line 1: tag 'import' is not supported" },
      { "{% block body %}{% endblock %}", "line 1: tag 'block' is not supported" },
      { "{% call m() %}{% endcall %}", "line 1: tag 'call' is not supported" },
      { "\n\n\n{% with a = 1 %}{% endwith %}", "line 4: tag 'with' is not supported" },
      { "{% filter upper %}x{% endfilter %}", "line 1: tag 'filter' is not supported" },
      { "{% frobnicate %}", "line 1: unknown tag 'frobnicate'" },
      { "{{ x is prime }}", "line 1: test 'prime' is not supported" },
      { "{% for x in xs recursive %}{% endfor %}", "line 1: recursive loops are not supported" },
      { "{{ f(*args) }}", "line 1: *args and **kwargs in a call are not supported" },
      { "{% if x %}\nno end", "line 2: unexpected end of template, expected 'elif' or 'else' or 'endif'" },
      { "{% endfor %}", "line 1: unexpected 'endfor'" },
      { "{{ 1 + }}", "line 1: unexpected '}}' in an expression" },
      { "{{ (1 ]}}", "line 1: unexpected ']', expected ')'" },
      { "{{ 'open }}", "line 1: unterminated string" },
      { "x\n{# open", "line 2: unterminated comment" },
      { "{% break %}", "line 1: 'break' outside a loop" },
    }
    for _, c in ipairs(cases) do
      it(("rejects %q, naming %s"):format(c[1], c[2]), function()
        local t, err = jinja.compile(c[1], "chat template")
        assert.is_nil(t)
        assert.are.equal("chat template " .. c[2], err)
      end)
    end

    it("names the method a value does not have, and the line, when rendering", function()
      local t = compile_ok("line one\n{{ 'abc'.zfill(5) }}")
      local ok, err = pcall(t.render, t, {})
      assert.is_false(ok)
      assert.are.equal("chat template line 2: 'str object' has no attribute 'zfill'", err)
    end)

    it("raises jinja2's error for an attribute of an undefined variable", function()
      local t = compile_ok("{{ user.name }}")
      local ok, err = pcall(t.render, t, {})
      assert.is_false(ok)
      assert.are.equal("chat template line 1: 'user' is undefined", err)
    end)

    it("refuses string formatting with %", function()
      local t = compile_ok("{{ 'a %s' % 1 }}")
      assert.has_error(function() t:render({}) end, "chat template line 1: string formatting with '%' is not supported")
    end)
  end)

  describe("raise_exception", function()
    it("raises a Lua error with the template's message, catchable with pcall", function()
      local t = compile_ok("{% if messages | length == 0 %}{{ raise_exception('No messages given: ' ~ 0) }}{% endif %}ok")
      local ok, err = pcall(t.render, t, { messages = {} })
      assert.is_false(ok)
      assert.are.equal("No messages given: 0", err)
      assert.are.equal("ok", t:render({ messages = { "x" } }))
    end)
  end)

  describe("bounds", function()
    -- each must fail with a message naming the limit, and quickly (a hang would stall the suite);
    -- what grows is kept in a variable, never printed, so the output's own bound is not what stops it
    local cases = {
      { "a huge range", "{% for i in range(100000000) %}{% endfor %}", "MAX_STEPS (200000)" },
      { "nested loops", string.rep("{% for a in range(100) %}", 4) .. "x" .. string.rep("{% endfor %}", 4),
        "MAX_STEPS (200000)" },
      { "a macro that calls itself forever", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "macro calls nest deeper than MAX_DEPTH (64)" },
      { "two macros calling each other", "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}"
        .. "{{ a() }}", "MAX_DEPTH (64)" },
      { "a string that doubles", "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(64) %}"
        .. "{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "MAX_OUTPUT_BYTES (16777216)" },
      { "a repeated string", "{{ 'x' * 100000000 }}", "MAX_OUTPUT_BYTES (16777216)" },
      { "a list that doubles", "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}"
        .. "{% endfor %}", "MAX_STEPS (200000)" },
      { "a list of big strings joined", "{% set s = 'x' * 1000000 %}{% set r = ([s] * 100) | join %}",
        "MAX_OUTPUT_BYTES (16777216)" },
      { "a list of big strings made a string", "{% set s = 'x' * 1000000 %}{% set r = ([s] * 100) | string %}",
        "MAX_OUTPUT_BYTES (16777216)" },
      { "a list of big strings as JSON", "{% set s = 'x' * 1000000 %}{% set r = ([s] * 100) | tojson %}",
        "MAX_OUTPUT_BYTES (16777216)" },
      { "a huge JSON indent", "{% set r = [[1]] | tojson(indent=100000000) %}", "MAX_OUTPUT_BYTES (16777216)" },
      { "a replace that multiplies", "{% set r = ('x' * 1000000) | replace('x', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy') %}",
        "MAX_OUTPUT_BYTES (16777216)" },
      { "a huge indent", "{% set r = ('x\\n' * 10000) | indent(100000) %}", "MAX_OUTPUT_BYTES (16777216)" },
    }
    for _, c in ipairs(cases) do
      it("stops " .. c[1] .. " with an error naming the limit", function()
        local t = compile_ok(c[2])
        local ok, err = pcall(t.render, t, {})
        assert.is_false(ok)
        assert.truthy(err:find(c[3], 1, true), err)
      end)
    end

    it("refuses a template that nests without end when compiling", function()
      for _, src in ipairs({ "{{ " .. string.rep("(", 500) .. "1" .. string.rep(")", 500) .. " }}",
                             string.rep("{% if x %}", 500),
                             "{{ " .. string.rep("[", 500) .. string.rep("]", 500) .. " }}",
                             "{{ " .. string.rep("not ", 500) .. "x }}",
                             "{{ " .. string.rep("-", 500) .. "1 }}" }) do
        local t, err = jinja.compile(src, "chat template")
        assert.is_nil(t)
        assert.truthy(err:find("nests deeper than MAX_DEPTH (64)", 1, true), err)
      end
    end)

    it("refuses a variable that contains itself", function()
      local t = compile_ok("{{ x }}")
      local cyclic = {}
      cyclic.self = cyclic
      local ok, err = pcall(t.render, t, { x = cyclic })
      assert.is_false(ok)
      assert.truthy(err:find("nests deeper than 64 levels", 1, true), err)
    end)

    it("takes lower bounds per rendering", function()
      local t = compile_ok("{% for i in range(50) %}{{ i }}{% endfor %}")
      assert.has_error(function() t:render({}, { max_steps = 10 }) end,
        "chat template line 1: the template ran more than MAX_STEPS (10) steps (loop iterations and calls)")
      assert.has_error(function() t:render({}, { max_output = 20 }) end,
        "chat template line 1: the output grew past MAX_OUTPUT_BYTES (20)")
    end)
  end)

  describe("in Lua", function()
    it("takes Lua values: arrays are lists, tables dicts with sorted keys, jinja.none is None", function()
      local t = compile_ok("{{ l }} {{ d }} {{ n }} {{ f }} {{ i }} {{ b }}")
      assert.are.equal("[1, 'a'] {'a': 1, 'b': 2} None 0.5 3 True",
        t:render({ l = { 1, "a" }, d = { b = 2, a = 1 }, n = jinja.none, f = 0.5, i = 3, b = true }))
    end)

    it("passes the text of {% generation %} through, as transformers does", function()
      assert.are.equal("a b c", compile_ok("a {% generation %}b{% endgeneration %} c"):render({}))
    end)

    it("gives strftime_now the date of os.date", function()
      local t = compile_ok("{{ strftime_now('%Y-%m') }}")
      local before = os.date("%Y-%m")
      local got = t:render({})
      assert.truthy(got == before or got == os.date("%Y-%m"))
    end)

    it("checks its arguments", function()
      assert.has_error(function() jinja.compile(42) end, "bad argument #1 to 'compile' (string expected, got number)")
      local t = compile_ok("x")
      assert.has_error(function() t:render("x") end, "bad argument #1 to 'render' (table expected, got string)")
    end)
  end)
end)
