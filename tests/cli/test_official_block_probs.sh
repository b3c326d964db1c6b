# cache=official-block reproduces the per-step probabilities of the T2M repository's loop: for the
# golden cases with a .probs file (tests/reference/rules_reference.py, a float64 transcription of
# that loop's block cache), every step's confidence at every block position, read back from the
# recorded trace, is within 2e-5 of the reference's (16-bit storage 7.7e-6, float32 forward);
# and the default, exact loop differs from them by more than 1e-3 somewhere, so the cases do
# exercise the stale cache.
. tests/cli/lib.sh
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
command -v "$PY" >/dev/null || skip "python3 not found (the JSON comparison needs it): official-block probabilities NOT checked"
compare() { # PROBS DUMP -> prints "max_abs_diff n_compared"
    "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
ref = {}
for line in open(sys.argv[1]):
    head, vals = line.split(" : ")
    ref[int(head.split()[1])] = {int(q): float(p) for q, p in (v.split(":") for v in vals.split())}
worst, n = 0.0, 0
for line in open(sys.argv[2]):
    rec = json.loads(line)
    if rec.get("type") != "step" or rec["step"] not in ref:
        continue
    got = {p["pos"]: p["p_sampled"] for p in rec["positions"] if "p_sampled" in p}
    for q, p in ref[rec["step"]].items():
        if q in got:  # positions beyond the generation region (block padding) are not stored
            worst, n = max(worst, abs(got[q] - p)), n + 1
print("%.3g %d" % (worst, n))
PYEOF
}
n=0
for probs in tests/fixtures/rules/*.probs; do
    case_name=$(basename "$probs" .probs)
    args=${probs%.probs}.args
    for mode in official exact; do
        line=$(cat "$args")
        [ $mode = exact ] && line=$(echo "$line" | sed 's/,cache=official-block//')
        eval "set -- $line"
        if ! "$DLMSCOPE" run "$@" --record "$TMP/$case_name.dlmtrace" >/dev/null 2>"$TMP/err"; then
            fail "$case_name ($mode): dlmscope run failed: $(cat "$TMP/err")"
            continue
        fi
        "$DLMSCOPE" trace dump "$TMP/$case_name.dlmtrace" --json >"$TMP/$case_name.json" || fail "$case_name: dump"
        set -- $(compare "$probs" "$TMP/$case_name.json")
        worst=$1 count=$2
        [ "$count" -gt 20 ] || fail "$case_name ($mode): only $count probabilities compared"
        if [ $mode = official ]; then
            awk -v w="$worst" 'BEGIN { exit !(w <= 2e-5) }' && ok || fail "$case_name: official-block probabilities differ by $worst (> 2e-5)"
            echo "$case_name: official-block, $count probabilities, max difference $worst"
        else
            awk -v w="$worst" 'BEGIN { exit !(w > 1e-3) }' && ok || fail "$case_name: the exact loop matches the official one ($worst): the case does not test the stale cache"
            echo "$case_name: exact loop, max difference $worst from the official loop"
        fi
    done
    n=$((n + 1))
done
[ $n -ge 2 ] || fail "expected at least 2 official-block cases with probabilities, found $n"
finish
