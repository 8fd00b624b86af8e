#!/usr/bin/env python3
"""Evaluation files for issue #36, a bare hour read as a volume level ("wake me at 7" ->
set_volume(level=7)): held-out phrasings and values, with the times and levels made bare numbers.

    /usr/bin/python3 training/bare_hour_probe.py [--n 300] [--out /tmp/bare]
    lua5.4 tools/eval.lua --data /tmp/bare/bare_hours.jsonl --copy --json

writes, in the evaluation format, one-turn requests:
  bare_hours.jsonl   alarms, reminders and events (a third each) whose time is an hour alone,
                     "1" to "12" (time="7", "Alarm set for 7.")
  small_levels.jsonl volume requests of level 1 to 12, the numbers a bare hour shares: a model
                     that learnt "a bare number is a time" fails these
The test file has no bare hour (every held-out time has am/pm, minutes or words), so neither
dev nor test measures this. Each file has a random stream of its own (other than the training,
test, dev and cross_split draws'). Diagnostics only: never train on them.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_dataset as G  # noqa: E402  (puts tools/ on the path too)
from dataset.conversation import Gen, copy_values_verbatim, to_record  # noqa: E402

PROBE_OFFSETS = {"bare_hours": 5 * G.SAMPLE_STRIDE + 19, "small_levels": 5 * G.SAMPLE_STRIDE + 23}
HOURS = [str(h) for h in range(1, 13)]


def draw(name, apis, n, seed):
    g = Gen("test", seed, n_seed_offset=PROBE_OFFSETS[name])
    g.v["time"], g.v["level"] = HOURS, HOURS
    recs = []
    while len(recs) < n:
        api = apis[len(recs) % len(apis)]
        text, call, reply = g.call_turn(api)
        if api != "set_volume" and "time" not in call["args"]:
            continue  # an event without its optional time
        recs.append(to_record("b%05d" % (len(recs) + 1), copy_values_verbatim([(text, call, reply)])))
    return recs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="requests per file")
    ap.add_argument("--seed", type=int, default=G.DEFAULT_SEED)
    ap.add_argument("--out", default="/tmp/bare")
    args = ap.parse_args()
    if args.n <= 0:
        ap.error("--n must be a positive number of requests")
    os.makedirs(args.out, exist_ok=True)
    for name, apis in (("bare_hours", ["set_alarm", "create_reminder", "create_event"]),
                       ("small_levels", ["set_volume"])):
        recs = draw(name, apis, args.n, args.seed)
        path = os.path.join(args.out, name + ".jsonl")
        G.write_jsonl(path, recs)
        print(path, json.dumps(G.stats(recs)))


if __name__ == "__main__":
    main()
