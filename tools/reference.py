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

llama4_text (Llama4ForCausalLM, MobileLLM-R1), from transformers' modeling_llama4.py and
configuration_llama4.py (dense layers only):
* MLP weights under "feed_forward." (not "mlp."), width intermediate_size_mlp.
* RoPE rotates adjacent pairs: (x[2i], x[2i+1]) is the complex number x[2i] + i x[2i+1],
  multiplied by exp(i * pos * inv_freq[i]) (no rotate_half); same inv_freq as LLaMA.
* Layer l uses RoPE iff no_rope_layers[l] == 1 (default: 0 every no_rope_layer_interval-th
  layer, interval 4). On RoPE layers with use_qk_norm (default true), q and k are then
  normalised per head: x / sqrt(mean(x^2) + rms_norm_eps), no weight.
* On NoPE layers with attn_temperature_tuning (default true), q is multiplied by
  log(floor((pos + 1) / floor_scale) + 1) * attn_scale + 1 (defaults 8192, 0.1).
* layer_types[l] == "chunked_attention" (default on the RoPE layers): query at position p sees
  keys j <= p with j // attention_chunk_size == p // attention_chunk_size (default 8192).
* head_dim default 128, rope_theta default 500000.

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


def is_llama4(config):
    return config.get("model_type") == "llama4_text"


def dims(config):
    dim = int(config["hidden_size"])
    n_heads = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads", n_heads))
    if config.get("head_dim") is not None:
        head_dim = int(config["head_dim"])
    elif is_llama4(config):
        head_dim = 128
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


def llama4_layers(config):
    """Per layer (uses_rope, chunked) of a llama4_text config, with transformers' defaults."""
    n = int(config["num_hidden_layers"])
    rope = config.get("no_rope_layers") or [
        int((i + 1) % int(config.get("no_rope_layer_interval", 4)) != 0) for i in range(n)]
    types = config.get("layer_types") or [
        "chunked_attention" if r else "full_attention" for r in rope]
    assert len(rope) == n and len(types) == n
    return [(bool(r), t == "chunked_attention") for r, t in zip(rope, types)]


def output_head(config, weights):
    if config.get("share_embedding") or config.get("tie_word_embeddings") or "lm_head.weight" not in weights:
        return weights["model.embed_tokens.weight"]
    return weights["lm_head.weight"]


# ---------------------------------------------------------------- math


def rmsnorm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope_inv_freq(head_dim, theta, config=None):
    """theta^(-2i/head_dim); with rope_scaling {"rope_type": "llama3"} (Llama 3.1/3.2), the
    frequencies whose wavelength 2*pi/f exceeds original/low_freq_factor are divided by factor,
    those under original/high_freq_factor kept, and those between interpolated linearly in
    original/wavelength between the two."""
    inv_freq = 1.0 / (float(theta) ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    rs = (config or {}).get("rope_scaling") or (config or {}).get("rope_parameters") or {}
    if rs.get("rope_type", rs.get("type")) != "llama3":
        return inv_freq
    factor, low, high = float(rs["factor"]), float(rs["low_freq_factor"]), float(rs["high_freq_factor"])
    original = float(rs["original_max_position_embeddings"])
    ratio = original / (2.0 * np.pi / inv_freq)  # context lengths per wavelength
    w = np.clip((ratio - low) / (high - low), 0.0, 1.0)  # 0: slowed fully, 1: kept
    return w * inv_freq + (1.0 - w) * inv_freq / factor


def rope_cos_sin(positions, head_dim, theta, config=None):
    inv_freq = rope_inv_freq(head_dim, theta, config)
    ang = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    emb = np.concatenate([ang, ang], axis=-1)  # [T, head_dim]
    return np.cos(emb), np.sin(emb)


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x, cos, sin):
    # x: [heads, T, head_dim]; cos/sin: [T, head_dim]
    return x * cos[None] + rotate_half(x) * sin[None]


