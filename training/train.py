#!/usr/bin/env python3
"""Train the tiny MobileLLM-style API-calling model (CPU, torch 1.13) and evaluate it.

    /usr/bin/python3 training/train.py --steps 3000              # train, then export + evaluate
    /usr/bin/python3 training/train.py --smoke                   # ~2 minutes, measures throughput
    /usr/bin/python3 training/train.py --eval-only --ckpt /tmp/mobilellm-train/ckpt.pt

MobileLLM recipe at tiny scale: deep and thin, block-wise layer sharing (each stored block runs
twice in a row: 0,0,1,1,...), SwiGLU MLP, grouped-query attention, RMSNorm, Hugging Face LLaMA
RoPE (rotate_half), input and output embedding shared, LLaMA-2 tokenizer (vocab 32000).

Speed tricks (the result is the same model as plain full-sequence training):
  * the tools line is identical in every prompt: it goes through the network once per batch
    (batch 1) and its keys/values are shared by every sequence of the batch;
  * loss only on the target (the assistant turn to predict): the hidden states of those
    positions are gathered first and only they go through the 32000-wide head;
  * sequences are bucketed by length (token budget per batch) so there is little padding.
"""
import argparse
import contextlib
import json
import math
import os
import random
import re
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# chat_template lives in tools/: the fixture scripts there use it too
sys.path[:0] = [HERE, os.path.join(ROOT, "tools")]
import chat_template  # noqa: E402

