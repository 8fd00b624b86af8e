"""A GGUF file of a bench checkpoint, for llama.cpp's llama-bench beside `make bench`.

    /usr/bin/python3 tools/make_gguf.py MODEL_DIR OUT.gguf TYPE

MODEL_DIR is a checkpoint directory such as tools/make_bench_models.py writes (config.json,
model.safetensors, tokenizer.model); TYPE is F32, F16, Q8_0 or Q4_0. The file
holds the same weights as llama.cpp's own converter would write them for the
`llama` architecture: Q and K rows permuted from Hugging Face's rotate-half
RoPE layout to llama.cpp's, matrices every tensor in TYPE (as
`llama-quantize --pure`), norms in F32, the tied head left to token_embd, and
the sentencepiece vocabulary with its scores and token types. A layer-sharing
checkpoint (`layer_sharing`: every block run twice) is written with each block
stored twice in a row, since llama.cpp has no shared layers. Q8_0 and Q4_0 are
ggml's blocks (which are also ours): an f16 scale and 32 int8 / 16 bytes of
nibbles (value j low, j + 16 high), quantized as ggml's reference code does
(Q8_0 rounds halves away from zero where ours rounds them to even: on the 125M
shape 5 bytes in a million differ).

Checked with llama.cpp b4747: the shipped model (a layer-sharing checkpoint, so
its blocks stored twice) written in F32 gives under `llama-cli --temp 0` the
greedy text this engine gives, token for token over 30 tokens.

A development tool for speed comparisons (numpy and sentencepiece, Debian's
python3-numpy and python3-sentencepiece); nothing in the library or its tests
reads GGUF.
"""
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io  # noqa: E402

GGML = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 8}
U32, I32, F32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
ALIGN = 32


def gguf_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = gguf_string(key) + struct.pack("<I", vtype)
    if vtype == STRING:
        return out + gguf_string(value)
    if vtype == ARRAY:
        etype, items = value
        out += struct.pack("<IQ", etype, len(items))
        if etype == STRING:
            return out + b"".join(gguf_string(x) for x in items)
        fmt = {I32: "<i", F32: "<f", U32: "<I"}[etype]
        return out + b"".join(struct.pack(fmt, x) for x in items)
    fmt = {U32: "<I", I32: "<i", F32: "<f", BOOL: "<?"}[vtype]
    return out + struct.pack(fmt, value)


def quantize_q8_0(w):
    b = w.reshape(-1, 32).astype(np.float32)
    d = np.abs(b).max(axis=1) / 127.0
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0).astype(np.float32)
    x = b * inv[:, None]
    q = (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int8)  # roundf: halves away from zero
    out = np.empty(len(b), dtype=[("d", "<f2"), ("q", "i1", 32)])
    out["d"], out["q"] = d.astype(np.float16), q
    return out.tobytes()


def quantize_q4_0(w):
    b = w.reshape(-1, 32).astype(np.float32)
    idx = np.abs(b).argmax(axis=1)
    mx = b[np.arange(len(b)), idx]
    d = (mx / -8.0).astype(np.float32)
    inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    q = np.minimum(15, np.trunc(b * inv[:, None] + 8.5)).astype(np.uint8)
    out = np.empty(len(b), dtype=[("d", "<f2"), ("q", "u1", 16)])
    out["d"], out["q"] = d.astype(np.float16), q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def encode(w, ttype):
    if ttype == "F32":
        return w.astype("<f4").tobytes()
    if ttype == "F16":
        return w.astype("<f2").tobytes()
    return (quantize_q8_0 if ttype == "Q8_0" else quantize_q4_0)(w)


