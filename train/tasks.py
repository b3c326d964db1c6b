#!/usr/bin/env python3
"""tasks.py — the four task families of the bundled model: generators, answer extraction, checkers.

Families (every item is {"id", "task", "prompt", "answer"}; "prompt" is the user message, "answer"
the gold final answer as a string; train/README.md shows an item of each):

  arith      a one-step word problem ("Ben has 36 crayons. He uses 15. How many ..."), worked in
             columns, units first, carry or borrow carried into the tens line, then \\boxed{N}.
             DLM_ARITH=chain selects the earlier two-step chains (stage 1 of the bundled model).
  countdown  EvoToken's format "Numbers: [a, b, c]\\nTarget: t" after a one-line instruction;
             response: the two steps, then "\\boxed{expression}". Judged as EvoToken's harness
             judges it (research/algorithms.md 4.4): each number used exactly once, value equal to
             the target within 1e-5. Every generated target is solvable (it is built from an
             expression); "answer" holds that expression, one solution among possibly several.
  digits     3-digit addition worked column by column, units first, then \\boxed{N}.
  sort       4-6 two-digit numbers sorted ascending: "\\boxed{12,34,56}".

Generation is deterministic: random.Random seeded with a string (stable across Python runs).
The held-out test sets (500 per family, seed TEST_SEED) are excluded from the training stream by
prompt. Checkers never raise: anything malformed, a number used twice or missing, division by
zero, a non-integer answer where an integer is due, an absurdly long number or expression is
judged wrong.

CLI:
  python3 train/tasks.py write samples/tasks [SEED]     writes {family}-test.jsonl (500 items each; another
                                                        SEED gives fresh items, e.g. for a second check)
  python3 train/tasks.py check FILE.jsonl PRED.jsonl    scores predictions (lines {"id", "response"};
                                                        without ids, line i answers item i)
  python3 train/tasks.py sample [FAMILY] [N]            prints training examples (prompt + response)
"""

import json
import os
import random
import re
import sys
from fractions import Fraction

FAMILIES = ("arith", "countdown", "digits", "sort")
TEST_SEED = 20260401
TEST_SIZE = 500

MAX_ANSWER_CHARS = 200   # longer boxed contents are judged wrong without being parsed
MAX_INT_DIGITS = 30      # integers with more digits are judged wrong ("huge numbers")

# ---------------------------------------------------------------------------------------------
# answer extraction
# ---------------------------------------------------------------------------------------------


def last_boxed(text):
    """Content of the last \\boxed{...} in text, braces matched; None if absent or unbalanced."""
    if not isinstance(text, str):
        return None
    i = text.rfind("\\boxed{")
    if i < 0:
        return None
    j = i + len("\\boxed{")
    depth = 1
    k = j
    while k < len(text):
        c = text[k]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[j:k]
        k += 1
    return None


_INT_RE = re.compile(r"-?\d+")


def parse_int(s):
    """A plain integer ("-12", " 340 "), or None. No signs like '+', no commas, no decimals."""
    if not isinstance(s, str):
        return None
    s = s.strip()
    if len(s) > MAX_INT_DIGITS + 1 or not _INT_RE.fullmatch(s):
        return None
    return int(s)


# ---------------------------------------------------------------------------------------------
# arith: word problems
# ---------------------------------------------------------------------------------------------

NAMES = [("Tom", "he", "his"), ("Ann", "she", "her"), ("Ben", "he", "his"), ("Mia", "she", "her"),
         ("Sam", "he", "his"), ("Lily", "she", "her"), ("Max", "he", "his"), ("Zoe", "she", "her"),
         ("Leo", "he", "his"), ("Emma", "she", "her"), ("Jack", "he", "his"), ("Nora", "she", "her"),
         ("Omar", "he", "his"), ("Ivy", "she", "her"), ("Raj", "he", "his"), ("Eva", "she", "her"),
         ("Hugo", "he", "his"), ("Ruth", "she", "her"), ("Carlos", "he", "his"), ("Maya", "she", "her"),
         ("Felix", "he", "his"), ("Grace", "she", "her"), ("Kenji", "he", "his"), ("Olivia", "she", "her"),
         ("Victor", "he", "his"), ("Sofia", "she", "her"), ("Daniel", "he", "his"), ("Hannah", "she", "her")]
