#!/bin/sh
# make_samples.sh — regenerate samples/traces from the bundled model (`make samples`):
#   one trace per rule for the same prompt and seed, and a T2T-vs-T2M pair on a held-out item
#   where T2M repairs an answer that T2T leaves wrong (found with dlmscope eval over the first
#   REPAIR_LIMIT held-out items of each family, default 200).
set -eu
cd "$(dirname "$0")/.."
DLM=${DLMSCOPE:-./dlmscope}
MODEL=${MODEL:-samples/models/dlm-tiny}
OUT=samples/traces
[ -d "$MODEL" ] || { echo "make_samples: no model at $MODEL (train it: train/run_all.sh)" >&2; exit 1; }
mkdir -p "$OUT"
PROMPT=$(grep -v '^#' samples/prompts.txt | head -n 1)
common="--model $MODEL --gen 128 --block 32 --seed 0 --threads 2"
for rule in llada threshold t2t t2m "t2m:detector=logitdiff" evotoken; do
    name=$(echo "$rule" | sed 's/:detector=/-/')
    extra=""
    [ "$rule" = evotoken ] && [ -d "$MODEL/evotoken-cts" ] && extra="--adapter $MODEL/evotoken-cts"
    "$DLM" run $common $extra --prompt "$PROMPT" --rule "$rule" --record "$OUT/$name.dlmtrace" >/dev/null
    echo "make_samples: $OUT/$name.dlmtrace ($("$DLM" trace info "$OUT/$name.dlmtrace" | sed -n 's/^steps      //p'))"
done
# The repair pair: the first held-out item T2M gets right and T2T wrong.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for fam in digits arith sort countdown; do
    "$DLM" eval $common --tasks "samples/tasks/$fam-test.jsonl" --limit "${REPAIR_LIMIT:-200}" --rule t2t --rule t2m --quiet \
        --record-dir "$tmp/rec" >"$tmp/eval.txt"
    item=$(sed -n 's/^ *e\.g\. \([^ ]*\) (t2m right, t2t wrong).*/\1/p' "$tmp/eval.txt" | head -n 1)
    if [ -n "$item" ]; then
        cp "$tmp/rec/t2t/$item.dlmtrace" "$OUT/repair-t2t.dlmtrace"
        cp "$tmp/rec/t2m/$item.dlmtrace" "$OUT/repair-t2m.dlmtrace"
        echo "make_samples: repair pair from $item (view: dlmscope view $OUT/repair-t2m.dlmtrace --compare $OUT/repair-t2t.dlmtrace)"
        grep "^t2" "$tmp/eval.txt"
        exit 0
    fi
    rm -rf "$tmp/rec"
done
echo "make_samples: no held-out item where T2M repairs T2T (see docs/RESULTS.md)" >&2
