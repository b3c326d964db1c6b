# Every decoding rule on both mixture-of-experts families (tests/fixtures/models: LLaDA2.x with
# block-causal attention, LLaDA-MoE bidirectional), headless with a trace: the run finishes, the
# trace opens, and its steps carry the experts every computed position was routed to. The
# visualizer side (the inspector's experts line) is in test_tui_script.sh.
. tests/cli/lib.sh
for model in llada2-f32 llada-moe-f32; do
    dir=tests/fixtures/models/$model
    bc=""
    [ $model = llada2-f32 ] && bc="--block-causal 8" # LLaDA2 attends block-causally (its default block is 32)
    for rule in llada threshold t2t t2m evotoken margin dream; do
        out="$TMP/$model-$rule.dlmtrace"
        # shellcheck disable=SC2086
        if ! "$DLMSCOPE" run --model "$dir" --prompt-ids "5 6 7 8 9 10 11 12" --gen 32 --block 8 $bc --rule "$rule" \
            --record "$out" >"$TMP/out" 2>"$TMP/err"; then
            fail "$model $rule: run failed: $(cat "$TMP/err")"
            continue
        fi
        "$DLMSCOPE" trace info "$out" >/dev/null 2>&1 || { fail "$model $rule: trace info"; continue; }
        n=$("$DLMSCOPE" trace dump "$out" --json | grep -c '"experts":{"1":\[')
        [ "$n" -gt 0 ] && ok || fail "$model $rule: no step of the trace names the experts"
    done
done
# the family's own default rule (LLaDA2: LLaDA2.1's t2t Q mode with the exact block cache)
"$DLMSCOPE" run --model tests/fixtures/models/llada2-f32 --prompt-ids "5 6 7 8 9" --gen 32 >"$TMP/out" 2>&1 &&
    grep -q "t2t:gen=32,block=32,.*mode=q,.*cache=prefix" "$TMP/out" && ok || { fail "llada2 default rule"; cat "$TMP/out"; }
# routing on the command line: one line per position, every MoE layer; a dense model refuses
"$DLMSCOPE" logits --model tests/fixtures/models/llada-moe-f32 --ids "1 2 3 4" --experts >"$TMP/ex" 2>&1 &&
    [ "$(wc -l <"$TMP/ex")" -eq 4 ] && grep -qE '^0 1:[0-9]+,[0-9]+ 2:[0-9]+,[0-9]+$' "$TMP/ex" && ok ||
    { fail "logits --experts"; cat "$TMP/ex"; }
expect_error "--experts on a dense model" "is not a mixture-of-experts model" \
    "$DLMSCOPE" logits --model tests/fixtures/models/gqa-f32 --ids "1 2 3" --experts
finish
