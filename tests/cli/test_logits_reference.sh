# dlmscope logits against the float64 PyTorch references: LLaDA (tests/reference/make_fixtures.py:
# MHA bf16 in two shards, GQA f32 and f16, a PEFT LoRA adapter, block-causal attention and soft
# inputs) and the other families (tests/reference/families_reference.py: Dream with q/k/v bias
# and shifted logits, Qwen2/Qwen3 A2D, SDAR's block-causal Qwen3 layer, Fast-dLLM v2's block-causal
# shifted Qwen2 layer) and the mixture-of-experts
# families (tests/reference/moe_reference.py: LLaDA2.x, LLaDA-MoE). Top-K ids must agree exactly
# (where the margin is above tolerance) and probabilities within 2e-5 absolute; for the MoE cases
# the experts every position is routed to in every MoE layer must be the reference's, exactly.
. tests/cli/lib.sh
n=0
for args in tests/fixtures/reference/*.args tests/fixtures/families/*.args tests/fixtures/moe/*.args; do
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
    experts="${args%.args}.experts"
    [ -f "$experts" ] || continue
    if ! "$DLMSCOPE" logits --device cpu "$@" --experts >"$TMP/$case_name.experts" 2>"$TMP/err"; then
        fail "$case_name: dlmscope logits --experts failed: $(cat "$TMP/err")"
    elif cmp -s "$experts" "$TMP/$case_name.experts"; then
        ok; echo "$case_name: the same experts at every position and MoE layer"
    else
        fail "$case_name: routing differs from the reference"; diff "$experts" "$TMP/$case_name.experts" | head -n 6
    fi
done
[ $n -ge 20 ] || fail "expected at least 20 reference cases, found $n"
finish
