"""Build the pytorch_model.bin fixtures (issue 7) and the unpickler's fuzz seed corpus.

    /usr/bin/python3 tools/make_torch_fixtures.py

Writes, deterministically (fixed seeds; torch.save and zipfile entries carry no timestamps):

spec/fixtures/torch/<name>/                config.json + pytorch_model.bin, made by
                                           torch.save(model.state_dict()) of a small random
                                           MobileLLM/LLaMA module (or shards + index)
spec/fixtures/torch/<name>-safetensors/    config.json + model.safetensors with the same
                                           tensors (names, dtypes, values) via safetensors_io
spec/fixtures/torch/hostile/               config.json + <case>.bin: archives the loader must
                                           refuse with a clear message (see HOSTILE below)
fuzz/corpus/unpickle/                      seeds for fuzz/fuzz_unpickle.c: data.pkl of the
                                           fixtures, crafted pickles, and two whole archives
                                           (the seeds named by a SHA-1 are minimised fuzzer
                                           finds, kept when this script runs again)

Variants (vocab 256; dims kept tiny so that everything stays a few hundred KB):
    f32           llama, untied lm_head, F32, saved to a file object (archive prefix "archive/")
    f16-views     llama, F16; q/k/v are slices of one fused storage (non-zero storage offsets)
    bf16-tied     llama, BF16, tie_word_embeddings: lm_head.weight and embed_tokens.weight are
                  the same storage, stored once in the .bin and twice in the safetensors twin
    mobilellm     laid out like facebook/MobileLLM-125M: model_type "mobilellm",
                  share_embedding, no lm_head.weight, F16
    f32-sharded   two .bin shards (plain dicts, as transformers writes them) and
                  pytorch_model.bin.index.json
    bf16-tied-zip64   bf16-tied's archive rewritten with every ZIP64 field in use (its twin
                  is bf16-tied-safetensors)
"""

import collections
import io
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io  # noqa: E402

ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "spec", "fixtures", "torch")
CORPUS = os.path.join(ROOT, "fuzz", "corpus", "unpickle")
VOCAB = 256


# ------------------------------------------------------------------ the model


class RMSNorm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        q, kv = c["heads"] * c["head_dim"], c["kv"] * c["head_dim"]
        self.q_proj = nn.Linear(c["dim"], q, bias=False)
        self.k_proj = nn.Linear(c["dim"], kv, bias=False)
        self.v_proj = nn.Linear(c["dim"], kv, bias=False)
        self.o_proj = nn.Linear(q, c["dim"], bias=False)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c["dim"], c["ffn"], bias=False)
        self.up_proj = nn.Linear(c["dim"], c["ffn"], bias=False)
        self.down_proj = nn.Linear(c["ffn"], c["dim"], bias=False)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = Attention(c)
        self.mlp = MLP(c)
        self.input_layernorm = RMSNorm(c["dim"])
        self.post_attention_layernorm = RMSNorm(c["dim"])


class Inner(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, c["dim"])
        self.layers = nn.ModuleList([Layer(c) for _ in range(c["layers"])])
        self.norm = RMSNorm(c["dim"])


class CausalLM(nn.Module):
    """Only the parameter layout of MobileLLM / LlamaForCausalLM matters here."""

    def __init__(self, c):
        super().__init__()
        self.model = Inner(c)
        if c["head"] == "untied":
            self.lm_head = nn.Linear(c["dim"], VOCAB, bias=False)
        elif c["head"] == "tied":  # transformers' tie_weights: one Parameter, two names
            self.lm_head = nn.Linear(c["dim"], VOCAB, bias=False)
            self.lm_head.weight = self.model.embed_tokens.weight
        # "none": MobileLLM's share_embedding, no lm_head module at all


def randomize(model, c, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.15 * torch.randn(p.shape, generator=g))
            elif "embed" in name or "lm_head" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))
    model.to(c["torch_dtype"])
    if c.get("fused_qkv"):
        # q, k and v become slices of one storage, as a fused-QKV export leaves them
        for layer in model.model.layers:
            a = layer.self_attn
            fused = torch.cat([a.q_proj.weight.data, a.k_proj.weight.data, a.v_proj.weight.data])
            q, kv = a.q_proj.weight.shape[0], a.k_proj.weight.shape[0]
            a.q_proj.weight = nn.Parameter(fused[:q])
            a.k_proj.weight = nn.Parameter(fused[q:q + kv])
            a.v_proj.weight = nn.Parameter(fused[q + kv:])
            assert a.k_proj.weight.storage_offset() == q * c["dim"]
    return model


