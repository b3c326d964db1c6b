#!/usr/bin/env python3
"""check_tokenizer.py — the Python BPE encoder (train/bpe.py) against dlmscope's C tokenizer.

    python3 train/check_tokenizer.py TOKENIZER.json [--dlmscope ./dlmscope] [--n 400]

Encodes a few hundred task strings (prompts, responses, whole chat-wrapped training texts), some
non-task strings (whitespace runs, contractions, non-ASCII letters and digits) and 150 random
strings (all ASCII code points, some Unicode spaces, letters, digits, marks) with both, and
checks the ids are identical and that `dlmscope tokenize --decode` gives the text back.
Exit status 0 iff everything agrees.
"""

import argparse
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import tasks  # noqa: E402

EXTRA = [
    "", " ", "  ", "\n", "\n\n\n", "a  b", "a \n b", "  leading and trailing  ", "tab\there",
    "I'm sure it's 12 o'CLOCK, they'll say we'd've", "HE'S THERE", "x = 12345678 + 0.5",
    "\\boxed{(100 - 93) * 30}", "[1, 2, 3]", "café naïve Ünïcödé", "日本語のテキスト", "٣٤٥ ①②", "emoji 🙂 ok",
    "<|startoftext|>text<|eot_id|><|endoftext|><|endoftext|>", "<|mdm_mask|><|mdm_mask|>", "a<|eot_id|>b",
    "line one\r\nline two\r\n", "    indented\n\tcode();", "!!!???...", "--->", "12,345,678.90",
]


def texts(n):
    out = []
    stream = tasks.train_stream(12345)
    while len(out) < n:
        it = next(stream)
        out.append(it["prompt"])
        out.append(it["response"])
        out.append(bpe.chat_prompt(it["prompt"]) + it["response"] + bpe.EOT + bpe.EOS * 3)
    rng = random.Random(3)
    ascii_chars = "".join(chr(i) for i in range(1, 128))
    odd = ascii_chars + "\u00a0\u2003\u3000\u0085éßΩж中٣①\u0301🙂"
    rand = ["".join(rng.choice(ascii_chars) for _ in range(rng.randint(1, 40))) for _ in range(100)]
    rand += ["".join(rng.choice(odd) for _ in range(rng.randint(1, 40))) for _ in range(50)]
    return out[:n] + EXTRA + rand


def run(cmd, stdin):
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tokenizer")
    ap.add_argument("--dlmscope", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dlmscope"))
    ap.add_argument("--n", type=int, default=400)
    a = ap.parse_args()
    tk = bpe.Tokenizer(a.tokenizer)
    ts = texts(a.n)
    py = [tk.encode(t) for t in ts]
    out = run([a.dlmscope, "tokenize", "--tokenizer", a.tokenizer, "--jsonl"],
              "".join(json.dumps(t) + "\n" for t in ts))
    c_ids = [[int(x) for x in line.split()] for line in out.split("\n")[:len(ts)]]
    bad = [(t, p, c) for t, p, c in zip(ts, py, c_ids) if p != c]
    for t, p, c in bad[:5]:
        print("MISMATCH %r\n  python %s\n  C      %s" % (t, p, c))
    # decode round trip through the C tokenizer, and through the Python decoder
    dec = run([a.dlmscope, "tokenize", "--tokenizer", a.tokenizer, "--decode", "--jsonl"],
              "".join(" ".join(map(str, c)) + "\n" for c in c_ids))
    c_text = [json.loads(line) for line in dec.split("\n") if line.strip()]
    bad_rt = [(t, d) for t, d in zip(ts, c_text) if t != d]
    bad_py = [t for t, p in zip(ts, py) if tk.decode(p) != t]
    for t, d in bad_rt[:5]:
        print("ROUND TRIP %r -> %r" % (t, d))
    n_tok = sum(len(p) for p in py)
    print("%d strings, %d tokens: ids %s, C decode round trip %s, Python decode round trip %s" % (
        len(ts), n_tok, "identical" if not bad else "%d MISMATCHES" % len(bad),
        "exact" if not bad_rt and len(c_text) == len(ts) else "%d FAILURES" % max(len(bad_rt), 1),
        "exact" if not bad_py else "%d FAILURES" % len(bad_py)))
    return 0 if not bad and not bad_rt and not bad_py and len(c_text) == len(ts) else 1


if __name__ == "__main__":
    sys.exit(main())
