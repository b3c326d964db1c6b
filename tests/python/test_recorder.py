#!/usr/bin/env python3
"""test_recorder.py DLMSCOPE — the Python recorder's contracts beyond the format itself:

- its rule table equals the C one (`dlmscope run --help-rules`: every rule's default spec and
  which parameters apply to which rule), so the header's `rule` is what dlmscope would write;
- a process killed with SIGKILL mid-run leaves a trace whose complete steps all read back;
- only rank 0 writes in a multi-process run (RANK, as torchrun sets it);
- a batch writes one trace per sequence (BatchRecorder), and Dream's per-step callback records;
- bad arguments are one clear ValueError naming the problem.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
import dlmscope  # noqa: E402
from dlmscope import rules  # noqa: E402

DLMSCOPE = sys.argv[1]
checks = 0


def check(cond, msg):
    global checks
    checks += 1
    if not cond:
        sys.exit("FAIL: " + msg)


def run(*args):
    return subprocess.run([DLMSCOPE] + list(args), capture_output=True, text=True)


def rule_table():
    out = run("run", "--help-rules").stdout
    defaults = dict(re.findall(r"^\s+default: (\w+):(\S+)$", out, re.M))
    check(sorted(defaults) == sorted(rules.RULES), "rules: C %s vs Python %s" % (sorted(defaults), sorted(rules.RULES)))
    for name in rules.RULES:
        spec = dlmscope.Rule(name).spec()
        check(spec == name + ":" + defaults[name], "default spec of %s: Python %s vs C %s:%s" % (name, spec, name, defaults[name]))
    applies = dict(re.findall(r"^  (\w+) .*\[([a-z0-9,]+)\]$", out, re.M))
    check([p[0] for p in rules.PARAMS] == list(applies), "parameter list: %s vs %s" % ([p[0] for p in rules.PARAMS], list(applies)))
    for name, _, where, *_ in rules.PARAMS:
        check(sorted(where) == sorted(applies[name].split(",")), "parameter %s applies to %s in C" % (name, applies[name]))
    # finalize: presets, per-detector defaults, derived steps; errors name the key
    check(dlmscope.Rule("t2m:mode=s,detector=t2t-remask").spec().startswith(
        "t2m:gen=128,block=32,temperature=0,seed=0,tau=0.5,mode=s,max_post=16,eos_stop=1,detector=t2t-remask,tau_remask=0.9"),
        "t2m finalize")
    for bad, why in (("nope", "unknown rule"), ("llada:tau=0.5", "has no parameter 'tau'"), ("t2m:cap=x", "expected one of"),
                     ("llada:gen=10,block=4", "not a multiple"), ("evotoken:alpha=1", "expected a number")):
        try:
            dlmscope.Rule(bad)
            check(False, "Rule(%r) accepted" % bad)
        except ValueError as e:
            check(why in str(e), "Rule(%r): %s" % (bad, e))


KILLER = r"""
import os, signal, sys
import numpy as np
sys.path.insert(0, %r)
import dlmscope
rng = np.random.default_rng(1)
V, P, G, M = 40, 3, 64, 39
rec = dlmscope.Recorder(sys.argv[1], rule="llada", params=dict(gen=G, block=16, steps=64), prompt=[1, 2, 3], mask_id=M, n_vocab=V)
x = np.array([1, 2, 3] + [M] * G)
for i in range(G):
    x[P + i] = 5
    rec.step(x, rng.normal(size=(P + G, V)))
    if i == 20:
        os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_run(d):
    path = os.path.join(d, "killed.dlmtrace")
    p = subprocess.run([sys.executable, "-c", KILLER % os.path.join(ROOT, "python"), path])
    check(p.returncode == -signal.SIGKILL, "the recording process was not killed (%d)" % p.returncode)
    info = run("trace", "info", path)
    check(info.returncode == 0 and "steps      21 in 2 blocks (no footer" in info.stdout,
          "killed run: %s %s" % (info.stdout, info.stderr))
    dump = run("trace", "dump", path, "--json")
    check(dump.returncode == 0 and len(dump.stdout.splitlines()) == 22, "killed run: %d dump lines" % len(dump.stdout.splitlines()))


