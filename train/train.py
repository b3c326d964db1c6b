#!/usr/bin/env python3
"""train.py — LLaDA SFT masked-diffusion training of the bundled model, with a T2T stream.

    python3 train/train.py --out DIR --tokenizer DIR/tokenizer.json [--steps 20000 --batch 256 ...]

Objective (LLaDA SFT, as in the LLaDA guidelines' SFT loss):
  sequence = chat_prompt(prompt) + response + <|eot_id|> + <|endoftext|> padding (train/data.py);
  per sequence t ~ U(0, 1), p = (1 - eps) t + eps; every response token (padding included, never
  the prompt) is masked independently with probability p;
  L_mask = sum over masked tokens of CE / p / answer_len, divided by the batch size
  (answer_len = the row's response length including padding).
T2T stream (LLaDA2.1-style token-to-token editing data): a fraction --t2t-seqs of the sequences
  also get a fraction --t2t-rate of their UNMASKED response tokens replaced by random tokens
  (--t2t-noise unigram: drawn from the batch's response tokens, so digits replace digits as the
  model's own mistakes do; uniform: any non-special token). Those tokens are supervised to the
  true token; with --t2t-clean-weight > 0 the untouched visible response tokens of the same
  sequences are supervised to themselves too, so p(token | token visible) is meaningful for T2T
  editing and T2M's LowProb detector.
  L_t2t = sum over those positions of w * CE / answer_len, divided by the batch size.
  loss = L_mask + --t2t-weight * L_t2t.
  [INFERRED] LLaDA2.1 publishes no training code; the corruption distribution and the clean-token
  supervision are this script's choices (flags), documented in train/README.md.

Optimiser: AdamW (betas 0.9/0.95, weight decay on matrices only), linear warmup then cosine decay
to --min-lr-ratio * lr, gradient clipping. bf16 autocast on CUDA, float32 on CPU.

Outputs in --out: model.safetensors (bf16) + config.json + tokenizer.json + tokenizer_config.json
(a model folder dlmscope loads), train_log.csv (every --log-every steps), eval_log.csv (if
--eval-every), train_args.json; in --ckpt-dir (default OUT/ckpt): last.pt (resumable with --resume,
optimizer state included) and step-N/ model folders every --export-every steps.
"""

import argparse
import csv
import json
import math
import os
import shutil
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import data  # noqa: E402
import model as M  # noqa: E402
import tasks  # noqa: E402

VAL_SEED = 777   # validation items for --eval-every (not the held-out test sets)


def progress(step, elapsed, a):
    """Fraction of the run done: by steps, or by time when --time-budget is set (whichever is ahead)."""
    p = step / max(1, a.steps)
    if a.time_budget:
        p = max(p, elapsed / a.time_budget)
    return min(1.0, p)


def lr_at(step, a, elapsed=0.0):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    if a.time_budget:   # the cosine follows the overall progress, so it completes within the budget
        w = a.warmup / max(1, a.steps)
        prog = min(1.0, max(0.0, (progress(step, elapsed, a) - w) / max(1e-9, 1 - w)))
    else:
        prog = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.lr * (a.min_lr_ratio + (1 - a.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * prog)))


def make_optimizer(model, a):
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() < 2]
    kw = {}
    if a.device.startswith("cuda"):
        kw["fused"] = True
    try:
        return torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                                 lr=a.lr, betas=(0.9, 0.95), eps=1e-8, **kw)
    except (TypeError, RuntimeError):
        return torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                                 lr=a.lr, betas=(0.9, 0.95), eps=1e-8)


def corrupt_tokens(ids, visible, a, special_ids, gen, n_vocab):
    """Random replacement tokens for the T2T stream: positions (bool [B, L]) and the noisy ids."""
    B, L = ids.shape
    dev = ids.device
    rows = torch.rand(B, device=dev) < a.t2t_seqs
    pos = (torch.rand(B, L, device=dev) < a.t2t_rate) & visible & rows[:, None]
    if a.t2t_noise == "uniform":
        noise = torch.randint(0, n_vocab, (B, L), device=dev)
        bad = torch.zeros_like(noise, dtype=torch.bool)
        for s in special_ids:
            bad |= noise == s
        noise = torch.where(bad, ids, noise)
    else:  # unigram over the batch's real response tokens (not the EOS padding)
        src = ids[visible & ~torch.isin(ids, torch.tensor(special_ids, device=dev))]
        if src.numel() == 0:
            src = ids.flatten()
        noise = src[torch.randint(0, src.numel(), (B, L), device=dev)]
    pos &= noise != ids
    return rows, pos, torch.where(pos, noise, ids)


