"""Build the small random-weight test checkpoints and their golden outputs.

    /usr/bin/python3 tools/make_fixtures.py [NAME ...]

Writes spec/fixtures/models/<name>/ for every variant (or only the named ones):
    config.json                         Hugging Face style config
    model.safetensors                   or model-0000K-of-0000N.safetensors + model.safetensors.index.json
    logits.f32                          reference logits for every prompt position,
                                        row-major [positions][n_vocab], little-endian float32
                                        (only the last position if the full table would exceed
                                        MAX_LOGITS_BYTES; expected.lua then says
                                        logits_positions = "last")
    expected.lua                        return { prompt = {...}, n_vocab = V, positions = P,
                                                 logits_file = "logits.f32", greedy = {N ids},
                                                 min_margin = x }
    tokenizer.model                     only for variants with a tokenizer (copy of
                                        models/llama2-tokenizer/tokenizer.model); their
                                        expected.lua also has prompt_text and greedy_text

Weights are drawn from fixed seeds; if the greedy path of a seed has a top-1/top-2 logit gap
below MIN_MARGIN (or the continuation is degenerate) the next seed is tried, so the output is
deterministic. The reference (tools/reference.py) runs in float64 on the weights as re-read
from the written files, i.e. on exactly the stored (F16/BF16-rounded) values.
"""

import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference  # noqa: E402
import safetensors_io  # noqa: E402

ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "spec", "fixtures", "models")

VOCAB = 256  # default vocabulary size (variants may set "vocab")
N_GREEDY = 20  # default greedy length (variants may set "n_greedy")
MAX_LOGITS_BYTES = 200 * 1000  # above this only the last prompt position goes to logits.f32
TOKENIZER = os.path.join(ROOT, "models", "llama2-tokenizer", "tokenizer.model")
MIN_MARGIN = 1e-3  # required smallest top1-top2 gap along the greedy path
MIN_DISTINCT = 8  # required number of distinct ids in the greedy continuation (avoid trivial loops)
MAX_TRIES = 200

# std of the random weights
EMBED_STD = 0.1
PROJ_STD = 0.15
NORM_JITTER = 0.15  # norm weights = 1 + N(0, NORM_JITTER)

