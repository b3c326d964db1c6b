#!/usr/bin/env python3
"""record_reference.py — run one of python/examples/loops.py on a LLaDA-layout model folder with the
float64 reference forward (tests/reference) and record it with the dlmscope Python package.

    record_reference.py --model samples/models/dlm-tiny --prompt-ids "1 2 3" --rule t2m:tau_remask=0.3 \
        --gen 64 --block 32 [--steps 64] --out py.dlmtrace [--rule R2 --out F2 ...] [--bench N]

The rule spec and flags are those of `dlmscope run`, so the two recordings can be compared with
`dlmscope trace diff --tolerance`. --bench N: also time N forwards and the recorder's cost per step (first rule's settings).
"""

import argparse
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "python", "examples"))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))

import dlmscope  # noqa: E402
import loops  # noqa: E402
import rules_reference as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-ids", required=True)
    ap.add_argument("--rule", action="append", required=True, help="a rule spec; repeat with --out for several runs")
    ap.add_argument("--gen", type=int, required=True)
    ap.add_argument("--block", type=int, required=True)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--out", action="append", required=True, help="the trace of the matching --rule")
    ap.add_argument("--bench", type=int, default=0)
    a = ap.parse_args()
    if len(a.rule) != len(a.out):
        sys.exit("record_reference.py: %d --rule for %d --out" % (len(a.rule), len(a.out)))
    m = ref.Model(a.model)
    prompt = torch.tensor([int(t) for t in a.prompt_ids.replace(",", " ").split()], dtype=torch.long)
    params = dict(gen=a.gen, block=a.block)
    if a.steps:
        params["steps"] = a.steps
    for spec, out in zip(a.rule, a.out):
        record(m, a.model, prompt, spec, params, out)
    if a.bench:
        bench(m, prompt, dlmscope.Rule(a.rule[0], **params), a.bench, a.out[0] + ".bench")


def record(m, model_dir, prompt, spec, params, out):
    rule = dlmscope.Rule(spec, **params)
    if rule["temperature"] != 0:
        sys.exit("record_reference.py: temperature %g: only T = 0 runs are comparable (dlmscope draws its own noise)" % rule["temperature"])

    def model(x, soft_token=None, prob=None):
        soft = None
        if soft_token is not None:
            soft = {q: list(zip(soft_token[q].tolist(), prob[q].tolist())) for q in range(len(x))}
        return torch.from_numpy(m.logits(x.tolist(), 0, soft))

    with dlmscope.Recorder(out, tokenizer=os.path.join(model_dir, "tokenizer.json"), rule=spec, params=params, prompt=prompt,
                           model=model_dir, device="python float64 reference") as rec:
        G, B, M = rule["gen"], rule["block"], m.mask
        if rule.name == "llada":
            loops.llada(model, prompt, gen=G, block=B, steps=rule["steps"], mask_id=M, rec=rec)
        elif rule.name == "threshold":
            if rule["factor"] > 0:
                sys.exit("record_reference.py: the threshold factor mode is not transcribed in loops.py")
            loops.threshold(model, prompt, gen=G, block=B, tau=rule["tau"], mask_id=M, rec=rec)
        elif rule.name in ("t2t", "t2m"):
            remask = None
            if rule.name == "t2m":
                if rule["detector"] != "lowprob" or rule["cap"] != "code" or rule["editable"] != "before":
                    sys.exit("record_reference.py: loops.py transcribes T2M's LowProb detector with the code's cap and editable set")
                remask = dict(tau_remask=rule["tau_remask"], cmax=rule["cmax"], rho_max=rule["rho_max"])
            loops.llada21(model, prompt, gen=G, block=B, mask_id=M, eos_id=m.eos, remask=remask, tau=rule["tau"],
                          tau_edit=rule["tau_edit"], max_post=rule["max_post"], eos_stop=bool(rule["eos_stop"]), rec=rec)
        else:
            loops.evotoken(model, prompt, gen=G, block=B, steps=rule["steps"], mask_id=M, k_soft=rule["k_soft"],
                           alpha=rule["alpha"], rec=rec)


def bench(m, prompt, rule, n, path):
    """The recorder's cost per step next to the float64 reference forward on the same canvas."""
    G = rule["gen"]
    x = torch.cat([prompt, torch.full((G,), m.mask, dtype=torch.long)])
    fwd, rec_s = [], []
    with dlmscope.Recorder(path, rule="llada", params=dict(gen=G, block=G, steps=max(G, n)), prompt=prompt,
                           model=m.path) as rec:
        for i in range(n):
            t = time.perf_counter()
            logits = torch.from_numpy(m.logits(x.tolist()))
            t1 = time.perf_counter()
            x[len(prompt) + i % G] = int(logits[len(prompt) + i % G].argmax())
            rec.step(x, logits)
            t2 = time.perf_counter()
            fwd.append(t1 - t)
            rec_s.append(t2 - t1)
    fwd.sort()
    rec_s.sort()
    print("bench: %d steps, canvas %d, vocabulary %d: forward median %.2f ms, recorder median %.2f ms per step (%.1f%%)" % (
        n, len(x), m.V, 1e3 * fwd[n // 2], 1e3 * rec_s[n // 2], 100 * rec_s[n // 2] / fwd[n // 2]))
    os.remove(path)


if __name__ == "__main__":
    main()
