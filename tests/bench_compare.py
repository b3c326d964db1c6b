#!/usr/bin/env python3
"""bench_compare.py — `make bench-compare`: dlmscope's CPU engine against PyTorch on the same weights.

For each shape it writes one random bf16 checkpoint (`dlmscope synth`), loads it into
train/model.py (PyTorch, fp32, Debian's torch) and times, interleaved round by round in one run and
with the same thread count:
  full   a full forward pass over L tokens with the LM head for every row;
  block  a cached block step: the 32-token block in the middle of the sequence recomputed against
         the K/V of every other position kept from a refreshing pass (dlmscope's dual cache; for
         PyTorch the same computation written with train/model.py's modules: the block's q/k/v,
         its K/V rows written into the kept ones, attention over all L keys, MLP, LM head for 32 rows).
dlmscope's times come from `dlmscope bench` (median of --repeat after --warmup), PyTorch's from
the same median here. The ratio PyTorch / dlmscope > 1 means dlmscope is faster. Without torch it
prints SKIPPED and exits 77.

  python3 tests/bench_compare.py [--dlmscope ./dlmscope] [--shapes small,medium,qwen3-0.6b-llada]
                                 [--tokens 128,512,2048] [--threads N] [--rounds 3] [--repeat 3]
"""

import argparse
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))

BLOCK = 32


def torch_passes(model, torch, F, L):
    """Closures timing a full pass and a dual-cache block step of `model` at L tokens."""
    import model as tm

    cfg = model.cfg
    V = cfg["embedding_size"]
    ids = torch.tensor([[(i * 7919) % V for i in range(L)]])
    B = min(BLOCK, L)
    b0 = (L - B) // 2
    hd = cfg.get("head_dim") or cfg["d_model"] // cfg["n_heads"]
    cos, sin = tm.rope_tables(L, hd, cfg["rope_theta"], "cpu")

    def layer(blk, x, c, s, kv=None, start=0):
        n, Lq, _ = x.shape
        h = blk.attn_norm(x)
        q = blk.q_proj(h).view(n, Lq, blk.nh, blk.hd).transpose(1, 2)
        k = blk.k_proj(h).view(n, Lq, blk.nkv, blk.hd).transpose(1, 2)
        v = blk.v_proj(h).view(n, Lq, blk.nkv, blk.hd).transpose(1, 2)
        q, k = tm.rope(q, c, s), tm.rope(k, c, s)
        if kv is not None:  # dual cache: this block's rows written into the kept K/V
            kv[0][:, :, start:start + Lq] = k
            kv[1][:, :, start:start + Lq] = v
            k, v = kv
        kept = (k, v)
        if blk.nkv != blk.nh:
            k = k.repeat_interleave(blk.nh // blk.nkv, 1)
            v = v.repeat_interleave(blk.nh // blk.nkv, 1)
        sc = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(blk.hd)
        o = torch.matmul(torch.softmax(sc.float(), -1), v)
        x = x + blk.attn_out(o.transpose(1, 2).reshape(n, Lq, blk.nh * blk.hd))
        h = blk.ff_norm(x)
        return x + blk.ff_out(F.silu(blk.ff_proj(h)) * blk.up_proj(h)), kept

    def full():
        return model(ids)

    cache = []
    with torch.no_grad():  # the refreshing pass: every layer's K and V
        x = model.embed(ids)
        for blk in model.tr.blocks:
            x, kv = layer(blk, x, cos, sin)
            cache.append((kv[0].clone(), kv[1].clone()))

    def block():
        x = model.embed(ids[:, b0:b0 + B])
        c, s = cos[b0:b0 + B], sin[b0:b0 + B]
        for blk, kv in zip(model.tr.blocks, cache):
            x, _ = layer(blk, x, c, s, kv, b0)
        return model.tr.ff_out(model.tr.ln_f(x)).float()

    return full, block


def time_torch(fn, torch, warmup, repeat):
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        t = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            t.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(t)


def time_dlmscope(exe, model_dir, L, threads, warmup, repeat):
    out = subprocess.run([exe, "bench", "--model", model_dir, "--tokens", str(L), "--threads", str(threads),
                          "--warmup", str(warmup), "--repeat", str(repeat), "--passes", "full,dual"],
                         check=True, capture_output=True, text=True).stdout
    got = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\d+) (full, all rows|dual cache)\s+([\d.]+)\s+[\d.]+\s+\S*\s+([\d.]+)\s+([\d.]+)\s+(\d+)%", line)
        if m:
            key = "full" if m.group(2).startswith("full") else "block"
            got[key] = float(m.group(3))
            if key == "full":
                got["peak"] = int(m.group(6))
    if "full" not in got or "block" not in got:
        raise SystemExit("bench_compare: cannot read dlmscope bench output:\n" + out)
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dlmscope", default=os.environ.get("DLMSCOPE", "./dlmscope"))
    ap.add_argument("--shapes", default="small,medium,qwen3-0.6b-llada")
    ap.add_argument("--tokens", default="128,512,2048")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median over rounds is reported)")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per case and round")
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
        import model as tm
    except ImportError as e:
        print("bench-compare: SKIPPED: PyTorch is not importable (%s); install python3-torch" % e)
        return 77
    torch.set_num_threads(a.threads)
    print("dlmscope %s vs PyTorch %s, %d threads, %d interleaved rounds x %d timed passes (median), load %s"
          % (a.dlmscope, torch.__version__, a.threads, a.rounds, a.repeat, " ".join(open("/proc/loadavg").read().split()[:3])))
    print("%-11s %6s %-6s %11s %11s %10s %8s" % ("shape", "tokens", "pass", "dlmscope ms", "PyTorch ms", "PyT/dlm", "of sgemm"))
    for shape in a.shapes.split(","):
        tmp = tempfile.mkdtemp(prefix="dlmscope-compare.")
        try:
            subprocess.run([a.dlmscope, "synth", "--shape", shape, "--out", tmp], check=True, capture_output=True)
            model = tm.load_model(tmp)
            for L in [int(t) for t in a.tokens.split(",")]:
                full, block = torch_passes(model, torch, F, L)
                res = {"full": ([], []), "block": ([], [])}
                peak = []
                for r in range(a.rounds):
                    order = (0, 1) if r % 2 == 0 else (1, 0)
                    for side in order:
                        if side == 0:
                            got = time_dlmscope(a.dlmscope, tmp, L, a.threads, a.warmup, a.repeat)
                            res["full"][0].append(got["full"])
                            res["block"][0].append(got["block"])
                            peak.append(got["peak"])
                        else:
                            res["full"][1].append(time_torch(full, torch, a.warmup, a.repeat))
                            res["block"][1].append(time_torch(block, torch, a.warmup, a.repeat))
                for key in ("full", "block"):
                    d, p = statistics.median(res[key][0]), statistics.median(res[key][1])
                    print("%-11s %6d %-6s %11.1f %11.1f %9.2fx %8s" % (shape, L, key, d, p, p / d,
                                                                        "%d%%" % statistics.median(peak) if key == "full" else ""))
                sys.stdout.flush()
            del model
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
