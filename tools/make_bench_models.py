"""Random-weight checkpoints in the official MobileLLM shapes, for `make bench`.

    /usr/bin/python3 tools/make_bench_models.py [OUT_DIR] [SHAPE ...]

SHAPE is 125M, 350M, 125M-ls, 350M-ls (default: these four), R1-140M or
R1-360M. Each is written to OUT_DIR/<shape>/ (default build/bench-models) as a
Hugging Face directory (config.json from models/configs/, F32
model.safetensors, tokenizer.model), only if it is not there yet. The -ls
variants are the same shapes with layer_sharing true (every block executed
twice). The R1 shapes are MobileLLM-R1's llama4_text configs (128256-token
vocabulary, tied head, QK-norm, feed_forward weights) in BF16 as R1 ships,
without a tokenizer. Weights are N(0, 0.02): they measure speed, not quality.
Seeded, so every run writes the same files.
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


# MobileLLM-R1 (layers, hidden_size, heads, kv heads, intermediate_size_mlp), head_dim 64
R1_SHAPES = {"R1-140M": (15, 576, 9, 3, 2048), "R1-360M": (15, 1024, 16, 4, 4096)}


def r1_config(shape):
    layers, dim, heads, kv, ffn = R1_SHAPES[shape]
    return {
        "architectures": ["Llama4ForCausalLM"], "model_type": "llama4_text", "hidden_act": "silu",
        "hidden_size": dim, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv, "head_dim": 64, "intermediate_size": 8192,
        "intermediate_size_mlp": ffn, "vocab_size": 128256, "tie_word_embeddings": True,
        "rope_theta": 8000000.0, "rope_scaling": None, "rms_norm_eps": 1e-5,
        "max_position_embeddings": 32768, "use_qk_norm": True, "attn_temperature_tuning": True,
        "no_rope_layers": [1] * layers, "layer_types": ["full_attention"] * layers,
        "moe_layers": [], "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
    }


def build(out_dir, shape):
    base, _, ls = shape.partition("-")
    d = os.path.join(out_dir, shape)
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return d
    os.makedirs(d, exist_ok=True)
    r1 = shape in R1_SHAPES
    if r1:
        cfg = r1_config(shape)
    else:
        with open(os.path.join(ROOT, "models", "configs", "MobileLLM-%s.json" % base)) as f:
            cfg = json.load(f)
        cfg["model_type"] = "mobilellm"
        cfg["share_embedding"] = True
        cfg["tie_word_embeddings"] = True
        cfg["layer_sharing"] = ls == "ls"
    dim = cfg["hidden_size"]
    ffn = cfg["intermediate_size_mlp"] if r1 else cfg["intermediate_size"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or dim // heads
    mlp = "feed_forward." if r1 else "mlp."
    dtype = "BF16" if r1 else "F32"
    rng = np.random.default_rng(1234)

    def normal(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02, dtype)

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
        t[p + mlp + "gate_proj.weight"] = normal(ffn, dim)
        t[p + mlp + "up_proj.weight"] = normal(ffn, dim)
        t[p + mlp + "down_proj.weight"] = normal(dim, ffn)
    safetensors_io.save_file(t, os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if not r1:
        shutil.copy(os.path.join(ROOT, "models", "llama2-tokenizer", "tokenizer.model"), d)
    return d


def main(argv):
    out_dir = argv[1] if len(argv) > 1 else os.path.join(ROOT, "build", "bench-models")
    shapes = argv[2:] or ["125M", "125M-ls", "350M", "350M-ls"]
    for s in shapes:
        print(build(out_dir, s))


if __name__ == "__main__":
    main(sys.argv)
