#!/usr/bin/env python3
"""Checks mechanically that the held-out tool set (training/heldout_tools.py) is held out.

Against a training file in the evaluation format (default data/api-calling/train.jsonl, which
`make dataset` writes), and the tool schemas its prompts list (the model's apis.json, and the
"tools" an example carries, as schemas or as names of --apis), it fails when
  1. a held-out tool name occurs anywhere in the training file (case-insensitive substring);
  2. a held-out argument name is a parameter of a training tool or a key of a training call;
  3. a held-out tool's description occurs in the training file, or equals a training tool's;
  4. a training user message is a held-out request phrasing: it matches a held-out request
     template with any text in the slots and any choice of the optional parts, or equals a
     held-out request (this covers the small-talk and no-tool requests too).

    /usr/bin/python3 training/check_heldout_tools.py [--train FILE] [--apis FILE]
Exit status 0: held out; 1: what leaked is printed.
"""
import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "data", "api-calling", "train.jsonl")
APIS = os.path.join(ROOT, "models", "mobilellm-tiny-api", "apis.json")


def template_regex(template):
    """A request template as a regex: slots match any text, [..] parts are optional."""
    out, i = [], 0
    for m in re.finditer(r"\[([^\]]*)\]|\{\w+\}", template):
        out.append(re.escape(template[i:m.start()]))
        if m.group(1) is not None:
            out.append("(?:" + re.sub(r"\\\{\w+\\\}", ".+?", re.escape(m.group(1))) + ")?")
        else:
            out.append(".+?")
        i = m.end()
    out.append(re.escape(template[i:]))
    return re.compile("".join(out), re.IGNORECASE)


def training_tools(examples, base_apis):
    """Every tool schema a training prompt lists: the base list, and examples' own lists."""
    tools = {a["name"]: a for a in base_apis}
    for ex in examples:
        for t in ex.get("tools") or []:
            if isinstance(t, dict):
                tools[t["name"]] = t
    return list(tools.values())


def check(held_apis, held_templates, held_requests, train_text, train_examples, base_apis):
    problems = []
    lower = train_text.lower()
    tools = training_tools(train_examples, base_apis)
    train_params = set()
    for t in tools:
        train_params.update((t.get("parameters") or {}).keys())
    for ex in train_examples:
        for m in ex["messages"] + [ex.get("expected") or {}]:
            c = m.get("call")
            if c:
                train_params.update((c.get("args") or {}).keys())
    train_descriptions = {(t.get("description") or "").strip().lower() for t in tools}
    for a in held_apis:
        if a["name"].lower() in lower:
            problems.append("tool name %s occurs in the training file" % a["name"])
        for p in a["parameters"]:
            if p in train_params:
                problems.append("argument name %s.%s is a training parameter" % (a["name"], p))
        d = a["description"].strip().lower()
        if d in lower or d in train_descriptions:
            problems.append("the description of %s occurs in training: %r" % (a["name"], a["description"]))
    regexes = [(t, template_regex(t)) for t in held_templates]
    requests = {r.strip().lower() for r in held_requests}
    for ex in train_examples:
        for m in ex["messages"]:
            if m["role"] != "user":
                continue
            text = m["content"].strip()
            if text.lower() in requests:
                problems.append("training request %r is a held-out request" % text)
                continue
            for t, rx in regexes:
                if rx.fullmatch(text):
                    problems.append("training request %r has the held-out phrasing %r" % (text, t))
                    break
    return problems


def main(held_apis=None, held_examples=None, train=TRAIN, apis=APIS):
    import heldout_tools
    if held_apis is None:
        held_apis, held_examples = heldout_tools.build()
    templates = [t for tool in heldout_tools.TOOLS for t in tool[3]]
    requests = [e["messages"][-1]["content"] for e in held_examples]
    if not os.path.exists(train):
        print("%s is missing: `make dataset` writes it" % train, file=sys.stderr)
        return 1
    with open(train, encoding="utf-8") as f:
        text = f.read()
    examples = [json.loads(line) for line in text.splitlines() if line.strip()]
    with open(apis, encoding="utf-8") as f:
        base = json.load(f)["apis"]
    problems = check(held_apis, templates, requests, text, examples, base)
    for p in problems[:50]:
        print("leak:", p)
    print("%d held-out tools, %d templates, %d requests against %d training conversations (%s): %s" % (
        len(held_apis), len(templates), len(requests), len(examples), os.path.relpath(train, ROOT),
        "%d leaks" % len(problems) if problems else "held out"))
    return 1 if problems else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", default=TRAIN)
    ap.add_argument("--apis", default=APIS)
    a = ap.parse_args()
    sys.exit(main(train=a.train, apis=a.apis))
