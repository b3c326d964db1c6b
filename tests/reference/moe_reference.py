#!/usr/bin/env python3
"""moe_reference.py — independent float64 PyTorch references for the mixture-of-experts families.

    /usr/bin/python3 tests/reference/moe_reference.py tests/fixtures      (`make fixtures` runs it)

Writes small random checkpoints in the real tensor layout and config keys of LLaDA2.x and
LLaDA-MoE under tests/fixtures/models/, and per case under tests/fixtures/moe/: the arguments of
`dlmscope logits` (.args), its expected top-K output (.expected, compared with a tolerance by
tests/cli/test_logits_reference.sh) and the experts every position is routed to in every MoE layer
(.experts, compared exactly with `dlmscope logits --experts`).

The forward passes are transcribed from the official modeling code, not from dlmscope's C:
  - LLaDA2.x (inclusionAI/LLaDA2.1-mini modeling_llada2_moe.py, vendored unmodified in
    synsis/remasked_DLM remask/): LLaDA2MoeAttention splits the fused query_key_value output as
    [num_heads, num_kv_heads, num_kv_heads] heads of head_dim, applies query_layernorm /
    key_layernorm (RMSNorm over head_dim) before RoPE, rotates only the first
    rotary_dim = head_dim * partial_rotary_factor dims (inv_freq built over rotary_dim), scales by
    head_dim^-0.5; attention.dense has no bias (use_bias false). The generators pass the
    block-causal mask j // B <= i // B. Layers below first_k_dense_replace have the dense
    LLaDA2MoeMLP; the others LLaDA2MoeSparseMoeBlock: LLaDA2MoeGate computes fp32 logits,
    s = sigmoid, selection on s + expert_bias, group_limited_topk (group score = sum of the top-2
    of each of n_group groups, keep topk_group groups, top-k inside them), weights are the
    unbiased s of the chosen divided by their sum (+1e-20) times routed_scaling_factor; the
    shared expert (width moe_intermediate_size * num_shared_experts) is added.
  - LLaDA-MoE (inclusionAI/LLaDA-MoE-7B-A1B-Base modeling_lladamoe.py, copy in
    InfiniTensor/InfiniLM): q_proj/k_proj/v_proj/o_proj without bias, head_dim = hidden /
    heads, q_norm / k_norm over head_dim (reshape(-1, head_dim)) before RoPE, partial rotary as
    above, attention_mask forced to None (bidirectional). moe_layer_freq[i] == 0: dense MLP of
    dense_intermediate_size; else LLaDAMoESparseMoeBlock: routing_weights = softmax(gate(x)),
    += expert_bias if moe_router_enable_expert_bias, topk, norm_topk_prob hard-set False (the
    biased probabilities are the weights); the layer's shared_expert is added when
    shared_expert_intermediate_size is set.
Ties: torch.topk promises no order among equal scores; dlmscope breaks them towards the lowest
expert (and group) index, and so does this reference (stable sorts). Every checkpoint has experts
with identical router rows and biases (LLaDA2: a whole group copies another), so exact ties occur,
and every case requires one at a selection boundary. Router logits are computed per expert with
the same reduction, so identical rows give identical scores here too. Each case also checks that
the expert bias, the group limit, the block mask, partial rotary and the shared expert each change
the result, and that no untied selection is decided by less than 1e-4.
"""

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import (DT, TOP, close_margins, format_rows, read_safetensors, round_to, topk_rows,  # noqa: E402
                           write_json, write_safetensors)

torch.set_default_dtype(torch.float64)

EPS = 1e-6
SELECT_MARGIN = 1e-4  # an untied selection decided by less than this is fragile under fp32