DEFAULT_CFG = dict(vocab_size=32000, hidden_size=128, intermediate_size=352, num_hidden_layers=8,
                   num_attention_heads=4, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-5,
                   rope_theta=10000.0, max_position_embeddings=512, layer_sharing=True)


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_cos_sin(positions, head_dim, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()  # [T, head_dim]


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, hd = c["hidden_size"], c["head_dim"]
        self.nh, self.nkv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], hd
        self.q_proj = nn.Linear(d, self.nh * hd, bias=False)
        self.k_proj = nn.Linear(d, self.nkv * hd, bias=False)
        self.v_proj = nn.Linear(d, self.nkv * hd, bias=False)
        self.o_proj = nn.Linear(self.nh * hd, d, bias=False)
        self.gate_proj = nn.Linear(d, c["intermediate_size"], bias=False)
        self.up_proj = nn.Linear(d, c["intermediate_size"], bias=False)
        self.down_proj = nn.Linear(c["intermediate_size"], d, bias=False)
        self.input_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(d, c["rms_norm_eps"])

    def qkv(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        return q, k, v

    def attend(self, q, k, v, mask):
        # q [B,nh,Tq,hd]; k,v [B,nkv,Tk,hd]; mask [Tq,Tk] bool (True = may attend) or None
        rep = self.nh // self.nkv
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd)
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        p = torch.softmax(s, dim=-1)
        o = torch.matmul(p, v)
        B, _, Tq, _ = o.shape
        return self.o_proj(o.transpose(1, 2).reshape(B, Tq, self.nh * self.hd))

    def mlp(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class TinyMobileLLM(nn.Module):
    def __init__(self, c, dropout=0.0):
        super().__init__()
        self.c = c
        # dropout on each residual branch (attention and MLP outputs), training only: a
        # regulariser against memorising the training templates; not part of the exported model
        self.drop = nn.Dropout(dropout)
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.rare = None  # RareRows (--rare-features): not a submodule, so not in the state dict
        self.emb_frozen = None  # the embedding matrix built once for evaluation (frozen_embedding)
        self.layers = nn.ModuleList([Block(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.order = [i for i in range(c["num_hidden_layers"]) for _ in range(2 if c["layer_sharing"] else 1)]
        n_exec = len(self.order)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02
                if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                    std = 0.02 / math.sqrt(2 * n_exec)
                nn.init.normal_(p, 0.0, std)

    def emb_weight(self):
        """The embedding matrix as used: embed_tokens.weight, with the rows of rare tokens built
        from shared features when --rare-features is on (RareRows)."""
        if self.emb_frozen is not None:
            return self.emb_frozen
        w = self.embed_tokens.weight
        return w if self.rare is None else self.rare.weight(w)

    @contextlib.contextmanager
    def frozen_embedding(self):
        """Evaluation without gradients: build the embedding matrix once, not at every decoded
        token (with --rare-features each build recomputes ~20k rows)."""
        with torch.no_grad():
            self.emb_frozen = self.emb_weight()
        try:
            yield
        finally:
            self.emb_frozen = None

    def embed(self, ids):
        return F.embedding(ids, self.emb_weight())

    def head(self, h):
        return h @ self.emb_weight().t()

    # full-sequence forward (float32 reference path; also used for evaluation prefill)
    def forward_full(self, ids, past=None, start_pos=0):
        """ids [B,T]; past: list (per executed layer) of (k,v) or None. Returns (hidden, new_past)."""
        c = self.c
        B, T = ids.shape
        h = self.embed(ids)
        pos = torch.arange(start_pos, start_pos + T)
        cos, sin = rope_cos_sin(pos, c["head_dim"], c["rope_theta"])
        Tk = start_pos + T
        mask = (torch.arange(Tk)[None, :] <= (start_pos + torch.arange(T))[:, None])
        new_past = []
        for li, bi in enumerate(self.order):
            blk = self.layers[bi]
            x = blk.input_layernorm(h)
            q, k, v = blk.qkv(x, cos, sin)
            if past is not None:
                pk, pv = past[li]
                k = torch.cat([pk, k], dim=2)
                v = torch.cat([pv, v], dim=2)
            new_past.append((k, v))
            h = h + blk.attend(q, k, v, mask)
            h = h + blk.mlp(blk.post_attention_layernorm(h))
        return self.norm(h), new_past

    # training forward with a shared prefix
    def forward_prefixed(self, prefix, body, tgt_b, tgt_t, emb=None):
        """prefix [P] (shared); body [B,T] right-padded; loss positions (tgt_b, tgt_t) index the
        body positions whose next token is a target; emb: emb_weight() when the caller has it
        (a training step builds it once for input and head). Returns gathered final hidden [N, D]."""
        c = self.c
        P = prefix.shape[0]
        B, T = body.shape
        w = self.emb_weight() if emb is None else emb  # once for prefix and body (RareRows rebuilds rows)
        hp = F.embedding(prefix, w)[None]
        hb = F.embedding(body, w)
        cos_p, sin_p = rope_cos_sin(torch.arange(P), c["head_dim"], c["rope_theta"])
        cos_b, sin_b = rope_cos_sin(torch.arange(P, P + T), c["head_dim"], c["rope_theta"])
        mask_p = torch.tril(torch.ones(P, P, dtype=torch.bool))
        mask_b = torch.cat([torch.ones(T, P, dtype=torch.bool), torch.tril(torch.ones(T, T, dtype=torch.bool))], 1)
        for bi in self.order:
            blk = self.layers[bi]
            xp = blk.input_layernorm(hp)
            xb = blk.input_layernorm(hb)
            qp, kp, vp = blk.qkv(xp, cos_p, sin_p)
            qb, kb, vb = blk.qkv(xb, cos_b, sin_b)
            hp = hp + self.drop(blk.attend(qp, kp, vp, mask_p))
            k_all = torch.cat([kp.expand(B, -1, -1, -1), kb], dim=2)
            v_all = torch.cat([vp.expand(B, -1, -1, -1), vb], dim=2)
            hb = hb + self.drop(blk.attend(qb, k_all, v_all, mask_b))
            hp = hp + self.drop(blk.mlp(blk.post_attention_layernorm(hp)))
            hb = hb + self.drop(blk.mlp(blk.post_attention_layernorm(hb)))
        return self.norm(hb[tgt_b, tgt_t])


PIECE_FEATURES = ("word start", "capital first", "lower-case letters", "digit", "byte", "non-ASCII",
                  "1 char", "2 chars", "3 chars", "4+ chars", "no letter or digit")


def piece_features(piece):
    """Binary spelling features of a SentencePiece piece (PIECE_FEATURES)."""
    s = piece[1:] if piece.startswith("\u2581") else piece
    byte = bool(re.fullmatch(r"<0x[0-9A-F]{2}>", piece))
    return [piece.startswith("\u2581"), s[:1].isupper(), s.isalpha() and s.islower(),
            any(ch.isdigit() for ch in s), byte, any(ord(ch) > 127 for ch in s),
            len(s) == 1, len(s) == 2, len(s) == 3, len(s) >= 4,
            not byte and not any(ch.isalnum() for ch in s)]


class RareRows:
    """--rare-features: the embedding row of a rare token is a shared vector plus learnt vectors of
    its spelling features (word start, capital, digit, length...) plus a fixed vector of its own.

    Why: with a softmax over the training vocabulary, a rare token is a negative at every position
    and almost never a target; AdamW normalises those tiny, alike gradients into full-size steps,
    so the rows of ~20k rare tokens drift to one shared direction (mean pairwise cosine 0.925 in
    the shipped weights, training/README.md) and the model cannot tell from a rare piece whether
    it starts a word or is capitalised: what a copied name needs. Built from features, rare rows
    cannot collapse, and what is learnt about one rare word carries over to every other.

    At the start each fixed vector is the row as it was minus the shared vector, so the model is
    unchanged until training moves the shared parts (plus `jitter` x the mean row norm of random
    direction, to make the rows more distinct). Checkpoints hold the rows as built (plain weights,
    export.py reads them as ever); resuming rebuilds the split from them."""

    def __init__(self, weight, rare_mask, features, jitter, seed):
        self.rare_mask = rare_mask
        self.mask = rare_mask[:, None]
        self.features = features  # [V, K] float 0/1
        self.jitter, self.seed = jitter, seed
        self.base = nn.Parameter(torch.zeros(weight.shape[1]))
        self.feats = nn.Parameter(torch.zeros(features.shape[1], weight.shape[1]))
        self.rebuild(weight)

    @torch.no_grad()
    def rebuild(self, weight):
        """Split the rare rows of weight (the model's rows as they are now) into the parts."""
        w = weight.detach()
        self.base.copy_(w[self.rare_mask].mean(0))
        self.feats.zero_()
        own = w - self.base
        if self.jitter:
            g = torch.Generator().manual_seed(self.seed)
            r = torch.randn(w.shape, generator=g)
            own = own + r / r.norm(dim=1, keepdim=True) * self.jitter * w[self.rare_mask].norm(dim=1).mean()
        self.own = own * self.mask

    def params(self):
        return [self.base, self.feats]

    def weight(self, w):
        return torch.where(self.mask, self.base + self.features @ self.feats + self.own, w)

    @torch.no_grad()
    def materialize(self, embedding):
        embedding.weight.copy_(self.weight(embedding.weight))


def count_params(model):
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def call_len(sp, call, target):
    """Number of leading target tokens that spell the call (<tool_call>...</tool_call>), 0 if none.
    The reply after it starts with a space, which SentencePiece attaches to the reply's first piece,
    so the call's own encoding is a prefix of the target's."""
    if not call:
        return 0
    head = sp.encode(chat_template.render_tool_call(call))
    return len(head) if target[:len(head)] == head else 0


def encode_records(sp, recs, prefix, all_turns=True, apis_of=None, describe=False):
    """-> list of (body ids, [(start, end, n_call)] target spans in body). body = prompt[P:] + target;
    n_call is how many of the span's first tokens are the <tool_call>...</tool_call> part (0: none).

    The final assistant turn (the expected one) is a target: its tokens plus </s>. With all_turns,
    the earlier assistant turns of the conversation are targets too (their tokens, not the "\n"
    that follows them): they are the same kind of answer, and their hidden states are computed
    anyway. A turn is used only if its tokens inside the full prompt are exactly
    sp.encode(render_assistant(...)), i.e. what the model must generate at that point.

    apis_of(r): the tools the prompt of r lists (None: the 12 APIs; toolset_training.py), with
    their descriptions when describe; the prefix is then only what every prompt shares."""
    P = len(prefix)
    out = []
    for r in recs:
        msgs = r["messages"]
        apis = apis_of(r) if apis_of else None
        p = chat_template.prompt_ids(sp, msgs, apis, describe)
        assert p[:P] == prefix, "tools line does not tokenise as a separate prefix"
        t = chat_template.target_ids(sp, r["expected"]["call"], r["expected"]["reply"], apis)
        spans = []
        if all_turns:
            for i, m in enumerate(msgs):
                if m["role"] != "assistant":
                    continue
                head = chat_template.prompt_ids(sp, msgs[:i], apis, describe)
                tgt = sp.encode(chat_template.render_assistant(m.get("call"), m["content"], apis))
                if p[:len(head)] == head and p[len(head):len(head) + len(tgt)] == tgt:
                    spans.append((len(head) - P, len(head) + len(tgt) - P, call_len(sp, m.get("call"), tgt)))
        spans.append((len(p) - P, len(p) + len(t) - P, call_len(sp, r["expected"]["call"], t)))
        out.append((p[P:] + t, spans))
    return out


def make_batches(examples, token_budget, rng):
    """Bucket by length; each batch holds <= token_budget padded body tokens."""
    idx = sorted(range(len(examples)), key=lambda i: (len(examples[i][0]), rng.random()))
    batches, cur, cur_max = [], [], 0
    for i in idx:
        L = len(examples[i][0])
        if cur and max(cur_max, L) * (len(cur) + 1) > token_budget:
            batches.append(cur)
            cur, cur_max = [], 0
        cur.append(i)
        cur_max = max(cur_max, L)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def collate(examples, batch, call_weight=1.0):
    """-> body, batch row and position of every target, labels, per-target loss weights (the call
    tokens weigh call_weight, the rest 1), real token count."""
    T = max(len(examples[i][0]) for i in batch)
    body = torch.zeros(len(batch), T, dtype=torch.long)
    tb, tt, labels, weights = [], [], [], []
    n_real = 0
    for j, i in enumerate(batch):
        ids, spans = examples[i]
        body[j, :len(ids)] = torch.tensor(ids)
        n_real += len(ids)
        for s, e, n_call in spans:
            for pos in range(s, e):
                # body position pos-1 predicts ids[pos] (a target always follows "Assistant:"
                # inside the body, so pos-1 >= 0)
                tb.append(j)
                tt.append(pos - 1)
                labels.append(ids[pos])
                weights.append(call_weight if pos - s < n_call else 1.0)
    return body, torch.tensor(tb), torch.tensor(tt), torch.tensor(labels), torch.tensor(weights), n_real


# ----------------------------------------------------------------------------------------------
# Generation / evaluation
# ----------------------------------------------------------------------------------------------
class Decoder:
    """Greedy decoding with a KV cache; the tools-line prefix cache is computed once."""

    def __init__(self, model, sp):
        self.m, self.sp = model, sp
        self.prefix = [chat_template.BOS_ID] + sp.encode(chat_template.tools_line())
        with torch.no_grad():
            _, self.prefix_past = model.forward_full(torch.tensor([self.prefix]))

    @torch.no_grad()
    def greedy(self, prompt, max_new=64):
        P = len(self.prefix)
        assert prompt[:P] == self.prefix
        h, past = self.m.forward_full(torch.tensor([prompt[P:]]), self.prefix_past, P)
        out = []
        pos = len(prompt)
        for _ in range(max_new):
            nxt = int(torch.argmax(self.m.head(h[0, -1])))
            out.append(nxt)
            if nxt == chat_template.EOS_ID:
                break
            h, past = self.m.forward_full(torch.tensor([[nxt]]), past, pos)
            pos += 1
        return out


def parse_assistant(text):
    """Parse '<tool_call>name(k="v", n=3, b=true)</tool_call> reply' -> (call or None, reply).
    Returns call = {"name": ..., "args": {...}} or the string "INVALID" if unparsable."""
    text = text.strip()
    if not text.startswith("<tool_call>"):
        return None, text
    end = text.find("</tool_call>")
    if end < 0:
        return "INVALID", ""
    body = text[len("<tool_call>"):end]
    reply = text[end + len("</tool_call>"):].strip()
    i = body.find("(")
    if i < 0 or not body.endswith(")"):
        return "INVALID", reply
    name = body[:i]
    s = body[i + 1:-1]
    args = {}
    j = 0
    while j < len(s):
        while j < len(s) and s[j] in " ,":
            j += 1
        if j >= len(s):
            break
        eq = s.find("=", j)
        if eq < 0:
            return "INVALID", reply
        key = s[j:eq].strip()
        j = eq + 1
        if j < len(s) and s[j] == '"':
            j += 1
            val = []
            while j < len(s) and s[j] != '"':
                if s[j] == "\\" and j + 1 < len(s):
                    j += 1
                val.append(s[j])
                j += 1
            if j >= len(s):
                return "INVALID", reply
            j += 1
            args[key] = "".join(val)
        else:
            k = j
            while k < len(s) and s[k] != ",":
                k += 1
            raw = s[j:k].strip()
            j = k
            if raw == "true":
                args[key] = True
            elif raw == "false":
                args[key] = False
            else:
                try:
                    args[key] = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
                except ValueError:
                    return "INVALID", reply
    return {"name": name, "args": args}, reply


def rouge_1_l(pred, ref):
    a, b = pred.lower().split(), ref.lower().split()
    if not a or not b:
        return float(a == b), float(a == b)
    from collections import Counter
    ov = sum((Counter(a) & Counter(b)).values())
    r1 = 0.0 if ov == 0 else 2 * ov / (len(a) + len(b))
    dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a)):
        for j in range(len(b)):
            dp[i + 1][j + 1] = dp[i][j] + 1 if a[i] == b[j] else max(dp[i][j + 1], dp[i + 1][j])
    lcs = dp[-1][-1]
    rl = 0.0 if lcs == 0 else 2 * lcs / (len(a) + len(b))
    return r1, rl


def evaluate(model, sp, recs, limit=None, log=None, dump=None):
    """Greedy decoding of recs through the model: the paper's metrics (the model is back in
    training mode afterwards)."""
    with model.frozen_embedding():
        return evaluate_greedy(model, sp, recs, limit, log, dump)


def evaluate_greedy(model, sp, recs, limit, log, dump):
    model.eval()
    dec = Decoder(model, sp)
    n = ei = es = 0
    r1s = rls = 0.0
    fails = []
    per_api = {}
    t0 = time.time()
    for r in recs[:limit] if limit else recs:
        prompt = chat_template.prompt_ids(sp, r["messages"])
        out = dec.greedy(prompt, 64)
        text = sp.decode([t for t in out if t != chat_template.EOS_ID])
        call, reply = parse_assistant(text)
        exp = r["expected"]["call"]
        en = exp["name"] if exp else None
        pn = call["name"] if isinstance(call, dict) else (None if call is None else "INVALID")
        ok_i = en == pn
        ok_s = ok_i and (exp is None or (isinstance(call, dict) and call["args"] == exp["args"]))
        a, b = rouge_1_l(reply, r["expected"]["reply"])
        n += 1
        ei += ok_i
        es += ok_s
        r1s += a
        rls += b
        pa = per_api.setdefault(en or "(none)", [0, 0, 0])
        pa[0] += 1
        pa[1] += ok_i
        pa[2] += ok_s
        if not ok_s:
            fails.append({"id": r["id"], "last_user": r["messages"][-1]["content"], "expected": exp,
                          "got": text})
    res = {"n": n, "EM_intent": ei / n, "EM_structure": es / n, "ROUGE1": r1s / n, "ROUGEL": rls / n,
           "seconds": round(time.time() - t0, 1),
           "per_api": {k: {"n": v[0], "intent": round(v[1] / v[0], 3), "structure": round(v[2] / v[0], 3)}
                       for k, v in sorted(per_api.items())}}
    if dump:
        with open(dump, "w", encoding="utf-8") as f:
            json.dump({"result": res, "failures": fails}, f, indent=1, ensure_ascii=False)
    model.train()
    return res


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
def save_checkpoint(model, opt, cfg, step, train_path, path):
    """The checkpoint names the training file of the run that wrote it: renorm_rare_embeddings.py
    must count tokens in that file, not in every file an earlier run saw."""
    if model.rare is not None:
        model.rare.materialize(model.embed_tokens)  # unused rows until then: plain weights on disk
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "config": cfg, "step": step,
                "train": os.path.abspath(train_path)}, path)


