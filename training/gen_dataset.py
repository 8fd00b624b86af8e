#!/usr/bin/env python3
"""Deterministic generator of the synthetic API-calling dataset (see training/DATASET.md).

    /usr/bin/python3 training/gen_dataset.py --augment --variety 5 # `make dataset` (run 11; runs 13, 14: --sample 1, 2)
    /usr/bin/python3 training/gen_dataset.py --augment --variety 5 --sample 1 --out DIR  # fresh draw
    /usr/bin/python3 training/gen_dataset.py --augment --variety 11 --sample 30 --train 96000 --out DIR  # run 47's
    /usr/bin/python3 training/gen_dataset.py --train 48000 --test 3000 --seed 20240611 --augment --variety 5
    /usr/bin/python3 training/gen_dataset.py --augment --variety 4 --out DIR  # run 10's training file
    /usr/bin/python3 training/gen_dataset.py --augment --variety 3 --out DIR  # run 9's training file
    /usr/bin/python3 training/gen_dataset.py --augment --variety 2 --out DIR  # run 7's
    /usr/bin/python3 training/gen_dataset.py --augment --variety   # the training file of run 6
    /usr/bin/python3 training/gen_dataset.py --augment             # the training file of run 5
    /usr/bin/python3 training/gen_dataset.py                       # the training file of runs 3-4

Writes train.jsonl and test.jsonl (and dev.jsonl with --dev) into --out (default data/api-calling/,
where they are not committed) in the evaluation format of data/api-calling/README.md; the held-out
test.jsonl of `make dataset` is committed as models/mobilellm-tiny-api/eval/test.jsonl. Every
phrasing template, wrapper and slot-value list exists twice, once for "train" and once for "test"
(hand-written separate template pools; value lists are split in two halves by a seeded shuffle),
and the script checks at the end that no string argument value and no user message of the test
set occurs in the training set.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# chat_template lives in tools/: the fixture scripts there use it too
sys.path[:0] = [HERE, os.path.join(ROOT, "tools")]
from dataset.conversation import Gen, copy_values_verbatim, to_record  # noqa: E402
from dataset.extra_templates import LATE_POOLS, MAX_VARIETY, T_EXTRA_LEVELS, check_extra_distance  # noqa: E402
from dataset.templates import T  # noqa: E402
from dataset.values import coverage_words  # noqa: E402

DEFAULT_SEED = 20240611
OUT_DIR = os.path.join(ROOT, "data", "api-calling")


def string_values(rec):
    out = set()
    calls = [rec["expected"]["call"]] + [m.get("call") for m in rec["messages"]]
    for c in calls:
        if c:
            for k, val in c["args"].items():
                if isinstance(val, str) and k not in ("app", "mode", "setting"):
                    out.add(val)
    return out


def user_texts(rec):
    return {m["content"] for m in rec["messages"] if m["role"] == "user"}


# --sample n: a multiplier that keeps n's random streams far from the test split's (seed * 31 + 1)
SAMPLE_STRIDE = 1000003
DEV_SEED_OFFSET = 7 * SAMPLE_STRIDE + 2  # never a training draw's (those are multiples of the stride)


def generate(n_train, n_test, seed, augment=False, variety=0, sample=0):
    test_gen = Gen("test", seed)
    test, test_vals, test_users = [], set(), set()
    # The split checks see each value both as drawn and as copy_values_verbatim capitalises it
    # ("prayer", "Prayer"): neither may occur in the other split.
    for i in range(n_test):
        turns = test_gen.conversation()
        rec = to_record("t%05d" % (i + 1), copy_values_verbatim(turns))
        test.append(rec)
        test_vals |= string_values(rec) | string_values(to_record(rec["id"], turns))
        test_users |= user_texts(rec)
    train_gen = Gen("train", seed, n_seed_offset=sample * SAMPLE_STRIDE, coverage=coverage_words(seed),
                    augment=augment, variety=variety)
    train_gen.excluded = set(test_vals)
    train = []
    while len(train) < n_train:
        turns = train_gen.conversation()
        rec = to_record("r%05d" % (len(train) + 1), copy_values_verbatim(turns))
        vals = string_values(rec) | string_values(to_record(rec["id"], turns))
        if vals & test_vals or user_texts(rec) & test_users:
            continue  # e.g. a short no-call text both pools share by chance, or "thanks"
        train.append(rec)
    return train, test


def dev_split(n, seed, test):
    """n conversations of the held-out pools from a generator of their own, none whose user
    messages are all in test (short ones like "thanks" are shared by chance)."""
    def users(rec):
        return tuple(m["content"] for m in rec["messages"] if m["role"] == "user")

    gen = Gen("test", seed, n_seed_offset=DEV_SEED_OFFSET)
    test_keys = {users(r) for r in test}
    dev = []
    while len(dev) < n:
        rec = to_record("d%05d" % (len(dev) + 1), copy_values_verbatim(gen.conversation()))
        if users(rec) not in test_keys:
            dev.append(rec)
    return dev


def write_jsonl(path, recs):
    """One record per line, in the evaluation format's encoding (UTF-8, non-ASCII kept)."""
    with open(path, "w", encoding="utf-8") as f:
        for rec in recs:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def stats(recs):
    n = len(recs)
    nocall = sum(1 for r in recs if r["expected"]["call"] is None)
    by_api = {}
    for r in recs:
        c = r["expected"]["call"]
        by_api[c["name"] if c else "(none)"] = by_api.get(c["name"] if c else "(none)", 0) + 1
    turns = {}
    for r in recs:
        k = sum(1 for m in r["messages"] if m["role"] == "user")
        turns[k] = turns.get(k, 0) + 1
    return {"n": n, "no_call_share": round(nocall / n, 4), "by_api": dict(sorted(by_api.items())),
            "user_turns": dict(sorted(turns.items()))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=48000)
    ap.add_argument("--test", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--augment", action="store_true",
                    help="training-only phrasing noise: a filler word or a dropped short word (tried in run 5)")
    ap.add_argument("--variety", type=int, nargs="?", const=1, default=0,
                    choices=range(MAX_VARIETY + 1),
                    help="more training phrasings, request prefixes and unknown-word swaps: 1 (run 6), "
                         "2 (a second set of phrasings too, run 7), 3 (a third set, and values "
                         "lengthened by a vocabulary word, run 9), 4 (value-first phrasings and "
                         "lead-in clauses, run 10), 5 (pseudo-words of rare vocabulary pieces in "
                         "values, run 11) or 6 (more unknown words: swapped and inserted ones in "
                         "messages, pseudo-word first words in names, places and songs, run 19) or 7 (a "
                         "fifth set of phrasings, each checked to be far from every test phrasing, "
                         "run 35) or 8 (a sixth set, checked the same way, run 37) or 9 (a seventh "
                         "set and more words before and after a request, checked the same way, "
                         "run 41) or 10 (an eighth set, checked the same way, and in a fifth of the "
                         "call requests the first word swapped for a vocabulary word, run 46) or 11 (bare "
                         "hours as alarm, reminder and event times: \"wake me at 7\", run 47); "
                         "needs --augment")
    ap.add_argument("--sample", type=int, default=0,
                    help="draw other training conversations (n > 0) from the same training pools: "
                         "the value split and the test file are those of --seed, unchanged")
    ap.add_argument("--dev", type=int, default=0,
                    help="also write dev.jsonl: N more conversations drawn from the held-out pools "
                         "(templates and values of the test file, other draws), to choose between "
                         "models without reading the test file's scores; train and test are unchanged")
    ap.add_argument("--out", default=OUT_DIR)
    args = ap.parse_args()
    if args.variety and not args.augment:
        ap.error("--variety needs --augment (its word swaps are part of the training-only noise)")
    if args.sample < 0:
        ap.error("--sample must be 0 (the shipped model's training file) or a positive number")
    if args.dev < 0:
        ap.error("--dev must be 0 (no dev.jsonl) or a positive number of conversations")
    for api in T:
        extra = {str(t) for pool in T_EXTRA_LEVELS + tuple(p[0] for p in LATE_POOLS.values()) for t in pool[api]}
        assert not extra & set(map(str, T[api]["test"])), "a test template among the extra ones: " + api
    check_extra_distance()
    train, test = generate(args.train, args.test, args.seed, args.augment, args.variety,
                           args.sample)
    # self-checks of the split
    test_users = set().union(*(user_texts(r) for r in test))
    train_users = set().union(*(user_texts(r) for r in train))
    assert not (test_users & train_users), "a user message occurs in both splits"
    tv = set().union(*(string_values(r) for r in test))
    rv = set().union(*(string_values(r) for r in train))
    assert not (tv & rv), "a string value occurs in both splits"
    files = [("train", train), ("test", test)]
    if args.dev:
        files.append(("dev", dev_split(args.dev, args.seed, test)))
    os.makedirs(args.out, exist_ok=True)
    for name, recs in files:
        path = os.path.join(args.out, name + ".jsonl")
        write_jsonl(path, recs)
        print(name, path, json.dumps(stats(recs)))


if __name__ == "__main__":
    main()
