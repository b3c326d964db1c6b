#!/usr/bin/env python3
"""cts.py — EvoToken-DLM continuous trajectory supervision (CTS): a LoRA adapter on q/k/v.

    python3 train/cts.py --model DIR [--steps 3000 --batch 64 --r 16 --alpha 32 --lr 5e-4 ...]

Writes the adapter in PEFT's layout into DIR/evotoken-cts/ (or --out): adapter_config.json
(peft_type LORA, r, lora_alpha, target_modules q/k/v, bias none, task_type CAUSAL_LM) and
adapter_model.safetensors with base_model.model.model.transformer.blocks.{i}.{q,k,v}_proj.lora_A.weight
[r, in] and .lora_B.weight [out, r]. When the `peft` package is importable, adapter_config.json
is written by peft.LoraConfig.save_pretrained (so it carries the installed PEFT's full field set);
otherwise by hand with the same fields.

Training follows research/algorithms.md 4.5 (aim-uofa/EvoTokenDLM train/sft_trainer_CTS.py):
  per batch: per ~ choice(1, 2, 4, 8); block length Lb = --block (default 32, the inference block),
    Lb = min(Lb, N - max prompt_len); if K*per >= Lb: Lb = K*per + 1;
  per sample: start ~ randint(prompt_len, N - Lb), end = start + Lb - 1; a random permutation of the
    block; n_vis ~ randint(0, Lb - K*per) positions keep the ground truth, the rest of the block
    and everything after it are masked; next_unmask[k] = the next `per` positions of the permutation;
  K = 4 unrolled steps: logits = model(x, soft inputs); L_k = mean CE over ALL block positions
    (masked and visible); x[next_unmask[k]] = argmax (the model's token, mask id not excluded);
    alpha ~ U(0.5, 1) per sample; soft inputs rebuilt like inference (historical-best x and conf for
    decoded positions >= start, top-k_soft mixture, masks mixed with alpha, one-hot before start);
    x and the soft inputs are detached between steps; loss = sum_k L_k / K.
  The base model is frozen; only LoRA A/B train. Optimiser AdamW, linear decay (HF's default), no
  warmup unless --warmup. Sequences are those of train.py (responses padded to --gen with EOS).
"""

import argparse
import csv
import json
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import data  # noqa: E402
import model as M  # noqa: E402
import st_io  # noqa: E402

PER_CHOICES = (1, 2, 4, 8)


def make_trajectory(ids, plen, K, per_choices, block, mask_id, rng):
    """EvoToken's dLLMDataCollator.forward_process for one batch (all on CPU)."""
    B, N = ids.shape
    per = rng.choice(per_choices)
    Lb = min(block, N - int(plen.max()))
    if K * per >= Lb:
        Lb = K * per + 1
    start = torch.zeros(B, dtype=torch.long)
    masked = torch.zeros(B, N, dtype=torch.bool)
    nxt = torch.zeros(B, K, per, dtype=torch.long)
    for b in range(B):
        lo, hi = int(plen[b]), N - Lb
        s = rng.randint(lo, hi) if hi >= lo else hi
        perm = torch.randperm(Lb, generator=torch.Generator().manual_seed(rng.randrange(1 << 31)))
        n_vis = rng.randint(0, Lb - K * per)
        masked[b, s + perm[n_vis:]] = True
        masked[b, s + Lb:] = True
        nxt[b] = (s + perm[n_vis:n_vis + K * per]).view(K, per)
        start[b] = s
    x = torch.where(masked, torch.full_like(ids, mask_id), ids)
    labels = torch.full_like(ids, -100)
    posn = torch.arange(N)[None, :]
    inblock = (posn >= start[:, None]) & (posn < (start + Lb)[:, None])
    labels[inblock] = ids[inblock]
    return x, labels, start, nxt, per, Lb


