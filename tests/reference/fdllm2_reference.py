#!/usr/bin/env python3
"""fdllm2_reference.py — Fast-dLLM v2's generate() in float64 PyTorch, for `dlmscope run --rule fdllm2`.

    /usr/bin/python3 tests/reference/fdllm2_reference.py tests/fixtures     (`make fixtures` runs it)

Transcribed from Fast_dLLM_QwenForCausalLM.generate (the checkpoints' modeling.py, copies in
Satgoy152/DualDiffusion and others; docs/rules.md), not from dlmscope's C, with the forward of
families_reference.py (its fast-dllm-v2-f32 model, attention blocks of 8):
  - prefill: the prompt's whole blocks go to the KV cache; when the prompt ends on a block
    boundary, argmax(logits[:, -1]) of that forward is the first generated token;
  - per block: every forward runs the block (x_t[:, -block_size:]) against the cache, the logits
    are shifted inside it (cat([logits[:, :1], logits[:, :-1]])), and the step works on the first
    sub-block (small_block_size) that still has a mask: x1 = argmax, p = softmax(logits)[x1];
    unmask the masks with p > threshold, and always the masked position of the largest p
    (torch argmax: the first on ties);
  - a finished block is written to the cache by one more forward, whose last row's argmax is the
    next block's first token;
  - before every forward: a stop token with no mask before it in the generated text ends generation.
The cache is exact here (no position sees a later block), so a forward over the cache plus the
block equals the plain forward over the canvas up to the block's end, which is what is computed.
Two departures, both documented in docs/rules.md: dlmscope's canvas ends with the last block (the
official loop appends one more argmax token after it), and a prompt of exactly one block is
treated like any aligned prompt (generate() skips its prefill then and decodes without it).
Cases are kept only when no decision is closer than 1e-6. Writes tests/fixtures/fdllm2/*.args and
*.expected in the format of `dlmscope run --trace-ids`.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from families_reference import FAMILIES, forward, make_weights  # noqa: E402

torch.set_default_dtype(torch.float64)

MODEL = "fast-dllm-v2-f32"
CASES = [
    # prompt inside the first block (no autoregressive first token), sub-blocks of 4
    dict(name="fdllm2-p5-sub4", P=5, gen=24, sub=4, tau=0.9, seed=41, start=0, stop_mid=False, min_steps=6),
    # an aligned prompt: the first token comes from the prefill's last row
    dict(name="fdllm2-p8-sub2-tau05", P=8, gen=24, sub=2, tau=0.5, seed=42, start=0, stop_mid=False, min_steps=6),
    # a prompt over one block, one sub-block per block
    dict(name="fdllm2-p11-sub8", P=11, gen=32, sub=8, tau=0.7, seed=43, start=0, stop_mid=False, min_steps=6),
    # the stop token (eos_token_id) committed with masks after it: generation ends there. This
    # random model rarely emits it, hence the search's starting point.
    dict(name="fdllm2-p10-stop", P=10, gen=24, sub=4, tau=0.6, seed=77, start=49, stop_mid=True, min_steps=2),
]
B = 8
CLOSE = 1e-6


def argmax_not(p, mask):
    """torch argmax of a row with the mask token left out (dlmscope never commits the mask)."""
    q = p.clone()
    q[mask] = -1.0
    return int(torch.argmax(q))


def generate(spec, w, prompt, gen, sub, tau, mask, stop):
    P = len(prompt)
    n = (P + gen + B - 1) // B * B
    x = list(prompt) + [mask] * (n - P)
    lines, closest, step = [], 1.0, 0

    def margin_of(p):
        top2 = torch.topk(p, 3)
        vals = [float(v) for i, v in zip(top2.indices, top2.values) if int(i) != mask]
        return vals[0] - vals[1]

    def stopped():
        for i in range(P, n):
            if x[i] == mask:
                return False
            if x[i] == stop:
                return True
        return False

    for bstart in range((P // B) * B, n, B):
        bend, first = bstart + B, max(bstart, P)
        while True:
            if stopped():
                return lines, closest, x
            if mask not in x[first:bend]:
                break
            if first == bstart and x[bstart] == mask:
                # the forward that wrote the previous block (or the prompt) to the cache: its last row
                probs = torch.softmax(forward(spec, w, x[:bstart], shift=False)[-1], -1)
                closest = min(closest, margin_of(probs))
                x[bstart] = argmax_not(probs, mask)
            else:
                logits = forward(spec, w, x[:bend], shift=False)[bstart:bend]
                logits = torch.cat([logits[:1], logits[:-1]], 0)  # shifted inside the block
                probs = torch.softmax(logits, -1)
                for s0 in range(bstart, bend, sub):
                    masked = [i for i in range(max(s0, first), s0 + sub) if x[i] == mask]
                    if not masked:
                        continue
                    x1 = {i: argmax_not(probs[i - bstart], mask) for i in masked}
                    p = {i: float(probs[i - bstart][x1[i]]) for i in masked}
                    for i in masked:
                        closest = min(closest, margin_of(probs[i - bstart]), abs(p[i] - tau))
                    ranked = sorted(masked, key=lambda i: (-p[i], i))
                    if len(ranked) > 1:
                        closest = min(closest, p[ranked[0]] - p[ranked[1]])
                    for i in masked:
                        if p[i] > tau or i == ranked[0]:
                            x[i] = x1[i]
                    break
            lines.append("step %d block %d : %s" % (step, (bstart - (P // B) * B) // B, " ".join(map(str, x[P:P + gen]))))
            step += 1
    return lines, closest, x


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fdllm2_reference.py OUT_DIR   (e.g. tests/fixtures)")
    root = sys.argv[1]
    rel_root = os.path.relpath(os.path.abspath(root), os.getcwd())
    spec = FAMILIES[MODEL]
    assert spec["block"] == B
    w = make_weights(spec)  # the same seeded weights families_reference.py writes
    V = spec["shape"]["V"]
    mask, stop = V - 1, V - 2  # config.json's mask_token_id and eos_token_id
    outdir = os.path.join(root, "fdllm2")
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        if f.endswith(".args") or f.endswith(".expected"):
            os.remove(os.path.join(outdir, f))
    for case in CASES:
        found = None
        for attempt in range(case["start"], case["start"] + 300):
            g = torch.Generator().manual_seed(case["seed"] * 1000 + attempt)
            prompt = torch.randint(0, V - 3, (case["P"],), generator=g).tolist()
            lines, closest, x = generate(spec, w, prompt, case["gen"], case["sub"], case["tau"], mask, stop)
            P = case["P"]
            done = mask not in x[P:P + case["gen"]]
            # a run to the end, or one a stop token ends before its last block
            if closest > CLOSE and (done != case["stop_mid"]) and len(lines) >= case["min_steps"]:
                found = (prompt, lines, closest)
                break
        assert found, "%s: no prompt with every decision further than %g from a tie" % (case["name"], CLOSE)
        prompt, lines, closest = found
        lines.append("final : %s" % lines[-1].split(" : ")[1])
        for cache in ("prefix", "none"):
            name = "%s-cache-%s" % (case["name"], cache)
            args = ("--model %s --prompt-ids \"%s\" --rule fdllm2:sub_block=%d,tau=%g,cache=%s --gen %d --block %d "
                    "--temperature 0 --seed 0 --device cpu --trace-ids" %
                    (os.path.join(rel_root, "models", MODEL), " ".join(map(str, prompt)), case["sub"], case["tau"], cache,
                     case["gen"], B))
            with open(os.path.join(outdir, name + ".args"), "w") as f:
                f.write(args + "\n")
            with open(os.path.join(outdir, name + ".expected"), "w") as f:
                f.write("\n".join(lines) + "\n")
        print("case %-24s steps %2d  closest decision %.1e" % (case["name"], len(lines) - 1, closest))


if __name__ == "__main__":
    main()
