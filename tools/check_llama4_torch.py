"""Cross-check tools/reference.py's llama4_text path against a second implementation in torch.

    /usr/bin/python3 tools/check_llama4_torch.py [MODEL_DIR ...]

transformers is not installed here, so this is a small torch (float64) forward pass written the
way transformers' modeling_llama4.py computes it: RoPE through torch.view_as_complex and
torch.polar, QK-norm via rsqrt, the temperature via log1p, additive -inf masks for causal and
chunked attention, repeat_interleave for GQA. It shares no code with reference.py beyond
reading the files. Default: the llama4_text fixtures under spec/fixtures/models/. For each it
compares the logits of 40 random ids (max |diff| <= 1e-9) and, from expected.lua, that
logits.f32 is the float32 rounding of torch's logits of the prompt and that torch's greedy
continuation is the recorded one. Exits 1 when a check fails.
"""

import glob
import os
import re
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference  # noqa: E402


def torch_forward(cfg, w, ids):
    W = {k: torch.from_numpy(v) for k, v in w.items()}
    n_layers = cfg["num_hidden_layers"]
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    hd = cfg.get("head_dim") or 128
    eps = cfg.get("rms_norm_eps", 1e-5)
    interval = cfg.get("no_rope_layer_interval", 4)
    use_rope = cfg.get("no_rope_layers") or [int((i + 1) % interval != 0) for i in range(n_layers)]
    types = cfg.get("layer_types") or ["chunked_attention" if r else "full_attention" for r in use_rope]
    chunk = cfg.get("attention_chunk_size", 8192)
    T = len(ids)
    pos = torch.arange(T, dtype=torch.float64)
    inv_freq = 1.0 / (cfg.get("rope_theta", 500000.0) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs_cis = torch.polar(torch.ones(T, hd // 2, dtype=torch.float64), torch.outer(pos, inv_freq))
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    full = torch.where(j <= i, 0.0, float("-inf")).double()
    chunked = torch.where((j <= i) & (i // chunk == j // chunk), 0.0, float("-inf")).double()

    def rms(x, weight=None):
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        return y if weight is None else y * weight

    def rotate(x):  # x [T, heads, hd]
        z = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2).contiguous())
        return torch.view_as_real(z * freqs_cis[:, None, :]).flatten(2)

    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    for layer in range(n_layers):
        p = "model.layers.%d." % layer
        h = rms(x, W[p + "input_layernorm.weight"])
        q = (h @ W[p + "self_attn.q_proj.weight"].T).view(T, nh, hd)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).view(T, nkv, hd)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).view(T, nkv, hd)
        if use_rope[layer]:
            q, k = rotate(q), rotate(k)
            if cfg.get("use_qk_norm", True):
                q, k = rms(q), rms(k)
        elif cfg.get("attn_temperature_tuning", True):
            scale = torch.log1p(torch.floor((pos + 1.0) / cfg.get("floor_scale", 8192))) * cfg.get("attn_scale", 0.1) + 1.0
            q = q * scale[:, None, None]
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        scores = torch.einsum("thd,shd->hts", q, k) * hd ** -0.5
        scores = scores + (chunked if types[layer] == "chunked_attention" else full)
        att = torch.einsum("hts,shd->thd", torch.softmax(scores, dim=-1), v).reshape(T, nh * hd)
        x = x + att @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        f = "model.layers.%d.feed_forward." % layer
        g = torch.nn.functional.silu(h @ W[f + "gate_proj.weight"].T) * (h @ W[f + "up_proj.weight"].T)
        x = x + g @ W[f + "down_proj.weight"].T
    x = rms(x, W["model.norm.weight"])
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    if cfg.get("tie_word_embeddings"):
        head = W["model.embed_tokens.weight"]
    return (x @ head.T).numpy()


def expected_lua(d):
    """prompt and greedy ids of a fixture's expected.lua."""
    with open(os.path.join(d, "expected.lua")) as f:
        text = f.read()
    lists = {k: [int(x) for x in re.search(r"\b%s = \{([^}]*)\}" % k, text).group(1).split(",")]
             for k in ("prompt", "greedy")}
    return lists["prompt"], lists["greedy"]


def main(argv):
    dirs = argv[1:] or sorted(glob.glob(os.path.join(os.path.dirname(HERE), "spec", "fixtures", "models", "l4-*")))
    ok = True
    for d in dirs:
        cfg, w = reference.load_model(d)
        ids = [int(t) for t in np.random.default_rng(0).integers(0, cfg["vocab_size"], size=40)]
        diff = float(np.max(np.abs(torch_forward(cfg, w, ids) - reference.forward(cfg, w, ids))))
        print("%-20s max |torch - reference| = %.3g over %d positions" % (os.path.basename(d), diff, len(ids)))
        ok &= diff <= 1e-9
        if not os.path.exists(os.path.join(d, "expected.lua")):
            continue
        prompt, greedy = expected_lua(d)
        stored = np.fromfile(os.path.join(d, "logits.f32"), dtype="<f4").reshape(len(prompt), -1)
        same = np.array_equal(stored, torch_forward(cfg, w, prompt).astype(np.float32))
        seq = list(prompt)
        for _ in greedy:
            seq.append(int(np.argmax(torch_forward(cfg, w, seq)[-1])))
        print("%-20s logits.f32 %s, greedy %s" % ("", "agrees" if same else "DIFFERS",
                                                   "agrees" if seq[len(prompt):] == greedy else "DIFFERS"))
        ok &= same and seq[len(prompt):] == greedy
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv)
