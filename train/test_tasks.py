#!/usr/bin/env python3
"""test_tasks.py — plain-assert tests of the task generators and checkers: python3 train/test_tasks.py"""

import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tasks as T  # noqa: E402


def item(task, prompt, answer):
    return {"id": "x", "task": task, "prompt": prompt, "answer": answer}


CD = item("countdown", T.COUNTDOWN_INSTRUCTION + "\n\nNumbers: [30, 100, 93]\nTarget: 7", "(100 - 93) * 1")
CD2 = item("countdown", "Numbers: [4, 6, 3]\nTarget: 8", "4 * 6 / 3")


def test_last_boxed():
    assert T.last_boxed("a \\boxed{1} b \\boxed{22}") == "22"
    assert T.last_boxed("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert T.last_boxed("\\boxed{12") is None          # unbalanced
    assert T.last_boxed("no box here 12") is None
    assert T.last_boxed("") is None
    assert T.last_boxed(None) is None
    assert T.last_boxed(12) is None
    assert T.last_boxed("\\boxed{}") == ""
    assert T.last_boxed("\\boxed{a}\\boxed{b") is None  # the LAST one counts, and it is unbalanced


def test_int_answers():
    for fam in ("arith", "digits"):
        it = item(fam, "What is 2 + 3?", "5")
        assert T.check(it, "2 + 3 = 5\nThe answer is \\boxed{5}")
        assert T.check(it, "\\boxed{ 5 }")
        assert T.check(it, "\\boxed{4} no wait \\boxed{5}")
        assert not T.check(it, "\\boxed{5} no wait \\boxed{4}")
        assert not T.check(it, "The answer is 5")                  # no box: malformed
        assert not T.check(it, "\\boxed{5")                        # unbalanced
        assert not T.check(it, "\\boxed{}")
        assert not T.check(it, "\\boxed{five}")
        assert not T.check(it, "\\boxed{5.0}")                     # not a plain integer
        assert not T.check(it, "\\boxed{5.5}")                     # non-integer
        assert not T.check(it, "\\boxed{2.5 * 2}")
        assert not T.check(it, "\\boxed{+5}")
        assert not T.check(it, "\\boxed{05a}")
        assert not T.check(it, "\\boxed{" + "9" * 5000 + "}")      # huge number
        assert not T.check(it, "\\boxed{" + "5" * 31 + "}")
        assert not T.check(it, "\\boxed{-5}")
        assert not T.check(it, None)
        assert not T.check(it, 5)
        assert not T.check(it, "")
        assert not T.check(it, "\x00\xff\ufffd\\boxed{\ud800}")   # junk characters
    neg = item("arith", "p", "-3")
    assert T.check(neg, "\\boxed{-3}")
    bad_gold = item("arith", "p", "abc")
    assert not T.check(bad_gold, "\\boxed{abc}")                   # a broken item never matches
    assert not T.check({"task": "arith"}, "\\boxed{1}")            # missing answer
    assert not T.check({"task": "nope", "answer": "1"}, "\\boxed{1}")
    assert not T.check(None, "\\boxed{1}")
    assert not T.check("arith", "\\boxed{1}")


def test_countdown_right():
    assert T.check(CD, "\\boxed{(100 - 93) * 30 / 30}") is False   # 30 used twice
    assert T.check(CD, "reasoning\n\\boxed{100 - 93 + 30 - 30}") is False
    it = item("countdown", "Numbers: [30, 100, 93]\nTarget: 37", "")
    assert T.check(it, "\\boxed{100 - 93 + 30}")
    assert T.check(it, "\\boxed{30 + 100 - 93}")
    assert T.check(it, "\\boxed{(100 - 93) + 30}")
    assert T.check(it, "\\boxed{100 - 93 + 30 = 37}")                # '= target' is cut off (harness rule)
    assert T.check(it, "\\boxed{-93 + 100 + 30}")                     # unary minus is arithmetic
    assert T.check(CD2, "\\boxed{4 * 6 / 3}")
    assert T.check(CD2, "\\boxed{4 \\times 6 \\div 3}")               # LaTeX operators are mapped
    assert T.check(CD2, "\\boxed{6 / 3 * 4}")
    assert T.check(CD2, "\\boxed{4 \\cdot (6 / 3)}")
    it = item("countdown", "Numbers: [7, 2, 4]\nTarget: 14", "")
    assert T.check(it, "\\boxed{7 / 2 * 4}")                          # non-integer intermediate is fine
    it = item("countdown", "Numbers: [5, 5, 2]\nTarget: 12", "")
    assert T.check(it, "\\boxed{5 + 5 + 2}")                          # repeated number given twice


def test_countdown_wrong():
    it = item("countdown", "Numbers: [30, 100, 93]\nTarget: 37", "")
    assert not T.check(it, "\\boxed{100 - 93 + 31}")                  # wrong number
    assert not T.check(it, "\\boxed{100 - 93 + 30 + 30}")             # number used twice
    assert not T.check(it, "\\boxed{100 - 93}")                       # number missing
    assert not T.check(it, "\\boxed{100 + 93 - 30}")                  # wrong value
    assert not T.check(it, "\\boxed{37}")
    assert not T.check(it, "\\boxed{}")
    assert T.check(it, "100 - 93 + 30")                               # no box: EvoToken judges the whole text
    assert not T.check(it, "I think 100 - 93 + 30 works")             # ... which must then be an expression
    assert T.check(it, "<answer>100 - 93 + 30</answer>")              # or the <answer> content
    assert not T.check(it, "\\boxed{100 - 93 + 30")                   # unbalanced
    assert not T.check(it, "\\boxed{(100 - 93 + 30}")                 # unbalanced parentheses
    assert not T.check(it, "\\boxed{100 - 93 + 30)}")
    assert not T.check(it, "\\boxed{100 -- 93 + 30 - 186}")           # also uses 186
    assert not T.check(it, "\\boxed{100 - 93 + 30.0}")                # decimals
    assert not T.check(it, "\\boxed{100 ** 93 + 30}")                 # power is not allowed
    assert not T.check(it, "\\boxed{100 // 93 + 30}")
    assert not T.check(it, "\\boxed{abs(100) - 93 + 30}")
    assert not T.check(it, "\\boxed{__import__('os')}")
    assert not T.check(it, "\\boxed{100 - 93 + 30 *}")
    assert not T.check(it, "\\boxed{100 93 30}")
    it0 = item("countdown", "Numbers: [5, 5, 3]\nTarget: 3", "")
    assert not T.check(it0, "\\boxed{3 / (5 - 5)}")                   # division by zero
    assert not T.check(it0, "\\boxed{5 / (5 - 5) * 3}")
    it1 = item("countdown", "Numbers: [9, 9, 9]\nTarget: 1", "")
    assert not T.check(it1, "\\boxed{9 ** 9 ** 9}")                   # would hang an unguarded eval
    assert T.check(it1, "\\boxed{(9 / 9) ** 9}") is False
    huge = "9" * 400
    ith = item("countdown", "Numbers: [%s, 1, 1]\nTarget: 1" % huge, "")
    assert not T.check(ith, "\\boxed{%s * 1 * 1}" % huge)             # huge numbers
    deep = "(" * 60 + "1" + ")" * 60                                    # under the length cap
    itd = item("countdown", "Numbers: [1, 1, 1]\nTarget: 3", "")
    assert not T.check(itd, "\\boxed{%s + 1 + 1}" % deep)             # too deep: wrong, no RecursionError
    assert not T.check(itd, "\\boxed{" + "1 * " * 2000 + "1}")        # too long
    # malformed items
    assert not T.check(item("countdown", "no numbers here", ""), "\\boxed{1 + 2 + 3}")
    assert not T.check(item("countdown", None, ""), "\\boxed{1 + 2 + 3}")
    assert not T.check(item("countdown", "Numbers: [1, x]\nTarget: 3", ""), "\\boxed{1 + 2}")


def test_sort():
    it = item("sort", "Sort in ascending order: 34, 12, 56", "12, 34, 56")
    assert T.check(it, "\\boxed{12, 34, 56}")
    assert T.check(it, "\\boxed{12,34,56}")
    assert T.check(it, "\\boxed{ 12 , 34 , 56 }")
    assert not T.check(it, "\\boxed{12, 34, 65}")                     # one wrong digit
    assert not T.check(it, "\\boxed{12, 56, 34}")                     # order
    assert not T.check(it, "\\boxed{12, 34}")                         # missing
    assert not T.check(it, "\\boxed{12, 34, 56, 56}")                 # extra
    assert not T.check(it, "\\boxed{12, 34, 56,}")                    # malformed
    assert not T.check(it, "\\boxed{12 34 56}")
    assert not T.check(it, "\\boxed{12, 34, 56.0}")
    assert not T.check(it, "\\boxed{[12, 34, 56]}")
    assert not T.check(it, "\\boxed{12, 34, " + "5" * 300 + "}")
    assert not T.check(it, "12, 34, 56")


def test_generators():
    for fam in T.FAMILIES:
        rng = random.Random("unit-%s" % fam)
        for _ in range(300):
            it = T.GENERATORS[fam](rng)
            full = {"id": "x", "task": fam, **it}
            assert T.check(full, it["response"]), (fam, it)
            assert T.extract_answer(it["response"]) is not None
            # a corrupted final answer is judged wrong
            box = T.last_boxed(it["response"])
            assert not T.check(full, it["response"].replace("\\boxed{%s}" % box, "\\boxed{%s9}" % box))
            assert it["response"].isascii() and it["prompt"].isascii()
    # deterministic
    a = [T.GENERATORS["countdown"](random.Random("s")) for _ in range(1)]
    b = [T.GENERATORS["countdown"](random.Random("s")) for _ in range(1)]
    assert a == b


def test_test_sets():
    for fam in T.FAMILIES:
        items = T.test_items(fam)
        assert len(items) == T.TEST_SIZE
        assert len({it["prompt"] for it in items}) == T.TEST_SIZE
        assert all(T.check(it, it["response"]) for it in items)
        assert items == T.test_items(fam)                              # same seed, same set
    held = T.test_prompts()
    stream = T.train_stream(0)
    seen_fams = set()
    for _ in range(2000):
        it = next(stream)
        assert it["prompt"] not in held
        seen_fams.add(it["task"])
    assert seen_fams == set(T.FAMILIES)


def test_countdown_targets_solvable():
    for it in T.test_items("countdown"):
        nums, target = T.parse_countdown_prompt(it["prompt"])
        assert len(nums) == 3 and 0 < target <= 999
        assert T.countdown_correct(nums, target, it["answer"])


def test_arith_columns():
    """Every line of every column working is true arithmetic and the lines give the answer."""
    assert T.column_lines(42, 17, False) == (["12-7=5", "4-1-1=2"], 25)
    assert T.column_lines(46, 25, True) == (["6+5=11", "4+2+1=7"], 71)
    assert T.column_lines(50, 6, False) == (["10-6=4", "5-0-1=4"], 44)
    for v in range(11, 99):
        for b in range(1, 61):
            for add in (True, False):
                r = v + b if add else v - b
                if not 10 <= r <= 99:
                    continue
                lines, got = T.column_lines(v, b, add)
                assert got == r, (v, b, add)
                u = lines[0].split("=")
                assert eval(u[0]) % 10 == int(u[1]) % 10 == r % 10 and eval(u[0]) == int(u[1])
                t = lines[1].split("=")
                assert eval(t[0]) == int(t[1]) == r // 10
    for it in T.test_items("arith", n=200):
        lines = it["response"].split("\n")
        assert len(lines) == 4 and T.check(it, it["response"])
        a, op, b = re.match(r"(\d+)([+-])(\d+)$", lines[0]).groups()
        assert str(int(a)) in it["prompt"] and str(int(b)) in it["prompt"]


def test_score():
    items = [item("sort", "p", "1, 2"), item("arith", "q", "3")]
    items[0]["id"], items[1]["id"] = "a", "b"
    res = T.score(items, [{"id": "b", "response": "\\boxed{3}"}, {"id": "a", "response": "\\boxed{2, 1}"}])
    assert res == {"sort": [0, 1], "arith": [1, 1]}
    res = T.score(items, [{"response": "\\boxed{1, 2}"}])   # by line order, missing lines are wrong
    assert res == {"sort": [1, 1], "arith": [0, 1]}
    res = T.score(items, [{"id": "a", "response": None}, "junk", 3])
    assert res == {"sort": [0, 1], "arith": [0, 1]}


if __name__ == "__main__":
    n = 0
    for name, fn in sorted(globals().items()):
        if name.startswith("test_") and callable(fn):
            fn()
            n += 1
            print("ok", name)
    print("%d tests passed" % n)