ITEMS = ["apples", "books", "coins", "marbles", "stickers", "pens", "cards", "eggs", "shells",
         "stamps", "cookies", "balls", "flowers", "toys", "rocks", "candies", "pencils", "buttons",
         "oranges", "beads", "tickets", "plants", "shirts", "puzzles", "crayons", "muffins", "feathers",
         "bottles", "lemons", "robots"]


def _chain_step(rng, v, pron):
    """One + or - applied to the current value v (the result stays in 1..99):
    (new value, sentence, worked line) or None."""
    P = pron.capitalize()
    if rng.random() < 0.5:
        if v > 90:
            return None
        b = rng.randint(2, min(30, 99 - v))
        s = rng.choice(["%s buys %d more." % (P, b), "%s finds %d more." % (P, b),
                        "A friend gives %s %d more." % ("him" if pron == "he" else "her", b),
                        "%s gets %d more." % (P, b), "%s collects %d more." % (P, b),
                        "%s wins %d more." % (P, b)])
        return v + b, s, "%d+%d=%d" % (v, b, v + b)
    if v < 4:
        return None
    b = rng.randint(1, min(v - 1, 30))
    s = rng.choice(["%s gives away %d." % (P, b), "%s loses %d." % (P, b), "%s sells %d." % (P, b),
                    "%s uses %d." % (P, b), "%s donates %d." % (P, b), "%s trades away %d." % (P, b)])
    return v - b, s, "%d-%d=%d" % (v, b, v - b)


def gen_arith_chain(rng):
    """arith as stages 1-2 of the bundled model learned it (DLM_ARITH=chain): two chained steps: the second line starts from the first line's result, so an early wrong
    digit carries through to the answer (what T2T and T2M repair)."""
    while True:
        name, pron, poss = rng.choice(NAMES)
        item = rng.choice(ITEMS)
        v = rng.randint(5, 60)
        sents = ["%s has %d %s." % (name, v, item)]
        lines = []
        for k in range(2):
            r = None
            for _ in range(20):
                r = _chain_step(rng, v, pron)
                if r is not None:
                    break
            if r is None:
                break
            v, s, line = r
            sents.append(("Then " + s[0].lower() + s[1:]) if k > 0 else s)
            lines.append(line)
        if len(lines) != 2:
            continue
        sents.append("How many %s does %s have now?" % (item, name))
        prompt = " ".join(sents)
        response = "\n".join(lines) + "\n\\boxed{%d}" % v
        return {"prompt": prompt, "answer": str(v), "response": response}


def _action(rng, pron, b, add):
    P = pron.capitalize()
    if add:
        return rng.choice(["%s buys %d more." % (P, b), "%s finds %d more." % (P, b),
                           "A friend gives %s %d more." % ("him" if pron == "he" else "her", b),
                           "%s gets %d more." % (P, b), "%s collects %d more." % (P, b),
                           "%s wins %d more." % (P, b)])
    return rng.choice(["%s gives away %d." % (P, b), "%s loses %d." % (P, b), "%s sells %d." % (P, b),
                       "%s uses %d." % (P, b), "%s donates %d." % (P, b), "%s trades away %d." % (P, b)])


def column_lines(v, b, add):
    """v + b or v - b (two-digit result) worked column by column, units first, as digits does it: a
    carry is written into the tens line ("4+2+1=7"); a borrow shows as the borrowed ten on the units
    line ("12-7=5") and as "-1" on the tens line ("4-1-1=2"). A chain: a wrong carry or borrow in
    the units line corrupts the tens line and the answer."""
    u, t = v % 10, v // 10
    bu, bt = b % 10, b // 10
    if add:
        s = u + bu
        tens = t + bt + (s >= 10)
        return ["%d+%d=%d" % (u, bu, s), "%d+%d%s=%d" % (t, bt, "+1" if s >= 10 else "", tens)], tens * 10 + s % 10
    borrow = u < bu
    s = u + 10 * borrow - bu
    tens = t - bt - borrow
    return ["%d-%d=%d" % (u + 10 * borrow, bu, s), "%d-%d%s=%d" % (t, bt, "-1" if borrow else "", tens)], tens * 10 + s


