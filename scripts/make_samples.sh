#!/bin/sh
# make_samples.sh — regenerate samples/traces from the bundled model (`make samples`):
#   - one trace per rule for the first prompt of samples/prompts.txt (same seed);
#   - traces picked from held-out items (dlmscope eval over the first REPAIR_LIMIT items of each
#     family, default 100) to show what each rule does on this model:
#       t2t-fix.dlmtrace            T2T edits a committed token and ends right where LLaDA ends wrong
#       repair-t2t/-t2m.dlmtrace    the same item: T2T ends wrong, T2M remasks and ends right
#       stuck.dlmtrace              a decode whose stuck set is non-empty (`x` in the viewer stops there):
#                                   from llada, t2t or t2m if one has it, else from LLaDA sampled at
#                                   temperature 1 in random order (STUCK_RULE), where an early unlucky
#                                   commit leaves a token the model can neither keep nor replace
#       evotoken-cts.dlmtrace       EvoToken with the CTS adapter, soft tokens settling, ending right
#   The generation length is GEN (default 32, what the bundled model of the CPU recipe,
#   PROFILE=cpu train/run_all.sh, is trained for).
set -eu
cd "$(dirname "$0")/.."
DLM=${DLMSCOPE:-./dlmscope}
MODEL=${MODEL:-samples/models/dlm-tiny}
PY=${PY:-python3}
GEN=${GEN:-32}
LIMIT=${REPAIR_LIMIT:-100}
STUCK_RULE=${STUCK_RULE:-llada:temperature=1,remasking=random}
OUT=samples/traces
[ -d "$MODEL" ] || { echo "make_samples: no model at $MODEL (train it: train/run_all.sh)" >&2; exit 1; }
mkdir -p "$OUT"
ADAPTER=""
[ -d "$MODEL/evotoken-cts" ] && ADAPTER="--adapter $MODEL/evotoken-cts"
PROMPT=$(grep -v '^#' samples/prompts.txt | head -n 1)
common="--model $MODEL --gen $GEN --block 32 --seed 0 --threads 2"
steps() { "$DLM" trace info "$1" | sed -n 's/^steps      //p'; }
for rule in llada threshold t2t t2m "t2m:detector=logitdiff" evotoken; do
    name=$(echo "$rule" | sed 's/:detector=/-/')
    extra=""
    [ "$rule" = evotoken ] && extra=$ADAPTER
    # shellcheck disable=SC2086
    "$DLM" run $common $extra --prompt "$PROMPT" --rule "$rule" --record "$OUT/$name.dlmtrace" >/dev/null
    echo "make_samples: $OUT/$name.dlmtrace ($(steps "$OUT/$name.dlmtrace"))"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
TASKS=""
for fam in digits arith countdown sort; do TASKS="$TASKS --tasks samples/tasks/$fam-test.jsonl"; done
# shellcheck disable=SC2086
"$DLM" eval $common $TASKS --limit "$LIMIT" --rule llada --rule t2t --rule t2m --quiet --jobs 2 \
    --record-dir "$tmp/rec" --out "$tmp/rules.json" >"$tmp/rules.txt"
grep -E "^(llada|t2t|t2m) " "$tmp/rules.txt" || true
if [ -n "$ADAPTER" ]; then
    # shellcheck disable=SC2086
    "$DLM" eval $common $ADAPTER $TASKS --limit "$LIMIT" --rule evotoken --quiet --jobs 2 \
        --record-dir "$tmp/rec-cts" --out "$tmp/cts.json" >/dev/null
fi

