#!/usr/bin/env python3
"""make_fixtures.py — independent PyTorch (float64) reference for the LLaDA architecture.

Writes small random models (safetensors written by hand), a PEFT-layout LoRA adapter, and
reference outputs of `dlmscope logits` for a set of cases:

    /usr/bin/python3 tests/reference/make_fixtures.py tests/fixtures     (what `make fixtures` runs)

Everything is seeded, so reruns are byte-identical. Needs only torch (1.13 is enough) and numpy:
no `safetensors`, `transformers` or `peft` package is used. See tests/fixtures/reference/README.md.

Model semantics (LLaDA-8B, research notes section 1.1):
  x = wte[ids]  (or a soft mixture of embeddings)
  per block:  x += attn_out(Attn(RMSNorm(x) * attn_norm))
              x += ff_out(silu(ff_proj(h)) * up_proj(h)),  h = RMSNorm(x) * ff_norm
  logits = ff_out_head(RMSNorm(x) * ln_f)
  RoPE: NeoX rotate-half over the full head dim, positions 0..L-1, applied to q and k.
  Attention: scale 1/sqrt(hd), bidirectional or block-causal (j//B <= i//B), GQA h -> h//(nh/nkv).

The reference uses the weights exactly as stored (rounded to the stored dtype, then upcast to
float64). Each forward is computed twice, by two independent implementations (batched einsum and
explicit per-head / per-position loops), and the LoRA adapter is checked in merged and unmerged
form; all must agree to 1e-10.
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

DT = torch.float64
MARGIN = 2e-4   # consecutive top-(K+1) probabilities closer than this make the id order fragile
TOP = 5
AGREE = 1e-10

# ---------------------------------------------------------------------------------------------
# safetensors writer
# ---------------------------------------------------------------------------------------------

ST_DTYPES = {
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
}


def round_to(t, st_dtype):
    """Round a float64 tensor to the storage dtype and return it back in float64."""
    return t.to(ST_DTYPES[st_dtype][0]).to(DT)


def tensor_bytes(t, st_dtype):
    tdt, _ = ST_DTYPES[st_dtype]
    x = t.to(tdt).contiguous()
    if tdt == torch.bfloat16:
        arr = x.view(torch.int16).numpy().astype("<i2")
    elif tdt == torch.float16:
        arr = x.numpy().astype("<f2")
    else:
        arr = x.numpy().astype("<f4")
    return arr.tobytes()


def write_safetensors(path, tensors):
    """tensors: list of (name, float64 tensor, dtype string). Returns bytes of tensor data."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for name, t, sd in tensors:
        esz = ST_DTYPES[sd][1]
        pad = (-off) % esz
        if pad:
            blobs.append(b"\0" * pad)
            off += pad
        b = tensor_bytes(t, sd)
        header[name] = {"dtype": sd, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-(8 + len(h))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return off


def read_safetensors(path):
    """Independent reader used to check the writer: returns {name: float64 tensor}."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    assert (8 + n) % 8 == 0
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        esz = ST_DTYPES[info["dtype"]][1]
        assert b % esz == 0
        if info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif info["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        else:  # BF16: the high 16 bits of a float32
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32).astype(np.float64)
        out[name] = torch.from_numpy(arr.copy()).reshape(info["shape"])
    return out


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# random models
# ---------------------------------------------------------------------------------------------

P = "model.transformer."


def make_weights(shape, seed, st_dtype, head_scale):
    """Random LLaDA weights, already rounded to the storage dtype (float64 tensors)."""
    d, nh, nkv, hd, nl, dff, V = (shape[k] for k in ("d", "nh", "nkv", "hd", "nl", "dff", "V"))
    g = torch.Generator().manual_seed(seed)

    def normal(*s, std=1.0):
        return torch.randn(*s, generator=g, dtype=DT) * std

    def norm_w(n):
        return 1.0 + normal(n, std=0.1)

    w = {}
    w[P + "wte.weight"] = normal(V, d)
    for i in range(nl):
        b = P + "blocks.%d." % i
        w[b + "attn_norm.weight"] = norm_w(d)
        w[b + "q_proj.weight"] = normal(nh * hd, d, std=1 / math.sqrt(d))
        w[b + "k_proj.weight"] = normal(nkv * hd, d, std=1 / math.sqrt(d))
        w[b + "v_proj.weight"] = normal(nkv * hd, d, std=1 / math.sqrt(d))
        w[b + "attn_out.weight"] = normal(d, nh * hd, std=1 / math.sqrt(nh * hd))
        w[b + "ff_norm.weight"] = norm_w(d)
        w[b + "ff_proj.weight"] = normal(dff, d, std=1 / math.sqrt(d))
        w[b + "up_proj.weight"] = normal(dff, d, std=1 / math.sqrt(d))
        w[b + "ff_out.weight"] = normal(d, dff, std=1 / math.sqrt(dff))
    w[P + "ln_f.weight"] = norm_w(d)
    w[P + "ff_out.weight"] = normal(V, d, std=head_scale / math.sqrt(d))
    return {k: round_to(v, st_dtype) for k, v in w.items()}


def make_lora(shape, seed, r, alpha, targets):
    """LoRA A [r, in], B [out, r] per target, stored (and so rounded) as F32."""
    d, nh, nkv, hd, nl = (shape[k] for k in ("d", "nh", "nkv", "hd", "nl"))
    outs = {"q_proj": nh * hd, "k_proj": nkv * hd, "v_proj": nkv * hd}
    g = torch.Generator().manual_seed(seed)
    lora = {}
    for i in range(nl):
        for m in targets:
            A = torch.randn(r, d, generator=g, dtype=DT) / math.sqrt(d)
            # PEFT initialises B to zero; a random B makes the adapter actually change the outputs.
            B = torch.randn(outs[m], r, generator=g, dtype=DT) * 0.15
            lora[(i, m)] = (round_to(A, "F32"), round_to(B, "F32"))
    return lora


def merge_lora(w, lora, r, alpha):
    s = alpha / r
    m = dict(w)
    for (i, mod), (A, B) in lora.items():
        name = P + "blocks.%d.%s.weight" % (i, mod)
        m[name] = w[name] + s * (B @ A)
    return m


# ---------------------------------------------------------------------------------------------
# forward pass A: batched einsum
# ---------------------------------------------------------------------------------------------


def embed_a(w, ids, soft):
    wte = w[P + "wte.weight"]
    x = wte[torch.tensor(ids)].clone()
    for pos, pairs in soft.items():
        pid = torch.tensor([p[0] for p in pairs])
        pw = torch.tensor([float(np.float32(p[1])) for p in pairs], dtype=DT).clamp_min(0)
        pw = pw / pw.sum().clamp_min(1e-12)
        x[pos] = (pw[:, None] * wte[pid]).sum(0)
    return x


def rms_a(x, weight, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def rope_a(x, theta):
    # x: [heads, L, hd]
    L, hd = x.shape[1], x.shape[2]
    inv_freq = theta ** (-torch.arange(0, hd, 2, dtype=DT) / hd)
    freqs = torch.outer(torch.arange(L, dtype=DT), inv_freq)
    emb = torch.cat([freqs, freqs], -1)
    x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
    return x * emb.cos() + torch.cat([-x2, x1], -1) * emb.sin()


def forward_a(w, cfg, ids, block=0, soft=None):
    d, nh, nkv, hd, nl = (cfg[k] for k in ("d", "nh", "nkv", "hd", "nl"))
    eps, theta = cfg["eps"], cfg["theta"]
    L = len(ids)
    x = embed_a(w, ids, soft or {})
    pos = torch.arange(L)
    if block:
        allowed = (pos[None, :] // block) <= (pos[:, None] // block)
    else:
        allowed = torch.ones(L, L, dtype=torch.bool)
    for i in range(nl):
        b = P + "blocks.%d." % i
        h = rms_a(x, w[b + "attn_norm.weight"], eps)
        q = (h @ w[b + "q_proj.weight"].T).view(L, nh, hd).transpose(0, 1)
        k = (h @ w[b + "k_proj.weight"].T).view(L, nkv, hd).transpose(0, 1)
        v = (h @ w[b + "v_proj.weight"].T).view(L, nkv, hd).transpose(0, 1)
        q, k = rope_a(q, theta), rope_a(k, theta)
        rep = nh // nkv
        k = k.repeat_interleave(rep, 0)
        v = v.repeat_interleave(rep, 0)
        s = torch.einsum("hid,hjd->hij", q, k) / math.sqrt(hd)
        s = s.masked_fill(~allowed, float("-inf"))
        a = torch.softmax(s, -1)
        o = torch.einsum("hij,hjd->hid", a, v).transpose(0, 1).reshape(L, nh * hd)
        x = x + o @ w[b + "attn_out.weight"].T
        h = rms_a(x, w[b + "ff_norm.weight"], eps)
        gate = h @ w[b + "ff_proj.weight"].T
        up = h @ w[b + "up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[b + "ff_out.weight"].T
    x = rms_a(x, w[P + "ln_f.weight"], eps)
    return x @ w[P + "ff_out.weight"].T


# ---------------------------------------------------------------------------------------------
# forward pass B: explicit loops, complex-number RoPE, unmerged LoRA
# ---------------------------------------------------------------------------------------------


def forward_b(w, cfg, ids, block=0, soft=None, lora=None, lora_scale=0.0):
    d, nh, nkv, hd, nl = (cfg[k] for k in ("d", "nh", "nkv", "hd", "nl"))
    eps, theta = cfg["eps"], cfg["theta"]
    L = len(ids)
    soft = soft or {}
    wte = w[P + "wte.weight"]
    rows = []
    for p in range(L):
        if p in soft:
            ws = [max(float(np.float32(wt)), 0.0) for _, wt in soft[p]]
            tot = max(sum(ws), 1e-12)
            e = torch.zeros(d, dtype=DT)
            for (tid, _), wt in zip(soft[p], ws):
                e = e + (wt / tot) * wte[tid]
            rows.append(e)
        else:
            rows.append(wte[ids[p]].clone())
    x = torch.stack(rows)

    def rms(v, weight):
        out = torch.empty_like(v)
        for p in range(v.shape[0]):
            ms = float((v[p] ** 2).sum()) / v.shape[1]
            out[p] = v[p] / math.sqrt(ms + eps) * weight
        return out

    def lin(v, i, mod):
        W = w[P + "blocks.%d.%s.weight" % (i, mod)]
        y = v @ W.T
        if lora is not None and (i, mod) in lora:
            A, B = lora[(i, mod)]
            y = y + lora_scale * ((v @ A.T) @ B.T)
        return y

    half = hd // 2
    # rotation of pairs (j, j + hd/2) by angle p * theta^(-2j/hd): complex multiply
    ang = [[p * theta ** (-(2.0 * j) / hd) for j in range(half)] for p in range(L)]
    rot = torch.tensor([[complex(math.cos(a), math.sin(a)) for a in row] for row in ang], dtype=torch.complex128)

    def rope(vec, p):
        z = torch.complex(vec[:half], vec[half:]) * rot[p]
        return torch.cat([z.real, z.imag])

    for i in range(nl):
        h = rms(x, w[P + "blocks.%d.attn_norm.weight" % i])
        q, k, v = lin(h, i, "q_proj"), lin(h, i, "k_proj"), lin(h, i, "v_proj")
        o = torch.zeros(L, nh * hd, dtype=DT)
        group = nh // nkv
        for hh in range(nh):
            kvh = hh // group
            qs = torch.stack([rope(q[p, hh * hd:(hh + 1) * hd], p) for p in range(L)])
            ks = torch.stack([rope(k[p, kvh * hd:(kvh + 1) * hd], p) for p in range(L)])
            vs = v[:, kvh * hd:(kvh + 1) * hd]
            for qi in range(L):
                keys = [j for j in range(L) if not block or j // block <= qi // block]
                sc = torch.tensor([float(qs[qi] @ ks[j]) / math.sqrt(hd) for j in keys], dtype=DT)
                sc = torch.exp(sc - sc.max())
                sc = sc / sc.sum()
                acc = torch.zeros(hd, dtype=DT)
                for wt, j in zip(sc, keys):
                    acc = acc + wt * vs[j]
                o[qi, hh * hd:(hh + 1) * hd] = acc
        x = x + lin(o, i, "attn_out")
        h = rms(x, w[P + "blocks.%d.ff_norm.weight" % i])
        gate = lin(h, i, "ff_proj")
        up = lin(h, i, "up_proj")
        x = x + lin(gate / (1 + torch.exp(-gate)) * up, i, "ff_out")
    x = rms(x, w[P + "ln_f.weight"])
    return x @ w[P + "ff_out.weight"].T


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------


def topk_rows(logits, k):
    probs = torch.softmax(logits, -1)
    rows = []
    for p in range(probs.shape[0]):
        pr = probs[p].tolist()
        order = sorted(range(len(pr)), key=lambda t: (-pr[t], t))
        rows.append([(t, pr[t]) for t in order[:k + 1]])
    return rows


def close_margins(rows, k):
    """(position, rank, gap) for consecutive top-(k+1) probabilities closer than MARGIN."""
    out = []
    for p, r in enumerate(rows):
        for j in range(k):
            gap = r[j][1] - r[j + 1][1]
            if gap < MARGIN:
                out.append((p, j, gap))
    return out


def format_rows(rows, k):
    return "".join("%d %s\n" % (p, " ".join("%d:%.8f" % (t, pr) for t, pr in r[:k])) for p, r in enumerate(rows))


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

MODELS = {
    # name: shape, storage dtype, seed, config style, LM head scale, shards
    "mha-bf16": dict(shape=dict(d=64, nh=4, nkv=4, hd=16, nl=2, dff=160, V=384),
                     dtype="BF16", seed=1001, style="llada", theta=500000.0, eps=1e-5, head=4.0, shards=2),
    "gqa-f32": dict(shape=dict(d=64, nh=8, nkv=2, hd=8, nl=2, dff=160, V=320),
                    dtype="F32", seed=2002, style="llama", theta=10000.0, eps=1e-5, head=4.0, shards=1),
    "gqa-f16": dict(shape=dict(d=96, nh=6, nkv=3, hd=16, nl=3, dff=128, V=256),
                    dtype="F16", seed=3003, style="llama", theta=10000.0, eps=1e-6, head=4.0, shards=1),
}

ADAPTER = dict(name="mha-bf16-lora", model="mha-bf16", r=8, alpha=16, seed=4004,
               targets=["q_proj", "k_proj", "v_proj"])

# name: model, adapter?, length, block size, soft spec (positions, pairs per position, or None), seed
CASES = [
    dict(name="mha-bf16-bidir", model="mha-bf16", adapter=False, L=23, block=0, soft=None, seed=11),
    dict(name="mha-bf16-block4", model="mha-bf16", adapter=False, L=18, block=4, soft=None, seed=12),
    dict(name="mha-bf16-lora-bidir", model="mha-bf16", adapter=True, L=20, block=0, soft=None, seed=13),
    dict(name="mha-bf16-lora-block4", model="mha-bf16", adapter=True, L=30, block=4, soft=None, seed=14),
    dict(name="gqa-f32-bidir", model="gqa-f32", adapter=False, L=16, block=0, soft=None, seed=15),
    dict(name="gqa-f32-block8", model="gqa-f32", adapter=False, L=37, block=8, soft=None, seed=16),
    dict(name="gqa-f16-bidir", model="gqa-f16", adapter=False, L=40, block=0, soft=None, seed=17),
    dict(name="gqa-f16-block3", model="gqa-f16", adapter=False, L=13, block=3, soft=None, seed=18),
    dict(name="mha-bf16-soft", model="mha-bf16", adapter=False, L=14, block=0,
         soft=dict(n_pos=4, pairs=[2, 3, 4, 3], negative=True), seed=19),
    dict(name="gqa-f32-soft", model="gqa-f32", adapter=False, L=25, block=0,
         soft=dict(n_pos=3, pairs=[4, 2, 3], negative=False), seed=20),
]

# Weights exactly representable in float32 (and short in decimal), so the C parser reads them exactly.
SOFT_WEIGHTS = [0.5, 0.25, 0.75, 0.125, 0.375, 1.0, 1.5, 2.0, 0.625, 0.0625]


def config_json(spec):
    s = spec["shape"]
    if spec["style"] == "llada":
        return {
            "model_type": "llada",
            "d_model": s["d"], "n_heads": s["nh"], "n_kv_heads": s["nkv"], "n_layers": s["nl"],
            "mlp_hidden_size": s["dff"], "vocab_size": s["V"], "embedding_size": s["V"],
            "rope": True, "rope_theta": spec["theta"], "rms_norm_eps": spec["eps"],
            "max_sequence_length": 256, "mask_token_id": s["V"] - 1, "eos_token_id": s["V"] - 2,
            "pad_token_id": s["V"] - 2, "weight_tying": False, "include_bias": False,
            "activation_type": "silu", "block_type": "llama", "layer_norm_type": "rms",
        }
    return {
        "model_type": "llada", "architectures": ["LLaDAModelLM"],  # LLaDA names with Llama-style keys
        "hidden_size": s["d"], "num_attention_heads": s["nh"], "num_key_value_heads": s["nkv"],
        "num_hidden_layers": s["nl"], "intermediate_size": s["dff"], "vocab_size": s["V"],
        "rope_theta": spec["theta"], "rms_norm_eps": spec["eps"], "max_position_embeddings": 256,
        "tie_word_embeddings": False, "hidden_act": "silu", "attention_bias": False,
        "bos_token_id": 1, "eos_token_id": 2, "mask_token_id": s["V"] - 1,
    }


def tensor_order(shape):
    names = [P + "wte.weight"]
    for i in range(shape["nl"]):
        b = P + "blocks.%d." % i
        names += [b + m + ".weight" for m in ("attn_norm", "q_proj", "k_proj", "v_proj", "attn_out",
                                                 "ff_norm", "ff_proj", "up_proj", "ff_out")]
    return names + [P + "ln_f.weight", P + "ff_out.weight"]


def write_model(root, name, spec, w):
    d = os.path.join(root, "models", name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    write_json(os.path.join(d, "config.json"), config_json(spec))
    names = tensor_order(spec["shape"])
    assert sorted(names) == sorted(w)
    if spec["shards"] == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), [(n, w[n], spec["dtype"]) for n in names])
        files = ["model.safetensors"]
    else:
        ns = spec["shards"]
        cut = [len(names) * k // ns for k in range(ns + 1)]
        weight_map, total = {}, 0
        files = []
        for k in range(ns):
            fn = "model-%05d-of-%05d.safetensors" % (k + 1, ns)
            part = names[cut[k]:cut[k + 1]]
            total += write_safetensors(os.path.join(d, fn), [(n, w[n], spec["dtype"]) for n in part])
            for n in part:
                weight_map[n] = fn
            files.append(fn)
        write_json(os.path.join(d, "model.safetensors.index.json"),
                   {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    # read back with the independent reader and compare bit for bit
    back = {}
    for fn in files:
        back.update(read_safetensors(os.path.join(d, fn)))
    assert sorted(back) == sorted(w)
    for n in names:
        assert torch.equal(back[n], w[n]), n


def write_adapter(root, spec, lora):
    d = os.path.join(root, "adapters", spec["name"])
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    write_json(os.path.join(d, "adapter_config.json"), {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "tests/fixtures/models/" + spec["model"],
        "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
        "layers_pattern": None, "layers_to_transform": None, "lora_alpha": spec["alpha"], "lora_dropout": 0.0,
        "modules_to_save": None, "peft_type": "LORA", "r": spec["r"], "rank_pattern": {}, "revision": None,
        "target_modules": spec["targets"], "task_type": "CAUSAL_LM", "use_rslora": False,
    })
    tensors = []
    for (i, m), (A, B) in sorted(lora.items()):
        pre = "base_model.model.model.transformer.blocks.%d.%s." % (i, m)
        tensors.append((pre + "lora_A.weight", A, "F32"))
        tensors.append((pre + "lora_B.weight", B, "F32"))
    write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors)
    back = read_safetensors(os.path.join(d, "adapter_model.safetensors"))
    for n, t, _ in tensors:
        assert torch.equal(back[n], t), n


def make_inputs(case, V, attempt):
    g = torch.Generator().manual_seed(case["seed"] * 1000 + attempt)
    L = case["L"]
    ids = torch.randint(0, V - 2, (L,), generator=g).tolist()  # avoid the mask / eos ids
    soft = {}
    if case["soft"]:
        sp = case["soft"]
        positions = sorted(torch.randperm(L, generator=g)[:sp["n_pos"]].tolist())
        for n, p in enumerate(positions):
            k = sp["pairs"][n]
            tids = torch.randperm(V - 2, generator=g)[:k].tolist()
            wts = [SOFT_WEIGHTS[int(j)] for j in torch.randint(0, len(SOFT_WEIGHTS), (k,), generator=g)]
            if sp["negative"] and n == 1:
                wts[-1] = -0.5  # clamped to 0: this token must not contribute
            soft[p] = list(zip(tids, wts))
    return ids, soft


def soft_arg(soft):
    return ";".join("%d:%s" % (p, ",".join("%d=%g" % (t, w) for t, w in pairs)) for p, pairs in sorted(soft.items()))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py OUT_DIR   (e.g. tests/fixtures)")
    root = sys.argv[1]
    rel_root = os.path.relpath(os.path.abspath(root), os.getcwd())
    models = {}
    for name, spec in MODELS.items():
        s = spec["shape"]
        assert s["d"] == s["nh"] * s["hd"] and s["nh"] % s["nkv"] == 0
        w = make_weights(s, spec["seed"], spec["dtype"], spec["head"])
        write_model(root, name, spec, w)
        cfg = dict(s, eps=float(np.float32(spec["eps"])), theta=spec["theta"])
        models[name] = (spec, w, cfg)
        print("model %-9s d=%d heads=%d kv=%d hd=%d layers=%d ff=%d vocab=%d %s" %
              (name, s["d"], s["nh"], s["nkv"], s["hd"], s["nl"], s["dff"], s["V"], spec["dtype"]))

    aspec = ADAPTER
    lora = make_lora(models[aspec["model"]][0]["shape"], aspec["seed"], aspec["r"], aspec["alpha"], aspec["targets"])
    write_adapter(root, aspec, lora)
    lora_scale = aspec["alpha"] / aspec["r"]
    merged = merge_lora(models[aspec["model"]][1], lora, aspec["r"], aspec["alpha"])

    refdir = os.path.join(root, "reference")
    os.makedirs(refdir, exist_ok=True)
    for f in os.listdir(refdir):
        if f.endswith(".args") or f.endswith(".expected"):
            os.remove(os.path.join(refdir, f))
    warnings = 0
    for case in CASES:
        spec, w, cfg = models[case["model"]]
        V = cfg["V"]
        best = None
        for attempt in range(200):
            ids, soft = make_inputs(case, V, attempt)
            wa = merged if case["adapter"] else w
            logits = forward_a(wa, cfg, ids, case["block"], soft)
            rows = topk_rows(logits, TOP)
            close = close_margins(rows, TOP)
            if best is None or len(close) < len(best[4]):
                best = (ids, soft, logits, rows, close)
            if not close:
                break
        ids, soft, logits, rows, close = best
        # second, independent implementation (unmerged LoRA when the adapter is on)
        lb = forward_b(w, cfg, ids, case["block"], soft, lora if case["adapter"] else None, lora_scale)
        diff = float((logits - lb).abs().max())
        assert diff < AGREE, "%s: forward A and B differ by %g" % (case["name"], diff)
        if case["adapter"]:
            lb2 = forward_b(merged, cfg, ids, case["block"], soft)
            assert float((lb - lb2).abs().max()) < AGREE, case["name"] + ": merged vs unmerged LoRA"
            base = forward_a(w, cfg, ids, case["block"], soft)
            change = float((torch.softmax(base, -1) - torch.softmax(logits, -1)).abs().max())
            assert change > 1e-2, case["name"] + ": the adapter barely changes the output"
        if case["block"]:
            bid = forward_a(merged if case["adapter"] else w, cfg, ids, 0, soft)
            assert float((bid - logits).abs().max()) > 1e-3, case["name"] + ": block mask has no effect"
        if soft:
            hard = forward_a(w, cfg, ids, case["block"], None)
            assert float((hard - logits).abs().max()) > 1e-3, case["name"] + ": soft inputs have no effect"
        if close:
            warnings += 1
            print("WARNING %s: close top-%d margins (pos, rank, gap): %s" %
                  (case["name"], TOP, ", ".join("(%d, %d, %.2e)" % c for c in close)))
        args = "--model %s --ids \"%s\" --top %d" % (os.path.join(rel_root, "models", case["model"]),
                                                     " ".join(map(str, ids)), TOP)
        if case["adapter"]:
            args += " --adapter %s" % os.path.join(rel_root, "adapters", aspec["name"])
        if case["block"]:
            args += " --block-causal %d" % case["block"]
        if soft:
            args += " --soft \"%s\"" % soft_arg(soft)
        with open(os.path.join(refdir, case["name"] + ".args"), "w") as f:
            f.write(args + "\n")
        with open(os.path.join(refdir, case["name"] + ".expected"), "w") as f:
            f.write(format_rows(rows, TOP))
        top1 = [r[0][1] for r in rows]
        minmargin = min(r[j][1] - r[j + 1][1] for r in rows for j in range(TOP))
        print("case %-21s L=%2d block=%d soft=%d  A-vs-B %.1e  top1 p in [%.2f, %.2f] median %.2f  min margin %.1e" %
              (case["name"], len(ids), case["block"], len(soft), diff, min(top1), max(top1),
               sorted(top1)[len(top1) // 2], minmargin))
    print("done: %d case(s) with close margins" % warnings)


if __name__ == "__main__":
    main()
