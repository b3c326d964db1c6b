#!/usr/bin/env python3
"""families_reference.py — independent float64 PyTorch references for the model families beyond LLaDA.

    /usr/bin/python3 tests/reference/families_reference.py tests/fixtures      (`make fixtures` runs it)

Writes small random checkpoints in each family's real layout (Hugging Face tensor names, the
config.json keys the released checkpoints carry) under tests/fixtures/models/, and the expected
`dlmscope logits` output of each case under tests/fixtures/families/ (same format as
tests/fixtures/reference/, compared by tests/cli/test_logits_reference.sh).

The forward passes below are transcribed from the official modeling code, not from dlmscope's C:
  - Dream (Dream-org/Dream-v0-Instruct-7B modeling_dream.py, its copy in ZHZisZZ/dllm):
    DreamAttention has q/k/v_proj with bias=True and o_proj without; head_dim = hidden_size //
    num_heads; RoPE is Llama's rotate_half with inv_freq = 1 / theta^(arange(0, hd, 2) / hd);
    is_causal = False and the sampler passes no mask ("full"); DreamRMSNorm computes in fp32;
    the MLP is down(silu(gate(x)) * up(x)). The samplers shift the logits:
    logits = cat([logits[:, :1], logits[:, :-1]], 1) (generation_utils.py), which is what
    dlmscope reports per position.
  - Qwen2 A2D (transformers Qwen2Attention: q/k/v bias=True, o bias=False) with dLLM's
    bidirectional padding-only mask (A2DQwen2Model), tied embeddings as Qwen2.5-0.5B.
  - Qwen3 A2D (transformers Qwen3Attention): q = q_norm(q_proj(x).view(.., hd)), k likewise,
    Qwen3RMSNorm over head_dim with eps = rms_norm_eps, then RoPE; attention_bias False;
    head_dim from config; bidirectional (A2DQwen3Model); tie_word_embeddings True (Qwen3-0.6B).
  - SDAR (modeling_sdar.py: the Qwen3 layer) with the block-diffusion mask of generate.py:
    position i attends to j iff j // block_size <= i // block_size, blocks counted from 0.
  - Fast-dLLM v2 (Efficient-Large-Model/Fast_dLLM_v2_7B modeling.py; copies in
    Satgoy152/DualDiffusion and others): Fast_dLLM_QwenAttention is Qwen2's (q/k/v bias=True,
    o_proj bias=False, head_dim = getattr(config, "head_dim", hidden // heads), rotate_half RoPE,
    SDPA with is_causal=False); at inference the mask is eval_block_diff_mask: q_block >= kv_block
    with q_idx offset by the cached length, i.e. blocks over absolute positions; config.json's
    bd_size (32 in both releases) is generate()'s block_size. generate() shifts the logits of the
    forwarded block (cat([logits[:, :1], logits[:, :-1]])), and the first token of each block is
    argmax(logits[:, -1]) of the forward that wrote the previous block to the cache: both are row
    i-1 for position i, which is what dlmscope reports. The 1.5B ties its head (tie_word_embeddings
    true), the 7B does not; both cases are covered.
Weights are rounded to the storage dtype, then used in float64. Every case also checks that the
family's switch matters (bias, QK-norm, shift, block mask), so a backend ignoring it would fail.
"""

import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import (DT, MARGIN, TOP, close_margins, format_rows, read_safetensors, round_to,  # noqa: E402
                           topk_rows, write_json, write_safetensors)

torch.set_default_dtype(torch.float64)