# pick KIND: print the id of the first item that shows KIND (the JSON holds per-item correctness and
# edit/remask counts; `trace info` holds the stuck count).
pick() {
    "$PY" - "$1" "$tmp" "$DLM" <<'PYEOF'
import json, os, re, subprocess, sys
kind, tmp, dlm = sys.argv[1:]
items = json.load(open(os.path.join(tmp, "rules.json")))["items"]
by = {}
for x in items:
    by.setdefault(x["id"], {})[x["rule"]] = x
ids = [x["id"] for x in items if x["rule"] == "llada"]

def stuck(path):
    out = subprocess.run([dlm, "trace", "info", path], capture_output=True, text=True).stdout
    m = re.search(r"stuck set non-empty in (\d+) steps", out)
    return int(m.group(1)) if m else 0

for i in ids:
    r = by[i]
    if kind == "t2t-fix" and r["t2t"]["correct"] and not r["llada"]["correct"] and r["t2t"]["edits"] > 0:
        print(i); break
    if kind == "repair" and r["t2m"]["correct"] and not r["t2t"]["correct"] and r["t2m"]["remasks"] > 0:
        print(i); break
    if kind == "stuck":
        rule = next((q for q in ("llada", "t2t", "t2m") if stuck(os.path.join(tmp, "rec", q, i + ".dlmtrace"))), None)
        if rule:
            print(i, rule); break
if kind == "stuck-sampled" and os.path.exists(os.path.join(tmp, "rec-stuck")):
    d = os.path.join(tmp, "rec-stuck", os.listdir(os.path.join(tmp, "rec-stuck"))[0])
    best = max(((stuck(os.path.join(d, f)), f[:-len(".dlmtrace")]) for f in sorted(os.listdir(d))), default=(0, ""))
    if best[0]:
        print(best[1], os.path.basename(d))
if kind == "cts" and os.path.exists(os.path.join(tmp, "cts.json")):
    for x in json.load(open(os.path.join(tmp, "cts.json")))["items"]:
        if x["correct"] and x["task"] in ("digits", "arith"):
            print(x["id"]); break
PYEOF
}

found=0
item=$(pick t2t-fix)
if [ -n "$item" ]; then
    cp "$tmp/rec/t2t/$item.dlmtrace" "$OUT/t2t-fix.dlmtrace"
    cp "$tmp/rec/llada/$item.dlmtrace" "$OUT/t2t-fix-llada.dlmtrace"
    echo "make_samples: T2T fixes an error in $item: $OUT/t2t-fix.dlmtrace ($(steps "$OUT/t2t-fix.dlmtrace")); LLaDA: $OUT/t2t-fix-llada.dlmtrace"
    found=$((found + 1))
else
    echo "make_samples: no held-out item where T2T's edits turn a wrong LLaDA answer right" >&2
fi
item=$(pick repair)
if [ -n "$item" ]; then
    cp "$tmp/rec/t2t/$item.dlmtrace" "$OUT/repair-t2t.dlmtrace"
    cp "$tmp/rec/t2m/$item.dlmtrace" "$OUT/repair-t2m.dlmtrace"
    echo "make_samples: T2M repairs $item, T2T does not (view: dlmscope view $OUT/repair-t2m.dlmtrace --compare $OUT/repair-t2t.dlmtrace)"
    found=$((found + 1))
else
    echo "make_samples: no held-out item where T2M repairs T2T (see docs/RESULTS.md)" >&2
fi
set -- $(pick stuck)
rec=rec
if [ $# -ne 2 ]; then
    echo "make_samples: no stuck token in the llada, t2t and t2m decodes; looking in $STUCK_RULE's" >&2
    # shellcheck disable=SC2086
    "$DLM" eval $common $TASKS --limit "$LIMIT" --rule "$STUCK_RULE" --quiet --jobs 2 \
        --record-dir "$tmp/rec-stuck" --out "$tmp/stuck.json" >/dev/null
    set -- $(pick stuck-sampled)
    rec=rec-stuck
fi
if [ $# -eq 2 ]; then
    cp "$tmp/$rec/$2/$1.dlmtrace" "$OUT/stuck.dlmtrace"
    echo "make_samples: a stuck token in $1 ($2): $OUT/stuck.dlmtrace ($(steps "$OUT/stuck.dlmtrace"))"
    found=$((found + 1))
else
    echo "make_samples: no held-out decode with a non-empty stuck set" >&2
fi
item=$(pick cts)
if [ -n "$item" ]; then
    cp "$tmp/rec-cts/evotoken/$item.dlmtrace" "$OUT/evotoken-cts.dlmtrace"
    echo "make_samples: EvoToken + CTS adapter on $item: $OUT/evotoken-cts.dlmtrace ($(steps "$OUT/evotoken-cts.dlmtrace"))"
fi
[ "$found" -gt 0 ] || exit 1