# name, model_type, dim, heads, kv heads, stored layers, ffn, dtype, extra config, options
#   options: lm_head (bool), shards (int), head_dim (int or None), prompt_len, rope_theta, seed,
#            vocab (default VOCAB), n_greedy (default N_GREEDY), max_pos (default 2048),
#            proj_std (default PROJ_STD), min_distinct (default MIN_DISTINCT),
#            tokenizer (bool: copy TOKENIZER, prompt = [BOS] + encode(prompt_text), record
#            greedy_text; the seed must give greedy ids >= 3, a greedy_text that decodes without
#            U+FFFD and, if require_multibyte, contains a non-ASCII character)
VARIANTS = [
    dict(
        name="f32-basic", model_type="mobilellm", dim=64, heads=4, kv=4, layers=2, ffn=160,
        dtype="F32", share_embedding=True, layer_sharing=False, tie=False, lm_head=False,
        prompt_len=7, seed=1000,
    ),
    dict(
        name="f32-ls", model_type="mobilellm", dim=64, heads=4, kv=2, layers=3, ffn=32,
        dtype="F32", share_embedding=True, layer_sharing=True, tie=False, lm_head=False,
        prompt_len=7, seed=2000,
    ),
    dict(
        name="f16-gqa3", model_type="llama", dim=72, heads=6, kv=2, layers=2, ffn=160,
        dtype="F16", tie=False, lm_head=True, rope_theta=500000.0,
        prompt_len=8, seed=3000,
    ),
    dict(
        name="bf16-headdim", model_type="mobilellm", dim=64, heads=4, kv=2, layers=2, ffn=160,
        head_dim=24, dtype="BF16", share_embedding=True, layer_sharing=True, tie=False,
        lm_head=False, prompt_len=7, seed=4000,
    ),
    dict(
        name="f32-sharded", model_type="llama", dim=72, heads=9, kv=3, layers=3, ffn=24,
        dtype="F32", tie=True, lm_head=False, shards=2, prompt_len=6, seed=5000,
    ),
    dict(
        name="f32-untied-mobilellm", model_type="mobilellm", dim=48, heads=4, kv=4, layers=1,
        ffn=128, dtype="F32", share_embedding=False, layer_sharing=False, tie=False,
        lm_head=True, prompt_len=7, seed=6000,
    ),
    dict(
        name="bf16-vocab32k", model_type="mobilellm", dim=16, heads=2, kv=1, layers=1, ffn=32,
        dtype="BF16", share_embedding=True, layer_sharing=True, tie=False, lm_head=False,
        vocab=32000, max_pos=256, n_greedy=40, tokenizer=True, prompt_text="Once upon a time",
        proj_std=0.5, min_distinct=24, require_multibyte=True, seed=7000,
    ),
    # Llama 3.1/3.2's RoPE scaling, small enough to matter within 12 positions: of head_dim 16's
    # eight frequencies (wavelengths 6.3 to 19869) the first is kept, the next two blended
    # (wavelengths 19.9 and 62.8 between 64/4 and 64/1) and the rest divided by 8
    dict(
        name="f32-llama3-rope", model_type="llama", dim=64, heads=4, kv=2, layers=2, ffn=96,
        dtype="F32", tie=True, lm_head=False, prompt_len=12, seed=8000,
        extra_config={"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 64}},
    ),
]


def vocab_of(v):
    return v.get("vocab", VOCAB)


def head_dim_of(v):
    return v.get("head_dim") or v["dim"] // v["heads"]


def make_config(v):
    cfg = {
        "architectures": ["MobileLLMForCausalLM" if v["model_type"] == "mobilellm" else "LlamaForCausalLM"],
        "model_type": v["model_type"],
        "hidden_act": "silu",
        "hidden_size": v["dim"],
        "intermediate_size": v["ffn"],
        "num_attention_heads": v["heads"],
        "num_hidden_layers": v["layers"],
        "num_key_value_heads": v["kv"],
        "vocab_size": vocab_of(v),
        "rms_norm_eps": 1e-5,
        "rope_theta": v.get("rope_theta", 10000.0),
        "max_position_embeddings": v.get("max_pos", 2048),
        "bos_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": v["tie"],
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[v["dtype"]],
    }
    if v.get("head_dim"):
        cfg["head_dim"] = v["head_dim"]
    if v["model_type"] == "mobilellm":
        cfg["share_embedding"] = v["share_embedding"]
        cfg["layer_sharing"] = v["layer_sharing"]
    cfg.update(v.get("extra_config", {}))
    return cfg


def make_weights(v, rng):
    """float32 tensors in HF shapes (before rounding to the storage dtype)."""
    dim, hd, nh, nkv, ffn = v["dim"], head_dim_of(v), v["heads"], v["kv"], v["ffn"]
    vocab = vocab_of(v)
    proj_std = v.get("proj_std", PROJ_STD)

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def norm_w(n):
        return (1.0 + rng.standard_normal(n) * NORM_JITTER).astype(np.float32)

    w = {"model.embed_tokens.weight": normal((vocab, dim), EMBED_STD)}
    for i in range(v["layers"]):
        p = "model.layers.%d." % i
        w[p + "self_attn.q_proj.weight"] = normal((nh * hd, dim), proj_std)
        w[p + "self_attn.k_proj.weight"] = normal((nkv * hd, dim), proj_std)
        w[p + "self_attn.v_proj.weight"] = normal((nkv * hd, dim), proj_std)
        w[p + "self_attn.o_proj.weight"] = normal((dim, nh * hd), proj_std)
        w[p + "mlp.gate_proj.weight"] = normal((ffn, dim), proj_std)
        w[p + "mlp.up_proj.weight"] = normal((ffn, dim), proj_std)
        w[p + "mlp.down_proj.weight"] = normal((dim, ffn), proj_std)
        w[p + "input_layernorm.weight"] = norm_w(dim)
        w[p + "post_attention_layernorm.weight"] = norm_w(dim)
    w["model.norm.weight"] = norm_w(dim)
    if v["lm_head"]:
        w["lm_head.weight"] = normal((vocab, dim), EMBED_STD)
    return w


def tensor_order(names):
    """Stable, human-friendly order: embed, layers in numeric order, norm, lm_head."""

    def key(n):
        if n.startswith("model.embed_tokens"):
            return (0, 0, n)
        if n.startswith("model.layers."):
            return (1, int(n.split(".")[2]), n)
        if n.startswith("model.norm"):
            return (2, 0, n)
        return (3, 0, n)

    return sorted(names, key=key)


def write_checkpoint(v, weights, d):
    dtype = v["dtype"]
    nbytes = {"F32": 4, "F16": 2, "BF16": 2}[dtype]
    meta = {"format": "pt"}
    shards = v.get("shards", 1)
    if shards == 1:
        safetensors_io.save_file({k: (a, dtype) for k, a in weights.items()},
                                 os.path.join(d, "model.safetensors"), meta)
        return
    names = tensor_order(weights)
    total = sum(weights[n].size * nbytes for n in names)
    # greedy split into `shards` consecutive groups of roughly equal byte size
    groups, cur, acc = [], [], 0
    for n in names:
        cur.append(n)
        acc += weights[n].size * nbytes
        if len(groups) < shards - 1 and acc >= total * (len(groups) + 1) / shards:
            groups.append(cur)
            cur = []
    groups.append(cur)
    assert len(groups) == shards and all(groups)
    weight_map = {}
    for k, g in enumerate(groups):
        fname = "model-%05d-of-%05d.safetensors" % (k + 1, shards)
        safetensors_io.save_file({n: (weights[n], dtype) for n in g}, os.path.join(d, fname), meta)
        for n in g:
            weight_map[n] = fname
    index = {"metadata": {"total_size": int(total)},
             "weight_map": {n: weight_map[n] for n in sorted(weight_map)}}
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def lua_list(xs):
    return "{" + ", ".join(str(int(x)) for x in xs) + "}"


def lua_str(s):
    """Lua 5.4 literal: every byte outside printable ASCII, and '"' and '\\', as \\ddd."""
    out = ['"']
    for b in s.encode("utf-8"):
        if 32 <= b < 127 and b not in (ord('"'), ord("\\")):
            out.append(chr(b))
        else:
            out.append("\\%03d" % b)
    out.append('"')
    return "".join(out)


def write_expected(d, v, prompt, greedy, min_margin, positions, greedy_text=None):
    lines = [
        "-- generated by tools/make_fixtures.py (variant %s); do not edit" % v["name"],
        "return {",
        "  prompt = %s," % lua_list(prompt),
    ]
    if v.get("tokenizer"):
        lines.append("  prompt_text = %s,  -- prompt = {BOS} .. encode(prompt_text)" % lua_str(v["prompt_text"]))
    lines += [
        "  n_vocab = %d," % vocab_of(v),
        "  positions = %d," % positions,
    ]
    if positions != len(prompt):
        lines.append('  logits_positions = "last",  -- logits.f32 holds only the row of the last prompt position')
    lines += [
        '  logits_file = "logits.f32",',
        "  greedy = %s," % lua_list(greedy),
    ]
    if greedy_text is not None:
        lines.append("  greedy_text = %s,  -- sentencepiece decode(greedy)" % lua_str(greedy_text))
    lines += [
        "  min_margin = %s," % repr(float(min_margin)),
        "}",
    ]
    with open(os.path.join(d, "expected.lua"), "w") as f:
        f.write("\n".join(lines) + "\n")


def build(v):
    d = os.path.join(OUT, v["name"])
    vocab = vocab_of(v)
    n_greedy = v.get("n_greedy", N_GREEDY)
    sp = None
    if v.get("tokenizer"):
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=TOKENIZER)
        assert sp.get_piece_size() == vocab and sp.bos_id() == 1 and sp.eos_id() == 2
    for attempt in range(MAX_TRIES):
        seed = v["seed"] + attempt
        rng = np.random.default_rng(seed)
        weights = make_weights(v, rng)
        if sp is not None:
            prompt = [sp.bos_id()] + [int(t) for t in sp.encode(v["prompt_text"])]
        else:
            prompt = [int(t) for t in rng.integers(3, vocab, size=v["prompt_len"])]
        if os.path.exists(d):
            shutil.rmtree(d)
        os.makedirs(d)
        if sp is not None:
            shutil.copyfile(TOKENIZER, os.path.join(d, "tokenizer.model"))
        config = make_config(v)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        write_checkpoint(v, weights, d)

        # reference computes from what was actually stored
        config, stored = reference.load_model(d)
        for k, a in weights.items():
            expect = safetensors_io.round_to(a, v["dtype"]).astype(np.float64)
            assert np.array_equal(stored[k], expect), k
        logits = reference.forward(config, stored, prompt)
        greedy, margins = reference.greedy(config, stored, prompt, n_greedy)
        min_margin = min(margins)
        # the prompt rows must also have a unique argmax so per-position checks are stable
        prompt_margin = min(reference.top2_margin(r) for r in logits)
        if min_margin < MIN_MARGIN or prompt_margin < MIN_MARGIN or len(set(greedy)) < v.get("min_distinct", MIN_DISTINCT):
            print("  %s: seed %d rejected (margin %.3g, prompt margin %.3g, %d distinct)"
                  % (v["name"], seed, min_margin, prompt_margin, len(set(greedy))))
            continue
        greedy_text = None
        if sp is not None:
            greedy_text = sp.decode(greedy)
            text_problem = None
            if min(greedy) < 3:
                text_problem = "special id in greedy"
            elif "\ufffd" in greedy_text:
                text_problem = "greedy_text has U+FFFD"
            elif v.get("require_multibyte") and all(ord(c) < 128 for c in greedy_text):
                text_problem = "greedy_text is ASCII only"
            if text_problem:
                print("  %s: seed %d rejected (%s)" % (v["name"], seed, text_problem))
                continue
        sanity_checks(v, config, stored, prompt, logits)
        if logits.size * 4 > MAX_LOGITS_BYTES:
            logits = logits[-1:]
        logits.astype("<f4").tofile(os.path.join(d, "logits.f32"))
        write_expected(d, v, prompt, greedy, min_margin, logits.shape[0], greedy_text)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print("%-22s seed %d  prompt %s  greedy %s  min_margin %.4g  %d bytes"
              % (v["name"], seed, prompt, greedy, min_margin, size))
        return
    raise SystemExit("%s: no seed with margin >= %g in %d tries" % (v["name"], MIN_MARGIN, MAX_TRIES))