FAMILIES = {
    # name: architectures, model_type, q/k/v bias, QK-norm, shift, block size (0: bidirectional),
    #       shape, tied, storage dtype, seed
    "dream-f32": dict(arch="DreamModel", mtype="Dream", bias=True, qknorm=False, shift=True, block=0,
                      shape=dict(d=64, nh=4, nkv=2, hd=16, nl=2, dff=128, V=320), tied=False, dtype="F32",
                      seed=5005),
    "dream-bf16": dict(arch="DreamModel", mtype="Dream", bias=True, qknorm=False, shift=True, block=0,
                       shape=dict(d=96, nh=6, nkv=2, hd=16, nl=2, dff=160, V=256), tied=False, dtype="BF16",
                       seed=5006),
    "a2d-qwen2-f32": dict(arch="A2DQwen2LMHeadModel", mtype="a2d-qwen2", bias=True, qknorm=False, shift=False,
                          block=0, shape=dict(d=64, nh=4, nkv=1, hd=16, nl=2, dff=96, V=300), tied=True,
                          dtype="F32", seed=6006),
    "a2d-qwen3-f32": dict(arch="A2DQwen3LMHeadModel", mtype="a2d-qwen3", bias=False, qknorm=True, shift=False,
                          block=0, shape=dict(d=64, nh=4, nkv=2, hd=32, nl=2, dff=128, V=320), tied=True,
                          dtype="F32", seed=7007),
    "sdar-f32": dict(arch="SDARForCausalLM", mtype="sdar", bias=False, qknorm=True, shift=False, block=4,
                     shape=dict(d=64, nh=4, nkv=2, hd=32, nl=2, dff=128, V=320), tied=False, dtype="F32",
                     seed=8008),
    "sdar-bf16": dict(arch="SDARForCausalLM", mtype="sdar", bias=False, qknorm=True, shift=False, block=8,
                      shape=dict(d=96, nh=6, nkv=3, hd=16, nl=3, dff=128, V=256), tied=False, dtype="BF16",
                      seed=8009),
    "fast-dllm-v2-f32": dict(arch="Fast_dLLM_QwenForCausalLM", mtype="Fast_dLLM_Qwen", bias=True, qknorm=False,
                             shift=True, block=8, shape=dict(d=64, nh=4, nkv=2, hd=16, nl=2, dff=128, V=320), tied=True,
                             dtype="F32", seed=9009),
    "fast-dllm-v2-bf16": dict(arch="Fast_dLLM_QwenForCausalLM", mtype="Fast_dLLM_Qwen", bias=True, qknorm=False,
                              shift=True, block=16, shape=dict(d=96, nh=6, nkv=2, hd=16, nl=3, dff=160, V=256),
                              tied=False, dtype="BF16", seed=9010),
}

CASES = [
    dict(name="dream-f32-shift", model="dream-f32", L=21, seed=31),
    dict(name="dream-bf16-shift", model="dream-bf16", L=30, seed=32),
    dict(name="a2d-qwen2-f32-tied-bias", model="a2d-qwen2-f32", L=19, seed=33),
    dict(name="a2d-qwen3-f32-qknorm", model="a2d-qwen3-f32", L=24, seed=34),
    dict(name="sdar-f32-block4", model="sdar-f32", L=22, seed=35),
    dict(name="sdar-bf16-block8", model="sdar-bf16", L=29, seed=36),
    dict(name="fast-dllm-v2-f32-block8-tied", model="fast-dllm-v2-f32", L=27, seed=37),
    dict(name="fast-dllm-v2-bf16-block16", model="fast-dllm-v2-bf16", L=40, seed=38),
]

EPS = 1e-6
THETA = 1000000.0


def names(i):
    b = "model.layers.%d." % i
    return dict(ln1=b + "input_layernorm.weight", q=b + "self_attn.q_proj.weight", k=b + "self_attn.k_proj.weight",
                v=b + "self_attn.v_proj.weight", o=b + "self_attn.o_proj.weight", bq=b + "self_attn.q_proj.bias",
                bk=b + "self_attn.k_proj.bias", bv=b + "self_attn.v_proj.bias", qn=b + "self_attn.q_norm.weight",
                kn=b + "self_attn.k_norm.weight", ln2=b + "post_attention_layernorm.weight",
                gate=b + "mlp.gate_proj.weight", up=b + "mlp.up_proj.weight", down=b + "mlp.down_proj.weight")