MODELS = {
    "llada2-f32": dict(family="llada2", dtype="F32", seed=9101,
                       shape=dict(d=64, nh=4, nkv=2, hd=32, rd=16, nl=3, dff=96, E=16, k=4, de=32, shared=1,
                                  n_group=4, topk_group=2, dense=1, scale=2.5, V=320, theta=600000.0)),
    "llada2-bf16": dict(family="llada2", dtype="BF16", seed=9102,
                        shape=dict(d=96, nh=6, nkv=2, hd=16, rd=8, nl=3, dff=128, E=24, k=3, de=24, shared=2,
                                   n_group=6, topk_group=3, dense=1, scale=2.5, V=256, theta=600000.0)),
    "llada-moe-f32": dict(family="llada-moe", dtype="F32", seed=9201,
                          shape=dict(d=64, nh=4, nkv=4, hd=16, rd=8, nl=3, dff=96, E=8, k=2, de=32, shared=48,
                                     dense=1, bias=True, V=320, theta=50000.0)),
    "llada-moe-bf16": dict(family="llada-moe", dtype="BF16", seed=9202,
                           shape=dict(d=64, nh=4, nkv=2, hd=16, rd=16, nl=2, dff=96, E=12, k=3, de=16, shared=0,
                                      dense=0, bias=False, V=256, theta=50000.0)),
}

CASES = [
    dict(name="llada2-f32-block8", model="llada2-f32", L=24, block=8, seed=41),
    dict(name="llada2-bf16-block4", model="llada2-bf16", L=22, block=4, seed=42),
    dict(name="llada-moe-f32-bias-shared", model="llada-moe-f32", L=21, block=0, seed=43),
    dict(name="llada-moe-bf16", model="llada-moe-bf16", L=19, block=0, seed=44),
]


# ---- checkpoints ----------------------------------------------------------------------------

def names(family, i):
    b = "model.layers.%d." % i
    if family == "llada2":
        return dict(ln1=b + "input_layernorm.weight", qkv=b + "attention.query_key_value.weight",
                    qn=b + "attention.query_layernorm.weight", kn=b + "attention.key_layernorm.weight",
                    o=b + "attention.dense.weight", ln2=b + "post_attention_layernorm.weight",
                    gate=b + "mlp.gate_proj.weight", up=b + "mlp.up_proj.weight", down=b + "mlp.down_proj.weight",
                    router=b + "mlp.gate.weight", bias=b + "mlp.gate.expert_bias",
                    expert=b + "mlp.experts.%d.%s_proj.weight", shared=b + "mlp.shared_experts.%s_proj.weight",
                    embed="model.word_embeddings.weight")
    return dict(ln1=b + "input_layernorm.weight", q=b + "self_attn.q_proj.weight", k=b + "self_attn.k_proj.weight",
                v=b + "self_attn.v_proj.weight", o=b + "self_attn.o_proj.weight", qn=b + "self_attn.q_norm.weight",
                kn=b + "self_attn.k_norm.weight", ln2=b + "post_attention_layernorm.weight",
                gate=b + "mlp.gate_proj.weight", up=b + "mlp.up_proj.weight", down=b + "mlp.down_proj.weight",
                router=b + "mlp.gate.weight", bias=b + "mlp.expert_bias", expert=b + "mlp.experts.%d.%s_proj.weight",
                shared=b + "shared_expert.%s_proj.weight", embed="model.embed_tokens.weight")


def is_moe(s, i):
    return i >= s["dense"]


def d_shared(spec):
    s = spec["shape"]
    return s["de"] * s["shared"] if spec["family"] == "llada2" else s["shared"]


def has_bias(spec):
    return spec["family"] == "llada2" or spec["shape"]["bias"]


def tied_experts(spec):
    """Pairs (copy, original): experts whose router rows and biases are identical."""
    s = spec["shape"]
    if spec["family"] == "llada2":
        g = s["E"] // s["n_group"]  # the last group copies the one before it: group ties, expert ties
        return [(s["E"] - g + j, s["E"] - 2 * g + j) for j in range(g)]
    return [(1, 0), (s["E"] - 1, s["E"] - 2)]


