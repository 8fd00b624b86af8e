#!/usr/bin/python3
"""Trains the small tokenizer.json fixtures of spec/17-hf_tokenizer_spec.lua on
the repository's own docs (development time only; the files are committed):

  spec/fixtures/tokenizers/bpe-llama3/tokenizer.json   byte-level BPE, Llama-3's
      Split regex + ByteLevel, ignore_merges, Llama-3's special tokens, BOS by
      TemplateProcessing, merges as "a b"
  spec/fixtures/tokenizers/sp-metaspace/tokenizer.json SentencePiece-style BPE:
      Metaspace (prepend_scheme "first"), byte_fallback, fuse_unk, the
      Replace/ByteFallback/Fuse/Strip decoder, merges as ["a", "b"]
  spec/fixtures/tokenizers/sp-legacy/tokenizer.json    the same vocabulary with
      the older Prepend/Replace normalizer and no pre-tokenizer
  spec/fixtures/tokenizers/sp-metaspace-dec/tokenizer.json  sp-metaspace with the
      Metaspace decoder (as newer Llama-2-style files have; split stays false:
      tokenizers.js ignores that flag, so it could not check split: true)
  spec/fixtures/tokenizers/bpe-gpt2/tokenizer.json     bpe-llama3's vocabulary the way
      SmolLM2 ships its own: Digits (one by one), then ByteLevel with GPT-2's regex,
      no ignore_merges, merges as ["a", "b"], no post-processor

and, cut down to their first few hundred ids, the seeds of fuzz/fuzz_tokenizer_json.c
(fuzz/corpus/tokenizer_json/).

The training only has to give a plausible vocabulary: what the specs check
comes from Hugging Face's implementation (tools/make_hf_tokenizer_golden.mjs).
The docs change, so a new run trains other (equally good) files: then run the
golden script again too. `--derived` only remakes what comes from the committed
files: bpe-gpt2 and the fuzz seeds.
Usage: /usr/bin/python3 tools/make_hf_tokenizers.py [--derived]
"""
import collections
import glob
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "spec", "fixtures", "tokenizers")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# Python's re has no \p{L}: a rough split is enough to train on.
ROUGH_SPLIT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\r\n\w]?[^\W\d_]+|\d{1,3}| ?[^\s\w]+[\r\n]*|\s*[\r\n]+|\s+")


def corpus():
    text = []
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))) + [os.path.join(ROOT, "README.md")]:
        with open(path, encoding="utf-8") as f:
            text.append(f.read())
    # a few characters beyond ASCII, so that some are tokens and the rest byte fallback
    text.append("café naïve déjà vu — “quotes” 日本語 中文 한국어 😀 👍\n" * 20)
    return "\n".join(text)


def byte_alphabet():
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def train(words, n_merges):
    """words: {tuple of symbols: count}. The classic loop, with an index from
    each pair to the words holding it, so that a merge touches only those."""
    words = [(list(w), c) for w, c in words.items()]
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, (w, c) in enumerate(words):
        for a, b in zip(w, w[1:]):
            pairs[a, b] += c
            where[a, b].add(i)
    merges = []
    for _ in range(n_merges):
        if not pairs:
            break
        (a, b), count = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if count < 2:
            break
        merges.append((a, b))
        for i in list(where[a, b]):
            w, c = words[i]
            for x, y in zip(w, w[1:]):
                pairs[x, y] -= c
                if pairs[x, y] <= 0:
                    del pairs[x, y]
            out, k = [], 0
            while k < len(w):
                if k + 1 < len(w) and w[k] == a and w[k + 1] == b:
                    out.append(a + b)
                    k += 2
                else:
                    out.append(w[k])
                    k += 1
            words[i] = (out, c)
            for x, y in zip(out, out[1:]):
                pairs[x, y] += c
                where[x, y].add(i)
    return merges


