"""Build the small random-weight llama4_text (Llama4ForCausalLM, MobileLLM-R1) test checkpoints.

    /usr/bin/python3 tools/make_llama4_fixtures.py [NAME ...]

Writes spec/fixtures/models/<name>/ as tools/make_fixtures.py does (config.json,
model.safetensors, logits.f32 for every prompt position, expected.lua), from fixed seeds,
with the reference of tools/reference.py (float64) on the stored values. The variants:

  l4-r1-bf16      R1's proportions, tiny: GQA 3 (6 q / 2 kv heads, head_dim 16), 2 layers, tied head,
                  BF16, rope_theta 8e6, RoPE + QK-norm on every layer, full attention,
                  intermediate_size (the unused MoE width) unlike intermediate_size_mlp,
                  moe_layers [], an eos_token_id list
  l4-nope-chunked F32, 4 layers: NoPE layers 1 and 3 with attention temperature tuning
                  (floor_scale 4, so the temperature steps at positions 3, 7, 11, ...), chunked
                  attention on layers 0 and 3 (chunk 5), GQA 2
  l4-defaults-gqa1 F16, GQA 1, untied lm_head, use_qk_norm false, and the transformers
                  defaults: no head_dim (128), no no_rope_layers (interval 2: layer 1 is NoPE),
                  no layer_types (chunked on the RoPE layers, chunk 6), no floor_scale (8192)

Each variant is checked to depend on what it is named after (sanity_checks).
"""

import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures  # noqa: E402
import reference  # noqa: E402
import safetensors_io  # noqa: E402

OUT = make_fixtures.OUT
VOCAB = 300
N_GREEDY = 20
MIN_MARGIN = 1e-3
MIN_DISTINCT = 8
MAX_TRIES = 200

VARIANTS = [
    dict(
        name="l4-r1-bf16", dim=96, heads=6, kv=2, head_dim=16, layers=2, ffn=128, dtype="BF16",
        lm_head=False, prompt_len=12, seed=41000,
        config=dict(tie_word_embeddings=True, rope_theta=8000000.0, intermediate_size=512,
                    no_rope_layers=[1, 1], layer_types=["full_attention"] * 2,
                    attention_chunk_size=4, use_qk_norm=True, attn_temperature_tuning=True,
                    floor_scale=2, attn_scale=0.5, moe_layers=[], eos_token_id=[2, 7, 9]),
    ),
    dict(
        name="l4-nope-chunked", dim=48, heads=4, kv=2, head_dim=12, layers=4, ffn=64, dtype="F32",
        lm_head=False, prompt_len=16, seed=42000,
        config=dict(tie_word_embeddings=True, rope_theta=10000.0, intermediate_size=8192,
                    no_rope_layers=[1, 0, 1, 0],
                    layer_types=["chunked_attention", "full_attention", "full_attention",
                                 "chunked_attention"],
                    attention_chunk_size=5, use_qk_norm=True, attn_temperature_tuning=True,
                    floor_scale=4, attn_scale=0.5, moe_layers=[], num_local_experts=16,
                    eos_token_id=2),
    ),
    dict(
        name="l4-defaults-gqa1", dim=32, heads=2, kv=2, head_dim=None, layers=3, ffn=64,
        dtype="F16", lm_head=True, prompt_len=14, seed=43000,
        config=dict(tie_word_embeddings=False, rope_theta=500000.0, no_rope_layer_interval=2,
                    attention_chunk_size=6, use_qk_norm=False, moe_layers=[],
                    eos_token_id=[2]),
    ),
]


def head_dim_of(v):
    return v["head_dim"] or 128


def make_config(v):
    cfg = {
        "architectures": ["Llama4ForCausalLM"],
        "model_type": "llama4_text",
        "hidden_act": "silu",
        "hidden_size": v["dim"],
        "intermediate_size_mlp": v["ffn"],
        "num_attention_heads": v["heads"],
        "num_hidden_layers": v["layers"],
        "num_key_value_heads": v["kv"],
        "vocab_size": VOCAB,
        "rms_norm_eps": 1e-5,
        "max_position_embeddings": 4096,
        "bos_token_id": 1,
        "rope_scaling": None,
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[v["dtype"]],
    }
    if v["head_dim"]:
        cfg["head_dim"] = v["head_dim"]
    cfg.update(v["config"])
    return cfg


def make_weights(v, rng):
    """make_fixtures' weights under the Llama 4 names (feed_forward., not mlp.)."""
    base = dict(v, vocab=VOCAB, head_dim=head_dim_of(v))
    w = make_fixtures.make_weights(base, rng)
    return {k.replace(".mlp.", ".feed_forward."): a for k, a in w.items()}


def changed(config, stored, prompt, logits, **override):
    alt = dict(config, **override)
    return np.max(np.abs(reference.forward(alt, stored, prompt) - logits))