VARIANTS = [
    dict(name="f32", model_type="llama", dim=16, heads=4, kv=2, layers=2, ffn=32, head="untied",
         torch_dtype=torch.float32, seed=7001, file_object=True),
    dict(name="f16-views", model_type="llama", dim=16, heads=4, kv=2, layers=2, ffn=32, head="untied",
         torch_dtype=torch.float16, seed=7002, fused_qkv=True),
    dict(name="bf16-tied", model_type="llama", dim=16, heads=2, kv=1, layers=2, ffn=40, head="tied",
         torch_dtype=torch.bfloat16, seed=7003),
    dict(name="mobilellm", model_type="mobilellm", dim=32, heads=4, kv=2, layers=2, ffn=32, head="none",
         torch_dtype=torch.float16, seed=7004),
    dict(name="f32-sharded", model_type="llama", dim=16, heads=4, kv=4, layers=3, ffn=24, head="none",
         torch_dtype=torch.float32, seed=7005, shards=2),
]

DTYPE = {torch.float32: ("F32", "float32"), torch.float16: ("F16", "float16"),
         torch.bfloat16: ("BF16", "bfloat16")}


def config_of(c):
    cfg = {
        "architectures": ["MobileLLMForCausalLM" if c["model_type"] == "mobilellm" else "LlamaForCausalLM"],
        "model_type": c["model_type"],
        "hidden_act": "silu",
        "hidden_size": c["dim"],
        "intermediate_size": c["ffn"],
        "num_attention_heads": c["heads"],
        "num_hidden_layers": c["layers"],
        "num_key_value_heads": c["kv"],
        "vocab_size": VOCAB,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "max_position_embeddings": 512,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": c["head"] == "tied",
        "torch_dtype": DTYPE[c["torch_dtype"]][1],
    }
    if c["model_type"] == "mobilellm":
        cfg["share_embedding"] = c["head"] == "none"
        cfg["layer_sharing"] = False
    return cfg


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def numpy_f32(t):
    return t.detach().to(torch.float32).contiguous().numpy()