def gen_arith(rng):
    """One + or - in words, worked in columns: the language gives the operands and the operation, the
    columns give the answer (a two-digit result, 10..99, so the tens line always exists)."""
    if os.environ.get("DLM_ARITH", "columns") == "chain":
        return gen_arith_chain(rng)
    name, pron, poss = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    v = rng.randint(11, 98)
    add = rng.random() < 0.5
    if add and v > 89:
        add = False
    if add:
        b = rng.randint(1, min(60, 99 - v))
    else:
        b = rng.randint(1, min(60, v - 10))
    lines, r = column_lines(v, b, add)
    assert r == (v + b if add else v - b) and 10 <= r <= 99
    prompt = "%s has %d %s. %s How many %s does %s have now?" % (name, v, item, _action(rng, pron, b, add),
                                                                 item, name)
    response = "%d%s%d\n" % (v, "+" if add else "-", b) + "\n".join(lines) + "\n\\boxed{%d}" % r
    return {"prompt": prompt, "answer": str(r), "response": response}


def check_int_answer(item, response):
    gold = parse_int(item.get("answer"))
    pred = parse_int(last_boxed(response))
    return gold is not None and pred is not None and pred == gold


# ---------------------------------------------------------------------------------------------
# countdown (EvoToken / d1 format)
# ---------------------------------------------------------------------------------------------

COUNTDOWN_INSTRUCTION = "Use each number exactly once with + and - to make the target."
_CD_PROMPT_RE = re.compile(r"Numbers: \[([0-9, ]*)\]\nTarget: (-?\d+)")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def _apply(op, a, b):
    if op == "/":
        if b == 0:
            return None
        return Fraction(a) / Fraction(b)
    return _OPS[op](Fraction(a), Fraction(b))


def gen_countdown(rng):
    """Three numbers in 1..30 and a target in 1..99 reached by x op y op z with op in {+, -} (every
    intermediate value positive). The model has to find which signs reach the target."""
    while True:
        nums = [rng.randint(1, 30) for _ in range(3)]
        x, y, z = rng.sample(nums, 3)
        op1, op2 = rng.choice("+-"), rng.choice("+-")
        r1 = int(_apply(op1, x, y))
        if r1 <= 0:
            continue
        t = int(_apply(op2, r1, z))
        if t <= 0 or t > 99 or t in nums:
            continue   # trivial targets make dull items
        expr = "%d%s%d%s%d" % (x, op1, y, op2, z)
        prompt = "%s\n\nNumbers: [%s]\nTarget: %d" % (COUNTDOWN_INSTRUCTION, ", ".join(map(str, nums)), t)
        response = "%d%s%d=%d\n%d%s%d=%d\n\\boxed{%s}" % (x, op1, y, r1, r1, op2, z, t, expr)
        assert countdown_correct(nums, t, expr), (nums, t, expr)
        return {"prompt": prompt, "answer": expr, "response": response}


def parse_countdown_prompt(prompt):
    """(numbers, target) from a countdown prompt, or None."""
    if not isinstance(prompt, str):
        return None
    m = _CD_PROMPT_RE.search(prompt)
    if not m:
        return None
    try:
        nums = [int(s) for s in m.group(1).split(",") if s.strip()]
        return nums, int(m.group(2))
    except ValueError:
        return None


class _ExprError(Exception):
    pass


def _eval_expr(s):
    """Exact value (Fraction) of an expression over integers with + - * / ( ) and unary minus.

    A recursive-descent parser instead of Python's eval: no '**', no names, bounded depth and
    number size, so nothing can hang or raise past this function (errors raise _ExprError).
    """
    toks = re.findall(r"\d+|[-+*/()]|\S", s)
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take():
        t = peek()
        pos[0] += 1
        return t

    def atom(depth):
        if depth > 50:
            raise _ExprError("too deep")
        t = take()
        if t is None:
            raise _ExprError("unexpected end")
        if t == "(":
            v = expr(depth + 1)
            if take() != ")":
                raise _ExprError("missing )")
            return v
        if t == "-":
            return -atom(depth + 1)
        if t.isdigit():
            if len(t) > MAX_INT_DIGITS:
                raise _ExprError("number too long")
            return Fraction(int(t))
        raise _ExprError("bad token %r" % t)

    def term(depth):
        v = atom(depth)
        while peek() in ("*", "/"):
            op = take()
            w = atom(depth)
            if op == "*":
                v = v * w
            else:
                if w == 0:
                    raise _ExprError("division by zero")
                v = v / w
            if abs(v.numerator) > 10 ** 60 or v.denominator > 10 ** 60:
                raise _ExprError("value too large")
        return v

    def expr(depth):
        v = term(depth)
        while peek() in ("+", "-"):
            op = take()
            w = term(depth)
            v = v + w if op == "+" else v - w
        return v

    v = expr(0)
    if pos[0] != len(toks):
        raise _ExprError("trailing input")
    return v


