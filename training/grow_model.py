#!/usr/bin/env python3
"""Grow a train.py checkpoint, deeper or with more attention heads, without changing what it computes.

    /usr/bin/python3 training/grow_model.py --ckpt IN.pt --heads 6 --out GROWN.pt
    /usr/bin/python3 training/grow_model.py --ckpt IN.pt --after 2,5 --out GROWN.pt

Every new part starts with a zero output projection, so the grown model computes exactly what IN
computed and training goes on from IN's loss rather than from scratch. The gradient of a zero
output projection is the part's own (non-zero) activations, so it moves off zero at the first
step, and from then on the new part's other weights get gradient too.

--heads N: N query heads per block instead of IN's (a multiple of the key/value heads, which stay
as they are). Each key/value group keeps its old heads and gets new ones; a new head's query rows
start as a copy of one of its group's old heads (plus a small seeded jitter, so that two new heads
of one group do not stay twins) and its columns of o_proj at zero. head_dim is kept, so the config
then names it (hidden_size is no longer num_attention_heads x head_dim).

--after I,J,...: a new stored block after each listed block of IN, a copy of that block with its
o_proj and down_proj at zero (a block adds its attention and MLP outputs to the residual stream,
so such a block passes its input through). Each stored block is 0.37 MB in BF16.

Why: from some 12000 steps on, the held-out loss of the 128-wide, 8-block model stayed at 0.34 -
0.36 whatever the data draw (training/README.md), and most of its remaining errors are in
which span of the user's words it copies, which is attention's job. Two more query heads per block
cost 0.26 MB and keep the shipped model under 12 MB; two more blocks would not.

The output is a train.py checkpoint without AdamW state (a resumed run starts fresh moments with
its 50-step re-warmup); train.py --resume builds the model in the checkpoint's configuration.
"""
import argparse
import os

import torch

import train  # load_checkpoint (training/ is on the path: it holds this script)


def grow_depth(state, cfg, after):
    """-> (state dict, config) with one zero-output copy of block i inserted after each i in after."""
    n = cfg["num_hidden_layers"]
    order = []  # (source block, is new) for each block of the grown model
    for i in range(n):
        order.append((i, False))
        order.extend((i, True) for _ in range(after.count(i)))
    out = {k: v.clone() for k, v in state.items() if not k.startswith("layers.")}
    for j, (i, new) in enumerate(order):
        prefix = "layers.%d." % i
        for k, v in state.items():
            if k.startswith(prefix):
                name = k[len(prefix):]
                t = v.clone()
                if new and name in ("o_proj.weight", "down_proj.weight"):
                    t.zero_()
                out["layers.%d.%s" % (j, name)] = t
    grown = dict(cfg)
    grown["num_hidden_layers"] = len(order)
    return out, grown


def grow_heads(state, cfg, n_heads, seed=0):
    """-> (state dict, config) with n_heads query heads per block; the new ones output zero."""
    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    r, r2 = nh // nkv, n_heads // nkv
    gen = torch.Generator().manual_seed(seed)
    out = {k: v.clone() for k, v in state.items()}
    for i in range(cfg["num_hidden_layers"]):
        q = state["layers.%d.q_proj.weight" % i].view(nh, hd, -1)  # [nh, hd, dim]
        o = state["layers.%d.o_proj.weight" % i].view(q.shape[2], nh, hd)  # [dim, nh, hd]
        q2 = torch.zeros(n_heads, hd, q.shape[2], dtype=q.dtype)
        o2 = torch.zeros(o.shape[0], n_heads, hd, dtype=o.dtype)
        for g in range(nkv):  # key/value head g serves query heads g*r .. g*r+r-1 (repeat_interleave)
            q2[g * r2:g * r2 + r] = q[g * r:g * r + r]
            o2[:, g * r2:g * r2 + r] = o[:, g * r:g * r + r]
            for j in range(r, r2):
                src = q[g * r + (j - r) % r]
                q2[g * r2 + j] = src + 0.01 * src.std() * torch.randn(src.shape, generator=gen)
        out["layers.%d.q_proj.weight" % i] = q2.reshape(n_heads * hd, -1)
        out["layers.%d.o_proj.weight" % i] = o2.reshape(o.shape[0], n_heads * hd)
    grown = dict(cfg)
    grown["num_attention_heads"] = n_heads
    return out, grown


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True, help="train.py checkpoint to grow")
    ap.add_argument("--heads", type=int, default=0, help="query heads per block (more than the checkpoint's)")
    ap.add_argument("--after", default="",
                    help="comma-separated indices of stored blocks to insert a new block after")
    ap.add_argument("--out", required=True, help="checkpoint to write")
    args = ap.parse_args()
    if os.path.abspath(args.out) == os.path.abspath(args.ckpt):
        ap.error("--out must differ from --ckpt")
    st = train.load_checkpoint(args.ckpt, ap.error)
    cfg = st["config"]
    if not args.heads and not args.after:
        ap.error("give --heads, --after or both")
    model, grown = st["model"], dict(cfg)
    if args.heads:
        if args.heads <= cfg["num_attention_heads"] or args.heads % cfg["num_key_value_heads"]:
            ap.error("--heads must be more than %d and a multiple of num_key_value_heads (%d)"
                     % (cfg["num_attention_heads"], cfg["num_key_value_heads"]))
        model, grown = grow_heads(model, grown, args.heads)
    after = []
    if args.after:
        try:
            after = [int(x) for x in args.after.split(",")]
        except ValueError:
            ap.error("--after takes comma-separated block indices, not %r" % args.after)
        bad = [i for i in after if not 0 <= i < cfg["num_hidden_layers"]]
        if bad:
            ap.error("--after: no stored block %s (the checkpoint has %d)" % (bad, cfg["num_hidden_layers"]))
        model, grown = grow_depth(model, grown, after)
    torch.save({"model": model, "config": grown, "step": st.get("step", 0),
                "grown_from": os.path.abspath(args.ckpt), "grown_heads": args.heads, "grown_after": after},
               args.out)
    print("grow_model: %d -> %d stored blocks, %d -> %d query heads -> %s"
          % (cfg["num_hidden_layers"], grown["num_hidden_layers"], cfg["num_attention_heads"],
             grown["num_attention_heads"], args.out))


if __name__ == "__main__":
    main()