def ranks(d):
    os.environ["RANK"] = "1"
    path = os.path.join(d, "rank1.dlmtrace")
    with dlmscope.Recorder(path, rule="llada", params=dict(gen=4, block=4), prompt=[1], mask_id=9, n_vocab=10) as rec:
        rec.step(np.array([1, 3, 9, 9, 9]), np.zeros((5, 10)))
    check(not os.path.exists(path), "rank 1 wrote a trace")
    os.environ["RANK"] = "0"
    with dlmscope.Recorder(path, rule="llada", params=dict(gen=4, block=4), prompt=[1], mask_id=9, n_vocab=10) as rec:
        rec.step(np.array([1, 3, 9, 9, 9]), np.zeros((5, 10)))
    check(run("trace", "info", path).returncode == 0, "rank 0 trace")
    del os.environ["RANK"]


def batch_and_dream(d):
    rng = np.random.default_rng(3)
    Bt, P, G, V, M = 3, 2, 8, 30, 29
    prompts = rng.integers(0, 20, (Bt, P))
    paths = [os.path.join(d, "row%d.dlmtrace" % i) for i in range(Bt)]
    x = np.concatenate([prompts, np.full((Bt, G), M)], 1)
    with dlmscope.BatchRecorder(paths, prompts=prompts, rule="llada", params=dict(gen=G, block=G, steps=4),
                                mask_id=M, n_vocab=V) as rec:
        hook = rec.dream_hook()
        x = hook(None, x, None)                              # Dream calls it once before the loop
        for s in range(4):
            x = x.copy()
            x[:, P + 2 * s:P + 2 * s + 2] = rng.integers(0, 20, (Bt, 2))
            x = hook(s, x, rng.normal(size=(Bt, P + G, V)))
    for i, path in enumerate(paths):
        dump = run("trace", "dump", path, "--json")
        lines = [json.loads(l) for l in dump.stdout.splitlines()]
        check(dump.returncode == 0 and len(lines) == 5, "batch row %d: %s" % (i, dump.stderr))
        check(lines[0]["prompt_ids"] == prompts[i].tolist(), "batch row %d prompt" % i)
        check([p["token"] for p in lines[-1]["positions"]] == x[i, P:].tolist(), "batch row %d tokens" % i)
        check(lines[-1]["done"], "batch row %d: the fourth step of steps=4 ends the run" % i)


def errors(d):
    path = os.path.join(d, "e.dlmtrace")
    cases = [
        (lambda: dlmscope.Recorder(path, rule="llada", params=dict(gen=4, block=4), prompt=[1], n_vocab=10), "no mask id"),
        (lambda: dlmscope.Recorder(path, rule="llada", params=dict(gen=4, block=3), prompt=[1], mask_id=9), "not a multiple"),
    ]
    rec = dlmscope.Recorder(path, rule="llada", params=dict(gen=4, block=4), prompt=[1], mask_id=9, n_vocab=10)
    cases.append((lambda: rec.step(np.array([1, 9, 9]), np.zeros((3, 10))), "the canvas has 3 positions"))
    rec2 = dlmscope.Recorder(path, rule="llada", params=dict(gen=4, block=4), prompt=[1], mask_id=9, n_vocab=10)
    cases.append((lambda: rec2.step(np.array([2, 9, 9, 9, 9]), np.zeros((5, 10))), "prompt positions changed"))
    rec3 = dlmscope.Recorder(path, rule="llada", params=dict(gen=4, block=4), prompt=[1], mask_id=9, n_vocab=10)
    cases.append((lambda: rec3.step(np.array([1, 12, 9, 9, 9]), np.zeros((5, 10))), "outside the vocabulary"))
    rec4 = dlmscope.Recorder(path, rule="llada", params=dict(gen=4, block=4), prompt=[1], mask_id=9, n_vocab=10)
    cases.append((lambda: rec4.step(np.array([1, 9, 9, 9, 9]), np.zeros((4, 10))), "4 rows of logits"))
    rec5 = dlmscope.Recorder(path, rule="llada", params=dict(gen=4, block=4), prompt=[1], mask_id=9, n_vocab=10)
    cases.append((lambda: rec5.step(np.array([1, 9, 9, 9, 9]), np.zeros((5, 10)), soft=(np.zeros((5, 2)), np.ones((5, 2)))),
                  "soft inputs are EvoToken's"))
    for fn, why in cases:
        try:
            fn()
            check(False, "accepted: " + why)
        except ValueError as e:
            check(why in str(e), "%s: %s" % (why, e))


def main():
    rule_table()
    with tempfile.TemporaryDirectory() as d:
        killed_run(d)
        ranks(d)
        batch_and_dream(d)
        errors(d)
    print("recorder: %d checks" % checks)


if __name__ == "__main__":
    main()
