"""Cross-check tools/reference.py (and the written fixtures) against an independent torch model.

    /usr/bin/python3 tools/check_reference.py [FIXTURE_DIR ...]

(default: every directory under spec/fixtures/models/). The torch side shares no code with the
reference: it parses the safetensors files itself (torch.frombuffer, incl. bfloat16), and uses
a different formulation of every step:
  * RoPE as a complex rotation of (x[:half] + i*x[half:]) by exp(i*pos*inv_freq), with
    inv_freq = exp(-ln(theta) * 2j / head_dim) (Llama 3's scaling case by case, llama3_freq);
  * incremental decoding with a per-executed-layer KV cache (one token at a time, so causality
    comes from the cache rather than a mask), GQA by repeat_interleave of the cached k/v;
  * softmax as exp(s - logsumexp(s)); RMSNorm via torch.rsqrt; silu via torch.nn.functional.
It checks, in float64: reference logits == torch logits (max abs diff <= 1e-10), the stored
logits.f32 equal the float32 rounding of the torch logits, and the greedy ids in expected.lua.
"""

import json
import math
import os
import re
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference  # noqa: E402

ROOT = os.path.dirname(HERE)
TORCH_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def torch_load_file(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = bytearray(blob[base + b : base + e])
        t = torch.frombuffer(raw, dtype=TORCH_DTYPES[info["dtype"]]) if raw else torch.empty(0)
        out[name] = t.reshape(info["shape"]).to(torch.float64)
    return out


def torch_load_dir(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    w = {}
    for fn in files:
        w.update(torch_load_file(os.path.join(d, fn)))
    return w


def llama3_freq(f, rs):
    """One frequency under Llama 3's scaling, case by case (the reference does it with a clip)."""
    old = rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / f
    if wavelen < old / rs["high_freq_factor"]:
        return f
    if wavelen > old / rs["low_freq_factor"]:
        return f / rs["factor"]
    smooth = (old / wavelen - rs["low_freq_factor"]) / (rs["high_freq_factor"] - rs["low_freq_factor"])
    return (1 - smooth) * f / rs["factor"] + smooth * f


class TorchModel:
    def __init__(self, cfg, w):
        self.cfg, self.w = cfg, w
        self.dim = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg.get("num_key_value_heads", self.nh)
        self.hd = cfg.get("head_dim") or self.dim // self.nh
        self.eps = cfg.get("rms_norm_eps", 1e-5)
        theta = cfg.get("rope_theta", 10000.0)
        j = torch.arange(self.hd // 2, dtype=torch.float64)
        self.inv_freq = torch.exp(-math.log(theta) * 2.0 * j / self.hd)
        rs = cfg.get("rope_scaling")
        if rs and rs.get("rope_type") == "llama3":
            self.inv_freq = torch.tensor([llama3_freq(f, rs) for f in self.inv_freq.tolist()], dtype=torch.float64)
        nl = cfg["num_hidden_layers"]
        reps = 2 if cfg.get("layer_sharing") else 1
        self.schedule = [i for i in range(nl) for _ in range(reps)]
        if cfg.get("share_embedding") or cfg.get("tie_word_embeddings") or "lm_head.weight" not in w:
            self.head = w["model.embed_tokens.weight"]
        else:
            self.head = w["lm_head.weight"]
        self.reset()

    def reset(self):
        self.cache = [([], []) for _ in self.schedule]
        self.pos = 0

    def norm(self, x, wt):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * wt

    def rope(self, x, pos):
        # x: [heads, hd]
        half = self.hd // 2
        z = torch.complex(x[:, :half], x[:, half:])
        rot = torch.polar(torch.ones_like(self.inv_freq), pos * self.inv_freq)
        y = z * rot
        return torch.cat([y.real, y.imag], dim=-1)

    def step(self, token):
        w = self.w
        x = w["model.embed_tokens.weight"][token].clone()
        for slot, layer in enumerate(self.schedule):
            p = "model.layers.%d." % layer
            h = self.norm(x, w[p + "input_layernorm.weight"])
            q = F.linear(h, w[p + "self_attn.q_proj.weight"]).view(self.nh, self.hd)
            k = F.linear(h, w[p + "self_attn.k_proj.weight"]).view(self.nkv, self.hd)
            v = F.linear(h, w[p + "self_attn.v_proj.weight"]).view(self.nkv, self.hd)
            q, k = self.rope(q, self.pos), self.rope(k, self.pos)
            ks, vs = self.cache[slot]
            ks.append(k)
            vs.append(v)
            K = torch.stack(ks, dim=1).repeat_interleave(self.nh // self.nkv, dim=0)  # [nh, T, hd]
            V = torch.stack(vs, dim=1).repeat_interleave(self.nh // self.nkv, dim=0)
            s = torch.einsum("hd,htd->ht", q, K) / math.sqrt(self.hd)
            a = torch.exp(s - torch.logsumexp(s, dim=-1, keepdim=True))
            o = torch.einsum("ht,htd->hd", a, V).reshape(-1)
            x = x + F.linear(o, w[p + "self_attn.o_proj.weight"])
            h = self.norm(x, w[p + "post_attention_layernorm.weight"])
            m = F.silu(F.linear(h, w[p + "mlp.gate_proj.weight"])) * F.linear(h, w[p + "mlp.up_proj.weight"])
            x = x + F.linear(m, w[p + "mlp.down_proj.weight"])
        self.pos += 1
        return F.linear(self.norm(x, w["model.norm.weight"]), self.head)


def parse_expected(path):
    src = open(path).read()

    def ints(key):
        return [int(t) for t in re.search(key + r"\s*=\s*\{([^}]*)\}", src).group(1).split(",") if t.strip()]

    def num(key):
        return float(re.search(key + r"\s*=\s*([-0-9.eE+]+)", src).group(1))

    return {
        "prompt": ints("prompt"),
        "greedy": ints("greedy"),
        "n_vocab": int(num("n_vocab")),
        "positions": int(num("positions")),
        "min_margin": num("min_margin"),
    }


def check(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    exp = parse_expected(os.path.join(d, "expected.lua"))
    prompt = exp["prompt"]
    tm = TorchModel(cfg, torch_load_dir(d))
    rows = [tm.step(t) for t in prompt]
    t_logits = torch.stack(rows).numpy()
    # greedy continuation with the KV cache
    ids, margins, last = [], [], rows[-1]
    for _ in range(len(exp["greedy"])):
        top = torch.topk(last, 2).values
        margins.append(float(top[0] - top[1]))
        t = int(torch.argmax(last))
        ids.append(t)
        last = tm.step(t)

    config, weights = reference.load_model(d)
    r_logits = reference.forward(config, weights, prompt)
    r_greedy, _ = reference.greedy(config, weights, prompt, len(exp["greedy"]))
    diff = float(np.max(np.abs(r_logits - t_logits)))

    stored = np.fromfile(os.path.join(d, "logits.f32"), dtype="<f4")
    assert stored.size == exp["positions"] * exp["n_vocab"], "logits.f32 size"
    stored = stored.reshape(exp["positions"], exp["n_vocab"])
    if exp["positions"] != len(prompt):  # logits_positions = "last": only the last row is stored
        t_logits = t_logits[-exp["positions"]:]
    f32_ok = np.array_equal(stored, t_logits.astype(np.float32)) or np.max(np.abs(stored - t_logits)) <= 1e-6

    ok = diff <= 1e-10 and ids == exp["greedy"] == r_greedy and f32_ok and min(margins) >= 1e-3
    ok = ok and abs(min(margins) - exp["min_margin"]) < 1e-9 and exp["positions"] in (len(prompt), 1)
    print("%-24s max|ref-torch| = %.3g  greedy %s  logits.f32 %s  min_margin %.4g  %s"
          % (os.path.basename(d), diff, "match" if ids == exp["greedy"] == r_greedy else "MISMATCH",
             "ok" if f32_ok else "BAD", min(margins), "OK" if ok else "FAIL"))
    return ok


def main(argv):
    dirs = argv[1:]
    if not dirs:
        base = os.path.join(ROOT, "spec", "fixtures", "models")
        dirs = [os.path.join(base, n) for n in sorted(os.listdir(base))]
        # llama4_text fixtures have their own torch check
        llama4 = [d for d in dirs if reference.is_llama4(reference.load_config(d))]
        for d in llama4:
            print("%s: llama4_text, checked by tools/check_llama4_torch.py" % os.path.basename(d))
        dirs = [d for d in dirs if d not in llama4]
    torch.set_default_dtype(torch.float64)
    results = [check(d) for d in dirs]
    if not all(results):
        raise SystemExit(1)
    print("all %d fixtures agree" % len(results))


if __name__ == "__main__":
    main(sys.argv)
