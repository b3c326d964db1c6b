#!/usr/bin/env python3
"""make_fuzz_corpus.py OUT_DIR — small traces written by the Python package, as seeds for the
trace reader's fuzz target (tests/fuzz/corpus/fuzz_trace/python-*.dlmtrace):
every rule, soft inputs, T2M counters, 4-byte ids (vocabulary > 65536), a block-causal canvas,
logits for a slice of the canvas, token text with arbitrary bytes, and a run without a footer.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python"))
import dlmscope  # noqa: E402


def run(path, rule, params, V, M, P=3, block_causal=0, rows=None, close=True, seed=0):
    rng = np.random.default_rng(seed)
    prompt = rng.integers(0, min(V, 50), P)
    table = {i: bytes(rng.integers(0, 256, rng.integers(1, 4)).tolist()) for i in range(min(V, 60))}
    table[M] = b"<mask>"
    rec = dlmscope.Recorder(path, tokenizer=table, rule=rule, params=params, prompt=prompt, mask_id=M, eos_id=min(V, 60) - 1,
                            n_vocab=V, block_causal=block_causal, prompt_text="fuzz seed", device="python corpus")
    G, B = params["gen"], params["block"]
    N = (-(-(P + G) // B) * B) if block_causal else P + G
    x = np.concatenate([prompt, np.full(N - P, M)])
    for s in range(12):
        x = x.copy()
        q = rng.integers(P, N)
        x[q] = M if (x[q] != M and rng.random() < 0.3) else rng.integers(0, min(V, 60))
        lo, hi = rows or (0, N)
        kw = {}
        if rule.startswith("evotoken"):
            S = params.get("k_soft", 3) + 1
            w = rng.random((N, S)).astype(np.float32)
            w[:P] = 0
            w[:P, -1] = 1
            kw["soft"] = (rng.integers(0, min(V, 60), (N, S)), w)
        logits = rng.normal(size=(hi - lo, V)) * 3
        if rec.step(x, logits, rows=rows, **kw):
            break
    if close:
        rec.close()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    j = lambda n: os.path.join(out, "python-%s.dlmtrace" % n)  # noqa: E731
    run(j("llada"), "llada", dict(gen=8, block=4, steps=4), V=64, M=63)
    run(j("threshold-rows"), "threshold:tau=0.3", dict(gen=8, block=4), V=64, M=63, rows=(3, 11))
    run(j("t2t-block-causal"), "t2t:mode=s,max_post=1", dict(gen=8, block=4), V=64, M=63, P=5, block_causal=4)
    run(j("t2m-logitdiff"), "t2m:detector=logitdiff,cmax=2", dict(gen=8, block=8), V=64, M=63, seed=3)
    run(j("evotoken-soft"), "evotoken:k_soft=2", dict(gen=8, block=4, steps=4), V=64, M=63, seed=4)
    run(j("wide-ids-no-footer"), "llada", dict(gen=4, block=4, steps=4), V=70000, M=69999, close=False, seed=5)


if __name__ == "__main__":
    main()