def soft_inputs(logits, x, conf_x, start, plen, alpha, mask_id, k_soft):
    """EvoToken's process_soft_token: historical-best update, then next-step soft inputs."""
    B, N, V = logits.shape
    p = torch.softmax(logits.float(), -1)
    c0, x0 = p.max(-1)
    posn = torch.arange(N, device=x.device)[None, :]
    better = (x != mask_id) & (posn >= start[:, None]) & (posn >= plen[:, None]) & (c0 > conf_x)
    x = torch.where(better, x0, x)
    conf_x = torch.where(better, c0, conf_x)
    pk, vk = torch.topk(p, k_soft, dim=-1)
    S = pk.sum(-1)
    a = alpha[:, None]
    w_ori = torch.where(x == mask_id, S * a / (1 - a), torch.zeros_like(S))
    prob = torch.cat([pk, w_ori[..., None]], -1)
    prob = prob / prob.sum(-1, keepdim=True)
    soft_ids = torch.cat([vk, x[..., None]], -1)
    before = posn < start[:, None]
    onehot = torch.zeros_like(prob)
    onehot[..., -1] = 1.0
    prob = torch.where(before[..., None], onehot, prob)
    prob = prob.to(torch.bfloat16).float()      # EvoToken feeds the weights in bf16
    return x, conf_x, soft_ids, prob


def cts_step(model, batch, a, mask_id, rng):
    ids, plen, _ = batch
    x, labels, start, nxt, per, Lb = make_trajectory(ids, plen, a.K, PER_CHOICES, a.block, mask_id, rng)
    dev = a.device
    ids, x, labels, start, nxt, plen = (t.to(dev) for t in (ids, x, labels, start, nxt, plen))
    B, N = ids.shape
    conf_x = torch.zeros(B, N, device=dev)
    soft_ids = soft_w = None
    total = 0.0
    rows = torch.arange(B, device=dev)[:, None]
    for k in range(a.K):
        with M.autocast(dev):
            logits = model(x, soft_ids, soft_w)
        loss_k = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        (loss_k / a.K).backward()          # inputs are detached, so each step's graph is independent
        total += float(loss_k.detach())
        with torch.no_grad():
            lg = logits.detach()
            pred = lg.argmax(-1)
            sel = nxt[:, k, :]
            x = x.clone()
            x[rows, sel] = pred[rows, sel]
            alpha = torch.empty(B, device=dev).uniform_(0.5, 1.0).clamp_max(0.999)
            x, conf_x, soft_ids, soft_w = soft_inputs(lg, x, conf_x, start, plen, alpha, mask_id, a.k_soft)
    return total / a.K, per, Lb