def countdown_correct(nums, target, equation):
    """EvoToken's countdown judgement (algorithms.md 4.4) on an extracted equation string."""
    try:
        if not isinstance(equation, str) or len(equation) > MAX_ANSWER_CHARS:
            return False
        eq = equation.replace("\\div", "/").replace("\\times", "*").replace("\\cdot", "*")
        m = re.search(r"([0-9+\-*/() ]+)=[0-9. ]+", eq)
        if m:
            eq = m.group(1)
        used = [int(n) for n in re.findall(r"\d+", eq)]
        if sorted(used) != sorted(nums):
            return False
        if not re.fullmatch(r"[\d+\-*/().\s]+", eq):
            return False
        if "." in eq or "**" in eq or "//" in eq:
            return False   # decimals and Python-only operators are not arithmetic on the numbers
        val = _eval_expr(eq)
        return abs(float(val) - target) < 1e-5
    except Exception:   # the checker never raises
        return False


def check_countdown(item, response):
    """EvoToken's extraction (algorithms.md 4.4): the last \\boxed{} content, else the <answer>
    content, else the whole response; then countdown_correct."""
    try:
        parsed = parse_countdown_prompt(item.get("prompt"))
        if parsed is None or not isinstance(response, str):
            return False
        eq = last_boxed(response)
        if eq is None:
            m = re.search(r"<answer>(.*?)</answer>", response, re.DOTALL)
            eq = m.group(1).strip() if m else response
        return countdown_correct(parsed[0], parsed[1], eq)
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------
# digits: multi-digit addition and multiplication
# ---------------------------------------------------------------------------------------------


def gen_digits(rng):
    """Two 3-digit numbers (100..499, so the sum always has 3 digits) added column by column, units
    first, the carry written into the next column's line: a chain in which one wrong carry corrupts
    every later line and the answer."""
    a, b = rng.randint(100, 499), rng.randint(100, 499)
    s = a + b
    prompt = rng.choice(["What is %d + %d?", "Compute %d + %d.", "Add %d and %d."]) % (a, b)
    lines, carry, out = [], 0, []
    for k in range(3):
        da, db = a // 10 ** k % 10, b // 10 ** k % 10
        t = da + db + carry
        lines.append("%d+%d%s=%d" % (da, db, "+1" if carry else "", t))
        carry, out = t // 10, [t % 10] + out
    assert int("".join(map(str, out))) == s
    return {"prompt": prompt, "answer": str(s), "response": "\n".join(lines) + "\n\\boxed{%d}" % s}


# ---------------------------------------------------------------------------------------------
# sort: a list of two-digit numbers, ascending
# ---------------------------------------------------------------------------------------------


def gen_sort(rng):
    """4-6 two-digit numbers, answered as the sorted list only (where decoding order matters: the
    smallest and largest are the easy ends, the middle depends on them)."""
    n = rng.randint(4, 6)
    xs = [rng.randint(10, 99) for _ in range(n)]
    prompt = rng.choice(["Sort these numbers from smallest to largest: %s",
                         "Sort in ascending order: %s",
                         "Put these numbers in increasing order: %s"]) % ", ".join(map(str, xs))
    ys = sorted(xs)
    return {"prompt": prompt, "answer": ", ".join(map(str, ys)), "response": "\\boxed{%s}" % ",".join(map(str, ys))}


def parse_int_list(s):
    """'12, 34, 56' -> [12, 34, 56]; None if anything is not a plain integer."""
    if not isinstance(s, str) or len(s) > MAX_ANSWER_CHARS:
        return None
    parts = s.split(",")
    out = []
    for p in parts:
        v = parse_int(p)
        if v is None:
            return None
        out.append(v)
    return out


def check_sort(item, response):
    try:
        gold = parse_int_list(item.get("answer"))
        pred = parse_int_list(last_boxed(response))
        return gold is not None and pred is not None and pred == gold
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------
# registry, test sets, training stream
# ---------------------------------------------------------------------------------------------

GENERATORS = {"arith": gen_arith, "countdown": gen_countdown, "digits": gen_digits, "sort": gen_sort}
CHECKERS = {"arith": check_int_answer, "countdown": check_countdown, "digits": check_int_answer,
            "sort": check_sort}


