#!/usr/bin/env python3
"""test_roundtrip.py DLMSCOPE [N] — property test of the Python trace writer against the C reader.

N random runs (rules, vocabulary sizes on both sides of the 2-byte id limit, prompts, blocks,
block-causal canvases, logits or probabilities over the whole canvas or a slice, explicit or
derived events, sampled tokens, soft inputs, counters, token texts with arbitrary bytes) are
recorded with dlmscope.Recorder; then `dlmscope trace dump --json` must return exactly what each
record says (every field of the header, the steps and the positions, probabilities as their 16-bit
quantisation) and `trace info` must read the file without complaint. Derived values are checked
independently too (top-K order, entropy, p(current)). Exit 0 or the first mismatch.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
import dlmscope  # noqa: E402
from dlmscope import format as fmt  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

DLMSCOPE = sys.argv[1]
N_RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 40
checks = 0


def fail(msg):
    sys.exit("FAIL: " + msg)


def check(cond, msg):
    global checks
    checks += 1
    if not cond:
        fail(msg)


# The format's quantisations, written out again here (not taken from the package under test):
# p16 = round-half-even(float32(p) * 65535) / 65535, h16 = round(h * 2048) / 2048 saturating,
# bf16 = the top half of the float32, rounded to nearest even.
def q_p(p):
    f = np.float32(p)
    q = 0 if not f > 0 else 65535 if f >= 1 else round(float(f * np.float32(65535)))
    return float(np.float32(q) / np.float32(65535))


def q_h(h):
    v = float(np.float32(h)) * 2048.0
    q = 0 if not v > 0 else min(65535, round(v))
    return float(np.float32(q) / np.float32(2048))


def q_bf16(w):
    u = struct.unpack("<I", struct.pack("<f", float(np.float32(w))))[0]
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return struct.unpack("<f", struct.pack("<I", u & 0xFFFFFFFF))[0]


def random_bytes(rng):
    kind = rng.integers(0, 4)
    if kind == 0:
        return bytes(rng.integers(0, 256, rng.integers(0, 6)).tolist())          # anything, maybe invalid UTF-8
    words = ["a", " the", "é", "中文", "\n", "\t", "<|x|>", "\"q\"", "\\", "🙂", "\x00"]
    return "".join(rng.choice(words, rng.integers(1, 4))).encode()


def random_params(rng, rule):
    B = int(rng.integers(1, 7))
    nb = int(rng.integers(1, 4))
    p = dict(gen=B * nb, block=B, top_k=int(rng.integers(1, 9)), seed=int(rng.integers(0, 2 ** 40)))
    p["temperature"] = float(rng.choice([0.0, 0.5, 1.3]))
    if rule in ("llada", "evotoken", "margin", "dream"):
        p["steps"] = nb * int(rng.integers(1, 5))
    if rule == "dream":
        p["alg"] = str(rng.choice(["origin", "maskgit_plus", "topk_margin", "entropy"]))
        p["eps"] = float(rng.choice([1e-3, 0.05]))
    if rule == "threshold":
        p["tau"] = float(rng.choice([0.9, 0.3, 0.55]))
    if rule == "fdllm2":
        p["tau"] = float(rng.choice([0.9, 0.3, 0.55]))
        p["sub_block"] = int(rng.choice([d for d in range(1, B + 1) if B % d == 0]))
    if rule in ("t2t", "t2m"):
        p["mode"] = str(rng.choice(["q", "s"]))
        p["max_post"] = int(rng.integers(0, 4))
        p["eos_stop"] = int(rng.integers(0, 2))
    if rule == "t2m":
        p["detector"] = str(rng.choice(["lowprob", "t2t-remask", "logitdiff"]))
        p["cmax"] = int(rng.integers(0, 3))
        p["editable"] = str(rng.choice(["before", "after"]))
    if rule == "evotoken":
        p["k_soft"] = int(rng.integers(1, 9))
        p["alpha"] = float(rng.choice([0.5, 0.7, 0.9]))
    if rule in ("t2t", "t2m") and rng.random() < 0.2:
        p["cache"] = "official-block"
    elif rng.random() < 0.2:
        p["cache"] = str(rng.choice(["prefix", "dual"]))
        if rule == "threshold" and rng.random() < 0.5:
            p["fastdllm_nfe"] = 1
    if rng.random() < 0.3:
        p["stuck_eps"] = 0.5
        p["stuck_tau"] = 0.9
    return p


def one_run(seed, path):
    rng = np.random.default_rng(seed)
    rule = str(rng.choice([r for r in dlmscope.RULES if r != "d2f"]))  # the writer refuses d2f (recorder.py)
    V = int(rng.choice([int(rng.integers(8, 300)), 65536, 70000]))
    M = int(rng.integers(0, V))
    eos = None if rng.random() < 0.2 else int(rng.integers(0, V))
    if eos == M:
        eos = None
    P = int(rng.integers(1, 7))
    params = random_params(rng, rule)
    B, G = params["block"], params["gen"]
    block_causal = B if rng.random() < 0.25 else 0
    prompt = rng.integers(0, V, P)
    prompt[prompt == M] = (M + 1) % V
    table = {int(i): random_bytes(rng) for i in rng.choice(V, min(V, 400), replace=False)}
    use_torch = torch is not None and rng.random() < 0.5
    rec = dlmscope.Recorder(path, tokenizer=table if rng.random() < 0.8 else None, rule=rule, params=params,
                            prompt=torch.tensor(prompt) if use_torch else prompt, mask_id=M, eos_id=eos, n_vocab=V,
                            block_causal=block_causal, prompt_text=None if rng.random() < 0.3 else "prompt \u00e9 %d" % seed,
                            device="test device %d" % seed)
    N = (-(-(P + G) // B) * B) if block_causal else P + G
    x = np.concatenate([prompt, np.full(N - P, M)])
    records = []
    for step in range(int(rng.integers(1, 14))):
        x = x.copy()
        gen = np.arange(P, N)
        for q in rng.choice(gen, rng.integers(0, min(len(gen), 4) + 1), replace=False):
            x[q] = M if (x[q] != M and rng.random() < 0.3) else rng.integers(0, V)
        lo, hi = 0, N
        if rng.random() < 0.3:
            lo = int(rng.integers(0, N))
            hi = int(rng.integers(lo + 1, N + 1))
        logits = rng.normal(size=(hi - lo, V)) * float(rng.choice([0.5, 3, 30]))
        kw = {}
        if rng.random() < 0.3:
            e = np.exp(logits - logits.max(-1, keepdims=True))
            kw["probs"] = e / e.sum(-1, keepdims=True)
            logits = None
        if rng.random() < 0.3:
            kw["sampled"] = rng.integers(0, V, hi - lo)
        if rng.random() < 0.2:
            kw["committed"] = rng.random(N) < 0.2
            kw["edited"] = list(rng.choice(N, 2))
        if rng.random() < 0.2:
            kw["remasked"] = rng.random(N) < 0.1
        if rule == "evotoken" and rng.random() < 0.8:
            S = params["k_soft"] + 1
            w = rng.random((N, S)).astype(np.float32)
            hard = rng.random(N) < 0.3
            w[hard] = 0
            w[hard, -1] = 1
            kw["soft"] = (rng.integers(0, V, (N, S)), w)
            if rng.random() < 0.5:
                kw["hist_conf"] = rng.random(N)
        if rule == "t2m" and rng.random() < 0.5:
            kw["remask_count"] = rng.integers(0, 70000, N) % 65536
        if rng.random() < 0.2:
            kw["forward_ms"] = float(rng.random() * 100)
        if rng.random() < 0.1:
            kw["block_done"] = True
        if rng.random() < 0.05:
            kw["done"] = True
        if use_torch:
            kw = {k: (torch.tensor(v) if isinstance(v, np.ndarray) and k != "soft" else v) for k, v in kw.items()}
            if logits is not None:
                logits = torch.tensor(logits)
        rows = None if (lo, hi) == (0, N) else (lo, hi)
        done = rec.step(torch.tensor(x) if use_torch else x, logits, rows=rows, **kw)
        records.append(rec.last_step)
        if done:
            break
    rec.close()
    return dict(rule=rec.rule, V=V, M=M, eos=eos, P=P, N=N, G=G, prompt=prompt, table=table, records=records,
                rec=rec, probs_checked=0)


def compare(run, path):
    out = subprocess.run([DLMSCOPE, "trace", "dump", path, "--json"], capture_output=True)
    check(out.returncode == 0 and not out.stderr, "%s: trace dump exit %d: %s" % (path, out.returncode, out.stderr.decode()))
    lines = [json.loads(l) for l in out.stdout.decode().splitlines()]
    h = lines[0]
    rec = run["rec"]
    check(h["type"] == "header" and h["version"] == [1, 1], "header type/version %r" % h)
    check(h["rule"] == run["rule"].spec(), "rule %s vs %s" % (h["rule"], run["rule"].spec()))
    for k, v in (("prompt_len", run["P"]), ("gen_len", run["G"]), ("n_tokens", run["N"]), ("mask_id", run["M"]),
                 ("eos_id", -1 if run["eos"] is None else run["eos"]), ("steps", len(run["records"])),
                 ("device", rec.device), ("model", "python")):
        check(h[k] == v, "header %s: %r vs %r" % (k, h[k], v))
    check(h["prompt_ids"] == [int(i) for i in run["prompt"]], "prompt_ids")
    check(h.get("prompt_text") == rec.prompt_text, "prompt_text %r vs %r" % (h.get("prompt_text"), rec.prompt_text))
    check(len(lines) == 1 + len(run["records"]), "%d step lines for %d records" % (len(lines) - 1, len(run["records"])))
    P, N, M = run["P"], run["N"], run["M"]
    for r, j in zip(run["records"], lines[1:]):
        where = "%s step %d" % (path, r["step"])
        for k in ("step", "block", "block_start", "block_end", "commits", "edits", "remasks", "transitions", "stuck",
                  "forward_ms", "done"):
            check(j[k] == r[k], "%s: %s %r vs %r" % (where, k, j[k], r[k]))
        check([p["pos"] for p in j["positions"]] == list(range(P, N)), where + ": positions")
        for p in j["positions"]:
            i = p["pos"]
            w = "%s pos %d" % (where, i)
            check(p["token"] == r["token"][i], w + ": token")
            check(p["state"] == fmt.STATE_NAMES[r["state"][i]], w + ": state %s vs %d" % (p["state"], r["state"][i]))
            check(p["events"] == [n for b, n in enumerate(fmt.EVENT_NAMES) if r["events"][i] & (1 << b)], w + ": events")
            check(p.get("prev_token", p["token"]) == r["prev"][i], w + ": prev_token")
            raw = run["rec"].token_bytes(int(r["token"][i]))
            if raw is None:
                check("text" not in p, w + ": text without a tokenizer entry")
            else:
                try:
                    check(p["text"] == raw.decode("utf-8"), w + ": text %r vs %r" % (p["text"], raw))
                except UnicodeDecodeError:
                    check("text" in p, w + ": text missing")
            check(p.get("stuck", False) == bool(r["stuck_pos"][i]), w + ": stuck")
            check(("sampled" in p) == bool(r["has"][i]), w + ": distribution flag")
            if r["has"][i]:
                check(p["sampled"] == r["sampled"][i], w + ": sampled")
                for k in ("p_sampled", "p_current"):
                    check(p[k] == q_p(r[k][i]), w + ": %s %r vs %r" % (k, p[k], q_p(r[k][i])))
                check(p["entropy"] == q_h(r["entropy"][i]), w + ": entropy")
                top = [[int(r["top_id"][i][k]), q_p(r["top_p"][i][k])] for k in range(r["n_top"][i])]
                check(p["top"] == top, w + ": top %r vs %r" % (p["top"], top))
                ps = r["top_p"][i][:r["n_top"][i]]
                check(all(ps[k] >= ps[k + 1] for k in range(len(ps) - 1)), w + ": top-K not descending")
                check(r["p_sampled"][i] <= r["top_p"][i][0] + 1e-6 or r["sampled"][i] == M, w + ": p_sampled above max p")
            fed = r["fed"]
            if fed is not None and fed[1][i, -1] < 1.0:
                S = fed[0].shape[1]
                soft = [[int(fed[0][i, k]), q_bf16(fed[1][i, k])] for k in range(S)]
                check(p.get("soft") == soft, w + ": soft %r vs %r" % (p.get("soft"), soft))
                hc = float(np.float32(r["hist_conf"][i])) if run["rule"].name == "evotoken" else 0.0
                check(p["hist_conf"] == hc, w + ": hist_conf %r vs %r" % (p["hist_conf"], hc))
            else:
                check("soft" not in p, w + ": soft inputs where none were fed")
            rc = int(r["remask_count"][i]) if run["rule"].name == "t2m" else 0
            check(p.get("remask_count", 0) == rc, w + ": remask_count %r vs %d" % (p.get("remask_count"), rc))
    info = subprocess.run([DLMSCOPE, "trace", "info", path], capture_output=True)
    check(info.returncode == 0 and not info.stderr, "%s: trace info: %s" % (path, info.stderr.decode()))
    check(b"no footer" not in info.stdout, path + ": footer missing after close()")


def derived(seed):
    """The recorder's derivations against a direct float64 computation, for NumPy and torch inputs
    (float64, float32, bfloat16 logits); the caller's logits must come back unchanged."""
    rng = np.random.default_rng(seed)
    V, P, G, M = 50, 3, 8, 49
    logits = rng.normal(size=(P + G, V)) * 2
    logits[:, 7] = logits[:, 8] = logits.max(-1) + 1    # an exact tie at the top: the lowest id comes first
    kinds = [("numpy", 1e-7)]
    if torch is not None:
        kinds += [("torch64", 1e-7), ("torch32", 1e-5), ("bf16", 2e-2)]
    for kind, tol in kinds:
        lg_in = logits
        ref = logits
        if kind != "numpy":
            dt = {"torch64": torch.float64, "torch32": torch.float32, "bf16": torch.bfloat16}[kind]
            lg_in = torch.tensor(logits, dtype=dt)
            ref = lg_in.to(torch.float64).numpy()            # what the model really said
        before = lg_in.clone() if kind != "numpy" else logits.copy()
        for rule, T in (("llada", 0.0), ("t2t", 0.7), ("evotoken", 0.0), ("evotoken", 0.5)):
            with tempfile.TemporaryDirectory() as d:
                rec = dlmscope.Recorder(os.path.join(d, "t"), rule=rule, params=dict(gen=G, block=G, temperature=T),
                                        prompt=np.arange(P), mask_id=M, n_vocab=V)
                x = np.concatenate([np.arange(P), np.full(G, M)])
                x[P] = 5
                rec.step(x, lg_in)
                r = rec.last_step
            lg = ref / T if (rule == "t2t" and T > 0) else ref.copy()
            if rule == "evotoken" and T == 0:
                lg[:, M] = -np.inf
            p = np.exp(lg - lg.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            w = "%s %s T=%g" % (kind, rule, T)
            for i in range(P, P + G):
                order = sorted(range(V), key=lambda v: (-p[i, v], v))[:5]
                check(list(r["top_id"][i]) == order, "%s: top-K order at %d: %s vs %s" % (w, i, list(r["top_id"][i]), order))
                check(np.allclose(r["top_p"][i], p[i, order], atol=tol), "%s: top-K p at %d" % (w, i))
                nz = p[i][p[i] > 0]
                check(abs(r["entropy"][i] + (nz * np.log(nz)).sum()) < 10 * tol, "%s: entropy at %d" % (w, i))
                check(abs(r["p_current"][i] - p[i, M]) < tol, "%s: p_current at %d" % (w, i))
                s_ = p[i].copy()
                if rule == "evotoken":
                    s_[M] = -1
                check(r["sampled"][i] == int(np.argmax(s_)), "%s: sampled at %d" % (w, i))
            check(r["events"][P] & fmt.COMMIT and not r["events"][P] & (fmt.EDIT | fmt.REMASK) and r["commits"] == 1,
                  w + ": commit derived")
        same = bool((lg_in == before).all()) if kind != "numpy" else bool((logits == before).all())
        check(same, kind + ": the recorder changed the caller's logits")


def main():
    with tempfile.TemporaryDirectory() as d:
        for seed in range(N_RUNS):
            path = os.path.join(d, "run%d.dlmtrace" % seed)
            compare(one_run(seed, path), path)
        derived(7)
    print("round trip: %d random runs, %d checks%s" % (N_RUNS, checks, "" if torch else " (NumPy inputs only: no torch)"))


if __name__ == "__main__":
    main()
