#!/usr/bin/env python3
"""check_decode.py — train/decode.py's reference decoders against `dlmscope run` on a trained model.

    python3 train/check_decode.py MODEL_DIR [--adapter DIR] [--n 8] [--rules llada,evotoken]

For n held-out prompts (spread over the four families) both generate at temperature 0 (llada:
--gen (default 128), --block (32), steps = gen; evotoken: steps gen/2, k_soft 3, alpha 0.7, with the adapter if given)
and the generated ids are compared. Agreement is expected to be exact except where two
candidates are within float rounding of each other (a bf16 rounding boundary of an EvoToken soft
weight, or a near tie), which the script reports as the first differing step's position.
Exit status 0 iff every llada generation is identical (evotoken differences are reported).
"""

import argparse
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import decode  # noqa: E402
import model as M  # noqa: E402
import tasks  # noqa: E402


def c_generate(exe, model_dir, ids, rule, adapter, gen, block):
    cmd = [exe, "run", "--model", model_dir, "--prompt-ids", " ".join(map(str, ids)), "--rule", rule,
           "--temperature", "0", "--gen", str(gen), "--block", str(block), "--threads", "1", "--trace-ids"]
    if adapter:
        cmd += ["--adapter", adapter]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("dlmscope run failed: %s" % p.stderr.strip())
    steps, final = [], None
    for line in p.stdout.split("\n"):
        if line.startswith("step"):
            steps.append([int(v) for v in line.split(":", 1)[1].split()])
        elif line.startswith("final"):
            final = [int(v) for v in line.split(":", 1)[1].split()]
    return final, steps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--rules", default="llada,evotoken")
    ap.add_argument("--gen", type=int, default=128, help="generation length (the bundled CPU model: 32)")
    ap.add_argument("--block", type=int, default=32)
    ap.add_argument("--dlmscope", default=os.path.join(HERE, "..", "dlmscope"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    tk = bpe.Tokenizer(os.path.join(a.model_dir, "tokenizer.json"))
    items = []
    for i in range(a.n):
        fam = tasks.FAMILIES[i % len(tasks.FAMILIES)]
        items.append(tasks.test_items(fam, a.n)[i // len(tasks.FAMILIES)])
    ok = True
    for rule in a.rules.split(","):
        adapter = a.adapter if rule == "evotoken" else None
        model = M.load_model(a.model_dir, "cpu", adapter=adapter)
        same = 0
        for it in items:
            ids = tk.encode(bpe.chat_prompt(it["prompt"]))
            trace = []
            out = decode.generate(model, [ids], rule, gen=a.gen, block=a.block, trace=trace)[0, len(ids):].tolist()
            final, steps = c_generate(a.dlmscope, a.model_dir, ids, rule, adapter, a.gen, a.block)
            if final == out:
                same += 1
                continue
            first = next((s for s, (x, y) in enumerate(zip(trace, steps)) if x[0].tolist() != y), None)
            print("  %s %s: differs (first at step %s of %d)" % (rule, it["id"], first, len(steps)))
        print("%s%s: %d/%d generations identical to dlmscope run" % (rule, " + adapter" if adapter else "", same,
                                                                     len(items)))
        if rule == "llada" and same != len(items):
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