def train_step(model, batch, a, ids_info):
    ids, plen, rlen = (t.to(a.device, non_blocking=True) for t in batch)
    B, L = ids.shape
    dev = ids.device
    mask_id, special_ids, n_vocab = ids_info
    posn = torch.arange(L, device=dev)[None, :]
    resp = posn >= plen[:, None]                                  # response region, padding included
    t = torch.rand(B, device=dev)
    p_mask = (1 - a.eps) * t + a.eps
    masked = (torch.rand(B, L, device=dev) < p_mask[:, None]) & resp
    noisy = torch.where(masked, torch.full_like(ids, mask_id), ids)
    t2t_rows = corrupted = None
    if a.t2t_seqs > 0 and a.t2t_rate > 0:
        real = resp & ~masked & (posn < (plen + rlen)[:, None])   # visible real response tokens
        t2t_rows, corrupted, noisy = corrupt_tokens(noisy, real, a, special_ids, a.gen, n_vocab)
    with M.autocast(a.device):
        logits = model(noisy)
    ce = F.cross_entropy(logits.view(-1, logits.shape[-1]), ids.view(-1), reduction="none").view(B, L)
    ans_len = (L - plen).float()[:, None]
    mask_loss = (ce * masked.float() / p_mask[:, None] / ans_len).sum() / B
    loss = mask_loss
    t2t_loss = torch.zeros((), device=dev)
    if corrupted is not None:
        clean = resp & ~masked & ~corrupted & t2t_rows[:, None]
        w = corrupted.float() + a.t2t_clean_weight * clean.float()
        t2t_loss = (ce * w / ans_len).sum() / B
        loss = loss + a.t2t_weight * t2t_loss
    with torch.no_grad():
        acc = ((logits.argmax(-1) == ids) & masked).sum().float() / masked.sum().clamp_min(1)
        fix = ((logits.argmax(-1) == ids) & corrupted).sum().float() / corrupted.sum().clamp_min(1) \
            if corrupted is not None else torch.zeros((), device=dev)
    stats = {"mask_loss": mask_loss.detach(), "t2t_loss": t2t_loss.detach(), "mask_acc": acc, "t2t_fix_acc": fix,
             "tokens": B * L}
    return loss, stats


def export(model, outdir, tok_dir):
    M.save_model(model, outdir)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        src = os.path.join(tok_dir, f)
        if os.path.exists(src) and os.path.abspath(src) != os.path.abspath(os.path.join(outdir, f)):
            shutil.copy(src, os.path.join(outdir, f))


