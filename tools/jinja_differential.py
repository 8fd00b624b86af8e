#!/usr/bin/python3
"""Differential check of the chat-template engine (lua/mobilellm/jinja*) against jinja2: random
templates, of whitespace control and of expressions, rendered by both (jinja2 configured as
tools/make_jinja_golden.py configures it); prints the templates whose outputs differ.

A development-time oracle (Debian's python3-jinja2), never run by `make test`. From the checkout,
after `make`:  /usr/bin/python3 tools/jinja_differential.py [SEED] [COUNT]

Known differences, all in templates no checkpoint writes: string formatting with '%' is refused;
`not` after a binary operator is a syntax error here (jinja2 reads a variable named "not"); a
test's bare argument may be any name (jinja2 refuses a keyword there); some subscripts of numbers
and booleans are Undefined here where jinja2 raises TypeError.
"""
import copy
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_jinja_golden import environment  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

PIECES = ["{% if a %}", "{% endif %}", "{%- if b -%}", "{% else %}", "{%+ if a %}", "{% for x in l %}", "{%- endfor %}",
          "{% endfor -%}", "{{ x }}", "{{- x }}", "{{ a -}}", "{# c #}", "{#- c -#}", " ", "  ", "\n", "\n\n", "\t",
          "text", " word ", "{{ loop.index }}", "{% set y = 1 %}", "{%- set z = 'q' -%}", "{{ y }}", "\r\n",
          "   {% if a %}x{% endif %}", "{% raw %} {{x}} {% endraw %}"]
ATOMS = ["1", "2", "0", "-3", "2.5", "0.1", "'ab'", "'A b'", "''", "none", "true", "false", "[1, 2]", "[]", "{'k': 1}",
         "{}", "s", "n", "l", "d", "u", "(1, 'x')", "'a,b'", "' pad '"]
BINOPS = [" + ", " - ", " * ", " / ", " // ", " ~ ", " == ", " != ", " < ", " > ", " and ", " or ", " in ", " not in "]
FILTERS = ["|length", "|string", "|upper", "|lower", "|trim", "|first", "|last", "|list", "|tojson", "|int", "|float",
           "|default('D')", "|join('-')", "|reverse|list", "|title", "|capitalize", "|abs", "|sort|list",
           "|unique|list", "|items|list", "|map('string')|list", "|select|list", "|count", "|indent(2)",
           "|replace('a', 'Z')"]
TESTS = [" is defined", " is none", " is string", " is number", " is mapping", " is sequence", " is iterable",
         " is integer", " is float", " is boolean", " is even", " is odd", " is true", " is false", " is not none"]
VARS = {"a": True, "b": False, "l": [3, 1, 2], "s": "Hello", "n": 7, "d": {"b": 2, "a": 1}}

COMPARE_LUA = r"""
local mllm = require("mobilellm")
local jinja = require("mobilellm.jinja")
local f = assert(io.open(arg[1])); local doc = mllm.json_decode(f:read("a")); f:close()
for i, c in ipairs(doc.cases) do
  local t, err = jinja.compile(c.src)
  local ok, out = false, err
  if t then ok, out = pcall(t.render, t, doc.vars, { keys_of = mllm.json_keys, null = mllm.null }) end
  if c.out ~= nil and (not ok or out ~= c.out) then
    print(("%q\n  jinja2: %q\n  here:   %s"):format(c.src, c.out, ok and ("%q"):format(out) or ("error " .. out)))
  end
end
"""


def expression(rng, depth=0):
    r = rng.random()
    if depth > 3 or r < 0.3:
        return rng.choice(ATOMS)
    if r < 0.55:
        return expression(rng, depth + 1) + rng.choice(BINOPS) + expression(rng, depth + 1)
    if r < 0.7:
        return "(" + expression(rng, depth + 1) + ")" + rng.choice(FILTERS)
    if r < 0.8:
        return "(" + expression(rng, depth + 1) + ")" + rng.choice(TESTS)
    if r < 0.9:
        return "(" + expression(rng, depth + 1) + " if " + expression(rng, depth + 1) + " else " + \
            expression(rng, depth + 1) + ")"
    return "(" + expression(rng, depth + 1) + ")[" + rng.choice(["0", "-1", "1:", ":-1", "::-1", "'k'"]) + "]"


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    rng = random.Random(seed)
    env = environment()
    cases = []
    for i in range(count):
        if i % 2:
            src = "{{ " + expression(rng) + " }}"
        else:
            src = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12)))
        case = {"src": src}
        try:
            # a copy each time: jinja2's indent filter extends a list it is given (s += "\n")
            case["out"] = env.from_string(src).render(**copy.deepcopy(VARS))
        except Exception:  # jinja2 refuses it: not compared
            pass
        cases.append(case)
    with tempfile.TemporaryDirectory() as tmp:
        data, script = os.path.join(tmp, "cases.json"), os.path.join(tmp, "compare.lua")
        with open(data, "w", encoding="utf-8") as f:
            json.dump({"cases": cases, "vars": VARS}, f)
        with open(script, "w", encoding="utf-8") as f:
            f.write(COMPARE_LUA)
        env_vars = dict(os.environ, LUA_PATH="lua/?.lua;lua/?/init.lua;;", LUA_CPATH="build/?.so;;")
        out = subprocess.run(["lua5.4", script, data], cwd=ROOT, env=env_vars, capture_output=True, text=True)
    sys.stdout.write(out.stdout + out.stderr)
    differing = out.stdout.count("\n  jinja2:")
    print("%d templates, %d rendered by jinja2, %d differ" % (count, sum("out" in c for c in cases), differing))
    return 1 if differing or out.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
