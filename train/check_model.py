#!/usr/bin/env python3
"""check_model.py — the PyTorch LLaDA (train/model.py) against `dlmscope logits` on a saved model.

    python3 train/check_model.py MODEL_DIR [--adapter DIR] [--dlmscope ./dlmscope] [--cases 6]

For several inputs (chat-wrapped task prompts followed by masks, by a partly decoded response, and
one with EvoToken soft inputs) it runs the PyTorch forward in float32 on the stored (bf16) weights
and `dlmscope logits --top 5`, and checks per position: the top-5 ids are equal (an order swap is
accepted only between candidates whose probabilities differ by less than the tolerance) and every
probability agrees within --tol (default 1e-3). With --adapter the LoRA adapter is applied on both
sides. Exit status 0 iff all cases agree; the maximum deviation is printed.
"""

import argparse
import os
import random
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import model as M  # noqa: E402
import tasks  # noqa: E402

TOP = 5


def dlmscope_logits(exe, model_dir, ids, adapter=None, soft=None):
    cmd = [exe, "logits", "--model", model_dir, "--ids", " ".join(map(str, ids)), "--top", str(TOP), "--threads", "1"]
    if adapter:
        cmd += ["--adapter", adapter]
    if soft:
        cmd += ["--soft", ";".join("%d:%s" % (p, ",".join("%d=%s" % (i, repr(float(w))) for i, w in pairs))
                                   for p, pairs in sorted(soft.items()))]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("dlmscope logits failed: %s" % p.stderr.strip())
    rows = []
    for line in p.stdout.strip().split("\n"):
        parts = line.split()
        rows.append([(int(a), float(b)) for a, b in (x.split(":") for x in parts[1:])])
    return rows


def torch_rows(model, ids, soft=None):
    x = torch.tensor([ids])
    if soft:
        K = max(len(v) for v in soft.values())
        sid = torch.zeros(1, len(ids), K, dtype=torch.long)
        sw = torch.zeros(1, len(ids), K)
        for p in range(len(ids)):
            pairs = soft.get(p, [(ids[p], 1.0)])
            for k, (i, w) in enumerate(pairs):
                sid[0, p, k] = i
                sw[0, p, k] = w
        logits = model(x, sid, sw)[0]
    else:
        logits = model(x)[0]
    probs = torch.softmax(logits.double(), -1)
    return probs


def compare(probs, rows, tol):
    worst = 0.0
    bad = []
    for p, row in enumerate(rows):
        pr = probs[p]
        order = sorted(range(pr.shape[0]), key=lambda t: (-float(pr[t]), t))[:TOP]
        for j, (cid, cprob) in enumerate(row):
            worst = max(worst, abs(float(pr[cid]) - cprob))
            if cid != order[j] and abs(float(pr[cid]) - float(pr[order[j]])) > tol:
                bad.append((p, j, cid, order[j]))
    return worst, bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--dlmscope", default=os.path.join(HERE, "..", "dlmscope"))
    ap.add_argument("--cases", type=int, default=6)
    ap.add_argument("--tol", type=float, default=1e-3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = M.load_model(a.model_dir, "cpu", adapter=a.adapter)
    tk = bpe.Tokenizer(os.path.join(a.model_dir, "tokenizer.json"))
    mask = model.cfg["mask_token_id"]
    rng = random.Random(7)
    items = [tasks.test_items(f, 3)[i] for f in tasks.FAMILIES for i in range(3)]
    rng.shuffle(items)
    ok = True
    worst_all = 0.0
    for c in range(a.cases):
        it = items[c % len(items)]
        prompt = tk.encode(bpe.chat_prompt(it["prompt"]))
        resp = tk.encode(it["response"] + bpe.EOT)
        gen = 48
        kind = c % 3
        canvas = [mask] * gen
        if kind >= 1:   # partly decoded: some response tokens revealed
            for i in range(min(len(resp), gen)):
                if rng.random() < 0.5:
                    canvas[i] = resp[i]
        ids = prompt + canvas
        soft = None
        if kind == 2:   # EvoToken-style soft inputs on a few positions (weights exact in float32)
            soft = {}
            for p in rng.sample(range(len(prompt), len(ids)), 6):
                toks = rng.sample(range(model.cfg["vocab_size"]), 3)
                soft[p] = [(toks[0], 0.5), (toks[1], 0.25), (toks[2], 0.125), (mask, 0.125)]
        with torch.no_grad():
            probs = torch_rows(model, ids, soft)
        rows = dlmscope_logits(a.dlmscope, a.model_dir, ids, a.adapter, soft)
        worst, bad = compare(probs, rows, a.tol)
        worst_all = max(worst_all, worst)
        status = "ok" if worst <= a.tol and not bad else "MISMATCH"
        ok &= status == "ok"
        print("case %d (%s, %s, %d tokens): max |dp| %.2e, top-%d id mismatches %d  %s" % (
            c, it["task"], ["masked", "partial", "soft"][kind], len(ids), worst, TOP, len(bad), status))
    print("%s: PyTorch and dlmscope %s (max |dp| %.2e, tol %.0e)%s" % (
        a.model_dir, "agree" if ok else "DISAGREE", worst_all, a.tol, " with adapter" if a.adapter else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