def run_eval(model, tk, a, step, writer):
    import decode
    items = []
    for f in tasks.FAMILIES:
        items += tasks.test_items(f, a.eval_n, seed=VAL_SEED)
    model.eval()
    res, _ = decode.evaluate(model, tk, items, "llada", batch=a.eval_batch, gen=a.gen, block=32, device=a.device)
    model.train()
    row = {"step": step}
    for f in tasks.FAMILIES:
        c, n = res.get(f, [0, 0])
        row[f] = round(c / max(n, 1), 4)
    writer.writerow(row)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output model folder")
    ap.add_argument("--tokenizer", default=None, help="tokenizer.json (default: OUT/tokenizer.json)")
    g = ap.add_argument_group("model")
    g.add_argument("--d-model", type=int, default=256)
    g.add_argument("--n-heads", type=int, default=8)
    g.add_argument("--n-kv-heads", type=int, default=None)
    g.add_argument("--n-layers", type=int, default=8)
    g.add_argument("--mlp", type=int, default=768, help="mlp_hidden_size (SwiGLU width)")
    g.add_argument("--rope-theta", type=float, default=10000.0)
    g = ap.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=20000)
    g.add_argument("--batch", type=int, default=256)
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--min-lr-ratio", type=float, default=0.1)
    g.add_argument("--warmup", type=int, default=500)
    g.add_argument("--wd", type=float, default=0.1)
    g.add_argument("--clip", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=0)
    g = ap.add_argument_group("objective")
    g.add_argument("--gen", type=int, default=128, help="response region length (generation length)")
    g.add_argument("--long-gen", type=int, default=0,
                   help="every --long-every-th batch uses this response region instead of --gen (0: never)")
    g.add_argument("--long-every", type=int, default=16)
    g.add_argument("--eps", type=float, default=1e-3, help="minimum mask probability")
    g.add_argument("--t2t-seqs", type=float, default=0.1, help="fraction of sequences in the T2T stream")
    g.add_argument("--t2t-rate", type=float, default=0.1, help="fraction of their visible tokens corrupted")
    g.add_argument("--t2t-noise", choices=["unigram", "uniform"], default="unigram")
    g.add_argument("--t2t-weight", type=float, default=1.0)
    g.add_argument("--t2t-clean-weight", type=float, default=1.0,
                   help="weight of the identity loss on uncorrupted visible tokens of T2T sequences")
    g.add_argument("--mix", default="", help="family weights, e.g. arith=1,countdown=2,digits=1,sort=0.5")
    g = ap.add_argument_group("running")
    g.add_argument("--device", default="auto")
    g.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    g.add_argument("--workers", type=int, default=-1, help="tokenizer worker processes (-1: 6 on CUDA, 0 on CPU)")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (PyTorch 2)")
    g.add_argument("--log-every", type=int, default=50)
    g.add_argument("--ckpt-every", type=int, default=2000)
    g.add_argument("--export-every", type=int, default=0, help="also write model folders ckpt/step-N")
    g.add_argument("--eval-every", type=int, default=0, help="greedy llada eval on validation items")
    g.add_argument("--eval-n", type=int, default=64, help="validation items per family")
    g.add_argument("--eval-batch", type=int, default=128)
    g.add_argument("--time-limit", type=float, default=0, help="stop (and export) after this many seconds")
    g.add_argument("--time-budget", type=float, default=0,
                   help="seconds: the LR schedule follows max(step/steps, elapsed/budget) and training stops when "
                        "either reaches 1, so the cosine always completes in time (the step count then depends on speed)")
    g.add_argument("--ckpt-dir", default=None, help="checkpoints and step-N exports (default OUT/ckpt)")
    g.add_argument("--resume", action="store_true", help="continue from CKPT_DIR/last.pt")
    g.add_argument("--log-suffix", default="",
                   help="OUT/train_log<SUFFIX>.csv and eval_log<SUFFIX>.csv: a further stage keeps its own logs")
    g.add_argument("--init", default=None,
                   help="start from the weights of this checkpoint (a last.pt) with a fresh optimizer and LR "
                        "schedule: a further stage (CKPT_DIR/last.pt still wins with --resume, so the stage resumes)")
    a = ap.parse_args()

    a.device = M.pick_device(a.device)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.workers < 0:
        a.workers = 6 if a.device.startswith("cuda") else 0
    if a.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    os.makedirs(a.out, exist_ok=True)
    a.tokenizer = a.tokenizer or os.path.join(a.out, "tokenizer.json")
    tok_dir = os.path.dirname(os.path.abspath(a.tokenizer))
    tk = bpe.Tokenizer(a.tokenizer)
    mask_id, eos_id, bos_id = tk.id(bpe.MASK), tk.id(bpe.EOS), tk.id(bpe.BOS)
    special_ids = sorted(tk.special_ids)
    data.seed_all(a.seed)

    cfg = M.default_config(tk.n_vocab, mask_id, eos_id, bos_id, a.d_model, a.n_heads, a.n_kv_heads, a.n_layers,
                           a.mlp, a.rope_theta)
    model = M.LLaDA(cfg)
    model.init_weights(a.seed)
    model.to(a.device).train()
    opt = make_optimizer(model, a)
    step = 0
    resumed_elapsed = 0.0   # training seconds before a --resume: a time-budgeted schedule continues where it was
    ck_dir = a.ckpt_dir or os.path.join(a.out, "ckpt")
    os.makedirs(ck_dir, exist_ok=True)
    if a.init and not (a.resume and os.path.exists(os.path.join(ck_dir, "last.pt"))):
        ck = torch.load(a.init, map_location=a.device)
        model.load_state_dict(ck["model"])
        print("initialised from %s (step %d of the stage before; optimizer and schedule start afresh)" % (
            a.init, ck["step"]))
    if a.resume and os.path.exists(os.path.join(ck_dir, "last.pt")):
        ck = torch.load(os.path.join(ck_dir, "last.pt"), map_location=a.device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        resumed_elapsed = ck.get("elapsed", 0.0)
        print("resumed at step %d after %.0f s of training (the data stream restarts with seed %d + step)" % (
            step, resumed_elapsed, a.seed))
    fwd_model = torch.compile(model) if a.compile and hasattr(torch, "compile") else model

    n_params = M.param_count(model)
    print("model: %d parameters (d_model %d, %d layers, %d heads, mlp %d, vocab %d), device %s" % (
        n_params, a.d_model, a.n_layers, a.n_heads, a.mlp, tk.n_vocab, a.device))
    with open(os.path.join(a.out, "train_args.json"), "w") as f:
        json.dump({**vars(a), "n_params": n_params, "torch": torch.__version__}, f, indent=2)
    stream = data.batches(a.tokenizer, a.batch, a.gen, a.seed + step, a.workers, data.parse_mix(a.mix),
                          a.long_gen, a.long_every)

    log_path = os.path.join(a.out, "train_log%s.csv" % a.log_suffix)
    log_f = open(log_path, "a" if a.resume else "w", newline="")
    fields = ["step", "loss", "mask_loss", "t2t_loss", "mask_acc", "t2t_fix_acc", "lr", "tokens", "elapsed_s",
              "tokens_per_s"]
    log = csv.DictWriter(log_f, fieldnames=fields)
    if not a.resume or log_f.tell() == 0:
        log.writeheader()
    eval_f = eval_w = None
    if a.eval_every:
        eval_f = open(os.path.join(a.out, "eval_log%s.csv" % a.log_suffix), "a" if a.resume else "w", newline="")
        eval_w = csv.DictWriter(eval_f, fieldnames=["step"] + list(tasks.FAMILIES))
        if not a.resume or eval_f.tell() == 0:
            eval_w.writeheader()

    t0 = time.time() - resumed_elapsed
    acc = {k: 0.0 for k in ("loss", "mask_loss", "t2t_loss", "mask_acc", "t2t_fix_acc")}
    n_acc = 0
    tokens = 0
    tok_window, t_window = 0, time.time()
    while step < a.steps:
        if a.time_budget and progress(step, time.time() - t0, a) >= 1.0:
            print("time budget reached at step %d" % step)
            break
        lr = lr_at(step, a, time.time() - t0)
        for gp in opt.param_groups:
            gp["lr"] = lr
        batch = next(stream)
        loss, st = train_step(fwd_model, batch, a, (mask_id, special_ids, tk.n_vocab))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        step += 1
        tokens += st["tokens"]
        tok_window += st["tokens"]
        acc["loss"] += float(loss.detach())
        for k in ("mask_loss", "t2t_loss", "mask_acc", "t2t_fix_acc"):
            acc[k] += float(st[k])
        n_acc += 1
        if step % a.log_every == 0 or step == a.steps:
            now = time.time()
            row = {k: round(v / n_acc, 5) for k, v in acc.items()}
            row.update(step=step, lr="%.3e" % lr, tokens=tokens, elapsed_s=round(now - t0, 1),
                       tokens_per_s=round(tok_window / max(now - t_window, 1e-9)))
            log.writerow(row)
            log_f.flush()
            print("step %6d  loss %.4f  mask %.4f  t2t %.4f  acc %.3f  lr %s  %.0f tok/s  %.0f s" % (
                step, row["loss"], row["mask_loss"], row["t2t_loss"], row["mask_acc"], row["lr"],
                row["tokens_per_s"], row["elapsed_s"]), flush=True)
            acc = {k: 0.0 for k in acc}
            n_acc = 0
            tok_window, t_window = 0, time.time()
        if a.eval_every and step % a.eval_every == 0:
            r = run_eval(model, tk, a, step, eval_w)
            eval_f.flush()
            print("eval step %d: %s" % (step, "  ".join("%s %.2f" % (f, r[f]) for f in tasks.FAMILIES)), flush=True)
        if a.ckpt_every and step % a.ckpt_every == 0:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "cfg": cfg,
                        "elapsed": time.time() - t0},
                       os.path.join(ck_dir, "last.pt"))
        if a.export_every and step % a.export_every == 0:
            export(model, os.path.join(ck_dir, "step-%d" % step), tok_dir)
        if a.time_limit and time.time() - t0 > a.time_limit:
            print("time limit reached at step %d" % step)
            break
    log_f.close()
    if eval_f:
        eval_f.close()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "cfg": cfg,
                        "elapsed": time.time() - t0},
               os.path.join(ck_dir, "last.pt"))
    export(model, a.out, tok_dir)
    print("wrote %s (step %d, %.1f s, %d tokens)" % (a.out, step, time.time() - t0, tokens))


if __name__ == "__main__":
    main()
