"""Float64 numpy reference of the Hugging Face LLaMA forward pass as MobileLLM uses it.

    x = embed_tokens[ids]
    for each executed block:
        x += o_proj(attention(rope(q_proj(rmsnorm(x))), rope(k_proj(...)), v_proj(...)))
        h  = rmsnorm(x)
        x += down_proj(silu(gate_proj(h)) * up_proj(h))
    logits = rmsnorm(x) @ head.T

* RMSNorm: x / sqrt(mean(x^2) + eps) * weight
* RoPE (HF LLaMA "rotate_half" convention): inv_freq = 1 / theta^(arange(0, hd, 2) / hd),
  angle = pos * inv_freq duplicated over both halves, q' = q*cos + rotate_half(q)*sin,
  rotate_half(x) = cat(-x[hd/2:], x[:hd/2]).
* Causal attention, scale 1/sqrt(head_dim); query head h reads kv head h // (n_heads / n_kv).
* head_dim = config["head_dim"] if present, else hidden_size / num_attention_heads.
* layer_sharing (MobileLLM-LS): each stored block is executed twice in a row
  (0, 0, 1, 1, ...); every execution is a separate attention layer with its own KV.
* Output head: embed_tokens if share_embedding or tie_word_embeddings is true or there is
  no lm_head.weight, else lm_head.weight.

No KV cache: every call recomputes the whole sequence (it is a reference, not an engine).

Command line:
    /usr/bin/python3 tools/reference.py MODEL_DIR ID [ID ...] [--greedy N]
prints the argmax of the last position and (with --greedy) the greedy continuation.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


# ---------------------------------------------------------------- loading


def load_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)


def load_weights(model_dir):
    """All tensors of a model directory (single file or sharded + index) as float64."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    tensors = {}
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        for shard in sorted(set(weight_map.values())):
            part = safetensors_io.load_file(os.path.join(model_dir, shard))
            for name, arr in part.items():
                if weight_map.get(name) != shard:
                    raise ValueError("%s found in %s but index says %s" % (name, shard, weight_map.get(name)))
                tensors[name] = arr
        missing = set(weight_map) - set(tensors)
        if missing:
            raise ValueError("tensors listed in index but not found: %s" % sorted(missing))
    else:
        tensors = safetensors_io.load_file(os.path.join(model_dir, "model.safetensors"))
    return {k: v.astype(np.float64) for k, v in tensors.items()}


def load_model(model_dir):
    return load_config(model_dir), load_weights(model_dir)


# ---------------------------------------------------------------- config helpers


def dims(config):
    dim = int(config["hidden_size"])
    n_heads = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads", n_heads))
    if config.get("head_dim") is not None:
        head_dim = int(config["head_dim"])
    else:
        assert dim % n_heads == 0
        head_dim = dim // n_heads
    assert n_heads % n_kv == 0
    return dim, n_heads, n_kv, head_dim


def executed_layers(config):
    """Indices of stored blocks in execution order."""
    n = int(config["num_hidden_layers"])
    if config.get("layer_sharing"):
        return [i for i in range(n) for _ in range(2)]
    return list(range(n))


def output_head(config, weights):
    if config.get("share_embedding") or config.get("tie_word_embeddings") or "lm_head.weight" not in weights:
        return weights["model.embed_tokens.weight"]
    return weights["lm_head.weight"]


# ---------------------------------------------------------------- math


def rmsnorm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope_cos_sin(positions, head_dim, theta):
    inv_freq = 1.0 / (float(theta) ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    ang = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    emb = np.concatenate([ang, ang], axis=-1)  # [T, head_dim]
    return np.cos(emb), np.sin(emb)


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x, cos, sin):
    # x: [heads, T, head_dim]; cos/sin: [T, head_dim]
    return x * cos[None] + rotate_half(x) * sin[None]


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def attention(config, weights, layer, h, cos, sin):
    dim, n_heads, n_kv, hd = dims(config)
    T = h.shape[0]
    p = "model.layers.%d.self_attn." % layer
    wq, wk, wv, wo = (weights[p + n + "_proj.weight"] for n in "qkvo")
    assert wq.shape == (n_heads * hd, dim), wq.shape
    assert wk.shape == (n_kv * hd, dim) and wv.shape == (n_kv * hd, dim)
    assert wo.shape == (dim, n_heads * hd)
    q = (h @ wq.T).reshape(T, n_heads, hd).transpose(1, 0, 2)
    k = (h @ wk.T).reshape(T, n_kv, hd).transpose(1, 0, 2)
    v = (h @ wv.T).reshape(T, n_kv, hd).transpose(1, 0, 2)
    q = apply_rope(q, cos, sin)
    k = apply_rope(k, cos, sin)
    group = n_heads // n_kv
    mask = np.triu(np.ones((T, T), dtype=bool), k=1)
    out = np.empty((n_heads, T, hd))
    for hh in range(n_heads):
        kv = hh // group
        s = (q[hh] @ k[kv].T) / np.sqrt(hd)
        s = np.where(mask, -np.inf, s)
        out[hh] = softmax(s) @ v[kv]
    out = out.transpose(1, 0, 2).reshape(T, n_heads * hd)
    return out @ wo.T


def mlp(weights, layer, h):
    p = "model.layers.%d.mlp." % layer
    g = h @ weights[p + "gate_proj.weight"].T
    u = h @ weights[p + "up_proj.weight"].T
    return (silu(g) * u) @ weights[p + "down_proj.weight"].T


def forward(config, weights, ids):
    """Logits (float64, [len(ids), vocab]) for every position of `ids`."""
    ids = np.asarray(ids, dtype=np.int64)
    eps = float(config.get("rms_norm_eps", 1e-5))
    theta = float(config.get("rope_theta", 10000.0))
    _, _, _, hd = dims(config)
    x = weights["model.embed_tokens.weight"][ids].astype(np.float64)
    cos, sin = rope_cos_sin(np.arange(len(ids)), hd, theta)
    for layer in executed_layers(config):
        p = "model.layers.%d." % layer
        h = rmsnorm(x, weights[p + "input_layernorm.weight"], eps)
        x = x + attention(config, weights, layer, h, cos, sin)
        h = rmsnorm(x, weights[p + "post_attention_layernorm.weight"], eps)
        x = x + mlp(weights, layer, h)
    h = rmsnorm(x, weights["model.norm.weight"], eps)
    return h @ output_head(config, weights).T


def top2_margin(row):
    s = np.sort(row)
    return float(s[-1] - s[-2])


def greedy(config, weights, prompt, n_tokens):
    """Greedy continuation of exactly n_tokens ids (no stop token).

    Returns (tokens, margins) where margins[i] is top1 - top2 of the logits that chose tokens[i].
    """
    ids = list(prompt)
    out, margins = [], []
    for _ in range(n_tokens):
        row = forward(config, weights, ids)[-1]
        t = int(np.argmax(row))
        margins.append(top2_margin(row))
        out.append(t)
        ids.append(t)
    return out, margins


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("ids", nargs="+", type=int)
    ap.add_argument("--greedy", type=int, default=0)
    args = ap.parse_args(argv)
    config, weights = load_model(args.model_dir)
    logits = forward(config, weights, args.ids)
    print("last-position argmax:", int(np.argmax(logits[-1])))
    if args.greedy:
        toks, margins = greedy(config, weights, args.ids, args.greedy)
        print("greedy:", toks)
        print("min margin: %.6g" % min(margins))


if __name__ == "__main__":
    main()
