"""Training on tool lists rather than on one fixed tools line (issue #39), for train.py.

  * `--toolsets FILE`: conversations whose "tools" are their own schemas (gen_toolsets.py);
  * `--vary-tools`: each conversation of the 12-API data lists the APIs its calls need, a random
    number of the other 11, and 0 to 3 made-up distractors (dataset/toolsets.py), in random order;
  * `--describe`: each tool followed by its description (chat_template.tools_line);
  * `--heldout-tools`: the held-out tool set (heldout_tools.py) decoded greedily in torch, free
    decoding: EM_intent, EM_structure and the no-call accuracy.

Every prompt then has its own tools line, so the prefix the batch shares is <s> alone.
"""
import json
import os
import random

import torch

import chat_template
from gen_toolsets import WORDS, make_generator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELDOUT_DIR = os.path.join(ROOT, "models", "mobilellm-tiny-api", "eval")


def needed_apis(rec):
    names = [m["call"]["name"] for m in rec["messages"] if m.get("call")]
    if rec["expected"].get("call"):
        names.append(rec["expected"]["call"]["name"])
    return list(dict.fromkeys(names))


def assign_tools(recs, seed, vary):
    """Gives each record the tools its prompt lists (rec["_apis"]); 12-API records keep all 12
    unless vary."""
    rng = random.Random(seed)
    apis = chat_template.load_apis()
    by_name = {a["name"]: a for a in apis}
    gen = make_generator(seed + 1, WORDS if os.path.exists(WORDS) else "")  # distractors
    for r in recs:
        if r.get("tools"):
            r["_apis"] = r["tools"]
        elif vary:
            need = needed_apis(r)
            others = [a for a in apis if a["name"] not in need]
            picked = [by_name[n] for n in need] + rng.sample(others, rng.randint(0, len(others)))
            for _ in range(rng.choice([0, 0, 1, 2, 3])):
                t = gen.tool()
                picked.append({"name": t["name"], "description": t["description"], "parameters": t["parameters"]})
            rng.shuffle(picked)
            r["_apis"] = picked
        else:
            r["_apis"] = None
    return recs


def apis_of(rec):
    return rec.get("_apis")


def load_heldout(limit=None):
    with open(os.path.join(HELDOUT_DIR, "tools.json"), encoding="utf-8") as f:
        apis = {a["name"]: a for a in json.load(f)["apis"]}
    recs = []
    with open(os.path.join(HELDOUT_DIR, "tools_test.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            r["_apis"] = [apis[n] for n in r["tools"]]
            recs.append(r)
    return recs[:limit] if limit else recs


@torch.no_grad()
def greedy(model, prompt, max_new=64):
    h, past = model.forward_full(torch.tensor([prompt]))
    out, pos = [], len(prompt)
    for _ in range(max_new):
        nxt = int(torch.argmax(model.head(h[0, -1])))
        out.append(nxt)
        if nxt == chat_template.EOS_ID:
            break
        h, past = model.forward_full(torch.tensor([[nxt]]), past, pos)
        pos += 1
    return out


def evaluate_tools(model, sp, recs, describe, parse):
    """Free greedy decoding of recs (each with its _apis): EM_intent, EM_structure, no-call accuracy."""
    model.eval()
    n = ei = es = nc = nc_ok = 0
    with model.frozen_embedding():
        for r in recs:
            prompt = chat_template.prompt_ids(sp, r["messages"], r["_apis"], describe)
            text = sp.decode([t for t in greedy(model, prompt) if t != chat_template.EOS_ID])
            call, _ = parse(text)
            exp = r["expected"]["call"]
            got = call["name"] if isinstance(call, dict) else (None if call is None else "INVALID")
            ok_i = (exp["name"] if exp else None) == got
            n += 1
            ei += ok_i
            es += ok_i and (exp is None or call["args"] == exp["args"])
            if exp is None:
                nc += 1
                nc_ok += call is None
    model.train()
    return {"n": n, "EM_intent": ei / n, "EM_structure": es / n, "no_call": nc_ok / nc if nc else None}
