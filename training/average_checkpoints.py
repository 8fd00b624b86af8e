#!/usr/bin/env python3
"""Average the weights of several train.py checkpoints of one model (uniform, in float32).

    /usr/bin/python3 training/average_checkpoints.py --out AVG.pt CKPT1.pt CKPT2.pt [...]

Why: runs 15 and 16 went on from run 14's weights on fresh draws and each scored a little below
it, yet the mean of run 14's and run 16's weights scored above both (training/README.md). The usual
explanation (weight averaging, "model soups"): nearby points of one training path lie around a
flat valley, and their mean sits nearer its floor. The checkpoints must share the configuration
and the tensor names (one model, trained on from a common checkpoint).

The output is a train.py checkpoint without AdamW state (the moments of different points do not
average into anything meaningful; a run resumed from it starts fresh moments with the 50-step
re-warmup) and without a recorded training file: renorm_rare_embeddings.py then needs --train.
The rare rows should be rescaled again after averaging, since rows that point different ways
average to a shorter one.
"""
import argparse
import os

import torch

import train  # load_checkpoint (training/ is on the path: it holds this script)


def average(states):
    """The uniform mean of the "model" tensors of states, in each tensor's own dtype."""
    first = states[0]["model"]
    out = {}
    for name, t in first.items():
        acc = torch.zeros(t.shape, dtype=torch.float32)
        for st in states:
            acc += st["model"][name].float()
        out[name] = (acc / len(states)).to(t.dtype)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="checkpoint to write")
    ap.add_argument("ckpts", nargs="+", help="train.py checkpoints to average (two or more)")
    args = ap.parse_args()
    if len(args.ckpts) < 2:
        ap.error("give at least two checkpoints")
    if any(os.path.abspath(args.out) == os.path.abspath(p) for p in args.ckpts):
        ap.error("--out must differ from every input")
    states = [train.load_checkpoint(p, ap.error) for p in args.ckpts]
    cfg = states[0]["config"]
    names = set(states[0]["model"])
    for p, st in zip(args.ckpts[1:], states[1:]):
        if st["config"] != cfg:
            ap.error("%s has another configuration than %s" % (p, args.ckpts[0]))
        if set(st["model"]) != names:
            ap.error("%s has other tensors than %s" % (p, args.ckpts[0]))
        for n in names:
            if st["model"][n].shape != states[0]["model"][n].shape:
                ap.error("%s: tensor %s is %s, not %s" % (p, n, tuple(st["model"][n].shape),
                                                          tuple(states[0]["model"][n].shape)))
    torch.save({"model": average(states), "config": cfg, "step": max(st.get("step", 0) for st in states),
                "averaged": [os.path.abspath(p) for p in args.ckpts]}, args.out)
    print("average_checkpoints: %d checkpoints -> %s" % (len(states), args.out))


if __name__ == "__main__":
    main()