def make_weights(spec):
    s, fam = spec["shape"], spec["family"]
    d, nh, nkv, hd, dff, de, E, V = (s[k] for k in ("d", "nh", "nkv", "hd", "dff", "de", "E", "V"))
    g = torch.Generator().manual_seed(spec["seed"])

    def normal(*shape, std=1.0):
        return torch.randn(*shape, generator=g, dtype=DT) * std

    n = names(fam, 0)
    w = {n["embed"]: normal(V, d)}
    for i in range(s["nl"]):
        n = names(fam, i)
        w[n["ln1"]] = 1.0 + normal(d, std=0.1)
        if fam == "llada2":
            w[n["qkv"]] = normal((nh + 2 * nkv) * hd, d, std=1 / math.sqrt(d))
        else:
            w[n["q"]] = normal(nh * hd, d, std=1 / math.sqrt(d))
            w[n["k"]] = normal(nkv * hd, d, std=1 / math.sqrt(d))
            w[n["v"]] = normal(nkv * hd, d, std=1 / math.sqrt(d))
        w[n["qn"]] = 1.0 + normal(hd, std=0.3)
        w[n["kn"]] = 1.0 + normal(hd, std=0.3)
        w[n["o"]] = normal(d, nh * hd, std=1 / math.sqrt(nh * hd))
        w[n["ln2"]] = 1.0 + normal(d, std=0.1)
        if not is_moe(s, i):
            w[n["gate"]] = normal(dff, d, std=1 / math.sqrt(d))
            w[n["up"]] = normal(dff, d, std=1 / math.sqrt(d))
            w[n["down"]] = normal(d, dff, std=1 / math.sqrt(dff))
            continue
        router = normal(E, d, std=2.0 / math.sqrt(d))
        bias = normal(E, std=0.15 if fam == "llada2" else 0.05)
        for copy, orig in tied_experts(spec):
            router[copy] = router[orig]
            bias[copy] = bias[orig]
        w[n["router"]] = router
        if has_bias(spec):
            w[n["bias"]] = bias
        for e in range(E):
            w[n["expert"] % (e, "gate")] = normal(de, d, std=1 / math.sqrt(d))
            w[n["expert"] % (e, "up")] = normal(de, d, std=1 / math.sqrt(d))
            w[n["expert"] % (e, "down")] = normal(d, de, std=1 / math.sqrt(de))
        if d_shared(spec):
            w[n["shared"] % "gate"] = normal(d_shared(spec), d, std=1 / math.sqrt(d))
            w[n["shared"] % "up"] = normal(d_shared(spec), d, std=1 / math.sqrt(d))
            w[n["shared"] % "down"] = normal(d, d_shared(spec), std=1 / math.sqrt(d_shared(spec)))
    w["model.norm.weight"] = 1.0 + normal(d, std=0.1)
    w["lm_head.weight"] = normal(V, d, std=4.0 / math.sqrt(d))
    return {k: round_to(v, spec["dtype"]) for k, v in w.items()}


