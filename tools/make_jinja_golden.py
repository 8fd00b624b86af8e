#!/usr/bin/python3
"""Writes spec/fixtures/jinja/golden.json: every spec/fixtures/jinja/NAME.jinja rendered with
each variable set of NAME.json (an array; none: one empty set) by jinja2 itself, configured as
Hugging Face's transformers renders chat templates (_compile_jinja_template): the immutable
sandboxed environment, trim_blocks and lstrip_blocks, the loopcontrols extension, a tojson
filter that is json.dumps(ensure_ascii=False, ...), raise_exception and strftime_now.

A development-time oracle (Debian's python3-jinja2): `make test` reads the committed golden and
needs no Python. Run from the checkout: /usr/bin/python3 tools/make_jinja_golden.py
"""
import glob
import json
import os
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "spec", "fixtures", "jinja")


class TemplateRaised(Exception):
    pass


def raise_exception(message):
    raise TemplateRaised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    env = environment()
    golden = {"jinja2_version": jinja2.__version__, "cases": []}
    for path in sorted(glob.glob(os.path.join(HERE, "*.jinja"))):
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path, encoding="utf-8") as f:
            source = f.read()
        vars_path = os.path.join(HERE, name + ".json")
        sets = [{}]
        if os.path.exists(vars_path):
            with open(vars_path, encoding="utf-8") as f:
                sets = json.load(f)
        template = env.from_string(source)
        for i, variables in enumerate(sets):
            case = {"template": name, "vars": i + 1}
            try:
                case["output"] = template.render(**variables)
            except TemplateRaised as e:
                case["raised"] = str(e)
            except Exception as e:  # the interpreter must fail too (its wording may differ)
                case["error"] = "%s: %s" % (type(e).__name__, e)
            golden["cases"].append(case)
    out = os.path.join(HERE, "golden.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote %s: %d cases" % (os.path.relpath(out), len(golden["cases"])))


if __name__ == "__main__":
    main()
