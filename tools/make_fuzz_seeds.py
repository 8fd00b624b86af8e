"""Build the seed corpora of fuzz/fuzz_model_dir.c and fuzz/fuzz_tokenizer.c (issue 34)
from the committed fixtures; standard library only, deterministic.

    /usr/bin/python3 tools/make_fuzz_seeds.py

fuzz/corpus/model_dir/<name>   a model directory packed as fuzz_model_dir.c reads it:
                               1 byte compute format (index into DTYPES), then per file
                               1 byte file index (into FILES), 4 bytes length (little-endian),
                               the bytes
fuzz/corpus/tokenizer/<name>   models/llama2-tokenizer/tokenizer.model and truncations of it

Each folder is emptied first. FILES and DTYPES must match the harness's tables.
"""

import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "spec", "fixtures")
TOKENIZER = os.path.join(ROOT, "models", "llama2-tokenizer", "tokenizer.model")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

FILES = [
    "config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "pytorch_model-00001-of-00002.bin",
    "pytorch_model-00002-of-00002.bin",
    "tokenizer.model",
]
DTYPES = ["auto", "f32", "f16", "bf16", "q8", "q4"]

# (seed name, fixture folder under spec/fixtures, compute format, bytes of the real
# tokenizer.model added as the model's, or None). The fixtures with a 32000-piece
# vocabulary are too large for a seed; a cut tokenizer.model, which sentencepiece
# refuses, takes the loader through the tokenizer's error path.
MODEL_SEEDS = [
    ("f32-basic", "models/f32-basic", "auto", None),
    ("f32-ls-as-f16", "models/f32-ls", "f16", None),
    ("f16-gqa3", "models/f16-gqa3", "auto", None),
    ("bf16-headdim-as-q8", "models/bf16-headdim", "q8", None),
    ("f32-sharded", "models/f32-sharded", "auto", None),
    ("f32-untied-mobilellm-as-bf16", "models/f32-untied-mobilellm", "bf16", None),
    ("torch-f32", "torch/f32", "auto", None),
    ("torch-f32-sharded", "torch/f32-sharded", "auto", None),
    ("torch-bf16-tied-as-f32", "torch/bf16-tied", "f32", None),
    ("torch-f16-views-as-q8", "torch/f16-views", "q8", None),  # refused: rows of 16 values
    ("torch-mobilellm-as-q4", "torch/mobilellm", "q4", None),
    ("torch-f32-cut-tokenizer", "torch/f32", "auto", 4096),
    ("l4-nope-chunked", "models/l4-nope-chunked", "auto", None),  # llama4_text
    ("l4-r1-bf16-as-q8", "models/l4-r1-bf16", "q8", None),
]

# (seed name, bytes of tokenizer.model kept; None = all)
TOKENIZER_SEEDS = [
    ("llama2", None),
    ("llama2-cut-64", 64),
    ("llama2-cut-1k", 1024),
    ("llama2-cut-100k", 100000),
]

# Regression seeds, kept byte for byte. leak-on-throw: a model proto on which
# sentencepiece throws while loading (it leaked the half-made processor).
REGRESSION_SEEDS = [
    ("leak-on-throw", bytes.fromhex(
        "0a0e0a053c756e6b3e150000000018020a0c0a033c733e150000000018030a0d"
        "0a043c2f733e150000000018030a0f0a0600000000303e15000000003078300f")),
]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def fresh(path):
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        os.remove(os.path.join(path, name))


def pack(dtype, files):
    out = bytearray([DTYPES.index(dtype)])
    for name, data in files:
        out += struct.pack("<BI", FILES.index(name), len(data)) + data
    return bytes(out)


def model_seed(fixture, dtype, tokenizer_bytes):
    folder = os.path.join(FIXTURES, fixture)
    files = [(n, read(os.path.join(folder, n))) for n in FILES if os.path.exists(os.path.join(folder, n))]
    if tokenizer_bytes is not None:
        files.append(("tokenizer.model", read(TOKENIZER)[:tokenizer_bytes]))
    return pack(dtype, files)


def main():
    out = os.path.join(CORPUS, "model_dir")
    fresh(out)
    for name, fixture, dtype, tokenizer_bytes in MODEL_SEEDS:
        with open(os.path.join(out, name), "wb") as f:
            f.write(model_seed(fixture, dtype, tokenizer_bytes))
    out = os.path.join(CORPUS, "tokenizer")
    fresh(out)
    tokenizer = read(TOKENIZER)
    for name, keep in TOKENIZER_SEEDS:
        with open(os.path.join(out, name), "wb") as f:
            f.write(tokenizer if keep is None else tokenizer[:keep])
    for name, data in REGRESSION_SEEDS:
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    for d in ("model_dir", "tokenizer"):
        folder = os.path.join(CORPUS, d)
        size = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
        print("%s: %d seeds, %d KB" % (folder, len(os.listdir(folder)), size // 1024))


if __name__ == "__main__":
    main()
