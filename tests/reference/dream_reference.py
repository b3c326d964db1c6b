#!/usr/bin/env python3
"""dream_reference.py — Dream's own decoding loop in float64 PyTorch, for `dlmscope run --rule dream`.

    /usr/bin/python3 tests/reference/dream_reference.py tests/fixtures     (`make fixtures` runs it)

Transcribed from Dream's generation_utils.py (`_sample` and `sample_tokens`; research/algorithms.md
§1.2), not from dlmscope's C: timesteps = linspace(1, eps, steps + 1); at step i with t, s =
timesteps[i], timesteps[i + 1], the logits of the whole canvas (shifted: position j reads row j - 1)
give for every masked position x0 = argmax (temperature 0) and a confidence: maskgit_plus the top
probability, topk_margin top1 - top2, entropy sum p log p. The int(n_mask * (1 - s / t)) most
confident masks are unmasked (all of them at the last step; torch.topk order, ties to the lowest
position). Cases run on the dream-f32 fixture model of families_reference.py, and are kept only
when no selection is decided by a margin under 1e-6. Writes tests/fixtures/dream/*.args and
*.expected, in the format of `dlmscope run --trace-ids`.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from families_reference import FAMILIES, forward, make_weights  # noqa: E402

torch.set_default_dtype(torch.float64)

CASES = [
    dict(name="dream-maskgit-plus", alg="maskgit_plus", prompt=[11, 52, 7, 90, 33], gen=16, steps=16),
    dict(name="dream-topk-margin", alg="topk_margin", prompt=[4, 200, 18, 61], gen=16, steps=8),
    dict(name="dream-entropy", alg="entropy", prompt=[150, 3, 77, 9, 120, 41], gen=12, steps=6),
]
EPS = 1e-3
CLOSE = 1e-6


def run(spec, w, case):
    V = spec["shape"]["V"]
    mask = V - 1
    x = list(case["prompt"]) + [mask] * case["gen"]
    P, steps = len(case["prompt"]), case["steps"]
    timesteps = torch.linspace(1, EPS, steps + 1, dtype=torch.float64)
    lines, closest = [], 1.0
    for i in range(steps):
        logits = forward(spec, w, x)  # shifted already: row j is the distribution of position j
        probs = torch.softmax(logits, -1)
        masked = [j for j in range(len(x)) if x[j] == mask]
        t, s = float(timesteps[i]), float(timesteps[i + 1])
        conf, x0 = {}, {}
        for j in masked:
            p = probs[j]
            top2 = torch.topk(p, 2)
            x0[j] = int(top2.indices[0])
            if case["alg"] == "maskgit_plus":
                conf[j] = float(top2.values[0])
            elif case["alg"] == "topk_margin":
                conf[j] = float(top2.values[0] - top2.values[1])
            else:
                conf[j] = float((p * torch.log(p)).sum())
            closest = min(closest, float(top2.values[0] - top2.values[1]))
        k = len(masked) if i == steps - 1 else int(len(masked) * (1 - s / t))
        order = sorted(masked, key=lambda j: (-conf[j], j))
        if 0 < k < len(order):
            closest = min(closest, conf[order[k - 1]] - conf[order[k]])
        for j in order[:k]:
            x[j] = x0[j]
        lines.append("step %d block 0 : %s" % (i, " ".join(map(str, x[P:]))))
    lines.append("final : %s" % " ".join(map(str, x[P:])))
    return lines, closest


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: dream_reference.py OUT_DIR   (e.g. tests/fixtures)")
    root = sys.argv[1]
    rel_root = os.path.relpath(os.path.abspath(root), os.getcwd())
    spec = FAMILIES["dream-f32"]
    w = make_weights(spec)  # the same seeded weights families_reference.py writes
    outdir = os.path.join(root, "dream")
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        if f.endswith(".args") or f.endswith(".expected"):
            os.remove(os.path.join(outdir, f))
    for case in CASES:
        lines, closest = run(spec, w, case)
        assert closest > CLOSE, "%s: a decision is closer than %g (%g)" % (case["name"], CLOSE, closest)
        args = ("--model %s --prompt-ids \"%s\" --rule dream:alg=%s --gen %d --steps %d --temperature 0 --seed 0 "
                "--device cpu --trace-ids" % (os.path.join(rel_root, "models", "dream-f32"),
                                              " ".join(map(str, case["prompt"])), case["alg"], case["gen"], case["steps"]))
        with open(os.path.join(outdir, case["name"] + ".args"), "w") as f:
            f.write(args + "\n")
        with open(os.path.join(outdir, case["name"] + ".expected"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print("case %-20s steps %2d  closest decision %.1e" % (case["name"], case["steps"], closest))


if __name__ == "__main__":
    main()