def write(name, doc):
    os.makedirs(os.path.join(OUT, name), exist_ok=True)
    path = os.path.join(OUT, name, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(path, os.path.getsize(path), "bytes")
    write_seed(name, doc)


def write_seed(name, doc, keep=300):
    """The same file with the ids below keep (and the added tokens after them): a few kB."""
    model = dict(doc["model"])
    vocab = {t: i for t, i in model["vocab"].items() if i < keep}
    model["vocab"] = vocab
    merges = []
    for m in model["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ")
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    model["merges"] = merges
    seed = dict(doc, model=model)
    base = min(t["id"] for t in doc["added_tokens"] if t["id"] >= keep) if any(
        t["id"] >= keep for t in doc["added_tokens"]) else keep
    seed["added_tokens"] = [dict(t, id=t["id"] - base + keep) if t["id"] >= keep else t for t in doc["added_tokens"]]
    folder = os.path.join(ROOT, "fuzz", "corpus", "tokenizer_json")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(seed, f, ensure_ascii=False, separators=(",", ":"))
    print(path, os.path.getsize(path), "bytes")


def added(id_, content, special=True, lstrip=False, rstrip=False, single_word=False):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": False, "special": special}


def byte_level(text):
    alpha = byte_alphabet()
    counts = collections.Counter(ROUGH_SPLIT.findall(text))
    words = collections.Counter()
    for w, c in counts.items():
        words[tuple(alpha[b] for b in w.encode("utf-8"))] += c
    merges = train(words, 2000)
    vocab = {alpha[b]: i for i, b in enumerate(range(256))}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    n = len(vocab)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tokens = [added(n + i, s) for i, s in enumerate(specials)]
    tokens.append(added(n + len(specials), "<|lstrip|>", lstrip=True, rstrip=True))
    tokens.append(added(n + len(specials) + 1, "<tool>", special=False, single_word=True))
    write("bpe-llama3", {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": tokens,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [n],
                                                      "tokens": ["<|begin_of_text|>"]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    })


def sentencepiece_style(text):
    meta = "\u2581"
    counts = collections.Counter(re.findall(r" ?[^ ]+| +", text.replace("\r", "")))
    words = collections.Counter()
    for w, c in counts.items():
        words[tuple(w.replace(" ", meta))] += c
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    chars = collections.Counter(ch for w, c in words.items() for ch in w for _ in range(c))
    for ch, c in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0])):
        if c >= 30:  # the rare ones go through byte_fallback
            vocab.setdefault(ch, len(vocab))
    words = collections.Counter({w: c for w, c in words.items() if all(ch in vocab for ch in w)})
    merges = train(words, 1500)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    tokens = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")]
    template = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": meta}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}

    def model(pairs_as_lists):
        return {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                "vocab": vocab,
                "merges": [[a, b] if pairs_as_lists else a + " " + b for a, b in merges]}

    write("sp-metaspace", {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": tokens,
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": meta, "prepend_scheme": "first", "split": False},
        "post_processor": template, "decoder": decoder, "model": model(True)})
    write("sp-legacy", {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": tokens,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": meta},
            {"type": "Replace", "pattern": {"String": " "}, "content": meta}]},
        "pre_tokenizer": None, "post_processor": template, "decoder": decoder, "model": model(False)})


def gpt2_style(doc):
    doc = json.loads(json.dumps(doc))
    doc["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    doc["post_processor"] = None
    doc["model"]["ignore_merges"] = False
    doc["model"]["merges"] = [m.split(" ") for m in doc["model"]["merges"]]
    write("bpe-gpt2", doc)


def metaspace_decoder(doc):
    doc = json.loads(json.dumps(doc))
    doc["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}
    write("sp-metaspace-dec", doc)


def derived():
    with open(os.path.join(OUT, "bpe-llama3", "tokenizer.json"), encoding="utf-8") as f:
        gpt2_style(json.load(f))
    with open(os.path.join(OUT, "sp-metaspace", "tokenizer.json"), encoding="utf-8") as f:
        metaspace_decoder(json.load(f))
    for name in ("bpe-llama3", "sp-metaspace", "sp-legacy"):
        with open(os.path.join(OUT, name, "tokenizer.json"), encoding="utf-8") as f:
            write_seed(name, json.load(f))


if __name__ == "__main__":
    import sys
    if "--derived" not in sys.argv:
        text = corpus()
        byte_level(text)
        sentencepiece_style(text)
    derived()