def config_json(spec):
    s, fam = spec["shape"], spec["family"]
    c = {"hidden_size": s["d"], "num_hidden_layers": s["nl"], "num_attention_heads": s["nh"],
         "num_key_value_heads": s["nkv"], "vocab_size": s["V"], "max_position_embeddings": 512,
         "rms_norm_eps": EPS, "rope_theta": s["theta"], "rope_scaling": None, "hidden_act": "silu",
         "tie_word_embeddings": False, "partial_rotary_factor": s["rd"] / s["hd"], "num_experts": s["E"],
         "num_experts_per_tok": s["k"], "torch_dtype": "bfloat16", "pad_token_id": s["V"] - 2,
         "eos_token_id": s["V"] - 2, "mask_token_id": s["V"] - 1}
    if fam == "llada2":  # the keys of LLaDA2.1-mini's config.json
        c.update({"architectures": ["LLaDA2MoeModelLM"], "model_type": "llada2_moe", "head_dim": s["hd"],
                  "intermediate_size": s["dff"], "moe_intermediate_size": s["de"],
                  "num_shared_experts": s["shared"], "first_k_dense_replace": s["dense"], "n_group": s["n_group"],
                  "topk_group": s["topk_group"], "routed_scaling_factor": s["scale"], "score_function": "sigmoid",
                  "moe_router_enable_expert_bias": True, "norm_topk_prob": True, "router_dtype": "fp32",
                  "use_qk_norm": True, "use_qkv_bias": False, "use_bias": False, "norm_head": False,
                  "norm_softmax": False, "rotary_dim": s["rd"], "sliding_window": 4096, "use_sliding_window": False,
                  "max_window_layers": 28, "embedding_dropout": 0.0, "attention_dropout": 0.0,
                  "output_dropout": 0.0, "output_router_logits": False})
    else:  # LLaDAConfig's keys; its checkpoints say model_type "llada", like LLaDA-8B
        c.update({"architectures": ["LLaDAMoEModelLM"], "model_type": "llada",
                  "dense_intermediate_size": s["dff"], "expert_intermediate_size": s["de"],
                  "shared_expert_intermediate_size": s["shared"] or None, "attention_bias": False,
                  "clip_qkv": None, "norm_topk_prob": False, "qk_layernorm": True,
                  "moe_layer_freq": [1 if is_moe(s, i) else 0 for i in range(s["nl"])],
                  "moe_router_enable_expert_bias": s["bias"], "moe_router_score_function": "softmax",
                  "routed_scaling_factor": 1, "router_num_group": None, "router_topk_group": None})
    return c


# ---- forward --------------------------------------------------------------------------------