def build_variant(c):
    c = dict(c, head_dim=c["dim"] // c["heads"])
    torch.manual_seed(c["seed"])
    model = randomize(CausalLM(c), c, c["seed"])
    sd = model.state_dict()
    bin_dir = os.path.join(OUT, c["name"])
    st_dir = os.path.join(OUT, c["name"] + "-safetensors")
    for d in (bin_dir, st_dir):
        fresh_dir(d)
        write_json(os.path.join(d, "config.json"), config_of(c))
    if c.get("shards"):
        names = list(sd.keys())
        per = (len(names) + c["shards"] - 1) // c["shards"]
        weight_map = {}
        for k in range(c["shards"]):
            fname = "pytorch_model-%05d-of-%05d.bin" % (k + 1, c["shards"])
            part = {n: sd[n] for n in names[k * per:(k + 1) * per]}  # a plain dict, as transformers saves
            torch.save(part, os.path.join(bin_dir, fname))
            weight_map.update({n: fname for n in part})
        total = sum(t.numel() * t.element_size() for t in sd.values())
        write_json(os.path.join(bin_dir, "pytorch_model.bin.index.json"),
                   {"metadata": {"total_size": total}, "weight_map": weight_map})
    elif c.get("file_object"):
        with open(os.path.join(bin_dir, "pytorch_model.bin"), "wb") as f:
            torch.save(sd, f)  # archive prefix "archive/"
    else:
        torch.save(sd, os.path.join(bin_dir, "pytorch_model.bin"))  # prefix "pytorch_model/"
    st_dtype = DTYPE[c["torch_dtype"]][0]
    safetensors_io.save_file({n: (numpy_f32(t), st_dtype) for n, t in sd.items()},
                             os.path.join(st_dir, "model.safetensors"))
    # the twin holds exactly the values torch stored
    back = safetensors_io.load_file(os.path.join(st_dir, "model.safetensors"))
    for n, t in sd.items():
        assert np.array_equal(back[n], numpy_f32(t)), n
    # and torch reads its own files back
    files = [os.path.join(bin_dir, f) for f in sorted(os.listdir(bin_dir)) if f.endswith(".bin")]
    for f in files:
        for n, t in torch.load(f).items():
            assert torch.equal(t, sd[n]), n
    return files


# ------------------------------------------------------------- hostile files


def binunicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def binint(i):
    return b"J" + struct.pack("<i", i)


def int_tuple(v):
    return b"(" + b"".join(binint(i) for i in v) + b"t"


def tensor_pickle(entries, storage_global=b"torch\nFloatStorage\n"):
    """A state-dict pickle in torch.save's protocol-2 shape, written opcode by opcode.
    entries: (name, storage key, storage numel, storage offset, size, stride)."""
    out = b"\x80\x02ccollections\nOrderedDict\n)R("
    for name, key, numel, offset, size, stride in entries:
        out += binunicode(name) + b"ctorch._utils\n_rebuild_tensor_v2\n(("
        out += binunicode("storage") + b"c" + storage_global + binunicode(key) + binunicode("cpu")
        out += binint(numel) + b"tQ" + binint(offset) + int_tuple(size) + int_tuple(stride)
        out += b"\x89ccollections\nOrderedDict\n)RtR"
    return out + b"u."


def write_zip(path, records, compress=False):
    """A torch-style archive with Python's zipfile (no ZIP64, no data descriptors)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for name, data in records:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            z.writestr(info, data)


def f32_bytes(n, seed):
    return np.random.default_rng(seed).standard_normal(n).astype("<f4").tobytes()


def archive(pkl, storages, prefix="archive/", extra=()):
    return [(prefix + "data.pkl", pkl)] + [(prefix + "data/" + k, v) for k, v in storages] + \
        [(prefix + "version", b"3\n")] + list(extra)


def rezip(src, dst, drop=(), compress=False, replace=None):
    with zipfile.ZipFile(src) as z:
        recs = [(i.filename, z.read(i.filename)) for i in z.infolist() if i.filename not in drop]
    if replace:
        recs = [(n, replace.get(n, d)) for n, d in recs]
    write_zip(dst, recs, compress)


def write_zip64(src, dst):
    """src's records rewritten in full ZIP64 form: every size and offset in the central
    directory and local headers saturated (0xFFFFFFFF) and given in ZIP64 extra fields, the
    classic end record saturated too, data aligned to 64 bytes as torch aligns it. torch
    writes these fields only past 4 GB, so this is how a small fixture exercises them."""
    with zipfile.ZipFile(src) as z:
        recs = [(i.filename.encode(), z.read(i.filename), i.CRC) for i in z.infolist()]
    out, central = bytearray(), bytearray()
    sat = 0xFFFFFFFF
    for name, data, crc in recs:
        off = len(out)
        extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        pad = (-(off + 30 + len(name) + len(extra) + 4)) % 64
        extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, sat, sat, len(name),
                           len(extra)) + name + extra + data
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), off)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc, sat, sat,
                               len(name), len(cextra), 0, 0, 0, 0, sat) + name + cextra
    cd_off, n = len(out), len(recs)
    out += central
    eocd64 = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_off)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, sat, sat, 0)
    open(dst, "wb").write(out)


def build_zip64():
    d = os.path.join(OUT, "bf16-tied-zip64")
    fresh_dir(d)
    shutil.copy(os.path.join(OUT, "bf16-tied", "config.json"), d)
    write_zip64(os.path.join(OUT, "bf16-tied", "pytorch_model.bin"), os.path.join(d, "pytorch_model.bin"))
    a = torch.load(os.path.join(OUT, "bf16-tied", "pytorch_model.bin"))
    b = torch.load(os.path.join(d, "pytorch_model.bin"))  # torch (miniz) reads it back
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    with zipfile.ZipFile(os.path.join(d, "pytorch_model.bin")) as z:
        assert z.testzip() is None


def build_hostile(tmp):
    """Each case: (file, what the spec expects in the message). Returns the data.pkl seeds."""
    d = os.path.join(OUT, "hostile")
    fresh_dir(d)
    write_json(os.path.join(d, "config.json"), config_of(dict(VARIANTS[0], head_dim=4)))
    norm = ("model.norm.weight", "0", 16, 0, (16,), (1,))
    seeds = {}

    def crafted(name, pkl, storages, **kw):
        write_zip(os.path.join(d, name + ".bin"), archive(pkl, storages, **kw))
        seeds[name] = pkl

    # the assembler writes pickles torch itself accepts
    good = tensor_pickle([norm, ("model.layers.0.input_layernorm.weight", "0", 16, 0, (4, 4), (4, 1))])
    write_zip(os.path.join(tmp, "good.bin"), archive(good, [("0", f32_bytes(16, 1))]))
    got = torch.load(os.path.join(tmp, "good.bin"))
    assert list(got) == ["model.norm.weight", "model.layers.0.input_layernorm.weight"]
    seeds["crafted-good"] = good

    # 1. a GLOBAL that would run a command: os.system("touch /tmp/pwned")
    crafted("os-system", b"\x80\x02cos\nsystem\nq\x00" + binunicode("touch /tmp/pwned") + b"\x85R.", [])
    # 2. an opcode that does not exist
    crafted("unknown-opcode", good[:2] + b"\xff" + good[2:], [("0", f32_bytes(16, 1))])
    # 3. a real opcode outside the whitelist: protocol 4's FRAME, from torch.save itself
    torch.save({"model.norm.weight": torch.ones(16)}, os.path.join(d, "protocol4.bin"), pickle_protocol=4)
    # 4. a storage key with no record in the archive
    crafted("missing-storage", tensor_pickle([norm]), [("1", f32_bytes(16, 1))])
    # 5. a tensor reaching past its storage (16 elements of a 12-element storage)
    crafted("past-storage", tensor_pickle([("model.norm.weight", "0", 12, 0, (16,), (1,))]),
            [("0", f32_bytes(12, 1))])
    # 6. an offset that overflows when added to the size
    crafted("offset-overflow", tensor_pickle([("model.norm.weight", "0", 16, 0x7fffffff, (16,), (1,))]),
            [("0", f32_bytes(16, 1))])
    # 7. a non-contiguous tensor, straight from torch.save of a transposed view
    torch.save({"model.layers.0.self_attn.q_proj.weight": torch.ones(16, 8).t()},
               os.path.join(d, "non-contiguous.bin"))
    # 8. a truncated archive (cut in the middle of the storage data)
    full = os.path.join(tmp, "full.bin")
    torch.save({"model.norm.weight": torch.ones(16), "model.embed_tokens.weight": torch.ones(64, 16)}, full)
    data = open(full, "rb").read()
    open(os.path.join(d, "truncated.bin"), "wb").write(data[:len(data) * 2 // 3])
    # 9. a compressed (deflated) record
    rezip(full, os.path.join(d, "compressed.bin"), compress=True)
    # 10. a storage type that is not F32/F16/BF16
    torch.save({"model.norm.weight": torch.ones(16, dtype=torch.float64)}, os.path.join(d, "double.bin"))
    # 11. the pre-1.6 (non-zip) torch.save format: its leading pickles (magic number, protocol
    # version, sys_info) as torch writes them; the rest of such a file holds storage keys made
    # from memory addresses, which would make the fixture differ on every run
    legacy = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
    legacy += pickle.dumps({"protocol_version": 1001, "little_endian": True,
                            "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    open(os.path.join(d, "legacy.bin"), "wb").write(legacy)
    # 12. a storage record shorter than the pickle says
    rezip(full, os.path.join(d, "short-storage.bin"), replace={"full/data/0": b"\0" * 8})
    # 13. a big-endian archive
    crafted("big-endian", tensor_pickle([norm]), [("0", f32_bytes(16, 1))],
            extra=[("archive/byteorder", b"big")])
    return seeds


# ------------------------------------------------------------------ corpus


def data_pkl(path):
    with zipfile.ZipFile(path) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))


def main():
    tmp = os.path.join(OUT, ".tmp")
    fresh_dir(tmp)
    seeds = {}
    for v in VARIANTS:
        for f in build_variant(v):
            seeds[v["name"] + "-" + os.path.basename(f)[:-4]] = data_pkl(f)
    build_zip64()
    seeds.update(build_hostile(tmp))
    # a few pickles of other shapes the opcodes allow
    seeds["list-appends"] = pickle.dumps([1, 2, [3, 4], {"a": None, "b": True}], protocol=2)
    seeds["long1"] = pickle.dumps({"a": 2 ** 40, "b": -2 ** 40, "c": 70000}, protocol=2)
    os.makedirs(CORPUS, exist_ok=True)
    for name in os.listdir(CORPUS):  # this script's seeds; those the fuzzer found (SHA-1 names) stay
        if name.endswith(".pkl") or name.startswith("archive-"):
            os.remove(os.path.join(CORPUS, name))
    for name, pkl in sorted(seeds.items()):
        open(os.path.join(CORPUS, name + ".pkl"), "wb").write(pkl)
    # whole archives: the harness runs the zip reader on inputs that start with "PK"
    shutil.copy(os.path.join(tmp, "full.bin"), os.path.join(CORPUS, "archive-torch.zip"))
    shutil.copy(os.path.join(tmp, "good.bin"), os.path.join(CORPUS, "archive-zipfile.zip"))
    write_zip(os.path.join(CORPUS, "archive-empty.zip"), [])  # once hit qsort(NULL, 0)
    write_zip64(os.path.join(tmp, "good.bin"), os.path.join(CORPUS, "archive-zip64.zip"))
    shutil.copy(os.path.join(OUT, "hostile", "big-endian.bin"), os.path.join(CORPUS, "archive-byteorder.zip"))
    shutil.copy(os.path.join(OUT, "hostile", "compressed.bin"), os.path.join(CORPUS, "archive-deflated.zip"))
    shutil.rmtree(tmp)
    total = 0
    for base, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(base, f)) for f in files)
    print("wrote %s (%d KB) and %d seeds in %s" % (OUT, total // 1024, len(os.listdir(CORPUS)), CORPUS))


if __name__ == "__main__":
    main()
