# dlmscope logits against the float64 PyTorch reference (tests/reference/make_fixtures.py):
# MHA bf16 in two shards, GQA f32 and f16, a PEFT LoRA adapter, block-causal attention and soft
# inputs. Top-K ids must agree exactly (where the margin is above tolerance) and probabilities
# within 2e-5 absolute.
. tests/cli/lib.sh
n=0
for args in tests/fixtures/reference/*.args; do
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
[ $n -ge 10 ] || fail "expected at least 10 reference cases, found $n"
finish
