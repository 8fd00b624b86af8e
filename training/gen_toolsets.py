#!/usr/bin/env python3
"""Writes conversations over procedurally made tool sets (issue #39; training/dataset/toolsets.py).

    /usr/bin/python3 training/gen_toolsets.py --n 200000 --out data/api-calling/toolsets.jsonl --check

Each line is in the evaluation format (data/api-calling/README.md) with "tools": the schemas of
the tools its prompt lists (the apis.json format), so a file of them trains and evaluates alike.
Seeded: the same flags write the same bytes. --check then runs training/check_heldout_tools.py
on the file: nothing of the held-out tool set may be in it.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import heldout_tools  # noqa: E402
from dataset.toolsets import Generator  # noqa: E402

WORDS = "/usr/share/dict/american-english"  # Debian's wamerican


def make_generator(seed, words_path=WORDS):
    """A Generator that makes nothing of the held-out tool set, its nouns also from the word list
    at words_path ('': none)."""
    held = heldout_tools.TOOLS
    words = []
    if words_path:
        with open(words_path, encoding="utf-8") as f:
            words = [w.strip() for w in f]
    return Generator(seed, held_names=[t[0] for t in held], held_params=[p for t in held for p in t[2]],
                     held_descriptions=[t[1] for t in held], words=words)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100000, help="conversations to write")
    ap.add_argument("--seed", type=int, default=39001)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "data", "api-calling", "toolsets.jsonl"))
    ap.add_argument("--check", action="store_true", help="check the file against the held-out tool set")
    ap.add_argument("--words", default=WORDS,
                    help="a word list for nouns (Debian's wamerican; '' for none)")
    args = ap.parse_args()
    gen = make_generator(args.seed, args.words)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    calls = 0
    with open(args.out, "w", encoding="utf-8") as f:
        for i in range(args.n):
            ex = gen.conversation()
            calls += ex["expected"]["call"] is not None
            ex = {"id": "g%06d" % (i + 1), **ex}
            f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    print("%d conversations (%d calls, %d no-call) -> %s" % (args.n, calls, args.n - calls, args.out))
    if args.check:
        import check_heldout_tools
        sys.exit(check_heldout_tools.main(train=args.out))


if __name__ == "__main__":
    main()