def sanity_checks(v, config, stored, prompt, logits):
    """Make sure the variant really exercises what it is named after."""
    assert logits.shape == (len(prompt), vocab_of(v))
    assert np.all(np.isfinite(logits))
    # the distinguishing feature must change the output noticeably
    if v.get("layer_sharing"):
        alt = dict(config, layer_sharing=False)
        assert np.max(np.abs(reference.forward(alt, stored, prompt) - logits)) > 1e-2
    if v["lm_head"]:
        alt = {k: a for k, a in stored.items() if k != "lm_head.weight"}
        assert np.max(np.abs(reference.forward(config, alt, prompt) - logits)) > 1e-2
    if "rope_scaling" in config:
        alt = {k: a for k, a in config.items() if k != "rope_scaling"}
        assert np.max(np.abs(reference.forward(alt, stored, prompt) - logits)) > 1e-2
    # causal: logits at position t must not depend on later tokens
    t = len(prompt) - 2
    assert np.allclose(reference.forward(config, stored, prompt[: t + 1])[-1], logits[t], rtol=0, atol=1e-12)


def main(argv):
    names = argv[1:]
    known = [v["name"] for v in VARIANTS]
    for n in names:
        if n not in known:
            raise SystemExit("unknown variant %r (known: %s)" % (n, ", ".join(known)))
    os.makedirs(OUT, exist_ok=True)
    for v in VARIANTS:
        if not names or v["name"] in names:
            build(v)


if __name__ == "__main__":
    main(sys.argv)
