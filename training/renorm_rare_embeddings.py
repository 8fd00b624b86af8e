#!/usr/bin/env python3
"""Give the embedding rows that training barely touched the scale of the trained ones.

    /usr/bin/python3 training/renorm_rare_embeddings.py --ckpt IN.pt --out OUT.pt \
        [--train TRAIN.jsonl ...] [--max-count 30]

Why: the model is trained from scratch on a narrow synthetic set, so most of the 32000 tokens occur
a few times or never (29.5k of them at most 30 times in a 48000-conversation file). AdamW's weight
decay shrinks every row each step, while only the rows of tokens in the batch get gradient back:
the rows of rare tokens end at about 0.14 in norm against 0.25-0.49 for the rest. With the tied
embedding a rare word's logit is then small wherever it stands, and inside a call the model closes
a string value just before one ("lunch with" for "lunch with Ben"): the held-out values are full of
such words (names, places), since no test value occurs in training.

What it does: counts each token id in the training conversations as train.py encodes them (every
prompt and answer), and scales each row of a token counted at most --max-count times to the
median norm of the other rows, keeping its direction. Rows of frequent tokens are untouched. The
output is a checkpoint of train.py's format (export.py --ckpt reads it).

Which file: the one the last run trained on, which train.py records in its checkpoint and which is
the default. The counts of several --train files add up, so the rare split and the target norm
then depend on how many files are given: with run 13's and run 14's files the target fell from
0.22 to 0.135 and the score dropped (training/README.md). So a --train other than the recorded file
is reported on stderr.
"""
import argparse
import collections
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
# chat_template lives in tools/: the fixture scripts there use it too
sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), "tools")]
import chat_template  # noqa: E402
import train  # noqa: E402

EMBED = "embed_tokens.weight"


def token_counts(sp, path):
    """Occurrences of each token id in the conversations of a training file (prompts and answers)."""
    counts = collections.Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            counts.update(chat_template.prompt_ids(sp, rec["messages"]))
            counts.update(chat_template.target_ids(sp, rec["expected"]["call"], rec["expected"]["reply"]))
    return counts


def renorm_rare(weight, counts, max_count):
    """Returns (new weight, number of rows rescaled, target norm)."""
    w = weight.float()
    rare = torch.tensor([counts.get(i, 0) <= max_count for i in range(w.shape[0])])
    if rare.all() or not rare.any():
        raise SystemExit("renorm_rare_embeddings: no split at --max-count %d (%d of %d rows rare)"
                         % (max_count, int(rare.sum()), w.shape[0]))
    norms = w.norm(dim=1)
    target = float(norms[~rare].median())
    out = w.clone()
    out[rare] = w[rare] / norms[rare].clamp_min(1e-12).unsqueeze(1) * target
    return out.to(weight.dtype), int(rare.sum()), target


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True, help="train.py checkpoint to read")
    ap.add_argument("--train", nargs="+",
                    help="training file(s) to count tokens in (default: the one the checkpoint records)")
    ap.add_argument("--out", required=True, help="checkpoint to write")
    ap.add_argument("--max-count", type=int, default=30, help="a token seen at most this often is rare")
    args = ap.parse_args()
    if os.path.abspath(args.out) == os.path.abspath(args.ckpt):
        ap.error("--out must differ from --ckpt")
    st = train.load_checkpoint(args.ckpt, ap.error)
    recorded = st.get("train")
    if not args.train:
        if not recorded:
            ap.error("%s does not name its training file (an average of checkpoints, or written before "
                     "train.py recorded it): give --train" % args.ckpt)
        args.train = [recorded]
    for path in args.train:
        if not os.path.isfile(path):
            ap.error("training file not found: %s" % path)
    if recorded and [os.path.abspath(p) for p in args.train] != [recorded]:
        print("renorm_rare_embeddings: warning: %s was trained on %s; counting tokens in %s instead"
              % (args.ckpt, recorded, " ".join(args.train)), file=sys.stderr)
    sp = chat_template.load_tokenizer()
    counts = collections.Counter()
    for path in args.train:
        counts.update(token_counts(sp, path))
    w, n, target = renorm_rare(st["model"][EMBED], counts, args.max_count)
    st["model"][EMBED] = w
    st["renorm_rare"] = {"max_count": args.max_count, "rows": n, "norm": target,
                         "train": [os.path.basename(p) for p in args.train]}
    torch.save(st, args.out)
    print("renorm_rare_embeddings: %d of %d rows (tokens seen <= %d times) scaled to norm %.4f -> %s"
          % (n, w.shape[0], args.max_count, target, args.out))


if __name__ == "__main__":
    main()
