#!/usr/bin/env python3
"""A train.py checkpoint from an exported model directory, to fine-tune the shipped weights when
the run's own checkpoint is gone (it lives in /tmp, the export in the repository).

    /usr/bin/python3 training/checkpoint_from_export.py --out /tmp/r47/start.pt [--model models/mobilellm-tiny-api] [--step 19960]
    /usr/bin/python3 training/train.py --resume /tmp/r47/start.pt --start-step 19960 ...

The weights are the export's, BF16-rounded (export.load_exported), in float32: the model that
ships, not the float32 point it was rounded from. The checkpoint has no AdamW state (a resumed
run starts fresh moments with the 50-step re-warmup) and no recorded training file
(renorm_rare_embeddings.py then needs --train), as average_checkpoints.py writes.
"""
import argparse
import os

import torch

import export  # load_exported (training/ is on the path: it holds this script)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=export.OUT_DIR, help="an exported model directory (config.json, "
                                                            "model.safetensors)")
    ap.add_argument("--out", required=True, help="checkpoint to write")
    ap.add_argument("--step", type=int, default=0, help="the step number to record (the run that made "
                                                        "the export: training/README.md)")
    args = ap.parse_args()
    for name in ("config.json", "model.safetensors"):
        if not os.path.isfile(os.path.join(args.model, name)):
            ap.error("%s has no %s: not an exported model directory" % (args.model, name))
    model, cfg = export.load_exported(args.model)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save({"model": model.state_dict(), "config": cfg, "step": args.step,
                "exported": os.path.abspath(args.model)}, args.out)
    print("checkpoint_from_export: %s -> %s (step %d)" % (args.model, args.out, args.step))


if __name__ == "__main__":
    main()