def rms(x, weight):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def rotate_half(x):
    x1, x2 = x[..., :x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def stable_top(scores, k):
    """Indices of the k largest, best first, ties to the lowest index."""
    return torch.sort(-scores, stable=True)[1][:k]


def route(spec, h, router, bias, use_bias=True, group_limit=True):
    """Per position: (chosen experts best first, their weights, the selection scores, the
    positions' boundary margins between chosen and not chosen untied experts, exact boundary ties)."""
    s = spec["shape"]
    E, k = s["E"], s["k"]
    # one reduction per expert: identical router rows give identical logits
    logits = torch.stack([(h * router[e]).sum(-1) for e in range(E)], -1)
    ids, wts, margins, ties = [], [], [], 0
    tied = {frozenset(p) for p in tied_experts(spec)}
    for p in range(h.shape[0]):
        if spec["family"] == "llada2":
            sc = torch.sigmoid(logits[p])
            sel = sc + (bias if use_bias else 0.0)
            allowed = torch.ones(E, dtype=torch.bool)
            if group_limit:
                G = s["n_group"]
                grp = sel.view(G, -1)
                gscore = torch.stack([grp[g][stable_top(grp[g], 2)].sum() for g in range(G)])
                keep = stable_top(gscore, s["topk_group"])
                gmask = torch.zeros(G, dtype=torch.bool)
                gmask[keep] = True
                allowed = gmask.repeat_interleave(E // G)
                order = torch.sort(-gscore, stable=True)[1]
                a, b = gscore[order[s["topk_group"] - 1]], gscore[order[s["topk_group"]]]
                if a == b:
                    ties += 1
                else:
                    margins.append(float(a - b))
            masked = sel.masked_fill(~allowed, float("-inf"))
            top = stable_top(masked, k)
            w = sc[top]
            w = (w / (w.sum() + 1e-20) if k > 1 else w) * s["scale"]
        else:
            prob = torch.softmax(logits[p], -1)
            masked = prob + (bias if (use_bias and bias is not None) else 0.0)
            top = stable_top(masked, k)
            w = masked[top]  # norm_topk_prob is hard-set False
        order = torch.sort(-masked, stable=True)[1]
        a, b = order[k - 1], order[k]
        if masked[a] == masked[b] and frozenset((int(a), int(b))) in tied:
            ties += 1
        elif torch.isfinite(masked[b]):
            margins.append(float(masked[a] - masked[b]))
        ids.append(top.tolist())
        wts.append(w)
    return ids, wts, margins, ties


def swiglu(x, gate, up, down):
    return (torch.nn.functional.silu(x @ gate.T) * (x @ up.T)) @ down.T


def forward(spec, w, ids, block, partial=True, use_bias=True, group_limit=True, shared=True):
    """Logits per position, the experts chosen per MoE layer and position, selection margins and
    boundary ties. The keywords switch one feature off to check it matters."""
    s, fam = spec["shape"], spec["family"]
    nh, nkv, hd = s["nh"], s["nkv"], s["hd"]
    rd = s["rd"] if partial else hd
    L = len(ids)
    x = w[names(fam, 0)["embed"]][torch.tensor(ids)]
    inv_freq = 1.0 / (s["theta"] ** (torch.arange(0, rd, 2, dtype=DT) / rd))
    freqs = torch.outer(torch.arange(L, dtype=DT), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    pos = torch.arange(L)
    allowed = (pos[None, :] // block <= pos[:, None] // block) if block else torch.ones(L, L, dtype=torch.bool)
    experts, margins, ties = [], [], 0
    for i in range(s["nl"]):
        n = names(fam, i)
        h = rms(x, w[n["ln1"]])
        if fam == "llada2":
            qkv = (h @ w[n["qkv"]].T).view(L, nh + 2 * nkv, hd)
            q, k, v = qkv[:, :nh], qkv[:, nh:nh + nkv], qkv[:, nh + nkv:]
        else:
            q, k, v = (h @ w[n["q"]].T).view(L, nh, hd), (h @ w[n["k"]].T).view(L, nkv, hd), \
                (h @ w[n["v"]].T).view(L, nkv, hd)
        q, k = rms(q, w[n["qn"]]), rms(k, w[n["kn"]])
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        q = torch.cat((q[..., :rd] * cos + rotate_half(q[..., :rd]) * sin, q[..., rd:]), -1)
        k = torch.cat((k[..., :rd] * cos + rotate_half(k[..., :rd]) * sin, k[..., rd:]), -1)
        k = k.repeat_interleave(nh // nkv, 0)
        v = v.repeat_interleave(nh // nkv, 0)
        scores = (q @ k.transpose(1, 2)) * hd ** -0.5
        scores = scores.masked_fill(~allowed, float("-inf"))
        o = torch.softmax(scores, -1) @ v
        x = x + o.transpose(0, 1).reshape(L, nh * hd) @ w[n["o"]].T
        h = rms(x, w[n["ln2"]])
        if not is_moe(s, i):
            x = x + swiglu(h, w[n["gate"]], w[n["up"]], w[n["down"]])
            continue
        bias = w.get(n["bias"])
        ids_l, wts, m, t = route(spec, h, w[n["router"]], bias, use_bias, group_limit)
        experts.append(ids_l)
        margins += m
        ties += t
        y = torch.zeros_like(x)
        for p in range(L):
            for j, e in enumerate(ids_l[p]):
                ew = [w[n["expert"] % (e, part)] for part in ("gate", "up", "down")]
                y[p] += wts[p][j] * swiglu(h[p:p + 1], *ew)[0]
        if shared and d_shared(spec):
            y = y + swiglu(h, *[w[n["shared"] % part] for part in ("gate", "up", "down")])
        x = x + y
    x = rms(x, w["model.norm.weight"])
    return x @ w["lm_head.weight"].T, experts, margins, ties


def format_experts(spec, experts, L):
    s = spec["shape"]
    layers = [i for i in range(s["nl"]) if is_moe(s, i)]
    return "".join("%d %s\n" % (p, " ".join("%d:%s" % (layer, ",".join(map(str, experts[j][p])))
                                             for j, layer in enumerate(layers))) for p in range(L))


def write_model(root, name, spec, w):
    d = os.path.join(root, "models", name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    write_json(os.path.join(d, "config.json"), config_json(spec))
    order = sorted(w)
    path = os.path.join(d, "model.safetensors")
    write_safetensors(path, [(n, w[n], spec["dtype"]) for n in order])
    back = read_safetensors(path)
    for n in order:
        assert torch.equal(back[n], w[n]), n


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: moe_reference.py OUT_DIR   (e.g. tests/fixtures)")
    root = sys.argv[1]
    rel_root = os.path.relpath(os.path.abspath(root), os.getcwd())
    weights = {}
    for name, spec in MODELS.items():
        weights[name] = make_weights(spec)
        write_model(root, name, spec, weights[name])
    outdir = os.path.join(root, "moe")
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        os.remove(os.path.join(outdir, f))
    for case in CASES:
        spec, w = MODELS[case["model"]], weights[case["model"]]
        V = spec["shape"]["V"]
        found = None
        for attempt in range(400):
            g = torch.Generator().manual_seed(case["seed"] * 1000 + attempt)
            ids = torch.randint(0, V - 3, (case["L"],), generator=g).tolist()
            logits, experts, margins, ties = forward(spec, w, ids, case["block"])
            rows = topk_rows(logits, TOP)
            if close_margins(rows, TOP) or ties == 0 or (margins and min(margins) < SELECT_MARGIN):
                continue
            found = (ids, logits, experts, rows, margins, ties)
            break
        assert found, "%s: no input with separated top-%d, separated selections and a boundary tie" % (case["name"], TOP)
        ids, logits, experts, rows, margins, ties = found
        # every feature must change the answer, or the case could not catch its absence
        probs = torch.softmax(logits, -1)
        switches = {"partial": dict(partial=False), "shared": dict(shared=False)}
        if has_bias(spec):
            switches["expert bias"] = dict(use_bias=False)
        if spec["family"] == "llada2":
            switches["group limit"] = dict(group_limit=False)
        if case["block"]:
            switches["block mask"] = dict(block=0)
        if not d_shared(spec):
            del switches["shared"]
        if spec["shape"]["rd"] == spec["shape"]["hd"]:
            del switches["partial"]
        for what, kw in switches.items():
            kw = dict(kw)
            block = kw.pop("block", case["block"])
            off_logits, off_experts, _, _ = forward(spec, w, ids, block, **kw)
            change = float((torch.softmax(off_logits, -1) - probs).abs().max())
            assert change > 1e-2, "%s: switching %s off barely changes the output (%g)" % (case["name"], what, change)
            if what in ("expert bias", "group limit"):
                assert off_experts != experts, "%s: %s changes no routing" % (case["name"], what)
        args = "--model %s --ids \"%s\" --top %d" % (os.path.join(rel_root, "models", case["model"]),
                                                     " ".join(map(str, ids)), TOP)
        if case["block"]:
            args += " --block-causal %d" % case["block"]
        with open(os.path.join(outdir, case["name"] + ".args"), "w") as f:
            f.write(args + "\n")
        with open(os.path.join(outdir, case["name"] + ".expected"), "w") as f:
            f.write(format_rows(rows, TOP))
        with open(os.path.join(outdir, case["name"] + ".experts"), "w") as f:
            f.write(format_experts(spec, experts, len(ids)))
        top1 = [r[0][1] for r in rows]
        print("case %-26s L=%2d  top1 p in [%.2f, %.2f]  boundary ties %d  min selection margin %.1e" %
              (case["name"], len(ids), min(top1), max(top1), ties, min(margins) if margins else float("nan")))


if __name__ == "__main__":
    main()
