#!/usr/bin/env python3
"""d2f_reference.py — D2F-LLaDA's pipelined block decoding in float64 PyTorch, for `dlmscope run --rule d2f`.

    /usr/bin/python3 tests/reference/d2f_reference.py tests/fixtures     (`make fixtures` runs it)

Transcribed from the official Discrete Diffusion Forcing evaluation loop (D2F-eval/eval_llada.py,
DreamLoRA._generate_block_single; the demo's stream_and_capture_for_gradio in
generate_llada_demo_block.py does the same), not from dlmscope's C:
  - create_full_block_attention_mask: an additive 0 / -inf mask; the prompt, whatever its length, is
    one block that sees only itself; generation block b = [P + bB, P + (b+1)B) sees the prompt,
    every earlier block and itself. Positions are absolute (RoPE at canvas positions).
  - block_states: block 0 is the prompt ('to_cache', complete); every iteration: append an all-mask
    block when the last block's decoded fraction >= block_add_threshold (at most max_new_tokens // B
    blocks, none once EOS was committed), then _update_block_completion_states (a block whose
    predecessor is >= decoded_token_threshold decoded becomes is_complete); stop when no mask is
    left and no block is active.
  - one forward over x_t[start:], start = the first 'to_cache' block (whose K/V this forward appends
    to the cache: update_kvcache) or else the first active block after the cache, with the cache as
    past_key_values and extract_attention_mask's rows; to_cache blocks become 'in_cache'.
  - per active block: commit every mask with max-prob > skip_threshold; an is_complete block with
    none commits its most confident one; a block with no mask becomes 'to_cache' only when every
    earlier block is inactive.
The forward is the LLaDA block of make_fixtures.py (RMSNorm, RoPE, SwiGLU) with its own attention
over an explicit KV cache and, for the adapter case, the PEFT LoRA unmerged on q_proj, k_proj,
v_proj and attn_out (D2F-train/utils/model.py's targets). Every trajectory is also decoded without
the cache (a full forward over x_t each iteration) and must be identical, and its logits agree.
dlmscope's departures, documented in docs/rules.md: the mask token is never committed (a random
model may predict it; sample_tokens would "commit" it and leave the position masked) and EOS is
config.json's eos_token_id (eval_llada.py hard-codes LLaDA's 126081, the demo reads the tokenizer's).
Cases are kept only when no decision is closer than MARGIN. Writes tests/fixtures/d2f/*.args and
*.expected in the format of `dlmscope run --trace-ids`, and the adapter
tests/fixtures/adapters/mha-bf16-d2f-lora.
"""

import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (float64 default dtype)

DT = torch.float64
MARGIN = 1e-4
NEG = float("-inf")
ADAPTER = dict(name="mha-bf16-d2f-lora", model="mha-bf16", r=16, alpha=16, seed=5005,
               targets=["q_proj", "k_proj", "v_proj", "attn_out"])

CASES = [
    # the demo's thresholds (block_add 0.1, decoded 0.55, skip 0.9) with blocks of 8
    dict(name="d2f-gqa-demo", model="gqa-f32", P=7, G=32, B=8, tau=0.9, add=0.1, dec=0.55, seed=11, eos=False),
    # eval_llada.sh's gsm8k thresholds (block_add 0.7, decoded 0.95) with a lower skip threshold
    dict(name="d2f-gqa-gsm8k", model="gqa-f32", P=5, G=32, B=8, tau=0.5, add=0.7, dec=0.95, seed=12, eos=False),
    # D2F's LoRA (q, k, v, attn_out) on a LLaDA-layout bf16 model
    dict(name="d2f-mha-lora", model="mha-bf16", adapter=True, P=9, G=24, B=8, tau=0.6, add=0.25, dec=0.5, seed=13,
         eos=False),
    # EOS committed early: no block opens after it, and the canvas ends masked
    dict(name="d2f-gqa16-eos", model="gqa-f16", P=6, G=32, B=4, tau=0.3, add=0.0, dec=0.5, seed=99, eos=True),
]


