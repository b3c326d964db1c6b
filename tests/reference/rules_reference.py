#!/usr/bin/env python3
"""rules_reference.py — float64 PyTorch reference of dlmscope's decoding rules, and their golden trajectories.

    /usr/bin/python3 tests/reference/rules_reference.py tests/fixtures     (part of `make fixtures`)

Reads the tiny fixture models written by make_fixtures.py (tests/fixtures/models/*), runs each
decoding rule exactly as dlmscope defines it (research notes sections 2, 3.1, 3.2, 4.3, 5, 6, with
dlmscope's choices spelled out below), and writes golden cases to tests/fixtures/rules/:

    <case>.args       one line: the arguments of `dlmscope run` (with --trace-ids)
    <case>.expected   what --trace-ids prints: `step S block B : ID ...` per forward pass (the
                      generation region P..P+G-1 after the step's update, masks as the mask id),
                      then `final : ID ...`
    README.md         the case table with event counts and decision margins (generated)

The forward pass is make_fixtures.forward_a (float64, soft inputs, block-causal attention); the
weights are read back from the fixture safetensors files with make_fixtures.read_safetensors.

Robustness. dlmscope computes the forward in float32, this reference in float64, so a decision
taken with a tiny margin could flip. Every decision is instrumented (argmax / Gumbel score gaps,
confidence vs threshold, top-k boundaries, historical-best comparisons, remask caps, the top-k of
the EvoToken soft inputs) and a case is rejected (another prompt or seed is tried) when any margin
is below MARGIN. In addition, each accepted trajectory is replayed with a float32 forward pass
(a stand-in for the C engine) and must give an identical trace, and EvoToken trajectories whose
soft weights lie within FLIP_REL of a bfloat16 rounding boundary are replayed with those weights
rounded the other way. Attempts that would write the mask id as a token are rejected too.

dlmscope's definitions (the C implementation follows the same text):
- Canvas x = [prompt | M]*G, M = config mask_token_id. Logits row i predicts position i.
- p = softmax(float64 logits). argmax ties -> lowest token id. Top-k positions: confidence
  descending, ties -> lowest position.
- RNG: counter-based (engine/rng.h), ported below with uint64 wraparound. Gumbel-max at step s
  (forwards done before), position p (absolute), token v: u = uniform(seed, s, p, v),
  x0 = argmax_v(logit_v / T - log(-log u)); confidence c = p[x0] (noise-free). T = 0: plain argmax.
  llada remasking=random: confidence of p at step s = uniform(seed, s, p, V).
- Rules: see rule_llada, rule_threshold, rule_llada2 (t2t and t2m), rule_evotoken.
"""

import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (sets the float64 default dtype)

MARGIN = 1e-4          # minimum accepted margin of any decision (probabilities and logit gaps)
MAX_ATTEMPTS = 400
FLIP_REL = 1e-4        # bf16 roundings this close to a boundary are flipped in the robustness replay
NEG = float("-inf")

# ---------------------------------------------------------------------------------------------
# counter-based RNG (engine/rng.h), uint64 arithmetic with wraparound
# ---------------------------------------------------------------------------------------------

MASK64 = (1 << 64) - 1


def rng_mix(x):
    x = (x + 0x9e3779b97f4a7c15) & MASK64
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & MASK64
    return x ^ (x >> 31)


def rng_bits(seed, counter, a, b):
    return rng_mix(rng_mix(rng_mix((seed & MASK64) ^ rng_mix(counter)) ^ a) ^ ((b * 0xd1342543de82ef95) & MASK64))


def rng_uniform(seed, counter, a, b):
    return ((rng_bits(seed, counter, a, b) >> 11) + 0.5) / 9007199254740992.0


U64 = np.uint64


def _mix_np(x):
    x = x + U64(0x9e3779b97f4a7c15)
    x = (x ^ (x >> U64(30))) * U64(0xbf58476d1ce4e5b9)
    x = (x ^ (x >> U64(27))) * U64(0x94d049bb133111eb)
    return x ^ (x >> U64(31))


def rng_uniform_row(seed, counter, a, n):
    """uniform(seed, counter, a, b) for b = 0..n-1, vectorised (numpy uint64 arrays wrap mod 2^64)."""
    k = rng_mix(rng_mix((seed & MASK64) ^ rng_mix(counter)) ^ a)   # Python int, exact
    b = np.arange(n, dtype=np.uint64)
    bits = _mix_np(U64(k) ^ (b * U64(0xd1342543de82ef95)))
    return ((bits >> U64(11)).astype(np.float64) + 0.5) / 9007199254740992.0


def check_rng():
    for seed, counter, a in ((0, 0, 0), (7, 3, 11), (2 ** 64 - 1, 123456, 99), (12345, 2 ** 40 + 5, 2 ** 63)):
        row = rng_uniform_row(seed, counter, a, 300)
        for b in (0, 1, 2, 17, 255, 299):
            assert row[b] == rng_uniform(seed, counter, a, b), (seed, counter, a, b)
            assert 0.0 < row[b] < 1.0


# ---------------------------------------------------------------------------------------------
# model loading and forward passes
# ---------------------------------------------------------------------------------------------