def check(item, response):
    """True iff response answers item correctly. Never raises."""
    try:
        fn = CHECKERS.get(item.get("task")) if isinstance(item, dict) else None
        if fn is None or not isinstance(response, str):
            return False
        return bool(fn(item, response))
    except Exception:
        return False


def extract_answer(response):
    """The final answer of a response: the last \\boxed{...} content (brace-matched), or None."""
    return last_boxed(response)


def test_items(family, n=TEST_SIZE, seed=TEST_SEED):
    """The held-out test set of a family: n items with distinct prompts (with responses)."""
    rng = random.Random("%s-test-%d" % (family, seed))
    seen = set()
    out = []
    while len(out) < n:
        it = GENERATORS[family](rng)
        if it["prompt"] in seen:
            continue
        seen.add(it["prompt"])
        it = {"id": "%s-test-%04d" % (family, len(out)), "task": family, **it}
        out.append(it)
    return out


_TEST_PROMPTS = None


def test_prompts():
    global _TEST_PROMPTS
    if _TEST_PROMPTS is None:
        _TEST_PROMPTS = {it["prompt"] for f in FAMILIES for it in test_items(f)}
    return _TEST_PROMPTS


def train_stream(seed, families=FAMILIES, weights=None):
    """Infinite stream of training items (dicts with task, prompt, answer, response), test prompts
    excluded, families mixed by weights (default equal)."""
    rng = random.Random("train-mix-%d" % seed)
    gens = {f: random.Random("train-%s-%d" % (f, seed)) for f in families}
    held = test_prompts()
    w = weights or [1.0] * len(families)
    n = 0
    while True:
        f = rng.choices(families, weights=w)[0]
        it = GENERATORS[f](gens[f])
        if it["prompt"] in held:
            continue
        yield {"id": "%s-train-%d" % (f, n), "task": f, **it}
        n += 1


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def read_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit("%s:%d: not JSON (%s)" % (path, ln, e))
    return out


def cmd_write(outdir, seed=TEST_SEED):
    os.makedirs(outdir, exist_ok=True)
    for f in FAMILIES:
        path = os.path.join(outdir, "%s-test.jsonl" % f)
        with open(path, "w", encoding="utf-8") as fh:
            for it in test_items(f, seed=seed):
                rec = {k: it[k] for k in ("id", "task", "prompt", "answer")}
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        print("wrote %s (%d items)" % (path, TEST_SIZE))


def response_of(pred):
    if isinstance(pred, str):
        return pred
    if isinstance(pred, dict):
        for k in ("response", "output", "prediction", "text"):
            if isinstance(pred.get(k), str):
                return pred[k]
    return None


def score(items, preds):
    """{family: [correct, total]} of predictions matched to items by id, else by line order."""
    by_id = {p.get("id"): p for p in preds if isinstance(p, dict) and "id" in p}
    res = {}
    for i, it in enumerate(items):
        p = by_id.get(it.get("id")) if by_id else (preds[i] if i < len(preds) else None)
        ok = check(it, response_of(p)) if p is not None else False
        c = res.setdefault(it.get("task", "?"), [0, 0])
        c[0] += int(ok)
        c[1] += 1
    return res


def cmd_check(items_path, preds_path):
    items, preds = read_jsonl(items_path), read_jsonl(preds_path)
    res = score(items, preds)
    tot = [0, 0]
    for f, (c, n) in sorted(res.items()):
        print("%-10s %4d / %4d  %.1f%%" % (f, c, n, 100.0 * c / max(n, 1)))
        tot[0] += c
        tot[1] += n
    if len(res) > 1:
        print("%-10s %4d / %4d  %.1f%%" % ("all", tot[0], tot[1], 100.0 * tot[0] / max(tot[1], 1)))


def main(argv):
    if len(argv) >= 2 and argv[1] == "write" and len(argv) in (3, 4):
        cmd_write(argv[2], int(argv[3]) if len(argv) == 4 else TEST_SEED)
    elif len(argv) >= 2 and argv[1] == "check" and len(argv) == 4:
        cmd_check(argv[2], argv[3])
    elif len(argv) >= 2 and argv[1] == "sample":
        fams = [argv[2]] if len(argv) > 2 else list(FAMILIES)
        n = int(argv[3]) if len(argv) > 3 else 2
        for f in fams:
            rng = random.Random("sample-%s" % f)
            for _ in range(n):
                it = GENERATORS[f](rng)
                print("### %s\n%s\n---\n%s\n" % (f, it["prompt"], it["response"]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