class Model:
    def __init__(self, root, name, lora=None, lora_scale=0.0):
        path = os.path.join(root, "models", name)
        with open(os.path.join(path, "config.json")) as f:
            c = json.load(f)

        def get(*keys):
            for k in keys:
                if k in c:
                    return c[k]
            raise KeyError(keys)

        self.d = get("d_model", "hidden_size")
        self.nh = get("n_heads", "num_attention_heads")
        self.nkv = get("n_kv_heads", "num_key_value_heads")
        self.hd = self.d // self.nh
        self.nl = get("n_layers", "num_hidden_layers")
        self.eps = float(get("rms_norm_eps"))
        self.theta = float(get("rope_theta"))
        self.mask, self.eos = get("mask_token_id"), get("eos_token_id")
        self.w = {}
        for fn in sorted(os.listdir(path)):
            if fn.endswith(".safetensors"):
                self.w.update(mf.read_safetensors(os.path.join(path, fn)))
        self.V = self.w[mf.P + "wte.weight"].shape[0]
        self.lora, self.lora_scale = lora, lora_scale

    def lin(self, v, i, mod):
        y = v @ self.w[mf.P + "blocks.%d.%s.weight" % (i, mod)].T
        if self.lora is not None and (i, mod) in self.lora:
            A, B = self.lora[(i, mod)]
            y = y + self.lora_scale * ((v @ A.T) @ B.T)
        return y

    def rms(self, v, weight):
        return v * torch.rsqrt((v * v).mean(-1, keepdim=True) + self.eps) * weight

    def rope(self, v, positions):
        # v: [heads, n, hd]; rotate pairs (j, j + hd/2) at absolute positions
        inv = self.theta ** (-torch.arange(0, self.hd, 2, dtype=DT) / self.hd)
        f = torch.outer(torch.tensor(positions, dtype=DT), inv)
        emb = torch.cat([f, f], -1)
        v1, v2 = v[..., :self.hd // 2], v[..., self.hd // 2:]
        return v * emb.cos() + torch.cat([-v2, v1], -1) * emb.sin()

    def forward(self, ids, start, bias, past=None, keep=0):
        """LLaDA forward of x_t[start:] (ids) with past_key_values = past (K/V of positions [0, start))
        and the additive attention bias [n, start + n]. Returns (logits [n, V], cache): the cache keeps
        the K/V of the first `keep` positions overall (update_kvcache), or is None when keep is 0."""
        n = len(ids)
        x = self.w[mf.P + "wte.weight"][torch.tensor(ids)].clone()
        pos = list(range(start, start + n))
        cache = []
        rep = self.nh // self.nkv
        for i in range(self.nl):
            h = self.rms(x, self.w[mf.P + "blocks.%d.attn_norm.weight" % i])
            q = self.lin(h, i, "q_proj").view(n, self.nh, self.hd).transpose(0, 1)
            k = self.lin(h, i, "k_proj").view(n, self.nkv, self.hd).transpose(0, 1)
            v = self.lin(h, i, "v_proj").view(n, self.nkv, self.hd).transpose(0, 1)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if past is not None:
                k = torch.cat([past[i][0], k], 1)
                v = torch.cat([past[i][1], v], 1)
            cache.append((k[:, :keep], v[:, :keep]))
            kk, vv = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
            s = torch.einsum("hid,hjd->hij", q, kk) / math.sqrt(self.hd) + bias
            o = torch.einsum("hij,hjd->hid", torch.softmax(s, -1), vv).transpose(0, 1).reshape(n, self.nh * self.hd)
            x = x + self.lin(o, i, "attn_out")
            h = self.rms(x, self.w[mf.P + "blocks.%d.ff_norm.weight" % i])
            gate, up = self.lin(h, i, "ff_proj"), self.lin(h, i, "up_proj")
            x = x + self.lin(torch.nn.functional.silu(gate) * up, i, "ff_out")
        x = self.rms(x, self.w[mf.P + "ln_f.weight"])
        return x @ self.w[mf.P + "ff_out.weight"].T, (cache if keep > 0 else None)


def full_block_mask(P, L, B):
    """create_full_block_attention_mask(prompt_length=P, max_length=L, block_size=B)."""
    m = torch.full((L, L), NEG, dtype=DT)
    m[:P, :P] = 0
    for b in range((L - P + B - 1) // B):
        s, e = P + b * B, min(P + (b + 1) * B, L)
        m[s:e, :P] = 0
        for pb in range(b):
            m[s:e, P + pb * B:min(P + (pb + 1) * B, L)] = 0
        m[s:e, s:e] = 0
    return m


def extract_mask(full, start, n, cache_len):
    """extract_attention_mask(full_mask, start_pos, input_length, cache_length)."""
    out = torch.full((n, cache_len + n), NEG, dtype=DT)
    out[:, :cache_len] = full[start:start + n, :cache_len]
    out[:, cache_len:] = full[start:start + n, start:start + n]
    return out


def generate(model, prompt, G, B, skip, add, dec, use_cache):
    """The official loop; returns (trace lines, final canvas, closest decision, logits per forward, the
    most blocks active in one step)."""
    M, P = model.mask, len(prompt)
    full = full_block_mask(P, P + G, B)
    x = list(prompt)
    states = {0: dict(start=0, end=P, mask_count=0, total=P, state="to_cache", complete=True)}
    past, cache_len, eos_detected, step = None, 0, False, 0
    lines, closest, all_logits, most_active = [], 1.0, [], 0

    def gap(v, thr):
        nonlocal closest
        closest = min(closest, abs(v - thr))

    while True:
        if len(states) - 1 < G // B and not eos_detected:
            last = states[len(states) - 1]
            progress = (last["total"] - last["mask_count"]) / last["total"]
            gap(progress, add) if len(states) > 1 and add > 0 else None
            if progress >= add:
                s = len(x)
                x += [M] * B
                states[len(states)] = dict(start=s, end=s + B, mask_count=B, total=B, state="active", complete=False)
        for bid in sorted(states):  # _update_block_completion_states
            st = states[bid]
            frac = (st["total"] - st["mask_count"]) / st["total"]
            if bid > 0:
                gap(frac, dec)
            if frac >= dec and bid + 1 in states:
                states[bid + 1]["complete"] = True
        active = [b for b in sorted(states) if states[b]["state"] == "active"]
        if M not in x and not active:
            break
        to_cache = [b for b in states if states[b]["state"] == "to_cache"]
        if not to_cache and not active:
            break
        start = states[min(to_cache)]["start"] if to_cache else min(states[b]["start"] for b in active)
        update = states[max(to_cache)]["end"] - start if to_cache else 0
        if use_cache:
            assert start == cache_len
            logits, kv = model.forward(x[start:], start, extract_mask(full, start, len(x) - start, cache_len), past,
                                       cache_len + update)
            if update:
                past = kv
        else:  # no cache: the whole canvas so far, rows from `start` on
            logits = model.forward(x, 0, full[:len(x), :len(x)])[0][start:]
        all_logits.append(logits)
        most_active = max(most_active, len(active))
        for b in to_cache:
            states[b]["state"] = "in_cache"
        first_active = min(active) - 1
        done_blocks = []
        for bid in active:
            st = states[bid]
            locs = [i for i in range(st["start"], st["end"]) if x[i] == M]
            if not locs:
                done_blocks.append(bid)
                continue
            probs = torch.softmax(logits[[i - start for i in locs]], -1)
            conf, x0 = [], []
            for r in probs:  # max-prob sampling at temperature 0, the mask left out (dlmscope's choice)
                q = r.clone()
                q[M] = -1.0
                top2 = torch.topk(q, 2)
                gap(float(top2.values[0]), float(top2.values[1]))
                x0.append(int(top2.indices[0]))
                conf.append(float(r[x0[-1]]))
            for c in conf:
                gap(c, skip)
            chosen = [j for j, c in enumerate(conf) if c > skip]
            if not chosen and st["complete"]:
                order = sorted(range(len(conf)), key=lambda j: (-conf[j], j))
                if len(order) > 1:
                    gap(conf[order[0]], conf[order[1]])
                chosen = [order[0]]
            for j in chosen:
                x[locs[j]] = x0[j]
                if x0[j] == model.eos:
                    eos_detected = True
            st["mask_count"] -= len(chosen)
            if st["mask_count"] == 0:
                done_blocks.append(bid)
        for bid in done_blocks:
            if states[bid]["state"] == "active" and all(states[b]["state"] != "active" for b in range(bid)):
                states[bid]["state"] = "to_cache"
        cache_len += update
        canvas = x[P:] + [M] * (P + G - len(x))
        lines.append("step %d block %d : %s" % (step, first_active, " ".join(map(str, canvas))))
        step += 1
    lines.append("final : %s" % " ".join(map(str, x[P:] + [M] * (P + G - len(x)))))
    return lines, x, closest, all_logits, most_active


def make_d2f_lora(model, spec):
    """LoRA A [r, in], B [out, r] on q_proj, k_proj, v_proj and attn_out, stored (so rounded) as F32."""
    g = torch.Generator().manual_seed(spec["seed"])
    shapes = {"q_proj": (model.nh * model.hd, model.d), "k_proj": (model.nkv * model.hd, model.d),
              "v_proj": (model.nkv * model.hd, model.d), "attn_out": (model.d, model.nh * model.hd)}
    lora = {}
    for i in range(model.nl):
        for m in spec["targets"]:
            out, inp = shapes[m]
            A = torch.randn(spec["r"], inp, generator=g, dtype=DT) / math.sqrt(inp)
            B = torch.randn(out, spec["r"], generator=g, dtype=DT) * 0.15  # PEFT starts B at 0; random B matters
            lora[(i, m)] = (mf.round_to(A, "F32"), mf.round_to(B, "F32"))
    return lora


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: d2f_reference.py OUT_DIR   (e.g. tests/fixtures)")
    root = sys.argv[1]
    rel_root = os.path.relpath(os.path.abspath(root), os.getcwd())
    outdir = os.path.join(root, "d2f")
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        if f.endswith(".args") or f.endswith(".expected"):
            os.remove(os.path.join(outdir, f))
    base = Model(root, ADAPTER["model"])
    lora = make_d2f_lora(base, ADAPTER)
    mf.write_adapter(root, ADAPTER, lora)
    for case in CASES:
        model = Model(root, case["model"], lora if case.get("adapter") else None, ADAPTER["alpha"] / ADAPTER["r"])
        P, G, B = case["P"], case["G"], case["B"]
        found = None
        for attempt in range(1000 if case["eos"] else 300):
            g = torch.Generator().manual_seed(case["seed"] * 1000 + attempt)
            prompt = torch.randint(0, model.V - 3, (P,), generator=g).tolist()
            lines, x, closest, lg, most = generate(model, prompt, G, B, case["tau"], case["add"], case["dec"], True)
            if closest < MARGIN:
                continue
            eos_stop = len(x) < P + G
            if eos_stop != case["eos"] or most < 2 or len(lines) < 6:  # several blocks in flight at once
                continue
            lines2, _, _, lg2, _ = generate(model, prompt, G, B, case["tau"], case["add"], case["dec"], False)
            assert lines2 == lines, "%s: cached and uncached trajectories differ" % case["name"]
            worst = max(float((a - b).abs().max()) for a, b in zip(lg, lg2))
            assert worst < 1e-9, "%s: cached logits differ from uncached by %g" % (case["name"], worst)
            found = (prompt, lines, closest, worst, most)
            break
        assert found, "%s: no prompt with every decision further than %g from a tie" % (case["name"], MARGIN)
        prompt, lines, closest, worst, most = found
        for cache in ("prefix", "none"):
            name = "%s-cache-%s" % (case["name"], cache)
            args = ("--model %s%s --prompt-ids \"%s\" --rule d2f:tau=%g,block_add=%g,decoded=%g,cache=%s --gen %d "
                    "--block %d --temperature 0 --seed 0 --device cpu --trace-ids" %
                    (os.path.join(rel_root, "models", case["model"]),
                     " --adapter " + os.path.join(rel_root, "adapters", ADAPTER["name"]) if case.get("adapter") else "",
                     " ".join(map(str, prompt)), case["tau"], case["add"], case["dec"], cache, G, B))
            with open(os.path.join(outdir, name + ".args"), "w") as f:
                f.write(args + "\n")
            with open(os.path.join(outdir, name + ".expected"), "w") as f:
                f.write("\n".join(lines) + "\n")
        print("case %-16s steps %2d  blocks in flight %d  closest decision %.1e  cached vs uncached logits %.1e" %
              (case["name"], len(lines) - 1, most, closest, worst))


if __name__ == "__main__":
    main()
