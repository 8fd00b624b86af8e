#!/usr/bin/env python3
"""Evaluation files that cross the split, to tell what a held-out score loses to new phrasings
and what to new values:

    /usr/bin/python3 training/cross_split.py [--n 1000] [--out /tmp/cross]
    lua5.4 tools/eval.lua --data /tmp/cross/train_templates_test_values.jsonl --copy --json

writes, in the evaluation format,
  train_templates_train_values.jsonl  the training phrasings (level 0, no noise), training values
  train_templates_test_values.jsonl   the training phrasings, the held-out values
  test_templates_train_values.jsonl   the held-out phrasings, the training values
Each has a random stream of its own (other than the training, test and dev draws'). A model that
scores well on the first and badly on the second copies unseen values badly; badly on the third,
it reads unseen phrasings badly. Diagnostics only: never train on the last two.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_dataset as G  # noqa: E402  (puts tools/ on the path too)
from dataset.conversation import Gen, copy_values_verbatim, to_record  # noqa: E402

# random streams: off the training draws (multiples of the stride), the test and the dev offsets
CROSS_OFFSETS = {("train", "train"): 5 * G.SAMPLE_STRIDE + 17, ("train", "test"): 5 * G.SAMPLE_STRIDE + 11,
                 ("test", "train"): 5 * G.SAMPLE_STRIDE + 13}


def draw(templates, values, n, offset, seed):
    g = Gen(templates, seed, n_seed_offset=offset, values=values)
    return [to_record("x%05d" % (i + 1), copy_values_verbatim(g.conversation())) for i in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="conversations per file")
    ap.add_argument("--seed", type=int, default=G.DEFAULT_SEED)
    ap.add_argument("--out", default="/tmp/cross")
    args = ap.parse_args()
    if args.n <= 0:
        ap.error("--n must be a positive number of conversations")
    os.makedirs(args.out, exist_ok=True)
    for (t, v), offset in CROSS_OFFSETS.items():
        recs = draw(t, v, args.n, offset, args.seed)
        path = os.path.join(args.out, "%s_templates_%s_values.jsonl" % (t, v))
        G.write_jsonl(path, recs)
        print(path, json.dumps(G.stats(recs)))


if __name__ == "__main__":
    main()
