#!/usr/bin/env python3
"""Golden outputs of the shipped model for the Lua/C engine tests: spec/fixtures/shipped/.

    /usr/bin/python3 tools/make_shipped_reference.py [--model models/mobilellm-tiny-api]

Loads the exported BF16 checkpoint back (safetensors_io.load_file, i.e. the rounded weights) into
training/train.py's torch model, runs it in float32 on 4 prompts built with chat_template from
models/mobilellm-tiny-api/eval/test.jsonl, and writes
  expected.lua  return { cases = { {prompt = {ids...}, logits_file = "case1.f32"}, ... },
                         n_vocab = 32000, greedy = {...} }
  caseK.f32     the last-position logits, 32000 little-endian float32
greedy: the greedy continuation of case 1 (ids up to and including </s> = 2, at most 48).
probe (when the model has copy_pointer.json): per case, the attention of the last prompt
position averaged over the pointer's heads (the engine's s:probe()), one weight per position.
It also recomputes case 1 with tools/reference.py (float64 numpy, an independent implementation)
and prints the largest logit difference and the smallest top-2 margin of the greedy steps.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# export.py and train.py (the torch model) are the trainer's, in training/
sys.path[:0] = [HERE, os.path.join(ROOT, "training")]
import chat_template  # noqa: E402
import export  # noqa: E402

OUT = os.path.join(ROOT, "spec", "fixtures", "shipped")
TEST = os.path.join(ROOT, "models", "mobilellm-tiny-api", "eval", "test.jsonl")
MAX_GREEDY = 48


MIN_MARGIN = 0.05  # case 1's greedy path must not hinge on near-ties (float32 summation order)


def pick_cases(recs, first=None):
    """Four deterministic, different kinds of test conversations (first match in file order)."""
    kinds = [
        (lambda r: r is first) if first is not None else
        (lambda r: len(r["messages"]) == 1 and r["expected"]["call"] is not None
         and len(r["expected"]["call"]["args"]) >= 2),                             # one-turn call
        lambda r: len(r["messages"]) == 1 and r["expected"]["call"] is None,       # one-turn answer
        lambda r: any(m.get("call") for m in r["messages"]) and r["expected"]["call"] is not None,
        lambda r: r["expected"]["call"] is not None
        and any(isinstance(v, (bool, int)) for v in r["expected"]["call"]["args"].values()),
    ]
    out = []
    for k in kinds:
        out.append(next(r for r in recs if k(r) and r not in out))
    return out


@torch.no_grad()
def last_logits(model, ids):
    h, _ = model.forward_full(torch.tensor([ids]))
    return model.head(h[0, -1]).to(torch.float32).numpy()


@torch.no_grad()
def probe(model, ids, heads):
    """The attention of the last position, averaged over heads [(executed layer, query head)]."""
    import math
    import train
    rec = []
    orig = train.Block.attend

    def attend(self, q, k, v, mask):
        kk = k.repeat_interleave(self.nh // self.nkv, dim=1)
        s = torch.matmul(q[:, :, -1:], kk.transpose(-1, -2)) / math.sqrt(self.hd)
        rec.append(torch.softmax(s, -1)[0, :, 0])
        return orig(self, q, k, v, mask)
    train.Block.attend = attend
    try:
        model.forward_full(torch.tensor([ids]))
    finally:
        train.Block.attend = orig
    return (sum(rec[l][h] for l, h in heads) / len(heads)).numpy()


@torch.no_grad()
def greedy(model, ids, n):
    ids = list(ids)
    out, margins = [], []
    for _ in range(n):
        lg = last_logits(model, ids)
        top2 = np.sort(lg)[-2:]
        margins.append(float(top2[1] - top2[0]))
        nxt = int(np.argmax(lg))
        out.append(nxt)
        ids.append(nxt)
        if nxt == chat_template.EOS_ID:
            break
    return out, margins


def lua_list(xs):
    return "{" + ", ".join(str(int(x)) for x in xs) + "}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=export.OUT_DIR)
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(2)
    model, cfg = export.load_exported(args.model)
    sp = chat_template.load_tokenizer()
    with open(TEST, encoding="utf-8") as f:
        recs = [json.loads(line) for line in f if line.strip()]
    # case 1: the first one-turn, two-argument call whose greedy continuation keeps a top-2
    # logit margin >= MIN_MARGIN at every step (so engines in float32 must reproduce it)
    first = None
    for r in recs:
        if len(r["messages"]) == 1 and r["expected"]["call"] and len(r["expected"]["call"]["args"]) >= 2:
            g, margins = greedy(model, chat_template.prompt_ids(sp, r["messages"]), MAX_GREEDY)
            if min(margins) >= MIN_MARGIN and g[-1] == chat_template.EOS_ID:
                first = r
                break
    cases = pick_cases(recs, first)
    os.makedirs(args.out, exist_ok=True)
    lines = ["-- Generated by tools/make_shipped_reference.py from models/mobilellm-tiny-api (BF16 weights,",
             "-- float32 torch forward). Prompts: tools/chat_template.py on models/mobilellm-tiny-api/eval/test.jsonl.",
             "return {", "  cases = {"]
    prompts = []
    for k, r in enumerate(cases, 1):
        ids = chat_template.prompt_ids(sp, r["messages"])
        prompts.append(ids)
        lg = last_logits(model, ids)
        assert lg.shape == (cfg["vocab_size"],)
        lg.astype("<f4").tofile(os.path.join(args.out, "case%d.f32" % k))
        lines.append("    -- %s: %s" % (r["id"], json.dumps(r["messages"][-1]["content"], ensure_ascii=False)))
        lines.append('    {id = "%s", prompt = %s, logits_file = "case%d.f32"},' % (r["id"], lua_list(ids), k))
    g, margins = greedy(model, prompts[0], MAX_GREEDY)
    text = sp.decode([t for t in g if t != chat_template.EOS_ID])
    lines.append("  },")
    lines.append("  n_vocab = %d," % cfg["vocab_size"])
    lines.append("  -- greedy continuation of case 1: %s" % json.dumps(text, ensure_ascii=False))
    lines.append("  greedy = %s," % lua_list(g))
    lines.append("  greedy_min_margin = %.4f," % min(margins))
    pointer_path = os.path.join(args.model, "copy_pointer.json")
    if os.path.exists(pointer_path):
        with open(pointer_path, encoding="utf-8") as f:
            heads = [tuple(h) for h in json.load(f)["heads"]]
        lines.append("  -- the attention probe of each case's last position, heads %s" % json.dumps(heads))
        lines.append("  probe_heads = {%s}," % ", ".join("{%d, %d}" % h for h in heads))
        lines.append("  probe = {")
        for ids in prompts:
            lines.append("    {%s}," % ", ".join("%.7g" % x for x in probe(model, ids, heads)))
        lines.append("  },")
    lines.append("}")
    with open(os.path.join(args.out, "expected.lua"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s (4 cases); case 1 greedy: %r (%d ids, min top-2 margin %.4f)"
          % (args.out, text, len(g), min(margins)))

    # independent check with the float64 numpy reference implementation
    import reference
    rc, rw = reference.load_model(args.model)
    ref = reference.forward(rc, rw, prompts[0])[-1]
    mine = np.fromfile(os.path.join(args.out, "case1.f32"), dtype="<f4")
    print("case 1: max |torch f32 - reference f64| = %.3g (logit scale %.3g)"
          % (float(np.max(np.abs(ref - mine))), float(np.max(np.abs(ref)))))


if __name__ == "__main__":
    main()
