"""Random-weight checkpoints in the official MobileLLM shapes, for `make bench`.

    /usr/bin/python3 tools/make_bench_models.py [OUT_DIR] [SHAPE ...]

SHAPE is 125M, 350M, 125M-ls or 350M-ls (default: all four). Each is written
to OUT_DIR/<shape>/ (default build/bench-models) as a Hugging Face directory
(config.json from models/configs/, F32 model.safetensors, tokenizer.model),
only if it is not there yet. The -ls variants are the same shapes with
layer_sharing true (every block executed twice). Weights are N(0, 0.02): they
measure speed, not quality. Seeded, so every run writes the same files.
"""
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io  # noqa: E402

ROOT = os.path.dirname(HERE)


def build(out_dir, shape):
    base, _, ls = shape.partition("-")
    d = os.path.join(out_dir, shape)
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return d
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(ROOT, "models", "configs", "MobileLLM-%s.json" % base)) as f:
        cfg = json.load(f)
    cfg["model_type"] = "mobilellm"
    cfg["share_embedding"] = True
    cfg["tie_word_embeddings"] = True
    cfg["layer_sharing"] = ls == "ls"
    dim, ffn = cfg["hidden_size"], cfg["intermediate_size"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = dim // heads
    rng = np.random.default_rng(1234)

    def normal(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02, "F32")

    t = {"model.embed_tokens.weight": normal(cfg["vocab_size"], dim),
         "model.norm.weight": (np.ones(dim, np.float32), "F32")}
    for layer in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % layer
        t[p + "input_layernorm.weight"] = (np.ones(dim, np.float32), "F32")
        t[p + "post_attention_layernorm.weight"] = (np.ones(dim, np.float32), "F32")
        t[p + "self_attn.q_proj.weight"] = normal(heads * hd, dim)
        t[p + "self_attn.k_proj.weight"] = normal(kv * hd, dim)
        t[p + "self_attn.v_proj.weight"] = normal(kv * hd, dim)
        t[p + "self_attn.o_proj.weight"] = normal(dim, heads * hd)
        t[p + "mlp.gate_proj.weight"] = normal(ffn, dim)
        t[p + "mlp.up_proj.weight"] = normal(ffn, dim)
        t[p + "mlp.down_proj.weight"] = normal(dim, ffn)
    safetensors_io.save_file(t, os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    shutil.copy(os.path.join(ROOT, "models", "llama2-tokenizer", "tokenizer.model"), d)
    return d


def main(argv):
    out_dir = argv[1] if len(argv) > 1 else os.path.join(ROOT, "build", "bench-models")
    shapes = argv[2:] or ["125M", "125M-ls", "350M", "350M-ls"]
    for s in shapes:
        print(build(out_dir, s))


if __name__ == "__main__":
    main(sys.argv)
