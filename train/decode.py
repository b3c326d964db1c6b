#!/usr/bin/env python3
"""decode.py — a PyTorch reference decoder for the trained model, and held-out evaluation.

    python3 train/decode.py run  MODEL_DIR --prompt "What is 12 + 30?" [--rule llada|evotoken]
    python3 train/decode.py eval MODEL_DIR samples/tasks/*-test.jsonl [--limit N] [--rule llada]
                                 [--adapter DIR] [--out preds.jsonl] [--batch 64] [--device auto]

Rules (temperature 0, as research/algorithms.md describes them):
  llada     LLaDA's low-confidence remasking (ML-GSAI/LLaDA generate.py): gen 128, block 32,
            steps 128 (one token per step); fixed steps per block, the extra tokens of the schedule
            go to the first steps; the mask id is not excluded from the argmax.
  evotoken  EvoToken-DLM's generate_soft_token (4.3) at T = 0: steps gen/2 (two tokens per step
            with block 32), k_soft 3, alpha 0.7, historical-best rule, soft inputs for every masked
            position (future blocks included), the one-step lag, and the T = 0 aliasing quirk (the
            mask id gets probability 0). Use it with the CTS adapter (--adapter MODEL/evotoken-cts).

The forward runs in float32 on every device (no bf16 autocast), so the numbers are those dlmscope
should reproduce. Ties: argmax takes the lowest token id, the schedule the lowest position (stable sort), as
dlmscope does. Prompts are batched by identical prompt length, so no padding or attention mask
is needed and every row is computed exactly as a batch of one.

The response text is the whole generation decoded with special tokens skipped (EvoToken's and
T2M's harnesses do the same), and it is judged with train/tasks.py's checkers.
"""

import argparse
import json
import os
import sys
import time
from collections import defaultdict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import model as M  # noqa: E402
import tasks  # noqa: E402


def schedule(n, steps):
    base, rem = divmod(n, steps)
    return [base + (1 if s < rem else 0) for s in range(steps)]


def _topk_positions(conf, k):
    """Indices of the k largest entries per row, ties to the lowest position."""
    order = torch.sort(conf, dim=-1, descending=True, stable=True).indices
    return order[:, :k]