def forward_cached(w, cfg, ids, dt, block=0, soft=None, active=None, cache=None):
    """Fast-dLLM KV-cached forward pass (research notes 3.3-3.4) in dtype dt, as dlmscope defines it.
    cache None: a full forward that returns (logits [L, V], cache), the cache holding every layer's
    post-RoPE K and V and the final hidden states. Otherwise only positions active = (q0, q1) are
    recomputed; they attend to their own fresh K/V and to the cache's everywhere else, and rows
    outside [q0, q1) report the refreshing pass's prediction. A cache shorter than ids (the T2M
    repository's block cache, cropped to q0 = the block start) is extended by the recomputed
    positions instead. Either way the updated cache is returned with the logits."""
    d, nh, nkv, hd, nl = (cfg[k] for k in ("d", "nh", "nkv", "hd", "nl"))
    eps, theta = cfg["eps"], cfg["theta"]
    L = len(ids)
    q0, q1 = (0, L) if cache is None else active
    wte = w[mf.P + "wte.weight"]
    x = wte[torch.tensor(ids)].clone()
    for pos, pairs in (soft or {}).items():
        pid = torch.tensor([p[0] for p in pairs])
        pw = torch.tensor([float(np.float32(p[1])) for p in pairs], dtype=dt).clamp_min(0)
        pw = pw / pw.sum().clamp_min(1e-12)
        x[pos] = (pw[:, None] * wte[pid]).sum(0)
    x = x[q0:q1]

    def rms(v, weight):
        return v * torch.rsqrt((v * v).mean(-1, keepdim=True) + eps) * weight

    inv_freq = (theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)).to(dt)
    freqs = torch.outer(torch.arange(L, dtype=dt), inv_freq)[q0:q1]
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos(), emb.sin()

    def rope(v):
        v1, v2 = v[..., :hd // 2], v[..., hd // 2:]
        return v * cos + torch.cat([-v2, v1], -1) * sin

    pos = torch.arange(L)
    allowed = ((pos[None, :] // block) <= (pos[:, None] // block)) if block else torch.ones(L, L, dtype=torch.bool)
    allowed = allowed[q0:q1]
    n = q1 - q0
    kv = []
    for i in range(nl):
        b = mf.P + "blocks.%d." % i
        h = rms(x, w[b + "attn_norm.weight"])
        q = rope((h @ w[b + "q_proj.weight"].T).view(n, nh, hd).transpose(0, 1))
        k = rope((h @ w[b + "k_proj.weight"].T).view(n, nkv, hd).transpose(0, 1))
        v = (h @ w[b + "v_proj.weight"].T).view(n, nkv, hd).transpose(0, 1)
        if cache is None:
            K, V = k, v
        elif cache["kv"][i][0].shape[1] < L:  # extend a prefix cache: keys [0, q0) kept, [q0, L) fresh
            assert q1 == L
            K, V = torch.cat([cache["kv"][i][0][:, :q0], k], 1), torch.cat([cache["kv"][i][1][:, :q0], v], 1)
        else:
            K, V = cache["kv"][i][0].clone(), cache["kv"][i][1].clone()
            K[:, q0:q1], V[:, q0:q1] = k, v
        kv.append((K, V))
        Kr, Vr = K.repeat_interleave(nh // nkv, 0), V.repeat_interleave(nh // nkv, 0)
        sc = torch.einsum("hid,hjd->hij", q, Kr) / math.sqrt(hd)
        sc = sc.masked_fill(~allowed, float("-inf"))
        o = torch.einsum("hij,hjd->hid", torch.softmax(sc, -1), Vr).transpose(0, 1).reshape(n, nh * hd)
        x = x + o @ w[b + "attn_out.weight"].T
        h = rms(x, w[b + "ff_norm.weight"])
        x = x + (torch.nn.functional.silu(h @ w[b + "ff_proj.weight"].T) * (h @ w[b + "up_proj.weight"].T)) \
            @ w[b + "ff_out.weight"].T
    if cache is None:
        hidden = x
    else:
        hidden = torch.zeros(L, x.shape[1], dtype=x.dtype)
        n_old = min(L, cache["hidden"].shape[0])
        hidden[:n_old] = cache["hidden"][:n_old]
        hidden[q0:q1] = x
    cache = {"kv": kv, "hidden": hidden}
    return rms(hidden, w[mf.P + "ln_f.weight"]) @ w[mf.P + "ff_out.weight"].T, cache


class Model:
    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "config.json")) as f:
            c = json.load(f)

        def get(*keys):
            for k in keys:
                if k in c:
                    return c[k]
            raise KeyError(keys)

        d = get("d_model", "hidden_size")
        nh = get("n_heads", "num_attention_heads")
        nkv = get("n_kv_heads", "num_key_value_heads")
        self.cfg = dict(d=d, nh=nh, nkv=nkv, hd=d // nh, nl=get("n_layers", "num_hidden_layers"),
                        eps=float(np.float32(get("rms_norm_eps"))), theta=float(get("rope_theta")))
        self.mask = get("mask_token_id")
        self.eos = get("eos_token_id")
        files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
        self.w = {}
        for fn in files:
            self.w.update(mf.read_safetensors(os.path.join(path, fn)))
        self.w32 = {k: v.to(torch.float32) for k, v in self.w.items()}
        self.V = self.w[mf.P + "wte.weight"].shape[0]
        self.cfg["V"] = self.V
        self.n_forward = 0

    def logits(self, ids, block=0, soft=None, f32=False):
        """[L, V] numpy float64 logits."""
        self.n_forward += 1
        if f32:  # float32 stand-in for the C engine: only checks that goldens do not hang on float64
            return forward_cached(self.w32, self.cfg, ids, torch.float32, block, soft)[0].to(torch.float64).numpy()
        return mf.forward_a(self.w, self.cfg, ids, block, soft).numpy()

    def logits_cached(self, ids, block, soft, f32, active, cache):
        """(logits [L, V] numpy float64, cache): forward_cached in float64 or float32."""
        self.n_forward += 1
        w, dt = (self.w32, torch.float32) if f32 else (self.w, torch.float64)
        lg, cache = forward_cached(w, self.cfg, ids, dt, block, soft, active, cache)
        return lg.to(torch.float64).numpy(), cache


class MoeModel:
    """A mixture-of-experts fixture (tests/reference/moe_reference.py: LLaDA2.x, LLaDA-MoE) behind
    Model's interface: moe_reference.forward, float64, hard inputs, no KV cache. Each forward also
    reports its smallest routing margin (an untied expert selection decided by less than MARGIN
    would be fragile under the C engine's fp32), which the run counts as a decision margin. The
    float32 replay is the same float64 forward here (the fixture's weights are fp32 values): the
    routing margins stand in for it."""

    def __init__(self, path, name):
        import moe_reference
        self.moe, self.spec = moe_reference, moe_reference.MODELS[name]
        with open(os.path.join(path, "config.json")) as f:
            c = json.load(f)
        self.mask, self.eos = c["mask_token_id"], c["eos_token_id"]
        self.w = mf.read_safetensors(os.path.join(path, "model.safetensors"))
        self.V = self.spec["shape"]["V"]
        self.n_forward = 0
        self.last_route_margin = None

    def logits(self, ids, block=0, soft=None, f32=False):
        assert soft is None, "MoE fixtures run hard inputs only"
        self.n_forward += 1
        lg, _, margins, _ = self.moe.forward(self.spec, self.w, list(ids), block)
        self.last_route_margin = min(margins) if margins else None
        return lg.numpy()


def softmax(row):
    e = np.exp(row - row.max())
    return e / e.sum()


def bf16(values, flip=False):
    """Round float64 weights to bfloat16 exactly as torch does (double -> float -> bfloat16, RNE).
    flip=True (robustness replay only): weights within FLIP_REL of a rounding boundary take the
    other neighbour, as a float32 engine might."""
    out = torch.tensor(values, dtype=torch.float64).to(torch.bfloat16).to(torch.float64).tolist()
    if flip:
        for i, v in enumerate(values):
            if v > 0 and bf16_midpoint_distance(v) < FLIP_REL:
                ulp = 2.0 ** (math.floor(math.log2(v)) - 7)
                lo = math.floor(v / ulp) * ulp
                out[i] = lo + ulp if out[i] == lo else lo
    return out


def bf16_midpoint_distance(v):
    """Relative distance of v to the nearest bfloat16 rounding boundary (informational)."""
    if v <= 0:
        return 1.0
    e = math.floor(math.log2(v))
    ulp = 2.0 ** (e - 7)
    frac = (v - 2.0 ** e) / ulp
    return abs(frac - math.floor(frac) - 0.5) * ulp / v


# ---------------------------------------------------------------------------------------------
# a run: trace, margins, events
# ---------------------------------------------------------------------------------------------


class Run:
    def __init__(self, model, prompt, G, T, seed, f32, flip=False, cache="none"):
        self.m, self.prompt, self.P, self.G = model, list(prompt), len(prompt), G
        self.T, self.seed, self.f32, self.flip = T, seed, f32, flip
        self.M, self.V = model.mask, model.V
        self.step = 0
        self.lines = []
        self.probs = []          # per step: the confidence c of each block position (LLaDA2.1 loop)
        self.margins = {}        # kind -> (min value, where)
        self.info = {}           # informational minima (not used to reject)
        self.events = {}
        self.mask_commits = 0
        self.cache, self.kv = cache, None  # KV cache mode and the current cache

    def ev(self, name, n=1):
        self.events[name] = self.events.get(name, 0) + n

    def evmax(self, name, v):
        self.events[name] = max(self.events.get(name, 0), v)

    def margin(self, kind, value, where=""):
        value = abs(value)
        cur = self.margins.get(kind)
        if cur is None or value < cur[0]:
            self.margins[kind] = (value, "step %d %s" % (self.step, where))

    def note(self, kind, value):
        cur = self.info.get(kind)
        if cur is None or value < cur:
            self.info[kind] = value

    def min_margin(self):
        return min((v[0] for v in self.margins.values()), default=float("inf"))

    def forward(self, x, block=0, soft=None):
        logits = self.m.logits(x, block, soft, self.f32)
        if getattr(self.m, "last_route_margin", None) is not None: # MoE: the forward's expert selections
            self.margin("routing", self.m.last_route_margin)
        return logits

    def forward_block(self, x, bs, be, first, block=0, soft=None):
        """A forward for a step of the block [bs, be): full without a cache; with one, the block's
        first forward refreshes it and later ones recompute [bs, len(x)) (prefix) or [bs, be) (dual).
        official-block transcribes the T2M repository's LLaDA2MoeModelLM.generate (synsis/remasked_DLM,
        research notes 5): the run's very first forward is a full one over x[:we] that keeps every
        key and value; every later forward crops that cache to the block start and runs the block
        alone on top of it, appending the block's keys and values. A finished block therefore stays
        in the cache as its last forward saw it (stale when the block ended through max_post)."""
        if self.cache == "none":
            return self.forward(x, block, soft)
        if self.cache == "official-block":
            assert block and len(x) == be
            if self.kv is None:
                logits, self.kv = self.m.logits_cached(x, block, soft, self.f32, None, None)
            else:
                crop = {"kv": [(K[:, :bs], V[:, :bs]) for K, V in self.kv["kv"]], "hidden": self.kv["hidden"][:bs]}
                logits, self.kv = self.m.logits_cached(x, block, soft, self.f32, (bs, be), crop)
            return logits
        if first:
            logits, self.kv = self.m.logits_cached(x, block, soft, self.f32, None, None)
            return logits
        active = (bs, be if self.cache == "dual" else len(x))
        return self.m.logits_cached(x, block, soft, self.f32, active, self.kv)[0]

    def sample(self, logits, positions, exclude_mask=False, check=()):
        """x0 and the top-1 vs top-2 score gap at each position (dict pos -> (x0, gap))."""
        out = {}
        for q in positions:
            row = logits[q].copy()
            if self.T > 0:
                u = rng_uniform_row(self.seed, self.step, q, self.V)
                row = row / self.T - np.log(-np.log(u))
            if exclude_mask:
                row[self.M] = NEG
            x0 = int(np.argmax(row))          # first maximum = lowest id
            rest = np.delete(row, x0)
            out[q] = (x0, float(row[x0] - rest.max()))
        return out

    def trace(self, x, block):
        ids = x[self.P:self.P + self.G]
        self.lines.append("step %d block %d : %s" % (self.step, block, " ".join(map(str, ids))))
        self.step += 1

    def finish(self, x):
        self.lines.append("final : %s" % " ".join(map(str, x[self.P:self.P + self.G])))


def order_desc(conf, positions):
    """positions sorted by confidence descending, ties to the lowest position."""
    return sorted(positions, key=lambda q: (-conf[q], q))


def schedule(n, spb):
    return [n // spb + (1 if i < n % spb else 0) for i in range(spb)]


# ---------------------------------------------------------------------------------------------
# rules
# ---------------------------------------------------------------------------------------------


def rule_llada(r, B, steps, remasking="low_confidence"):
    """LLaDA (section 2): fixed spb = steps/nb forwards per block, LLaDA transfer schedule.
    remasking="margin" is dlmscope's `margin` rule: the same loop, masks ranked by p1 - p2 of the
    noise-free softmax (Dream's topk_margin confidence, research notes 1.2)."""
    P, G, M = r.P, r.G, r.M
    assert G % B == 0
    nb = G // B
    assert steps % nb == 0
    spb = steps // nb
    x = r.prompt + [M] * G
    for b in range(nb):
        bs, be = P + b * B, P + (b + 1) * B
        ntt = schedule(sum(1 for q in range(bs, be) if x[q] == M), spb)
        for i in range(spb):
            logits = r.forward_block(x, bs, be, i == 0)
            cand = [q for q in range(bs, be) if x[q] == M]
            smp = r.sample(logits, cand)
            conf = {}
            for q in cand:
                if remasking == "random":
                    conf[q] = rng_uniform(r.seed, r.step, q, r.V)
                elif remasking == "margin":
                    top2 = np.sort(softmax(logits[q]))[-2:]
                    conf[q] = float(top2[1] - top2[0])
                else:
                    conf[q] = float(softmax(logits[q])[smp[q][0]])
            order = order_desc(conf, cand)
            if remasking == "margin":  # does the margin choose other positions than p1 would?
                p1 = {q: float(softmax(logits[q]).max()) for q in cand}
                if set(order[:ntt[i]]) != set(order_desc(p1, cand)[:ntt[i]]):
                    r.ev("margin_order_differs")
            k = ntt[i]
            if 0 < k < len(order) and remasking != "random":
                r.margin("topk", conf[order[k - 1]] - conf[order[k]], "pos %d/%d" % (order[k - 1], order[k]))
            for q in order[:k]:
                r.margin("argmax", smp[q][1], "pos %d" % q)
                x[q] = smp[q][0]
                r.ev("commits")
                if x[q] == M:
                    r.mask_commits += 1
            r.evmax("max_commits_per_step", k)
            r.trace(x, b)
    r.finish(x)


def rule_threshold(r, B, tau=0.9, factor=None, fastdllm_nfe=False):
    """Fast-dLLM confidence threshold (3.1) or factor (3.2) decoding. fastdllm_nfe: the June 2025
    cached loops (generate_with_prefix_cache / generate_with_dual_cache: `while True: nfe += 1;
    forward; commit; if no mask in the block: break` after the refreshing forward) run one cached
    forward even when the refreshing forward filled the block; it commits nothing."""
    P, G, M = r.P, r.G, r.M
    assert G % B == 0
    x = r.prompt + [M] * G
    for b in range(G // B):
        bs, be = P + b * B, P + (b + 1) * B
        first = True
        n_fwd = 0
        while any(x[q] == M for q in range(bs, be)):
            if r.step > 4 * G:
                raise RuntimeError("threshold: no progress")
            logits = r.forward_block(x, bs, be, first)
            first = False
            cand = [q for q in range(bs, be) if x[q] == M]
            smp = r.sample(logits, cand)
            conf = {q: float(softmax(logits[q])[smp[q][0]]) for q in cand}
            order = order_desc(conf, cand)
            N = len(order)
            if factor is None:
                commit = [order[0]] + [q for q in order[1:] if conf[q] >= tau]
                r.ev("commits_at_or_above_tau", sum(1 for q in order if conf[q] >= tau))
                for q in order[1:]:
                    r.margin("threshold", conf[q] - tau, "pos %d" % q)
                if N > 1 and conf[order[1]] < tau:
                    r.margin("top1", conf[order[0]] - conf[order[1]], "pos %d/%d" % (order[0], order[1]))
            else:
                thr = [-1.0] + [1.0 - factor / (i + 2) for i in range(1, N)]
                i = N - 1
                for j in range(N):
                    if conf[order[j]] < thr[j]:
                        i = j
                        break
                for j in range(1, min(i, N - 1) + 1):
                    r.margin("threshold", conf[order[j]] - thr[j], "rank %d" % j)
                if i == 0 or i == N - 1:
                    i += 1
                commit = order[:i]
                if i < N:
                    r.margin("topk", conf[order[i - 1]] - conf[order[i]], "rank %d" % i)
            for q in commit:
                r.margin("argmax", smp[q][1], "pos %d" % q)
                x[q] = smp[q][0]
                if x[q] == M:
                    r.mask_commits += 1
            r.ev("commits", len(commit))
            r.evmax("max_commits_per_step", len(commit))
            if len(commit) > 1:
                r.ev("multi_commit_steps")
            r.trace(x, b)
            n_fwd += 1
        if fastdllm_nfe and n_fwd == 1:  # the first forward filled the block: one more, committing nothing
            r.forward_block(x, bs, be, False)
            r.ev("extra_forwards")
            r.trace(x, b)
    r.finish(x)


MODES = {"q": (0.7, 0.5), "s": (0.5, 0.0)}
T2M_DEFAULT_TAU = {"lowprob": 0.3, "t2t-remask": 0.9, "logitdiff": 0.3}


def rule_llada2(r, B, kind, mode="q", tau=None, tau_edit=None, max_post=16, eos_stop=1, block_causal=0,
                detector="lowprob", tau_remask=None, cmax=1, rho_max=0.25):
    """LLaDA2.1 M2T + T2T editing (section 5, kind 't2t') or T2M remasking (section 6, kind 't2m')."""
    P, G, M, eos = r.P, r.G, r.M, r.m.eos
    mtau, etau = MODES[mode]
    if tau is not None:
        mtau = tau
    if tau_edit is not None:
        etau = tau_edit
    if tau_remask is None:
        tau_remask = T2M_DEFAULT_TAU[detector]
    if block_causal:
        assert block_causal == B
        nb = -(-(P + G) // B)
        x = r.prompt + [M] * (nb * B - P)
        # printed block index: 0 = the first generation block (the one holding position P)
        blocks = [(blk - P // B, blk * B, (blk + 1) * B) for blk in range(P // B, nb)]
    else:
        assert G % B == 0
        x = r.prompt + [M] * G
        blocks = [(blk, P + blk * B, P + (blk + 1) * B) for blk in range(G // B)]
    counters = {}
    memory = None           # LogitDiff: previous step's softmax rows (pos -> row)
    stopped = False
    for blk, bs, we in blocks:
        post = 0
        nblk_steps = 0
        while True:
            act = [q for q in range(bs, we) if x[q] == M]
            if not act:
                if eos_stop and eos in x[P:we]:
                    stopped = True
                    r.ev("eos_stop_in_loop")
                    break
                post += 1
                if post > max_post:
                    r.ev("max_post_reached")
                    break
            if nblk_steps > 10 * B + max_post:
                raise RuntimeError("llada2: no progress")
            nblk_steps += 1
            if not act:
                r.ev("post_steps")
            logits = r.forward_block(x[:we] if block_causal else x, bs, we, nblk_steps == 1, block_causal)
            pos = [q for q in range(bs, we) if q >= P]
            smp = r.sample(logits, pos)
            # LLaDA2.1 samples from softmax(logits / T) and reports that distribution's probability
            # as the confidence (research notes §5); at T = 0 it is the plain softmax.
            prob = {q: softmax(logits[q] / r.T if r.T > 0 else logits[q]) for q in pos}
            x0 = {q: smp[q][0] for q in pos}
            c = {q: float(prob[q][x0[q]]) for q in pos}
            r.probs.append("step %d : %s" % (r.step, " ".join("%d:%.9f" % (q, c[q]) for q in pos)))
            old = list(x)
            # M2T
            m2t = [q for q in act if c[q] > mtau]
            for q in act:
                r.margin("m2t_threshold", c[q] - mtau, "pos %d" % q)
            if not m2t and act:
                o = order_desc(c, act)
                m2t = [o[0]]
                r.ev("m2t_fallbacks")
                if len(o) > 1:
                    r.margin("top1", c[o[0]] - c[o[1]], "pos %d/%d" % (o[0], o[1]))
            for q in m2t:
                r.margin("argmax", smp[q][1], "pos %d" % q)
            r.ev("commits", len(m2t))
            r.evmax("max_commits_per_step", len(m2t))
            editable = [q for q in pos if old[q] != M]
            if kind == "t2t":
                t2t = [q for q in editable if c[q] > etau and x0[q] != old[q]]
                for q in editable:
                    r.margin("argmax", smp[q][1], "editable pos %d" % q)
                    if x0[q] != old[q]:
                        r.margin("edit_threshold", c[q] - etau, "pos %d" % q)
                for q in m2t + t2t:
                    x[q] = x0[q]
                    if x[q] == M:
                        r.mask_commits += 1
                r.ev("edits", len(t2t))
                r.trace(x, blk)
                if not act and not t2t:
                    break
            else:
                for q in m2t:
                    x[q] = x0[q]
                    if x[q] == M:
                        r.mask_commits += 1
                E = editable
                if not E:
                    counters = {}
                    memory = None
                    R = []
                    should_break = True
                else:
                    R, score = [], {}
                    for q in E:
                        pold = float(prob[q][old[q]])
                        if detector == "lowprob":
                            r.margin("remask_threshold", pold - tau_remask, "pos %d" % q)
                            if pold < tau_remask:
                                R.append(q)
                                score[q] = pold
                        elif detector == "t2t-remask":
                            r.margin("argmax", smp[q][1], "editable pos %d" % q)
                            if x0[q] != old[q]:
                                r.margin("remask_threshold", c[q] - tau_remask, "pos %d" % q)
                                if c[q] > tau_remask:
                                    R.append(q)
                                    score[q] = 1.0 - c[q]
                        elif detector == "logitdiff":
                            if memory is not None:
                                drop = float(memory[q][old[q]]) - pold
                                r.margin("remask_threshold", drop - tau_remask, "pos %d" % q)
                                if drop > tau_remask:
                                    R.append(q)
                                    score[q] = -drop
                        else:
                            raise ValueError(detector)
                    capped = [q for q in R if counters.get(q, 0) >= cmax]
                    if capped:
                        r.ev("cmax_blocked", len(capped))
                    R = [q for q in R if counters.get(q, 0) < cmax]
                    if R and rho_max < 1.0:
                        cap = max(1, int(len(E) * rho_max))
                        if len(R) > cap:
                            o = sorted(R, key=lambda q: (score[q], q))
                            r.margin("cap", score[o[cap]] - score[o[cap - 1]], "pos %d/%d" % (o[cap - 1], o[cap]))
                            R = sorted(o[:cap])
                            r.ev("cap_binding")
                    for q in R:
                        x[q] = M
                        counters[q] = counters.get(q, 0) + 1
                        r.evmax("max_remasks_one_pos", counters[q])
                    r.ev("remasks", len(R))
                    should_break = not R
                    memory = prob
                r.trace(x, blk)
                if not act and should_break:
                    break
        if stopped:
            break
        if eos_stop and M not in x[P:we] and eos in x[P:we]:
            r.ev("eos_stop_after_block")
            break
    r.finish(x)


def rule_evotoken(r, B, steps, k_soft=3, alpha=0.7):
    """EvoToken-DLM (section 4.3): soft inputs, LLaDA schedule, historical-best decode."""
    P, G, M, V = r.P, r.G, r.M, r.V
    assert G % B == 0
    nb = G // B
    assert steps % nb == 0
    spb = steps // nb
    assert spb <= B
    L = P + G
    x = r.prompt + [M] * G
    conf_x = [0.0] * L
    soft = None
    for b in range(nb):
        bs, be = P + b * B, P + (b + 1) * B
        ntt = schedule(sum(1 for q in range(bs, be) if x[q] == M), spb)
        i = 0
        while True:
            logits = r.forward(x, 0, soft)
            if r.T == 0:
                lg = logits.copy()
                lg[:, M] = NEG                       # quirk Q1: p excludes the mask id at T = 0
                prob = [softmax(lg[q]) for q in range(L)]
            else:
                prob = [softmax(logits[q]) for q in range(L)]
            blockpos = list(range(bs, be))
            smp = r.sample(logits, blockpos, exclude_mask=True)
            x0 = {q: smp[q][0] for q in blockpos}
            c0 = {q: float(prob[q][x0[q]]) for q in blockpos}
            cand = [q for q in blockpos if x[q] == M]
            order = order_desc(c0, cand)
            k = ntt[i]
            if 0 < k < len(order):
                r.margin("topk", c0[order[k - 1]] - c0[order[k]], "pos %d/%d" % (order[k - 1], order[k]))
            sel = order[:k]
            for q in sel:
                r.margin("argmax", smp[q][1], "pos %d" % q)
                x[q] = x0[q]
                conf_x[q] = c0[q]
            r.ev("commits", len(sel))
            # historical best on decoded positions of the current block (>= bs, >= P)
            for q in blockpos:
                if x[q] == M or q in sel or x0[q] == M:
                    continue
                r.margin("hist_best", c0[q] - conf_x[q], "pos %d" % q)
                if c0[q] > conf_x[q]:
                    r.margin("argmax", smp[q][1], "hist pos %d" % q)
                    if x0[q] != x[q]:
                        r.ev("hist_best_token_changes")
                    else:
                        r.ev("hist_best_conf_updates")
                    x[q] = x0[q]
                    conf_x[q] = c0[q]
            # next soft inputs
            soft = {}
            for q in range(L):
                if q < bs:
                    soft[q] = [(x[q], 1.0)]
                    continue
                pr = prob[q]
                top = [int(v) for v in np.lexsort((np.arange(V), -pr))[:k_soft + 1]]   # ties -> lowest id
                r.margin("soft_topk", pr[top[k_soft - 1]] - pr[top[k_soft]], "pos %d" % q)
                top = top[:k_soft]
                S = float(sum(pr[v] for v in top))
                w_own = S * alpha / (1.0 - alpha) if x[q] == M else 0.0
                ws = [float(pr[v]) for v in top] + [w_own]
                tot = sum(ws)
                ws = [wv / tot for wv in ws]
                for wv in ws:
                    r.note("bf16_rounding_rel", bf16_midpoint_distance(wv))
                soft[q] = list(zip(top + [x[q]], bf16(ws, r.flip)))
            i += 1
            r.trace(x, b)
            if M not in x[bs:be]:
                break
    r.finish(x)


# ---------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------

# name, model, rule spec for the command line, runner, G, B, P, T, extra CLI args, requirement
CASES = [
    dict(name="llada-lowconf", model="mha-bf16", spec="llada", G=16, B=8, P=6, steps=6,
         run=lambda r: rule_llada(r, 8, 6), need={}),
    dict(name="llada-random", model="gqa-f32", spec="llada:remasking=random", G=16, B=8, P=5, steps=8,
         run=lambda r: rule_llada(r, 8, 8, "random"), need={}),
    dict(name="llada-t05", model="mha-bf16", spec="llada", G=24, B=8, P=7, steps=12, T=0.5,
         run=lambda r: rule_llada(r, 8, 12), need={}),
    dict(name="llada-gqa-32", model="gqa-f32", spec="llada", G=32, B=16, P=10, steps=32,
         run=lambda r: rule_llada(r, 16, 32), need={}),
    dict(name="margin", model="gqa-f32", spec="margin", G=16, B=8, P=6, steps=8,
         run=lambda r: rule_llada(r, 8, 8, "margin"), need={"margin_order_differs": 1}),
    dict(name="margin-t05", model="mha-bf16", spec="margin", G=16, B=8, P=5, steps=4, T=0.5,
         run=lambda r: rule_llada(r, 8, 4, "margin"), need={"margin_order_differs": 1}),
    dict(name="threshold-tau09", model="gqa-f16", spec="threshold:tau=0.9", G=16, B=8, P=8,
         run=lambda r: rule_threshold(r, 8, 0.9), need={"commits_at_or_above_tau": 2}),
    dict(name="threshold-tau03", model="gqa-f32", spec="threshold:tau=0.3", G=24, B=8, P=5,
         run=lambda r: rule_threshold(r, 8, 0.3), need={"multi_commit_steps": 2}),
    dict(name="threshold-factor1", model="mha-bf16", spec="threshold:factor=1", G=16, B=16, P=4,
         run=lambda r: rule_threshold(r, 16, factor=1.0), need={"multi_commit_steps": 1}),
    dict(name="t2t-q", model="mha-bf16", spec="t2t:mode=q", G=16, B=8, P=6,
         run=lambda r: rule_llada2(r, 8, "t2t", mode="q"), need={"edits": 1}),
    dict(name="t2t-s", model="gqa-f32", spec="t2t:mode=s", G=16, B=8, P=9,
         run=lambda r: rule_llada2(r, 8, "t2t", mode="s"), need={"edits": 1}),
    dict(name="t2t-q-bc8", model="mha-bf16", spec="t2t:mode=q", G=16, B=8, P=5, block_causal=8,
         run=lambda r: rule_llada2(r, 8, "t2t", mode="q", block_causal=8), need={"edits": 1}),
    dict(name="t2t-s-override-t05", model="mha-bf16", spec="t2t:mode=s,tau_edit=0.4", G=16, B=8, P=5, T=0.5,
         run=lambda r: rule_llada2(r, 8, "t2t", mode="s", tau_edit=0.4), need={"edits": 1}),
    dict(name="t2m-lowprob", model="mha-bf16", spec="t2m:detector=lowprob,tau_remask=0.3", G=16, B=8, P=7,
         run=lambda r: rule_llada2(r, 8, "t2m", detector="lowprob", tau_remask=0.3),
         need={"remasks": 1, "cap_binding": 1}),
    dict(name="t2m-t2tremask", model="gqa-f32", spec="t2m:detector=t2t-remask,tau_remask=0.5", G=16, B=8, P=6,
         run=lambda r: rule_llada2(r, 8, "t2m", detector="t2t-remask", tau_remask=0.5), need={"remasks": 1}),
    dict(name="t2m-logitdiff", model="mha-bf16", spec="t2m:detector=logitdiff,tau_remask=0.1", G=16, B=8, P=8,
         run=lambda r: rule_llada2(r, 8, "t2m", detector="logitdiff", tau_remask=0.1), need={"remasks": 1}),
    dict(name="t2m-cmax2-rho05", model="gqa-f32", spec="t2m:detector=lowprob,tau_remask=0.4,cmax=2,rho_max=0.5",
         G=16, B=8, P=4,
         run=lambda r: rule_llada2(r, 8, "t2m", detector="lowprob", tau_remask=0.4, cmax=2, rho_max=0.5),
         need={"remasks": 2, "max_remasks_one_pos": 2, "cap_binding": 1}),
    dict(name="t2m-lowprob-bc8", model="mha-bf16", spec="t2m:detector=lowprob,tau_remask=0.4", G=16, B=8, P=10,
         block_causal=8,
         run=lambda r: rule_llada2(r, 8, "t2m", detector="lowprob", tau_remask=0.4, block_causal=8),
         need={"remasks": 1}),
    # Fast-dLLM KV caches (3.3-3.4): approximations on these bidirectional models, exact prefix
    # caching on a block-causal one.
    dict(name="llada-prefix-cache", model="gqa-f32", spec="llada:cache=prefix", G=24, B=8, P=6, steps=12,
         cache="prefix", run=lambda r: rule_llada(r, 8, 12), need={}),
    dict(name="llada-dual-cache", model="mha-bf16", spec="llada:cache=dual", G=24, B=8, P=7, steps=12,
         cache="dual", run=lambda r: rule_llada(r, 8, 12), need={}),
    dict(name="threshold-dual-cache", model="gqa-f16", spec="threshold:tau=0.5,cache=dual", G=24, B=8, P=5,
         cache="dual", run=lambda r: rule_threshold(r, 8, 0.5), need={"multi_commit_steps": 1}),
    dict(name="threshold-prefix-cache-fastdllm-nfe", model="gqa-f32", spec="threshold:tau=0.2,cache=prefix,fastdllm_nfe=1",
         G=16, B=4, P=6, cache="prefix", run=lambda r: rule_threshold(r, 4, 0.2, fastdllm_nfe=True),
         need={"extra_forwards": 1, "multi_commit_steps": 1}),
    dict(name="t2t-q-bc8-prefix-cache", model="mha-bf16", spec="t2t:mode=q,cache=prefix", G=16, B=8, P=5,
         block_causal=8, cache="prefix", run=lambda r: rule_llada2(r, 8, "t2t", mode="q", block_causal=8),
         need={"edits": 1}),
    # The T2M repository's block cache (cache=official-block): finished blocks stay in the cache as
    # their last forward saw them. The cases require a block ended by max_post (the stale case) and
    # a trajectory that differs from the exact loop's.
    dict(name="t2t-s-official-block", model="mha-bf16", spec="t2t:mode=s,max_post=2,eos_stop=0,cache=official-block",
         G=16, B=8, P=10, block_causal=8, cache="official-block", differs_from_exact=True, probs=True,
         run=lambda r: rule_llada2(r, 8, "t2t", mode="s", max_post=2, eos_stop=0, block_causal=8),
         need={"max_post_reached": 1, "edits": 1}),
    dict(name="t2m-official-block", model="gqa-f32",
         spec="t2m:detector=lowprob,tau_remask=0.4,cmax=2,max_post=1,eos_stop=0,cache=official-block",
         G=16, B=8, P=9, block_causal=8, cache="official-block", differs_from_exact=True, probs=True,
         run=lambda r: rule_llada2(r, 8, "t2m", detector="lowprob", tau_remask=0.4, cmax=2, max_post=1, eos_stop=0,
                                   block_causal=8),
         need={"max_post_reached": 1, "remasks": 1}),
    # LLaDA2.1's loops on the LLaDA2.x-layout fixture (MoE routing, fused QKV, partial rotary), as
    # the model attends: block-causally over absolute positions.
    dict(name="t2t-q-llada2-bc8", model="llada2-f32", spec="t2t:mode=q", G=16, B=8, P=5, block_causal=8,
         run=lambda r: rule_llada2(r, 8, "t2t", mode="q", block_causal=8), need={"edits": 1}),
    dict(name="t2m-lowprob-llada2-bc8", model="llada2-f32", spec="t2m:detector=lowprob,tau_remask=0.4", G=16, B=8,
         P=10, block_causal=8,
         run=lambda r: rule_llada2(r, 8, "t2m", detector="lowprob", tau_remask=0.4, block_causal=8),
         need={"remasks": 1}),
    dict(name="evotoken-t0", model="mha-bf16", spec="evotoken:k_soft=3,alpha=0.7", G=16, B=8, P=6, steps=8,
         run=lambda r: rule_evotoken(r, 8, 8, 3, 0.7), need={"hist_best_token_changes": 1}),
    dict(name="evotoken-t05", model="gqa-f32", spec="evotoken:k_soft=3,alpha=0.7", G=16, B=8, P=5, steps=8,
         T=0.5, run=lambda r: rule_evotoken(r, 8, 8, 3, 0.7), need={"hist_best_token_changes": 1}),
    dict(name="evotoken-a05-k2", model="mha-bf16", spec="evotoken:k_soft=2,alpha=0.5", G=24, B=8, P=9, steps=12,
         run=lambda r: rule_evotoken(r, 8, 12, 2, 0.5), need={"hist_best_token_changes": 1}),
]


def case_inputs(case, model, attempt):
    g = torch.Generator().manual_seed(hash_name(case["name"]) * 1000 + attempt)
    lo, hi = 3, model.V - 2                  # no special ids (BOS 1, EOS, mask) in prompts
    ids = [i for i in torch.randint(lo, hi, (case["P"] + 8,), generator=g).tolist() if i not in (model.eos, model.mask)]
    seed = 1234 + 7 * attempt if case.get("T", 0) > 0 or "random" in case["spec"] else 0
    return ids[:case["P"]], seed


def hash_name(s):
    h = 0
    for ch in s.encode():
        h = (h * 131 + ch) % 1000003
    return h


def run_case(case, model, prompt, seed, f32, flip=False, cache=None):
    r = Run(model, prompt, case["G"], case.get("T", 0.0), seed, f32, flip, cache or case.get("cache", "none"))
    case["run"](r)
    return r


def args_line(case, rel_root, prompt, seed):
    a = "--model %s --prompt-ids \"%s\" --rule %s --gen %d --block %d" % (
        os.path.join(rel_root, "models", case["model"]), " ".join(map(str, prompt)), case["spec"], case["G"], case["B"])
    if "steps" in case:
        a += " --steps %d" % case["steps"]
    if case.get("block_causal"):
        a += " --block-causal %d" % case["block_causal"]
    a += " --temperature %g --seed %d --device cpu --trace-ids" % (case.get("T", 0.0), seed)
    return a


def satisfied(case, r):
    return all(r.events.get(k, 0) >= v for k, v in case["need"].items())


README_HEAD = """# Golden decoding trajectories for `dlmscope run`

Generated by `tests/reference/rules_reference.py` (float64 PyTorch reference of every decoding rule,
using the forward pass of `tests/reference/make_fixtures.py` on the fixture models). Regenerate with

    make fixtures        # runs make_fixtures.py, then:
    /usr/bin/python3 tests/reference/rules_reference.py tests/fixtures

Do not edit these files by hand.

Each case is `<case>.args` (one line of arguments for `dlmscope run`) and `<case>.expected` (exactly
what `--trace-ids` prints): one line per forward pass, `step S block B : ID ...` with S the 0-based
global step, B the block index the step belongs to and the ids of the generation region (canvas
positions P..P+G-1) after the step's update, masks printed as the mask id; then `final : ID ...`.
With `--block-causal B` the blocks are aligned to position 0 (block-causal attention, LLaDA2), but
the printed block index still counts generation blocks from 0: block 0 is the block that holds
position P (with a 10-token prompt and B = 8, block 0 = canvas positions [8, 16)).
The comparison is exact.

Robustness: every decision the reference takes is instrumented, and a case is accepted only when
every margin is at least %g (probability vs threshold, adjacent confidences at a top-k boundary,
top-1 vs top-2 logit / Gumbel-score gap where the sampled token is used, historical-best
comparison, remask-cap score boundary, top-k of the EvoToken soft inputs), and when the same
trajectory recomputed with a float32 forward pass is identical. "bf16 rounding" is the smallest
relative distance of an EvoToken soft weight to a bfloat16 rounding boundary; where it is below
1e-4, the trajectory is also replayed with those weights rounded the other way and must not change
(a flipped rounding moves one weight by 2^-8 relative, a continuous perturbation, not a decision).

Event counts (all summed over the run unless marked max): `commits` tokens written into masked
positions (LLaDA transfers, threshold commits, M2T fills, EvoToken transfers);
`max_commits_per_step` (max); `multi_commit_steps` steps committing more than one token;
`commits_at_or_above_tau` threshold candidates with conf >= tau (the forced top-1 included when it
qualifies); `m2t_fallbacks` M2T steps where nothing passed tau and the single most confident mask
was filled; `edits` T2T edits; `remasks` T2M remasks; `cap_binding` steps where the rho_max cap cut
the remask set; `cmax_blocked` detector hits dropped because the position's counter reached cmax;
`max_remasks_one_pos` (max) the highest per-position remask counter; `post_steps` forwards that
started with no mask in the block; `max_post_reached` blocks ended by max_post;
`eos_stop_in_loop` / `eos_stop_after_block` generation stopped by the EOS rule;
`hist_best_token_changes` EvoToken historical-best replacements that changed the token
(`hist_best_conf_updates`: same token, higher confidence). Margin kinds: `argmax` top-1 vs top-2
logit (T = 0) or Gumbel score (T > 0) where the sampled token is written or compared; `topk`
adjacent confidences at a top-k boundary; `top1` the most confident candidate vs the second when
only the top one is committed (threshold below tau, M2T fallback); `threshold`, `m2t_threshold`,
`edit_threshold`, `remask_threshold` a value vs its threshold; `cap` adjacent scores at the
rho_max cap; `hist_best` c0 vs the stored confidence; `soft_topk` k-th vs (k+1)-th probability of
the EvoToken soft inputs.

%s

| case | model | rule | G/B/P | T, seed | steps | events | min margin (kind) |
|---|---|---|---|---|---|---|---|
"""

DEFINITIONS = """## Points of the rule definitions a C implementation must match

- Trace: one line per forward; `step S block B`, S = global 0-based forward index, B = 0 for the
  first generation block (in block-causal mode the block holding position P, absolute index P // B).
- RNG: `uniform(seed, s, p, v)` with s = forwards done before, p = absolute canvas position, v =
  token id; llada `remasking=random` uses v = V (vocabulary rows). Gumbel score
  `logit / T - log(-log u)`, argmax with ties to the lowest id; confidence is the noise-free softmax,
  except in the t2t/t2m (LLaDA2.1) loop, where it is the probability under softmax(logits / T).
- llada: ntt from the masks of the block at block start, remainder to the early steps; exactly
  steps/nb forwards per block; top-ntt[i] masked block positions by confidence (ties: lowest position).
- margin: the llada loop with the masks ranked by p1 - p2 (the two largest probabilities of the
  noise-free softmax), ties to the lowest position; the committed token is the sampled one.
- threshold: the top candidate is always committed, the others iff conf >= tau (non-strict).
  factor F: thr[0] = -1, thr[i] = 1 - F/(i+2); first i with sorted_conf[i] < thr[i], else N-1;
  i == 0 or i == N-1 -> i + 1; commit the top i.
- t2t / t2m: M2T `c > tau` (strict), fallback = the single most confident masked position (ties:
  lowest position) when nothing passes; T2T `c > tau_edit` (strict) and x0 != old; editable =
  non-mask, non-prompt block positions at step start. Post-step counting, max_post (a block
  ends before the forward that would make post > max_post). EOS (eos_stop=1): at the top of an
  iteration with no mask in the block, an EOS anywhere in x[P:we] stops the whole generation
  (before post is counted); after a block ends, no mask and an EOS in x[P:we] stop it too. Later
  positions stay masks.
  Block-causal: canvas padded with masks to nb*B (nb = ceil((P+G)/B)); the padding positions
  beyond P+G are filled, edited and remasked like any other block position, count in |E| for the
  cap, and `EOS in x[P:we]` / `no M in x[P:we]` include them; they are not printed.
- t2m: counters per absolute position, cleared (with the LogitDiff memory) only by a step with
  empty E (every block's first step is one). R &= counter < cmax before the cap;
  cap = max(1, int(|E| * rho_max)), keep the cap lowest scores (ties: lowest position).
  LowProb `p_t(x_old) < tau_remask`, T2T-Remask `c > tau_remask and x0 != x_old`, LogitDiff
  `p_{t-1}(x_old) - p_t(x_old) > tau_remask` (all strict), p_{t-1} = the previous forward's softmax.
- evotoken: sampling excludes the mask id (also from the Gumbel argmax); at T = 0 p is the softmax
  with the mask logit set to -inf, at T > 0 the full softmax. Soft inputs: top-k_soft of p (ties:
  lowest id) and the position's own token with weight S*alpha/(1-alpha) if it is a mask, else 0;
  weights normalised, rounded to bfloat16 as torch does (double -> float -> bf16, both round to
  nearest even), renormalised in the embedding mix. Positions < bs (bs of the step's block) use
  their own token embedding. First forward: plain embeddings. Historical best: strict
  `c0 > conf_x`, positions committed this step skipped (their conf_x == c0).
- No golden case ever writes the mask id as a token (attempts that would are rejected), so the
  cases do not depend on how `x0 == M` is handled by llada / threshold / t2t / t2m.
"""


def check_cache(path):
    """forward_cached against forward_a: a full pass is the same function, and a cached pass whose
    inputs did not change since the refresh reproduces it (for every row, prefix and dual)."""
    m = Model(path)
    ids = [3 + (7 * i) % (m.V - 5) for i in range(20)]
    full = mf.forward_a(m.w, m.cfg, ids).numpy()
    lg, cache = m.logits_cached(ids, 0, None, False, None, None)
    assert np.abs(lg - full).max() < 1e-10, "forward_cached (full) differs from forward_a"
    for active in ((8, 12), (8, 20)):
        lc, _ = m.logits_cached(ids, 0, None, False, active, cache)
        assert np.abs(lc - full).max() < 1e-10, "cached pass with unchanged inputs differs"
    ids2 = list(ids)
    ids2[9] = m.mask
    lc, _ = m.logits_cached(ids2, 0, None, False, (8, 12), cache)
    assert np.abs(lc - mf.forward_a(m.w, m.cfg, ids2).numpy()).max() > 1e-6, "a changed input must change the result"
    # Extending a block-causal prefix cache (official-block) is exact: the cache of ids[:12] cropped
    # to 8, extended by [8, 16), gives the full pass over ids[:16] on those rows.
    _, c12 = m.logits_cached(ids[:12], 4, None, False, None, None)
    crop = {"kv": [(K[:, :8], V[:, :8]) for K, V in c12["kv"]], "hidden": c12["hidden"][:8]}
    lx, cx = m.logits_cached(ids[:16], 4, None, False, (8, 16), crop)
    assert np.abs(lx[8:16] - mf.forward_a(m.w, m.cfg, ids[:16], 4).numpy()[8:16]).max() < 1e-10, "cache extension"
    assert cx["kv"][0][0].shape[1] == 16


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: rules_reference.py FIXTURES_DIR   (e.g. tests/fixtures)")
    root = sys.argv[1]
    rel_root = os.path.relpath(os.path.abspath(root), os.getcwd())
    check_rng()
    check_cache(os.path.join(root, "models", "gqa-f32"))
    models = {}
    outdir = os.path.join(root, "rules")
    os.makedirs(outdir, exist_ok=True)
    only = os.environ.get("RULES_ONLY")
    for f in os.listdir(outdir):
        if only:  # regenerate just those cases (the README table keeps its rows)
            continue
        if f.endswith(".args") or f.endswith(".expected") or f.endswith(".probs") or f == "README.md":
            os.remove(os.path.join(outdir, f))
    rows = []
    for case in CASES:
        if only and case["name"] not in only.split(","):
            continue
        if case["model"] not in models:
            path = os.path.join(root, "models", case["model"])
            models[case["model"]] = MoeModel(path, case["model"]) if case["model"].startswith("llada") else Model(path)
        model = models[case["model"]]
        why = {}
        for attempt in range(MAX_ATTEMPTS):
            prompt, seed = case_inputs(case, model, attempt)
            r = run_case(case, model, prompt, seed, False)
            if r.mask_commits:
                why["mask id committed"] = why.get("mask id committed", 0) + 1
                continue
            if r.min_margin() < MARGIN:
                k = min(r.margins, key=lambda kk: r.margins[kk][0])
                why["margin " + k] = why.get("margin " + k, 0) + 1
                continue
            if not satisfied(case, r):
                why["events"] = why.get("events", 0) + 1
                continue
            if case.get("differs_from_exact") and run_case(case, model, prompt, seed, False, cache="none").lines == r.lines:
                why["same as the exact loop"] = why.get("same as the exact loop", 0) + 1
                continue
            r32 = run_case(case, model, prompt, seed, True)
            if r32.lines != r.lines:
                why["float32 replay differs"] = why.get("float32 replay differs", 0) + 1
                continue
            if "bf16_rounding_rel" in r.info and r.info["bf16_rounding_rel"] < FLIP_REL:
                rf = run_case(case, model, prompt, seed, False, flip=True)
                if rf.lines != r.lines:
                    why["bf16 flip replay differs"] = why.get("bf16 flip replay differs", 0) + 1
                    continue
            break
        else:
            sys.exit("%s: no acceptable attempt in %d (%s)" % (case["name"], MAX_ATTEMPTS, why))
        name = case["name"]
        with open(os.path.join(outdir, name + ".args"), "w") as f:
            f.write(args_line(case, rel_root, prompt, seed) + "\n")
        with open(os.path.join(outdir, name + ".expected"), "w") as f:
            f.write("\n".join(r.lines) + "\n")
        if case.get("probs"):  # per-step probabilities, for tests/cli/test_official_block_probs.sh
            with open(os.path.join(outdir, name + ".probs"), "w") as f:
                f.write("\n".join(r.probs) + "\n")
        kind = min(r.margins, key=lambda kk: r.margins[kk][0])
        ev = ", ".join("%s %d" % (k, v) for k, v in sorted(r.events.items()))
        extra = ""
        if "bf16_rounding_rel" in r.info:
            extra = "; bf16 rounding %.1e" % r.info["bf16_rounding_rel"]
        margins = " ".join("%s=%.1e" % (k, v[0]) for k, v in sorted(r.margins.items()))
        print("case %-18s attempt %3d  steps %3d  %s" % (name, attempt, r.step, ev))
        print("     %-18s min margin %.2e (%s, %s)  [%s]%s  rejected: %s" %
              ("", r.min_margin(), kind, r.margins[kind][1], margins, extra, why or "none"))
        rows.append("| `%s` | %s | `%s`%s | %d/%d/%d | %g, %d | %d | %s | %.1e (%s)%s |" % (
            name, case["model"], case["spec"], " bc%d" % case["block_causal"] if case.get("block_causal") else "",
            case["G"], case["B"], case["P"], case.get("T", 0.0), seed, r.step, ev, r.min_margin(), kind, extra))
    if not only:
        with open(os.path.join(outdir, "README.md"), "w") as f:
            f.write(README_HEAD % (MARGIN, DEFINITIONS.rstrip("\n")))
            f.write("\n".join(rows) + "\n")
    print("done: %d case(s)" % len(rows))


if __name__ == "__main__":
    main()
