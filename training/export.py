#!/usr/bin/env python3
"""Export the trained tiny model to models/mobilellm-tiny-api/ (Hugging Face layout, BF16).

    /usr/bin/python3 training/export.py [--ckpt /tmp/mobilellm-train/ckpt.pt] [--out models/mobilellm-tiny-api]

Writes config.json ("model_type": "mobilellm", layer sharing, tied embeddings), model.safetensors
(BF16, Hugging Face LLaMA tensor names, no lm_head) and a copy of the LLaMA-2 tokenizer.model.
`load_exported(dir)` reads it back (BF16-rounded weights) into the torch model of train.py.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# chat_template and safetensors_io live in tools/: the fixture scripts there use them too
sys.path[:0] = [HERE, os.path.join(ROOT, "tools")]
import chat_template  # noqa: E402
import safetensors_io  # noqa: E402

OUT_DIR = os.path.join(ROOT, "models", "mobilellm-tiny-api")

# torch (train.py) parameter name suffix -> HF LLaMA name inside model.layers.N
_BLOCK_NAMES = {
    "q_proj.weight": "self_attn.q_proj.weight", "k_proj.weight": "self_attn.k_proj.weight",
    "v_proj.weight": "self_attn.v_proj.weight", "o_proj.weight": "self_attn.o_proj.weight",
    "gate_proj.weight": "mlp.gate_proj.weight", "up_proj.weight": "mlp.up_proj.weight",
    "down_proj.weight": "mlp.down_proj.weight", "input_layernorm.weight": "input_layernorm.weight",
    "post_attention_layernorm.weight": "post_attention_layernorm.weight",
}


def hf_config(cfg):
    c = {
        "model_type": "mobilellm",
        "architectures": ["MobileLLMForCausalLM"],
        "hidden_size": cfg["hidden_size"],
        "intermediate_size": cfg["intermediate_size"],
        "num_attention_heads": cfg["num_attention_heads"],
        "num_key_value_heads": cfg["num_key_value_heads"],
        "num_hidden_layers": cfg["num_hidden_layers"],
        "vocab_size": cfg["vocab_size"],
        "rms_norm_eps": cfg["rms_norm_eps"],
        "rope_theta": cfg["rope_theta"],
        "max_position_embeddings": cfg["max_position_embeddings"],
        "hidden_act": "silu",
        "bos_token_id": chat_template.BOS_ID,
        "eos_token_id": chat_template.EOS_ID,
        "share_embedding": True,
        "layer_sharing": True,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
    }
    if cfg["head_dim"] != cfg["hidden_size"] // cfg["num_attention_heads"]:
        c["head_dim"] = cfg["head_dim"]
    return c


def to_hf_tensors(state_dict):
    out = {}
    for name, t in state_dict.items():
        a = t.detach().to(torch.float32).cpu().numpy()
        if name == "embed_tokens.weight":
            out["model.embed_tokens.weight"] = a
        elif name == "norm.weight":
            out["model.norm.weight"] = a
        elif name.startswith("layers."):
            _, n, rest = name.split(".", 2)
            out["model.layers.%s.%s" % (n, _BLOCK_NAMES[rest])] = a
        else:
            raise KeyError(name)
    return out


def export(model, cfg, out_dir=OUT_DIR):
    os.makedirs(out_dir, exist_ok=True)
    tensors = to_hf_tensors(model.state_dict())
    safetensors_io.save_file({k: (v, "BF16") for k, v in tensors.items()},
                             os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config(cfg), f, indent=2)
        f.write("\n")
    shutil.copyfile(chat_template.TOKENIZER_PATH, os.path.join(out_dir, "tokenizer.model"))
    total = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
    print("exported %s: %d tensors, %.2f MB total" % (out_dir, len(tensors), total / 1e6))
    return total


def load_exported(model_dir=OUT_DIR):
    """-> (TinyMobileLLM in float32 holding the BF16-rounded weights, train.py config)."""
    import train
    with open(os.path.join(model_dir, "config.json")) as f:
        hc = json.load(f)
    cfg = dict(train.DEFAULT_CFG)
    for k in ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
              "num_hidden_layers", "vocab_size", "rms_norm_eps", "rope_theta", "max_position_embeddings"):
        cfg[k] = hc[k]
    cfg["head_dim"] = hc.get("head_dim", hc["hidden_size"] // hc["num_attention_heads"])
    cfg["layer_sharing"] = bool(hc.get("layer_sharing"))
    model = train.TinyMobileLLM(cfg)
    w = safetensors_io.load_file(os.path.join(model_dir, "model.safetensors"))
    inv = {v: k for k, v in _BLOCK_NAMES.items()}
    sd = {}
    for name, a in w.items():
        if name == "model.embed_tokens.weight":
            sd["embed_tokens.weight"] = a
        elif name == "model.norm.weight":
            sd["norm.weight"] = a
        else:
            _, _, n, rest = name.split(".", 3)
            sd["layers.%s.%s" % (n, inv[rest])] = a
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    model.eval()
    return model, cfg


def main():
    import train
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="/tmp/mobilellm-train/ckpt.pt")
    ap.add_argument("--out", default=OUT_DIR)
    args = ap.parse_args()
    st = train.load_checkpoint(args.ckpt, ap.error)
    cfg = st["config"]
    model = train.TinyMobileLLM(cfg)
    model.load_state_dict(st["model"])
    export(model, cfg, args.out)


if __name__ == "__main__":
    main()
