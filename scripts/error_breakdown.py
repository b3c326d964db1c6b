#!/usr/bin/env python3
"""error_breakdown.py — classify wrong answers on the `arith` and `countdown` families, after T2M's Table 2.

    dlmscope eval ... --tasks samples/tasks/arith-test.jsonl --out results.json
    python3 scripts/error_breakdown.py results.json samples/tasks/arith-test.jsonl [samples/tasks/countdown-test.jsonl]

Countdown responses are chains of `a op b = c` lines ending at the target, then the boxed
expression: there the worked result is the last line's and the gold value is the prompt's target
(a right chain with a wrong box is last-mile corruption).

The bundled model answers an arith item in columns: the operation (`48-25`), the units line
(`8-5=3`, or `12-7=5` with a borrow, `6+5=11` with a carry), the tens line (`4-2=2`, `4-1-1=2`,
`4+2+1=7`), then `\\boxed{N}`. Responses in the earlier two-step format (`a op b = c` per step,
DLM_ARITH=chain) are classified too. Each response that the checker judged wrong falls in one class:

    last-mile corruption  every line holds and the worked result (the tens line's value and the
                          units line's last digit; the last step of a chain) is the gold answer, but
                          the boxed answer is missing or different: the reasoning was right and the
                          final tokens were corrupted
    arithmetic slip       some line `a op b [op c] = d` is false
    reasoning error       every line holds but the work ends at a wrong value (misread operands, the
                          wrong operation, a carry or borrow not carried into the tens line)
    no chain              no parsable line at all
    other                 none of these (e.g. a box equal to the worked result, judged wrong)

Prints one table row per rule label, counts and shares of the wrong answers.
"""

import json
import re
import sys
from fractions import Fraction

LINE = re.compile(r"^\s*(-?\d+)\s*([-+*/x×])\s*(-?\d+)\s*=\s*(-?\d+)\s*$")
COLUMN = re.compile(r"^\s*(\d+)\s*([-+])\s*(\d+)\s*(?:([-+])\s*1\s*)?=\s*(\d+)\s*$")
OPERATION = re.compile(r"^\s*(\d+)\s*([-+])\s*(\d+)\s*$")
CLASSES = ("last-mile corruption", "arithmetic slip", "reasoning error", "no chain", "other")


def last_boxed(text):
    i = text.rfind("\\boxed{")
    if i < 0:
        return None
    depth, j = 1, i + len("\\boxed{")
    start = j
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[start:j - 1].strip() if depth == 0 else None


def holds(a, op, b, c):
    a, b, c = int(a), int(b), int(c)
    if op == "+":
        return a + b == c
    if op == "-":
        return a - b == c
    if op in "*x×":
        return a * b == c
    return b != 0 and Fraction(a, b) == c


def column_holds(a, op, b, op2, c):
    v = int(a) + int(b) if op == "+" else int(a) - int(b)
    if op2:
        v = v + 1 if op2 == "+" else v - 1
    return v == int(c)


def classify(response, gold):
    rows = response.splitlines()
    if rows and OPERATION.match(rows[0]):          # the column format
        cols = [m.groups() for m in (COLUMN.match(l) for l in rows[1:]) if m]
        if len(cols) < 2:
            return "no chain"
        if not all(column_holds(*c) for c in cols[:2]):
            return "arithmetic slip"
        worked = int(cols[1][4]) * 10 + int(cols[0][4]) % 10
        if str(worked) == gold.strip():
            return "last-mile corruption" if last_boxed(response) != gold.strip() else "other"
        return "reasoning error"
    lines = [m.groups() for m in (LINE.match(l) for l in response.splitlines()) if m]
    if not lines:
        return "no chain"
    if not all(holds(*l) for l in lines):
        return "arithmetic slip"
    if lines[-1][3].lstrip("+") == gold.strip():
        # a box equal to the chain's right result yet judged wrong: not one of the classes above
        return "last-mile corruption" if last_boxed(response) != gold.strip() else "other"
    return "reasoning error"


TARGET = re.compile(r"Target: (-?\d+)")


def gold_value(item):
    """The value a right chain ends at: arith's answer, countdown's target."""
    if item.get("task") == "countdown":
        m = TARGET.search(item.get("prompt", ""))
        return m.group(1) if m else None
    return str(item["answer"])


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: error_breakdown.py RESULTS.json TASKS.jsonl [TASKS.jsonl ...]  (arith, countdown)")
    with open(sys.argv[1]) as f:
        results = json.load(f)
    gold = {}
    for path in sys.argv[2:]:
        with open(path) as f:
            for line in f:
                if line.strip():
                    item = json.loads(line)
                    if item.get("task") in ("arith", "countdown") and gold_value(item) is not None:
                        gold[item["id"]] = gold_value(item)
    table = {}
    for it in results["items"]:
        if it["id"] not in gold:
            continue
        row = table.setdefault((it["rule"], it["task"]), {"n": 0, "wrong": 0, **{c: 0 for c in CLASSES}})
        row["n"] += 1
        if it["correct"]:
            continue
        row["wrong"] += 1
        cls = classify(it["response"], gold[it["id"]])
        row[cls] += 1
    print("| rule | family | items | wrong | " + " | ".join(CLASSES) + " |")
    print("|---|---|---|---|" + "---|" * len(CLASSES))
    for (rule, family), row in sorted(table.items(), key=lambda kv: (kv[0][1], list(table).index(kv[0]))):
        w = max(row["wrong"], 1)
        cells = " | ".join("%d (%.0f%%)" % (row[c], 100.0 * row[c] / w) for c in CLASSES)
        print("| %s | %s | %d | %d | %s |" % (rule, family, row["n"], row["wrong"], cells))


if __name__ == "__main__":
    main()
