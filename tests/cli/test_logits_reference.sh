# dlmscope logits against the float64 PyTorch references: LLaDA (tests/reference/make_fixtures.py:
# MHA bf16 in two shards, GQA f32 and f16, a PEFT LoRA adapter, block-causal attention and soft
# inputs) and the other families (tests/reference/families_reference.py: Dream with q/k/v bias
# and shifted logits, Qwen2/Qwen3 A2D, SDAR's block-causal Qwen3 layer). Top-K ids must agree exactly (where the margin is above tolerance) and probabilities
# within 2e-5 absolute.
. tests/cli/lib.sh
n=0
for args in tests/fixtures/reference/*.args tests/fixtures/families/*.args; do
    case_name=$(basename "$args" .args)
    eval "set -- $(cat "$args")"
    if ! "$DLMSCOPE" logits --device cpu "$@" >"$TMP/$case_name.out" 2>"$TMP/err"; then
        fail "$case_name: dlmscope logits failed: $(cat "$TMP/err")"
        continue
    fi
    if "$TOOL_DIR/compare_topk" "${args%.args}.expected" "$TMP/$case_name.out" 2e-5 >"$TMP/cmp"; then
        ok; echo "$case_name: $(tail -n 1 "$TMP/cmp")"
    else
        fail "$case_name"; cat "$TMP/cmp"
    fi
    n=$((n + 1))
done
[ $n -ge 16 ] || fail "expected at least 16 reference cases, found $n"
finish