def rope_pairs(x, positions, head_dim, theta, config=None):
    """Llama 4 RoPE: x [heads, T, head_dim] as head_dim/2 complex numbers per row."""
    inv_freq = rope_inv_freq(head_dim, theta, config)
    ang = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]  # [T, hd/2]
    z = (x[..., 0::2] + 1j * x[..., 1::2]) * np.exp(1j * ang)[None]
    out = np.empty_like(x)
    out[..., 0::2], out[..., 1::2] = z.real, z.imag
    return out


def l2norm(x, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def attention_llama4(config, weights, layer, h):
    dim, n_heads, n_kv, hd = dims(config)
    T = h.shape[0]
    eps = float(config.get("rms_norm_eps", 1e-5))
    uses_rope, chunked = llama4_layers(config)[layer]
    p = "model.layers.%d.self_attn." % layer
    wq, wk, wv, wo = (weights[p + n + "_proj.weight"] for n in "qkvo")
    q = (h @ wq.T).reshape(T, n_heads, hd).transpose(1, 0, 2)
    k = (h @ wk.T).reshape(T, n_kv, hd).transpose(1, 0, 2)
    v = (h @ wv.T).reshape(T, n_kv, hd).transpose(1, 0, 2)
    pos = np.arange(T)
    if uses_rope:
        theta = float(config.get("rope_theta", 500000.0))
        q, k = rope_pairs(q, pos, hd, theta, config), rope_pairs(k, pos, hd, theta, config)
        if config.get("use_qk_norm", True):
            q, k = l2norm(q, eps), l2norm(k, eps)
    elif config.get("attn_temperature_tuning", True):
        floor_scale = float(config.get("floor_scale", 8192))
        attn_scale = float(config.get("attn_scale", 0.1))
        temp = np.log(np.floor((pos + 1.0) / floor_scale) + 1.0) * attn_scale + 1.0
        q = q * temp[None, :, None]
    visible = pos[None, :] <= pos[:, None]  # [query, key]
    if chunked:
        size = int(config.get("attention_chunk_size", 8192))
        visible &= (pos[None, :] // size) == (pos[:, None] // size)
    group = n_heads // n_kv
    out = np.empty((n_heads, T, hd))
    for hh in range(n_heads):
        s = (q[hh] @ k[hh // group].T) / np.sqrt(hd)
        out[hh] = softmax(np.where(visible, s, -np.inf)) @ v[hh // group]
    return out.transpose(1, 0, 2).reshape(T, n_heads * hd) @ wo.T


def attention(config, weights, layer, h, cos, sin):
    if is_llama4(config):
        return attention_llama4(config, weights, layer, h)
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


def mlp(config, weights, layer, h):
    p = "model.layers.%d.%s." % (layer, "feed_forward" if is_llama4(config) else "mlp")
    g = h @ weights[p + "gate_proj.weight"].T
    u = h @ weights[p + "up_proj.weight"].T
    return (silu(g) * u) @ weights[p + "down_proj.weight"].T


def forward(config, weights, ids):
    """Logits (float64, [len(ids), vocab]) for every position of `ids`."""
    ids = np.asarray(ids, dtype=np.int64)
    eps = float(config.get("rms_norm_eps", 1e-5))
    theta = float(config.get("rope_theta", 500000.0 if is_llama4(config) else 10000.0))
    _, _, _, hd = dims(config)
    x = weights["model.embed_tokens.weight"][ids].astype(np.float64)
    cos, sin = rope_cos_sin(np.arange(len(ids)), hd, theta, config)
    for layer in executed_layers(config):
        p = "model.layers.%d." % layer
        h = rmsnorm(x, weights[p + "input_layernorm.weight"], eps)
        x = x + attention(config, weights, layer, h, cos, sin)
        h = rmsnorm(x, weights[p + "post_attention_layernorm.weight"], eps)
        x = x + mlp(config, weights, layer, h)
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