def permute(w, n_head):
    """Hugging Face's rotate-half Q/K rows to llama.cpp's interleaved pairs (as its converter)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def vocabulary(path):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=path)
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        types.append(2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i)
                     else 5 if sp.is_unused(i) else 1)
    return tokens, scores, types


def main(argv):
    if len(argv) != 4 or argv[3] not in GGML:
        sys.exit(__doc__)
    src, out_path, ttype = argv[1], argv[2], argv[3]
    cfg = json.load(open(os.path.join(src, "config.json")))
    w = safetensors_io.load_file(os.path.join(src, "model.safetensors"))
    dim, n_head = cfg["hidden_size"], cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_head)
    head_dim = cfg.get("head_dim", dim // n_head)
    stored = cfg["num_hidden_layers"]
    shared = bool(cfg.get("layer_sharing"))
    layers = [b for b in range(stored) for _ in range(2 if shared else 1)]

    tensors = [("token_embd.weight", w["model.embed_tokens.weight"], ttype),
               ("output_norm.weight", w["model.norm.weight"], "F32")]
    if not (cfg.get("tie_word_embeddings") or cfg.get("share_embedding")):
        tensors.append(("output.weight", w["lm_head.weight"], ttype))
    names = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj"}
    for i, b in enumerate(layers):
        p = "model.layers.%d." % b
        tensors.append(("blk.%d.attn_norm.weight" % i, w[p + "input_layernorm.weight"], "F32"))
        tensors.append(("blk.%d.ffn_norm.weight" % i, w[p + "post_attention_layernorm.weight"], "F32"))
        for gg, hf in names.items():
            m = w[p + hf + ".weight"]
            if gg == "attn_q":
                m = permute(m, n_head)
            elif gg == "attn_k":
                m = permute(m, n_kv)
            tensors.append(("blk.%d.%s.weight" % (i, gg), m, ttype))

    tokens, scores, types = vocabulary(os.path.join(src, "tokenizer.model"))
    meta = [
        kv("general.architecture", STRING, "llama"),
        kv("general.name", STRING, os.path.basename(os.path.normpath(src))),
        kv("general.alignment", U32, ALIGN),
        kv("llama.context_length", U32, cfg["max_position_embeddings"]),
        kv("llama.embedding_length", U32, dim),
        kv("llama.block_count", U32, len(layers)),
        kv("llama.feed_forward_length", U32, cfg["intermediate_size"]),
        kv("llama.attention.head_count", U32, n_head),
        kv("llama.attention.head_count_kv", U32, n_kv),
        kv("llama.rope.dimension_count", U32, head_dim),
        kv("llama.rope.freq_base", F32, float(cfg.get("rope_theta", 10000.0))),
        kv("llama.attention.layer_norm_rms_epsilon", F32, float(cfg.get("rms_norm_eps", 1e-5))),
        kv("llama.vocab_size", U32, cfg["vocab_size"]),
        kv("tokenizer.ggml.model", STRING, "llama"),
        kv("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        kv("tokenizer.ggml.scores", ARRAY, (F32, scores)),
        kv("tokenizer.ggml.token_type", ARRAY, (I32, types)),
        kv("tokenizer.ggml.bos_token_id", U32, cfg.get("bos_token_id", 1)),
        kv("tokenizer.ggml.eos_token_id", U32, cfg.get("eos_token_id", 2)),
    ]
    blobs, infos, off = [], [], 0
    for name, arr, tt in tensors:
        data = encode(np.ascontiguousarray(arr, dtype=np.float32), tt)
        dims = list(reversed(arr.shape))  # ggml's ne[0] is the innermost (columns)
        infos.append(gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
                     + struct.pack("<IQ", GGML[tt], off))
        pad = (-len(data)) % ALIGN
        blobs.append(data + b"\0" * pad)
        off += len(data) + pad
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)) + b"".join(meta) + b"".join(infos)
    head += b"\0" * ((-len(head)) % ALIGN)
    with open(out_path + ".tmp", "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)
    os.replace(out_path + ".tmp", out_path)
    print("wrote %s: %d tensors (%d blocks), %s, %.1f MiB" % (out_path, len(tensors), len(layers), ttype,
                                                             os.path.getsize(out_path) / 2**20))


if __name__ == "__main__":
    main(sys.argv)