@torch.no_grad()
def generate_llada(model, prompts, gen=128, block=32, steps=None, device="cpu", trace=None):
    """prompts: list of id lists of equal length. Returns the full canvases [B, P + gen] (CPU)."""
    steps = steps or gen
    mask = model.cfg["mask_token_id"]
    B, P = len(prompts), len(prompts[0])
    x = torch.full((B, P + gen), mask, dtype=torch.long, device=device)
    x[:, :P] = torch.tensor(prompts, device=device)
    assert gen % block == 0 and steps % (gen // block) == 0
    nb = gen // block
    spb = steps // nb
    rows = torch.arange(B, device=device)[:, None]
    for b in range(nb):
        s0, s1 = P + b * block, P + (b + 1) * block
        ntt = schedule(block, spb)
        for i in range(spb):
            mask_index = x == mask
            logits = model(x)                      # float32 everywhere, as dlmscope computes
            x0 = logits.argmax(-1)
            # official: confidences beyond the block end are -inf (masks before it stay candidates)
            p = torch.softmax(logits[:, P:s1].double(), -1)
            conf = torch.full(x.shape, float("-inf"), dtype=torch.float64, device=device)
            conf[:, P:s1] = p.gather(-1, x0[:, P:s1, None])[..., 0]
            conf = torch.where(mask_index, conf, torch.full_like(conf, float("-inf")))
            if ntt[i] == 0:
                continue
            sel = _topk_positions(conf, ntt[i])
            x[rows, sel] = x0[rows, sel]
            if trace is not None:
                trace.append(x[:, P:].cpu().clone())
    return x.cpu()


@torch.no_grad()
def generate_evotoken(model, prompts, gen=128, block=32, steps=None, k_soft=3, alpha=0.7, device="cpu",
                      trace=None):
    """EvoToken's generate_soft_token at temperature 0 (see the module docstring)."""
    steps = steps or gen // 2
    mask = model.cfg["mask_token_id"]
    B, P = len(prompts), len(prompts[0])
    L = P + gen
    x = torch.full((B, L), mask, dtype=torch.long, device=device)
    x[:, :P] = torch.tensor(prompts, device=device)
    nb = gen // block
    spb = steps // nb
    conf_x = torch.zeros(B, L, dtype=torch.float64, device=device)
    soft_ids = soft_w = None
    rows = torch.arange(B, device=device)[:, None]
    for b in range(nb):
        bs, be = P + b * block, P + (b + 1) * block
        ntt = schedule(block, spb)
        i = 0
        while True:
            mask_index = x == mask
            mask_index[:, be:] = False
            logits = model(x, soft_ids, soft_w)
            logits[..., mask] = float("-inf")       # T = 0 aliasing: the mask id is excluded from p too
            x0 = logits.argmax(-1)
            p = torch.softmax(logits.double(), -1)
            c0 = p.gather(-1, x0[..., None])[..., 0]
            conf = torch.where(mask_index, c0, torch.full_like(c0, float("-inf")))
            k = ntt[i] if i < len(ntt) else 0
            if k > 0:
                sel = _topk_positions(conf, k)
                x[rows, sel] = x0[rows, sel]
                conf_x[rows, sel] = c0[rows, sel]
            dec = x != mask
            dec[:, :bs] = False
            better = dec & (c0 > conf_x) & (x0 != mask)
            x = torch.where(better, x0, x)
            conf_x = torch.where(better, c0, conf_x)
            pk, vk = torch.topk(p, k_soft, dim=-1)
            S = pk.sum(-1)
            w_ori = torch.where(x == mask, S * alpha / (1 - alpha), torch.zeros_like(S))
            prob = torch.cat([pk, w_ori[..., None]], -1)
            prob = prob / prob.sum(-1, keepdim=True)
            soft_ids = torch.cat([vk, x[..., None]], -1)
            onehot = torch.zeros_like(prob)
            onehot[..., -1] = 1.0
            prob[:, :bs] = onehot[:, :bs]
            soft_w = prob.float().to(torch.bfloat16).float()   # double -> float -> bf16, as torch and dlmscope round
            i += 1
            if trace is not None:
                trace.append(x[:, P:].cpu().clone())
            if not (x[:, bs:be] == mask).any() or i >= 4 * block:
                break
    return x.cpu()


def generate(model, prompts, rule="llada", **kw):
    if rule == "llada":
        return generate_llada(model, prompts, **kw)
    if rule == "evotoken":
        return generate_evotoken(model, prompts, **kw)
    raise ValueError("unknown rule %s" % rule)


def evaluate(model, tk, items, rule="llada", batch=64, gen=128, block=32, steps=None, device="cpu",
             progress=False):
    """Returns (per-family {family: [correct, total]}, predictions list)."""
    enc = [(it, tk.encode(bpe.chat_prompt(it["prompt"]))) for it in items]
    groups = defaultdict(list)
    for it, ids in enc:
        groups[len(ids)].append((it, ids))
    preds = {}
    done = 0
    t0 = time.time()
    for _, grp in sorted(groups.items()):
        for s in range(0, len(grp), batch):
            chunk = grp[s:s + batch]
            out = generate(model, [ids for _, ids in chunk], rule, gen=gen, block=block, steps=steps,
                           device=device)
            P = len(chunk[0][1])
            for (it, _), row in zip(chunk, out):
                text = tk.decode(row[P:].tolist(), skip_special=True)
                preds[it["id"]] = {"id": it["id"], "task": it["task"], "response": text,
                                   "correct": tasks.check(it, text)}
            done += len(chunk)
            if progress:
                sys.stderr.write("\r%d/%d items, %.1f s" % (done, len(items), time.time() - t0))
    if progress:
        sys.stderr.write("\n")
    res = defaultdict(lambda: [0, 0])
    plist = []
    for it in items:
        pr = preds[it["id"]]
        res[it["task"]][0] += int(pr["correct"])
        res[it["task"]][1] += 1
        plist.append(pr)
    return dict(res), plist


def format_results(res):
    lines = []
    tot = [0, 0]
    for f in sorted(res):
        c, n = res[f]
        lines.append("%-10s %4d / %4d  %5.1f%%" % (f, c, n, 100.0 * c / max(n, 1)))
        tot[0] += c
        tot[1] += n
    lines.append("%-10s %4d / %4d  %5.1f%%" % ("all", tot[0], tot[1], 100.0 * tot[0] / max(tot[1], 1)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "eval"):
        s = sub.add_parser(name)
        s.add_argument("model_dir")
        if name == "eval":
            s.add_argument("tasks", nargs="+", help="test JSONL files")
            s.add_argument("--limit", type=int, default=0, help="first N items of each file (0: all)")
            s.add_argument("--out", default=None, help="write predictions JSONL here")
            s.add_argument("--batch", type=int, default=64)
        else:
            s.add_argument("--prompt", required=True)
            s.add_argument("--trace", action="store_true", help="print the canvas after every step")
        s.add_argument("--rule", default="llada", choices=["llada", "evotoken"])
        s.add_argument("--adapter", default=None, help="LoRA adapter folder (e.g. MODEL/evotoken-cts)")
        s.add_argument("--gen", type=int, default=128)
        s.add_argument("--block", type=int, default=32)
        s.add_argument("--steps", type=int, default=None, help="default: gen (llada), gen/2 (evotoken)")
        s.add_argument("--device", default="auto")
        s.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    device = M.pick_device(a.device)
    model = M.load_model(a.model_dir, device, adapter=a.adapter)
    tk = bpe.Tokenizer(os.path.join(a.model_dir, "tokenizer.json"))
    if a.cmd == "run":
        ids = tk.encode(bpe.chat_prompt(a.prompt))
        trace = [] if a.trace else None
        t0 = time.time()
        out = generate(model, [ids], a.rule, gen=a.gen, block=a.block, steps=a.steps, device=device, trace=trace)
        dt = time.time() - t0
        if trace:
            for s, row in enumerate(trace):
                print("step %3d %s" % (s, tk.decode(row[0].tolist()).replace("\n", "\\n")))
        print(tk.decode(out[0, len(ids):].tolist(), skip_special=True))
        print("ids:", " ".join(map(str, out[0, len(ids):].tolist())))
        sys.stderr.write("%.2f s\n" % dt)
        return 0
    items = []
    for path in a.tasks:
        its = tasks.read_jsonl(path)
        items += its[:a.limit] if a.limit else its
    t0 = time.time()
    res, preds = evaluate(model, tk, items, a.rule, a.batch, a.gen, a.block, a.steps, device,
                          progress=sys.stderr.isatty())
    print("rule %s%s on %s (%d items, %.1f s)" % (a.rule, " + adapter" if a.adapter else "", a.model_dir,
                                                  len(items), time.time() - t0))
    print(format_results(res))
    if a.out:
        with open(a.out, "w") as f:
            for p in preds:
                f.write(json.dumps(p) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
