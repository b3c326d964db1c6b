#!/usr/bin/env python3
"""bench_recorder.py [--vocab V] [--canvas L] [--steps N] — the Python recorder's cost per step.

Times Recorder.step on random float32 logits of shape [L, V] (torch tensors on the CPU, and NumPy
arrays) next to one matrix product of the LM-head size in the same run (hidden 4096 x V over L
rows, float32, torch on the CPU: a stand-in for the last layer of an 8B model's forward, which is
a small part of the whole forward). Medians over N steps; prints one line per input kind.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python"))
import dlmscope  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=126464)
    ap.add_argument("--canvas", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=8)
    a = ap.parse_args()
    V, L, H = a.vocab, a.canvas, a.hidden
    P = 16
    G = L - P
    rng = np.random.default_rng(0)
    kinds = (["torch"] if torch is not None else []) + ["numpy"]
    head = None
    if torch is not None:
        torch.manual_seed(0)
        h = torch.randn(L, H)
        w = torch.randn(V, H) / H ** 0.5
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            head = h @ w.T
            ts.append(time.perf_counter() - t)
        head_ms = 1e3 * sorted(ts)[1]
        print("LM-head matmul [%d x %d] @ [%d x %d] (torch CPU float32, %d threads): %.1f ms" % (
            L, H, H, V, torch.get_num_threads(), head_ms))
    for kind in kinds:
        with tempfile.TemporaryDirectory() as d:
            rec = dlmscope.Recorder(os.path.join(d, "b.dlmtrace"), rule="llada",
                                    params=dict(gen=G, block=G, steps=G), prompt=np.arange(P), mask_id=V - 1, n_vocab=V)
            x = np.concatenate([np.arange(P), np.full(G, V - 1)])
            times = []
            for i in range(a.steps):
                logits = rng.standard_normal((L, V), dtype=np.float32) * 4
                if kind == "torch":
                    logits = torch.from_numpy(logits)
                x = x.copy()
                x[P + i] = i
                t = time.perf_counter()
                rec.step(x, logits)
                times.append(time.perf_counter() - t)
            rec.close()
            size = os.path.getsize(os.path.join(d, "b.dlmtrace"))
        ms = 1e3 * sorted(times)[len(times) // 2]
        extra = " (%.1fx the LM-head matmul)" % (ms / head_ms) if head is not None else ""
        print("recorder, %s input, canvas %d, vocabulary %d: %.1f ms per step%s; %.0f bytes per step on disk" % (
            kind, L, V, ms, extra, size / a.steps))


if __name__ == "__main__":
    main()