def make_weights(spec):
    s = spec["shape"]
    d, nh, nkv, hd, nl, dff, V = (s[k] for k in ("d", "nh", "nkv", "hd", "nl", "dff", "V"))
    g = torch.Generator().manual_seed(spec["seed"])

    def normal(*shape, std=1.0):
        return torch.randn(*shape, generator=g, dtype=DT) * std

    w = {"model.embed_tokens.weight": normal(V, d)}
    for i in range(nl):
        n = names(i)
        w[n["ln1"]] = 1.0 + normal(d, std=0.1)
        w[n["q"]] = normal(nh * hd, d, std=1 / math.sqrt(d))
        w[n["k"]] = normal(nkv * hd, d, std=1 / math.sqrt(d))
        w[n["v"]] = normal(nkv * hd, d, std=1 / math.sqrt(d))
        if spec["bias"]:  # Qwen2's biases are large in the released models (k especially)
            w[n["bq"]] = normal(nh * hd, std=0.5)
            w[n["bk"]] = normal(nkv * hd, std=1.0)
            w[n["bv"]] = normal(nkv * hd, std=0.3)
        if spec["qknorm"]:
            w[n["qn"]] = 1.0 + normal(hd, std=0.3)
            w[n["kn"]] = 1.0 + normal(hd, std=0.3)
        w[n["o"]] = normal(d, nh * hd, std=1 / math.sqrt(nh * hd))
        w[n["ln2"]] = 1.0 + normal(d, std=0.1)
        w[n["gate"]] = normal(dff, d, std=1 / math.sqrt(d))
        w[n["up"]] = normal(dff, d, std=1 / math.sqrt(d))
        w[n["down"]] = normal(d, dff, std=1 / math.sqrt(dff))
    w["model.norm.weight"] = 1.0 + normal(d, std=0.1)
    if spec["tied"]:
        # a tied model's logits come from the embedding; give it the head's scale there
        w["model.embed_tokens.weight"] = w["model.embed_tokens.weight"] * (4.0 / math.sqrt(d))
    else:
        w["lm_head.weight"] = normal(V, d, std=4.0 / math.sqrt(d))
    return {k: round_to(v, spec["dtype"]) for k, v in w.items()}


def config_json(spec):
    s = spec["shape"]
    c = {
        "architectures": [spec["arch"]], "model_type": spec["mtype"],
        "hidden_size": s["d"], "intermediate_size": s["dff"], "num_hidden_layers": s["nl"],
        "num_attention_heads": s["nh"], "num_key_value_heads": s["nkv"], "vocab_size": s["V"],
        "max_position_embeddings": 256, "rms_norm_eps": EPS, "rope_theta": THETA, "rope_scaling": None,
        "hidden_act": "silu", "tie_word_embeddings": spec["tied"], "use_sliding_window": False,
        "sliding_window": None, "attention_dropout": 0.0, "torch_dtype": "bfloat16",
        "bos_token_id": s["V"] - 3, "eos_token_id": s["V"] - 2, "pad_token_id": s["V"] - 2,
        "mask_token_id": s["V"] - 1,
    }
    if spec["mtype"] == "Dream":
        c["max_window_layers"] = s["nl"]
    elif spec["mtype"] == "Fast_dLLM_Qwen":
        # Fast_dLLM_v2_1.5B's keys: no head_dim (hidden // heads), bd_size, Qwen2's per-layer types
        assert s["hd"] * s["nh"] == s["d"]
        c.update(bd_size=spec["block"], max_window_layers=s["nl"], layer_types=["full_attention"] * s["nl"],
                 initializer_range=0.02, use_cache=True)
    else:
        c["head_dim"] = s["hd"]
    if spec["qknorm"]:
        c["attention_bias"] = False
    if spec["block"] and spec["mtype"] != "Fast_dLLM_Qwen":
        c["block_size"] = spec["block"]
    return c