def load_checkpoint(path, fail):
    """A checkpoint save_checkpoint wrote (or average_checkpoints.py, grow_model.py), on the CPU;
    anything else is reported through fail(message), which must not return (an ArgumentParser's
    error)."""
    if not os.path.isfile(path):
        fail("checkpoint not found: %s" % path)
    try:
        st = torch.load(path, map_location="cpu")
    except Exception as e:  # pickle, zip and torch errors alike: the file is not one torch wrote
        fail("%s is not a torch checkpoint (%s)" % (path, e))
    if not isinstance(st, dict) or "model" not in st or "config" not in st:
        fail("%s is not a train.py checkpoint (no model or config)" % path)
    return st


def kept_checkpoint_path(ckpt_path, step):
    """/w/ckpt.pt at step 500 -> /w/ckpt-500.pt (--keep-checkpoints)."""
    root, ext = os.path.splitext(ckpt_path)
    return "%s-%d%s" % (root, step, ext)


def lr_at(step, total, base, warmup, min_ratio=0.1, time_frac=0.0):
    """Linear warmup, then cosine to min_ratio*base. Progress is the larger of the step fraction
    and time_frac (elapsed / --time-budget-min), so that on a busy machine the schedule still
    ends inside the time budget (training then stops when either runs out)."""
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, max((step - warmup) / max(1, total - warmup), time_frac))
    return base * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default=os.path.join(ROOT, "data", "api-calling", "train.jsonl"),
                    help="the training conversations (default: the file `make dataset` writes)")
    ap.add_argument("--test", default=os.path.join(ROOT, "models", "mobilellm-tiny-api", "eval", "test.jsonl"),
                    help="the held-out conversations (default: the shipped model's held-out set)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--token-budget", type=int, default=3072, help="padded body tokens per batch")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--embed-wd", type=float, default=None,
                    help="weight decay of the embedding (default: --wd). Decay shrinks the rows of "
                         "tokens that rarely get gradient (see renorm_rare_embeddings.py); 0 keeps them")
    ap.add_argument("--full-softmax", action="store_true",
                    help="softmax over all 32000 ids, not only those in the training data: the rows of "
                         "the others then get gradient too (pushed down as outputs); tried in run 12")
    ap.add_argument("--call-weight", type=float, default=1.0,
                    help="loss weight of the call tokens (<tool_call>...</tool_call>) against the reply's 1; "
                         "the logged training loss is then the weighted mean (the held-out loss is not)")
    ap.add_argument("--bf16", action="store_true",
                    help="bfloat16 autocast for the training forward and head (weights, AdamW state and "
                         "the loss stay float32). On a CPU with AMX (Sapphire Rapids) a step ran 2.6x "
                         "faster on 1 thread and 3.3x on 2 than float32 on 1, with the same loss "
                         "(training/README.md); on a CPU without native bfloat16 it may be slower: try --smoke")
    ap.add_argument("--rare-features", type=int, default=0, metavar="N",
                    help="build the embedding rows of tokens seen at most N times in the training file "
                         "from shared spelling features plus a fixed vector each (RareRows: keeps AdamW "
                         "from collapsing them to one direction); 0 (default): off")
    ap.add_argument("--rare-jitter", type=float, default=0.0,
                    help="with --rare-features: add a random direction of this fraction of the rare "
                         "rows' mean norm to each, at the start (default 0: the rows as loaded)")
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="dropout on each block's attention and MLP outputs while training (0: none)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; on one 2-core machine Debian's torch trained this model 2.7x "
                         "faster on 1 (smoke: ~2200-2400 body tokens/s against ~800 on 2), on another "
                         "~870 on 1; with --bf16 2 threads are faster than 1 (1.5 against 2.2 s per smoke "
                         "step). Two runs side by side need OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "
                         "MKL_NUM_THREADS=1 in their environment (else each spins a second thread: ~280 "
                         "body tokens/s each instead of 350-580; training/README.md)")
    ap.add_argument("--log", default=None, help="the loss curve (default: WORKDIR/train_log.txt)")
    ap.add_argument("--workdir", default="/tmp/mobilellm-train")
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--keep-checkpoints", action="store_true",
                    help="also keep each 500-step checkpoint as ckpt-<step>.pt beside --ckpt (the "
                         "checkpoint file is rewritten each time), for average_checkpoints.py")
    ap.add_argument("--smoke", action="store_true", help="run ~2 minutes and report throughput")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop early after this wall time")
    ap.add_argument("--time-budget-min", type=float, default=0,
                    help="wall-time budget: the cosine schedule ends by then and training stops")
    ap.add_argument("--resume", default=None,
                    help="checkpoint to start from (model [+ optimizer]), in its own configuration")
    ap.add_argument("--start-step", type=int, default=0, help="step number to resume at")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--eval-limit", type=int, default=0)
    ap.add_argument("--eval-shard", default="0/1", help="k/n: evaluate test conversations k, k+n, ...")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--toolsets", default=None,
                    help="also train on these conversations, each with its own tools (gen_toolsets.py)")
    ap.add_argument("--vary-tools", action="store_true",
                    help="each 12-API conversation lists the APIs it needs, some others and made-up "
                         "distractors, in random order (toolset_training.py)")
    ap.add_argument("--describe", action="store_true", help="tools lines carry the tools' descriptions")
    ap.add_argument("--heldout-tools", type=int, default=0, metavar="N",
                    help="at each checkpoint and at the end, free greedy EM on the first N requests of "
                         "the held-out tool set (0: off)")
    args = ap.parse_args()
    tool_mode = bool(args.toolsets or args.vary_tools or args.describe)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    os.makedirs(args.workdir, exist_ok=True)
    ckpt_path = args.ckpt or os.path.join(args.workdir, "ckpt.pt")

    sp = chat_template.load_tokenizer()
    test = load_jsonl(args.test)
    cfg = dict(DEFAULT_CFG)
    resume_st = load_checkpoint(args.resume, ap.error) if args.resume else None
    if resume_st is not None:
        cfg.update(resume_st["config"])  # the checkpoint's shape (e.g. grown by grow_model.py)
    model = TinyMobileLLM(cfg, args.dropout)

    if args.eval_only:
        if os.path.isdir(ckpt_path):  # an exported model directory (BF16 weights)
            import export
            model, cfg = export.load_exported(ckpt_path)
        else:
            st = torch.load(ckpt_path)
            model.load_state_dict(st["model"])
        k, n = (int(x) for x in args.eval_shard.split("/"))
        res = evaluate(model, sp, test[k::n], args.eval_limit or None,
                       dump=os.path.join(args.workdir, "eval_failures_%d_of_%d.json" % (k, n)))
        print(json.dumps(res, indent=1))
        return

    train = load_jsonl(args.train)
    prefix = [chat_template.BOS_ID] + sp.encode(chat_template.tools_line())
    apis_of = None
    if tool_mode:  # every prompt its own tools line: only <s> is shared
        import toolset_training
        if args.toolsets:
            train += load_jsonl(args.toolsets)
        toolset_training.assign_tools(train, args.seed, args.vary_tools)
        toolset_training.assign_tools(test, args.seed, False)
        prefix, apis_of = [chat_template.BOS_ID], toolset_training.apis_of
        heldout = toolset_training.load_heldout(args.heldout_tools) if args.heldout_tools else None
    t0 = time.time()
    ex = encode_records(sp, train, prefix, apis_of=apis_of, describe=args.describe)
    # The engine's context is max_position_embeddings: a longer conversation teaches positions
    # the model will never be asked about (run 21's longer prompts made a few of them that long).
    n_ex = len(ex)
    ex = [e for e in ex if len(prefix) + len(e[0]) <= cfg["max_position_embeddings"]]
    if len(ex) < n_ex:
        print("dropped %d of %d train conversations longer than %d tokens"
              % (n_ex - len(ex), n_ex, cfg["max_position_embeddings"]), flush=True)
    ex_test = encode_records(sp, test[:300], prefix, all_turns=False, apis_of=apis_of, describe=args.describe)
    n_tgt = sum(e - s for _, sp_ in ex for s, e, _ in sp_)
    n_body = sum(len(b) for b, _ in ex)
    print("encoded %d train conversations in %.1fs: %d body tokens (%.1f/conv), %d target tokens, "
          "prefix %d tokens, max body %d" % (len(ex), time.time() - t0, n_body, n_body / len(ex), n_tgt,
                                             len(prefix), max(len(b) for b, _ in ex)), flush=True)
    n_call = sum(c for _, sp_ in ex for _, _, c in sp_)
    n_calls = sum(1 for _, sp_ in ex for _, _, c in sp_ if c)
    print("%d target spans with a call, %d call tokens (%.1f%% of target tokens)"
          % (n_calls, n_call, 100.0 * n_call / n_tgt), flush=True)
    print("params: %d (embedding %d, blocks %d)" % (count_params(model), model.embed_tokens.weight.numel(),
                                                    count_params(model) - model.embed_tokens.weight.numel()),
          flush=True)

    # Softmax over the training vocabulary only: every token id that occurs anywhere in the
    # training conversations (the model never sees the others, so it cannot learn to emit them;
    # their tied embeddings keep their small random init, decayed towards 0, and their logits
    # stay near 0 at inference). With 9,929 ids (the first runs' data) the head was ~3x cheaper
    # than 32000 columns; with the 20,535 of the --variety 5 data it saves little (--full-softmax).
    vocab_ids = sorted(set(prefix) | {t for b, _ in ex for t in b} | {chat_template.EOS_ID})
    if args.full_softmax:
        vocab_ids = list(range(cfg["vocab_size"]))
    remap = torch.full((cfg["vocab_size"],), -1, dtype=torch.long)
    remap[torch.tensor(vocab_ids)] = torch.arange(len(vocab_ids))
    vocab_t = torch.tensor(vocab_ids)
    print("training softmax over %d token ids" % len(vocab_ids), flush=True)

    def head_loss(h, lab, w, emb):
        """emb: the step's model.emb_weight(), the tied head."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            if args.full_softmax:  # the whole head: no row gather, ids as they are
                logits = h @ emb.t()
            else:
                logits, lab = h @ emb[vocab_t].t(), remap[lab]
        return (F.cross_entropy(logits.float(), lab, reduction="none") * w).sum() / w.sum()

    decay, no_decay, embed = [], [], []
    own_embed_group = args.embed_wd is not None and args.embed_wd != args.wd
    for name, p in model.named_parameters():
        if own_embed_group and p is model.embed_tokens.weight:
            embed.append(p)
        else:
            (decay if p.dim() == 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}]
    if own_embed_group:
        groups.append({"params": embed, "weight_decay": args.embed_wd})
    if args.rare_features:
        # as renorm_rare_embeddings.token_counts counts: every prompt holds the tools line
        counts = (torch.bincount(torch.tensor([t for b, _ in ex for t in b]), minlength=cfg["vocab_size"])
                  + len(ex) * torch.bincount(torch.tensor(prefix), minlength=cfg["vocab_size"]))
        rare_mask = counts <= args.rare_features
        feats = torch.tensor([piece_features(sp.id_to_piece(i)) for i in range(cfg["vocab_size"])],
                             dtype=torch.float32)
        model.rare = RareRows(model.embed_tokens.weight, rare_mask, feats, args.rare_jitter, args.seed)
        groups.append({"params": model.rare.params(), "weight_decay": 0.0})
        print("--rare-features: %d rows of tokens seen at most %d times built from %d features"
              % (int(rare_mask.sum()), args.rare_features, feats.shape[1]), flush=True)
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    rng = random.Random(args.seed)
    if args.resume:
        st = resume_st
        model.load_state_dict(st["model"])
        fresh_opt = "opt" not in st or len(st["opt"]["param_groups"]) != len(opt.param_groups)
        if not fresh_opt:
            opt.load_state_dict(st["opt"])
        rng = random.Random(args.seed + 7919 * args.start_step)  # new batch order after resuming
        if model.rare is not None:
            model.rare.rebuild(model.embed_tokens.weight)  # split the loaded rows, not the random init
        print("resumed from %s (step %s)" % (args.resume, st.get("step")), flush=True)
        resumed_msg = "# resumed from %s (step %s, %s)" % (args.resume, st.get("step"),
                                                          "new AdamW state, 50-step re-warmup" if fresh_opt
                                                          else "with AdamW state")
    prefix_t = torch.tensor(prefix)
    total = args.steps
    max_sec = (args.max_minutes * 60 or 120) if args.smoke else args.max_minutes * 60
    log_path = args.log or os.path.join(args.workdir, "train_log.txt")  # never inside the repository
    logf = open(log_path, "a" if (args.smoke or args.resume) else "w")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    log("# train.py seed=%d steps=%d token_budget=%d lr=%g warmup=%d wd=%g%s%s%s%s%s threads=%d train=%d conv%s"
        % (args.seed, total, args.token_budget, args.lr, args.warmup, args.wd,
           " embed_wd=%g" % args.embed_wd if own_embed_group else "",
           " full_softmax" if args.full_softmax else "",
           " call_weight=%g" % args.call_weight if args.call_weight != 1.0 else "",
           " bf16" if args.bf16 else "", (" dropout=%g" % args.dropout if args.dropout else "")
           + (" rare_features=%d rare_jitter=%g" % (args.rare_features, args.rare_jitter)
              if args.rare_features else ""),
           args.threads, len(ex), " SMOKE" if args.smoke else ""))
    if args.resume:
        log(resumed_msg)
    log("# step loss lr tokens_per_s(body tokens incl. prompt, excl. shared tools prefix) elapsed_s epoch")

    @torch.no_grad()
    def test_loss():
        model.eval()
        tot = cnt = 0.0
        bs = make_batches(ex_test, args.token_budget, random.Random(0))
        with model.frozen_embedding():
            for b in bs:
                body, tb, tt, lab, _, _ = collate(ex_test, b)
                h = model.forward_prefixed(prefix_t, body, tb, tt)
                tot += F.cross_entropy(model.head(h), lab, reduction="sum").item()  # full softmax
                cnt += lab.numel()
        model.train()
        return tot / cnt

    step = args.start_step
    epoch = 0
    t_start = time.time()
    tok_window = 0
    t_window = time.time()
    loss_ema = None
    model.train()
    done = False
    while not done:
        batches = make_batches(ex, args.token_budget, rng)
        for b in batches:
            tf = (time.time() - t_start) / (args.time_budget_min * 60) if args.time_budget_min else 0.0
            lr = lr_at(step, total, args.lr, args.warmup, time_frac=tf)
            if args.resume and step - args.start_step < 50:  # short re-warmup of fresh Adam moments
                lr *= (step - args.start_step + 1) / 50
            for g in opt.param_groups:
                g["lr"] = lr
            body, tb, tt, lab, w, n_real = collate(ex, b, args.call_weight)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                emb = model.emb_weight()  # once per step: input embedding and tied head
                h = model.forward_prefixed(prefix_t, body, tb, tt, emb)
            loss = head_loss(h, lab, w, emb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
            opt.step()
            step += 1
            tok_window += n_real
            li = loss.item()
            loss_ema = li if loss_ema is None else 0.95 * loss_ema + 0.05 * li
            if step % 25 == 0 or step == 1:
                now = time.time()
                log("%d %.4f %.2e %.0f %.0f %d" % (step, loss_ema, lr, tok_window / max(1e-9, now - t_window),
                                                  now - t_start, epoch))
                tok_window, t_window = 0, now
            if step % 500 == 0:
                log("# step %d test_loss(300 test conv) %.4f" % (step, test_loss()))
                if tool_mode and args.heldout_tools:
                    log("# step %d heldout tools (free greedy): %s" % (step, json.dumps(
                        toolset_training.evaluate_tools(model, sp, heldout, args.describe, parse_assistant))))
                save_checkpoint(model, opt, cfg, step, args.train, ckpt_path)
                if args.keep_checkpoints:
                    shutil.copyfile(ckpt_path, kept_checkpoint_path(ckpt_path, step))
            if step >= total or (max_sec and time.time() - t_start > max_sec) or tf >= 1.0:
                done = True
                break
        epoch += 1
    elapsed = time.time() - t_start
    log("# done: %d steps (stopped in epoch %d), %.0f s wall, final loss(ema) %.4f, test_loss %.4f"
        % (step, epoch, elapsed, loss_ema, test_loss()))
    save_checkpoint(model, opt, cfg, step, args.train, ckpt_path)
    if args.smoke:
        return
    if tool_mode:  # train.py's own evaluation knows one tools line: measure both sets this way
        n_test = args.eval_limit or 600
        log("# eval, first %d test conversations (free greedy): %s" % (n_test, json.dumps(
            toolset_training.evaluate_tools(model, sp, test[:n_test], args.describe, parse_assistant))))
        if args.heldout_tools:
            log("# eval, heldout tools (free greedy): %s" % json.dumps(
                toolset_training.evaluate_tools(model, sp, heldout, args.describe, parse_assistant)))
        return
    if not args.no_export:
        import export
        export.export(model, cfg, os.path.join(ROOT, "models", "mobilellm-tiny-api"))
    res = evaluate(model, sp, test, args.eval_limit or None,
                   dump=os.path.join(args.workdir, "eval_failures.json"))
    log("# eval on %d test conversations (greedy): EM_intent %.4f EM_structure %.4f ROUGE-1 %.4f ROUGE-L %.4f"
        % (res["n"], res["EM_intent"], res["EM_structure"], res["ROUGE1"], res["ROUGEL"]))
    log("# per api: " + json.dumps(res["per_api"]))


if __name__ == "__main__":
    main()