def write_adapter(model, outdir, r, alpha, dropout, base_dir):
    os.makedirs(outdir, exist_ok=True)
    targets = ["q_proj", "k_proj", "v_proj"]
    cfg_path = os.path.join(outdir, "adapter_config.json")
    wrote_with = "hand"
    try:
        import peft  # noqa: F401
        from peft import LoraConfig
        lc = LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, lora_dropout=dropout, bias="none",
                        task_type="CAUSAL_LM", fan_in_fan_out=False)
        lc.base_model_name_or_path = os.path.abspath(base_dir)
        lc.save_pretrained(outdir)
        with open(cfg_path) as f:
            ac = json.load(f)
        # keep the file portable and within what dlmscope's loader accepts
        ac["base_model_name_or_path"] = os.path.basename(os.path.abspath(base_dir))
        ac["target_modules"] = sorted(ac.get("target_modules") or targets)
        for k in ("layers_to_transform", "rank_pattern", "alpha_pattern", "modules_to_save"):
            if ac.get(k) in ({}, [], None):
                ac[k] = None if k in ("layers_to_transform", "modules_to_save") else {}
        with open(cfg_path, "w") as f:
            json.dump(ac, f, indent=2)
        wrote_with = "peft %s" % peft.__version__
    except Exception as e:   # no peft (or an incompatible one): the same file by hand
        if not isinstance(e, ImportError):
            print("peft could not write the config (%s); writing it by hand" % e)
        ac = {
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": os.path.basename(os.path.abspath(base_dir)),
            "r": r,
            "lora_alpha": alpha,
            "lora_dropout": dropout,
            "target_modules": targets,
            "bias": "none",
            "fan_in_fan_out": False,
            "inference_mode": True,
            "init_lora_weights": True,
            "use_rslora": False,
            "use_dora": False,
            "modules_to_save": None,
            "layers_to_transform": None,
            "layers_pattern": None,
            "rank_pattern": {},
            "alpha_pattern": {},
            "revision": None,
        }
        with open(cfg_path, "w") as f:
            json.dump(ac, f, indent=2)
    st = model.lora_state()
    st_io.save(os.path.join(outdir, "adapter_model.safetensors"), st, "F32")
    return wrote_with, len(st)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="trained model folder (train.py --out)")
    ap.add_argument("--out", default=None, help="adapter folder (default MODEL/evotoken-cts)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--K", type=int, default=4, help="unrolled refinement steps")
    ap.add_argument("--k-soft", type=int, default=3)
    ap.add_argument("--block", type=int, default=32, help="supervised block length (EvoToken: 512 for its data)")
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mix", default="")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--workers", type=int, default=-1)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--time-limit", type=float, default=0)
    a = ap.parse_args()
    a.device = M.pick_device(a.device)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.workers < 0:
        a.workers = 6 if a.device.startswith("cuda") else 0
    a.out = a.out or os.path.join(a.model, "evotoken-cts")
    data.seed_all(a.seed)
    rng = random.Random("cts-%d" % a.seed)

    model = M.load_model(a.model, a.device)
    model.train()
    alpha_lora = a.alpha
    params = model.add_lora(a.r, alpha_lora, dropout=a.dropout)
    mask_id = model.cfg["mask_token_id"]
    n_train = sum(p.numel() for p in params)
    print("CTS: %d LoRA parameters (r %d, alpha %g, q/k/v of %d blocks), device %s" % (
        n_train, a.r, a.alpha, model.cfg["n_layers"], a.device))
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), weight_decay=a.wd)
    tok = os.path.join(a.model, "tokenizer.json")
    stream = data.batches(tok, a.batch, a.gen, a.seed + 100, a.workers, data.parse_mix(a.mix))
    os.makedirs(a.out, exist_ok=True)
    log_f = open(os.path.join(a.out, "cts_log.csv"), "w", newline="")
    log = csv.DictWriter(log_f, fieldnames=["step", "loss", "lr", "elapsed_s", "seq_per_s"])
    log.writeheader()
    t0 = time.time()
    tw = time.time()
    run, n_run, seqs = 0.0, 0, 0
    step = 0
    while step < a.steps:
        if step < a.warmup:
            lr = a.lr * (step + 1) / a.warmup
        else:
            lr = a.lr * max(0.0, 1 - (step - a.warmup) / max(1, a.steps - a.warmup))
        for gp in opt.param_groups:
            gp["lr"] = lr
        batch = next(stream)
        opt.zero_grad(set_to_none=True)
        loss, per, Lb = cts_step(model, batch, a, mask_id, rng)
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, a.clip)
        opt.step()
        step += 1
        run += loss
        n_run += 1
        seqs += batch[0].shape[0]
        if step % a.log_every == 0 or step == a.steps:
            now = time.time()
            row = {"step": step, "loss": round(run / n_run, 5), "lr": "%.3e" % lr, "elapsed_s": round(now - t0, 1),
                   "seq_per_s": round(seqs / max(now - tw, 1e-9), 1)}
            log.writerow(row)
            log_f.flush()
            print("cts step %5d  loss %.4f  lr %s  %.1f seq/s  %.0f s" % (
                step, row["loss"], row["lr"], row["seq_per_s"], row["elapsed_s"]), flush=True)
            run, n_run, seqs, tw = 0.0, 0, 0, now
        if a.time_limit and time.time() - t0 > a.time_limit:
            print("time limit reached at step %d" % step)
            break
    log_f.close()
    model.eval()
    how, n = write_adapter(model, a.out, a.r, a.alpha, a.dropout, a.model)
    with open(os.path.join(a.out, "cts_args.json"), "w") as f:
        json.dump({**vars(a), "lora_params": n_train, "steps_done": step}, f, indent=2)
    print("wrote %s (%d tensors, config by %s, %.1f s)" % (a.out, n, how, time.time() - t0))


if __name__ == "__main__":
    main()
