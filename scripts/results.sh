#!/bin/sh
# results.sh — every measurement of docs/RESULTS.md, on the bundled model and its held-out sets.
#
#   scripts/results.sh [OUT_DIR]        (default build/results; about an hour on 2 cores at LIMIT=100)
#
# Environment: MODEL (default samples/models/dlm-tiny), LIMIT items per family (default 100),
# JOBS parallel items (default 2), DLMSCOPE (default ./dlmscope), GEN generation length (default 32,
# what the bundled model of the CPU recipe is trained for; train/README.md). Each eval prints its table to
# OUT_DIR/<name>.txt and keeps every response in OUT_DIR/<name>.json.
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-build/results}
MODEL=${MODEL:-samples/models/dlm-tiny}
LIMIT=${LIMIT:-100}
JOBS=${JOBS:-2}
DLMSCOPE=${DLMSCOPE:-./dlmscope}
GEN=${GEN:-32}
PY=${PY:-python3}
TASKS="--tasks samples/tasks/arith-test.jsonl --tasks samples/tasks/countdown-test.jsonl
       --tasks samples/tasks/digits-test.jsonl --tasks samples/tasks/sort-test.jsonl"
mkdir -p "$OUT"

run() { # run NAME ARGS...: one eval, table to NAME.txt, responses to NAME.json
    name=$1
    shift
    echo "== $name: $DLMSCOPE eval --model $MODEL --gen $GEN --limit $LIMIT --jobs $JOBS $*" | tee "$OUT/$name.txt"
    # shellcheck disable=SC2086
    "$DLMSCOPE" eval --model "$MODEL" --gen "$GEN" $TASKS --limit "$LIMIT" --jobs "$JOBS" --quiet --out "$OUT/$name.json" "$@" \
        | tee -a "$OUT/$name.txt"
}

# 1. T2M's comparison: LLaDA vs LLaDA2.1 T2T editing vs T2M remasking (three detectors), plus
#    Fast-dLLM threshold decoding for speed.
run t2m --rule llada --rule t2t --rule t2m:detector=lowprob,tau_remask=0.3,cmax=1,rho_max=0.25 \
    --rule t2m:detector=t2t-remask --rule t2m:detector=logitdiff --rule threshold
$PY scripts/error_breakdown.py "$OUT/t2m.json" samples/tasks/arith-test.jsonl samples/tasks/countdown-test.jsonl | tee "$OUT/t2m-errors.txt"

# 2. EvoToken's comparison: LLaDA vs EvoToken without and with the CTS adapter (alpha 0.7), and the
#    paper's best-of-alpha sweep (reported separately, named as such).
run evotoken-base --rule llada --rule evotoken:alpha=0.7
if [ -d "$MODEL/evotoken-cts" ]; then
    run evotoken-cts --adapter "$MODEL/evotoken-cts" --rule llada --rule evotoken:alpha=0.5 --rule evotoken:alpha=0.6 \
        --rule evotoken:alpha=0.7 --rule evotoken:alpha=0.8 --rule evotoken:alpha=0.9
else
    echo "== evotoken-cts: SKIPPED, $MODEL has no evotoken-cts adapter (train/cts.py)" | tee "$OUT/evotoken-cts.txt"
fi

# 3. Fast-dLLM KV caches: accuracy, and how often the cached trajectory ends where the uncached one does.
run cache --rule llada --rule llada:cache=prefix --rule llada:cache=dual --rule threshold --rule threshold:cache=dual
$PY scripts/same_outputs.py "$OUT/cache.json" llada llada-2 llada-3 | tee "$OUT/cache-agreement.txt"
$PY scripts/same_outputs.py "$OUT/cache.json" threshold threshold-2 | tee -a "$OUT/cache-agreement.txt"

# 4. Determinism: the same seed twice gives the same results (sampled rules included).
run repeat-a --limit 20 --rule llada:temperature=0.5,seed=3 --rule evotoken
run repeat-b --limit 20 --rule llada:temperature=0.5,seed=3 --rule evotoken
if cmp -s "$OUT/repeat-a.json" "$OUT/repeat-b.json"; then echo "repeat: identical results"; else
    $PY - "$OUT/repeat-a.json" "$OUT/repeat-b.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p))["items"] for p in sys.argv[1:])
diff = [(x["rule"], x["id"]) for x, y in zip(a, b) if (x["response"], x["correct"]) != (y["response"], y["correct"])]
print("repeat: %d of %d responses differ %s" % (len(diff), len(a), diff[:5]))
PYEOF
fi | tee "$OUT/repeat.txt"
echo "results in $OUT"