def sanity_checks(v, config, stored, prompt, logits):
    """The variant must depend on what it is named after."""
    assert logits.shape == (len(prompt), VOCAB) and np.all(np.isfinite(logits))
    n = v["layers"]
    layers = reference.llama4_layers(config)
    if any(r for r, _ in layers) and config.get("use_qk_norm", True):
        assert changed(config, stored, prompt, logits, use_qk_norm=False) > 1e-2
    if any(not r for r, _ in layers):
        assert changed(config, stored, prompt, logits, no_rope_layers=[1] * n) > 1e-2
        if config.get("floor_scale", 8192) < len(prompt):
            assert changed(config, stored, prompt, logits, attn_temperature_tuning=False) > 1e-2
    if any(c for _, c in layers) and config["attention_chunk_size"] < len(prompt):
        assert changed(config, stored, prompt, logits, layer_types=["full_attention"] * n) > 1e-2
    if v["lm_head"]:
        alt = {k: a for k, a in stored.items() if k != "lm_head.weight"}
        assert np.max(np.abs(reference.forward(config, alt, prompt) - logits)) > 1e-2
    # the pairs layout of RoPE matters: the LLaMA (rotate_half) layout gives other logits
    pairs = reference.rope_pairs
    reference.rope_pairs = lambda x, pos, hd, theta, config=None: reference.apply_rope(x, *reference.rope_cos_sin(pos, hd, theta, config))
    try:
        assert np.max(np.abs(reference.forward(config, stored, prompt) - logits)) > 1e-2
    finally:
        reference.rope_pairs = pairs
    # causal: logits at position t must not depend on later tokens
    t = len(prompt) - 2
    assert np.allclose(reference.forward(config, stored, prompt[: t + 1])[-1], logits[t], rtol=0, atol=1e-12)


def write_expected(d, v, config, prompt, greedy, min_margin, positions):
    eos = config["eos_token_id"]
    eos = eos if isinstance(eos, list) else [eos]
    lines = [
        "-- generated by tools/make_llama4_fixtures.py (variant %s); do not edit" % v["name"],
        "return {",
        "  prompt = %s," % make_fixtures.lua_list(prompt),
        "  n_vocab = %d," % VOCAB,
        "  positions = %d," % positions,
        '  logits_file = "logits.f32",',
        "  greedy = %s," % make_fixtures.lua_list(greedy),
        "  eos_ids = %s," % make_fixtures.lua_list(eos),
        "  min_margin = %s," % repr(float(min_margin)),
        "}",
    ]
    with open(os.path.join(d, "expected.lua"), "w") as f:
        f.write("\n".join(lines) + "\n")


def build(v):
    d = os.path.join(OUT, v["name"])
    for attempt in range(MAX_TRIES):
        seed = v["seed"] + attempt
        rng = np.random.default_rng(seed)
        weights = make_weights(v, rng)
        prompt = [int(t) for t in rng.integers(10, VOCAB, size=v["prompt_len"])]
        if os.path.exists(d):
            shutil.rmtree(d)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(make_config(v), f, indent=2)
            f.write("\n")
        make_fixtures.write_checkpoint(v, weights, d)
        config, stored = reference.load_model(d)
        for k, a in weights.items():
            assert np.array_equal(stored[k], safetensors_io.round_to(a, v["dtype"]).astype(np.float64)), k
        logits = reference.forward(config, stored, prompt)
        greedy, margins = reference.greedy(config, stored, prompt, N_GREEDY)
        prompt_margin = min(reference.top2_margin(r) for r in logits)
        if min(margins) < MIN_MARGIN or prompt_margin < MIN_MARGIN or len(set(greedy)) < MIN_DISTINCT:
            print("  %s: seed %d rejected (margin %.3g, prompt margin %.3g, %d distinct)"
                  % (v["name"], seed, min(margins), prompt_margin, len(set(greedy))))
            continue
        sanity_checks(v, config, stored, prompt, logits)
        logits.astype("<f4").tofile(os.path.join(d, "logits.f32"))
        write_expected(d, v, config, prompt, greedy, min(margins), logits.shape[0])
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print("%-18s seed %d  prompt %s  greedy %s  min_margin %.4g  %d bytes"
              % (v["name"], seed, prompt, greedy, min(margins), size))
        return
    raise SystemExit("%s: no seed with margin >= %g in %d tries" % (v["name"], MIN_MARGIN, MAX_TRIES))


def main(argv):
    names = argv[1:]
    known = [v["name"] for v in VARIANTS]
    for n in names:
        if n not in known:
            raise SystemExit("unknown variant %r (known: %s)" % (n, ", ".join(known)))
    for v in VARIANTS:
        if not names or v["name"] in names:
            build(v)


if __name__ == "__main__":
    main(sys.argv)