def rms(x, weight):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def rotate_half(x):
    x1, x2 = x[..., :x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def forward(spec, w, ids, shift=None, bias=None, qknorm=None, block=None):
    """Logits per position as the family's decoder reads them. The keyword overrides switch one
    feature off to check it matters."""
    s = spec["shape"]
    nh, nkv, hd, nl = s["nh"], s["nkv"], s["hd"], s["nl"]
    shift = spec["shift"] if shift is None else shift
    bias = spec["bias"] if bias is None else bias
    qknorm = spec["qknorm"] if qknorm is None else qknorm
    block = spec["block"] if block is None else block
    L = len(ids)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    pos = torch.arange(L, dtype=DT)
    inv_freq = 1.0 / (THETA ** (torch.arange(0, hd, 2, dtype=DT) / hd))
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    p = torch.arange(L)
    allowed = (p[None, :] // block <= p[:, None] // block) if block else torch.ones(L, L, dtype=torch.bool)
    for i in range(nl):
        n = names(i)
        h = rms(x, w[n["ln1"]])
        q, k, v = h @ w[n["q"]].T, h @ w[n["k"]].T, h @ w[n["v"]].T
        if bias:
            q, k, v = q + w[n["bq"]], k + w[n["bk"]], v + w[n["bv"]]
        q = q.view(L, nh, hd)
        k = k.view(L, nkv, hd)
        if qknorm:
            q, k = rms(q, w[n["qn"]]), rms(k, w[n["kn"]])
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.view(L, nkv, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, 0)
        v = v.repeat_interleave(nh // nkv, 0)
        scores = (q @ k.transpose(1, 2)) * hd ** -0.5
        scores = scores.masked_fill(~allowed, float("-inf"))
        o = torch.softmax(scores, -1) @ v
        x = x + o.transpose(0, 1).reshape(L, nh * hd) @ w[n["o"]].T
        h = rms(x, w[n["ln2"]])
        x = x + (torch.nn.functional.silu(h @ w[n["gate"]].T) * (h @ w[n["up"]].T)) @ w[n["down"]].T
    x = rms(x, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if spec["tied"] else w["lm_head.weight"]
    logits = x @ head.T
    if shift:
        logits = torch.cat([logits[:1], logits[:-1]], 0)
    return logits


def write_model(root, name, spec, w):
    d = os.path.join(root, "models", name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    write_json(os.path.join(d, "config.json"), config_json(spec))
    order = ["model.embed_tokens.weight"] + sorted(k for k in w if k.startswith("model.layers.")) + \
        ["model.norm.weight"] + (["lm_head.weight"] if "lm_head.weight" in w else [])
    assert sorted(order) == sorted(w)
    path = os.path.join(d, "model.safetensors")
    write_safetensors(path, [(n, w[n], spec["dtype"]) for n in order])
    back = read_safetensors(path)
    for n in order:
        assert torch.equal(back[n], w[n]), n


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: families_reference.py OUT_DIR   (e.g. tests/fixtures)")
    root = sys.argv[1]
    rel_root = os.path.relpath(os.path.abspath(root), os.getcwd())
    weights = {}
    for name, spec in FAMILIES.items():
        weights[name] = make_weights(spec)
        write_model(root, name, spec, weights[name])
    outdir = os.path.join(root, "families")
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        if f.endswith(".args") or f.endswith(".expected"):
            os.remove(os.path.join(outdir, f))
    for case in CASES:
        spec, w = FAMILIES[case["model"]], weights[case["model"]]
        V = spec["shape"]["V"]
        best = None
        for attempt in range(200):
            g = torch.Generator().manual_seed(case["seed"] * 1000 + attempt)
            ids = torch.randint(0, V - 3, (case["L"],), generator=g).tolist()
            logits = forward(spec, w, ids)
            rows = topk_rows(logits, TOP)
            close = close_margins(rows, TOP)
            if best is None or len(close) < len(best[3]):
                best = (ids, logits, rows, close)
            if not close:
                break
        ids, logits, rows, close = best
        # each switch of the family must change the answer, or the case could not catch its absence
        probs = torch.softmax(logits, -1)
        for switch in ("shift", "bias", "qknorm", "block"):
            if not spec[switch]:
                continue
            off = torch.softmax(forward(spec, w, ids, **{switch: 0 if switch == "block" else False}), -1)
            change = float((off - probs).abs().max())
            assert change > 1e-2, "%s: switching %s off barely changes the output (%g)" % (case["name"], switch, change)
        if close:
            print("WARNING %s: close top-%d margins: %s" % (case["name"], TOP, close))
        args = "--model %s --ids \"%s\" --top %d" % (os.path.join(rel_root, "models", case["model"]),
                                                     " ".join(map(str, ids)), TOP)
        with open(os.path.join(outdir, case["name"] + ".args"), "w") as f:
            f.write(args + "\n")
        with open(os.path.join(outdir, case["name"] + ".expected"), "w") as f:
            f.write(format_rows(rows, TOP))
        top1 = [r[0][1] for r in rows]
        print("case %-26s L=%2d  top1 p in [%.2f, %.2f]  min margin %.1e" %
              (case["name"], len(ids), min(top1), max(top1), min(r[j][1] - r[j + 1][1] for r in rows for j in range(TOP))))


if __name__ == "__main__":
    main()
