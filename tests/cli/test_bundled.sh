# The bundled model (samples/models/dlm-tiny), which the quick start opens: the folder is complete,
# its tokenizer encodes the sample prompts and test items losslessly, every rule decodes the first
# sample prompt to the end (with and without KV caches), the recorded trace opens, and the
# evaluator runs the held-out families through their checkers. Accuracy is not asserted here: the
# model card and docs/RESULTS.md state it.
. tests/cli/lib.sh
M=samples/models/dlm-tiny
[ -d "$M" ] || skip "SKIP: no bundled model at $M (train it: train/run_all.sh)"

for f in config.json model.safetensors tokenizer.json tokenizer_config.json README.md; do
    [ -s "$M/$f" ] && ok || fail "$M/$f is missing"
done
size_kb=$(du -sk "$M" | cut -f1)
[ "$size_kb" -lt 40960 ] && ok || fail "$M is $size_kb KiB, over the 40 MB budget"

# Tokenizer: encode then decode gives the text back, for the prompts and the test answers.
{
    grep -v '^#' samples/prompts.txt
    for fam in arith countdown digits sort; do head -n 20 "samples/tasks/$fam-test.jsonl"; done
} | sed 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$/"/' >"$TMP/texts.jsonl"
"$DLMSCOPE" tokenize --tokenizer "$M/tokenizer.json" --jsonl <"$TMP/texts.jsonl" >"$TMP/ids" 2>"$TMP/err" || fail "tokenize: $(cat "$TMP/err")"
"$DLMSCOPE" tokenize --tokenizer "$M/tokenizer.json" --decode --jsonl <"$TMP/ids" >"$TMP/back" 2>"$TMP/err" || fail "decode: $(cat "$TMP/err")"
cmp -s "$TMP/texts.jsonl" "$TMP/back" && ok || fail "tokenizer round trip differs: $(diff "$TMP/texts.jsonl" "$TMP/back" | head -n 4)"

PROMPT=$(grep -v '^#' samples/prompts.txt | head -n 1)
R="$DLMSCOPE run --model $M --prompt"
ADAPTER=""
[ -d "$M/evotoken-cts" ] && ADAPTER="--adapter $M/evotoken-cts"
for rule in llada "llada:remasking=random,temperature=0.7" threshold "threshold:cache=dual" t2t "t2t:mode=s" \
            t2m "t2m:detector=t2t-remask" "t2m:detector=logitdiff,cache=prefix" evotoken; do
    extra=""
    case $rule in evotoken*) extra=$ADAPTER ;; esac
    expect_ok "run $rule" $R "$PROMPT" --rule "$rule" $extra --threads 2 --record "$TMP/r.dlmtrace"
    # the summary line, and a response that is text (not masks) ending the generation region
    grep -q "^dlmscope run: [0-9]* steps" "$TMP/stderr" "$TMP/stdout" && ok || fail "$rule: no summary line"
    grep -q "<|mdm_mask|>" "$TMP/stdout" && fail "$rule: masks left in the response: $(head -c 300 "$TMP/stdout")" || ok
    expect_ok "trace of $rule opens" "$DLMSCOPE" trace info "$TMP/r.dlmtrace"
done

# The evaluator over two held-out items per family: every item is checked (no extraction errors).
for fam in arith countdown digits sort; do head -n 2 "samples/tasks/$fam-test.jsonl"; done >"$TMP/items.jsonl"
expect_ok "eval" "$DLMSCOPE" eval --model "$M" --tasks "$TMP/items.jsonl" --rule t2t --rule t2m --quiet --threads 2 --out "$TMP/e.json"
grep -q "^8 items" "$TMP/stdout" && ok || fail "eval item count: $(head -n 5 "$TMP/stdout")"
for fam in arith countdown digits sort; do
    grep -qE "^$fam +[0-9.]+% [0-9]/2" "$TMP/stdout" && ok || fail "eval row for $fam: $(cat "$TMP/stdout")"
done
# The sample traces show what the model card says they show (make samples picks them).
T=samples/traces
"$DLMSCOPE" trace info "$T/stuck.dlmtrace" | grep -qE "stuck set non-empty in [1-9]" && ok || fail "$T/stuck.dlmtrace has no stuck step"
"$DLMSCOPE" trace info "$T/repair-t2m.dlmtrace" | grep -qE "[1-9][0-9]* remasks" && ok || fail "$T/repair-t2m.dlmtrace has no remask"
"$DLMSCOPE" trace info "$T/t2t-fix.dlmtrace" | grep -qE "[1-9][0-9]* edits" && ok || fail "$T/t2t-fix.dlmtrace has no edit"
for t in stuck repair-t2m repair-t2t t2t-fix t2t-fix-llada evotoken-cts; do
    "$DLMSCOPE" trace info "$T/$t.dlmtrace" | grep -q "identity $("$DLMSCOPE" trace info "$T/llada.dlmtrace" | sed -n 's/.*identity \([0-9a-f]*\).*/\1/p')" && ok ||
        fail "$T/$t.dlmtrace was not recorded on the model that recorded llada.dlmtrace"
done
finish
