# The bundled tasks' generators and checkers (train/test_tasks.py: stdlib only), the held-out sets
# in samples/tasks are what the generators write, and the arith error classes of docs/RESULTS.md
# (scripts/error_breakdown.py) on hand-written responses in both arith formats.
. tests/cli/lib.sh
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
command -v "$PY" >/dev/null 2>&1 || skip "SKIP: no python3 for train/test_tasks.py"

expect_ok "train/test_tasks.py" "$PY" train/test_tasks.py
grep -q "tests passed" "$TMP/stdout" && ok || fail "test_tasks: $(tail -n 3 "$TMP/stdout")"

expect_ok "tasks.py write" "$PY" train/tasks.py write "$TMP/tasks"
for fam in arith countdown digits sort; do
    cmp -s "$TMP/tasks/$fam-test.jsonl" "samples/tasks/$fam-test.jsonl" && ok \
        || fail "samples/tasks/$fam-test.jsonl is not what train/tasks.py writes"
done

expect_ok "error classes" "$PY" - <<'PYEOF'
import sys
sys.path.insert(0, "scripts")
from error_breakdown import classify
cases = [
    ("48-25\n8-5=3\n4-2=2\n\\boxed{24}", "23", "last-mile corruption"),
    ("48-25\n8-5=4\n4-2=2\n\\boxed{24}", "23", "arithmetic slip"),
    ("42-17\n12-7=5\n4-1=3\n\\boxed{35}", "25", "reasoning error"),     # the borrow not carried
    ("46+25\n6+5=11\n4+2+1=7\n\\boxed{72}", "71", "last-mile corruption"),
    ("42-17\n12-7=5\n4-1-1=2\n\\boxed{25}", "25", "other"),
    ("42+18=60\n60+27=83\n\\boxed{83}", "87", "arithmetic slip"),      # the two-step format
    ("42+18=60\n60+27=87\n\\boxed{88}", "87", "last-mile corruption"),
    ("42+18=60\n60+28=88\n\\boxed{88}", "87", "reasoning error"),
    ("no lines here \\boxed{3}", "87", "no chain"),
    ("48-25\n\\boxed{23}", "23", "no chain"),
]
bad = [(r, want, classify(r, g)) for r, g, want in cases if classify(r, g) != want]
for r, want, got in bad:
    print("FAIL: %r: %s, expected %s" % (r, got, want))
sys.exit(1 if bad else 0)
PYEOF
grep -q FAIL "$TMP/stdout" && fail "$(cat "$TMP/stdout")" || ok
finish
