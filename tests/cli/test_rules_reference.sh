# dlmscope run against PyTorch transcriptions of the official decoding algorithms
# (tests/reference/rules_reference.py, float64): 30 trajectories covering llada, margin, threshold
# (tau and factor), t2t (Q, S, block-causal), t2m (each detector, C_max, rho_max, block-causal),
# t2t Q and t2m LowProb on the LLaDA2.x-layout MoE fixture (block-causal, routing margins checked),
# evotoken, the Fast-dLLM caches (and their June 2025 forward count), the T2M repository's block
# cache (official-block), at T = 0 and T = 0.5; and Dream's own loop
# (tests/reference/dream_reference.py: the maskgit_plus, topk_margin and entropy orderings on a
# Dream-layout model); and Fast-dLLM v2's generate() (tests/reference/fdllm2_reference.py: sub-blocks,
# the autoregressive first token of a block, the stop token; each case cached and uncached on the
# fast-dllm-v2-f32 model); and D2F-LLaDA's pipelined blocks (tests/reference/d2f_reference.py: the
# prompt-as-block-0 mask, several blocks in flight, the D2F LoRA, EOS stopping new blocks; each case
# cached and uncached). Every step's tokens must match exactly. The cases were chosen
# so that no decision is closer than 1e-4 (tests/fixtures/rules/README.md).
. tests/cli/lib.sh
n=0
for args in tests/fixtures/rules/*.args tests/fixtures/dream/*.args tests/fixtures/fdllm2/*.args tests/fixtures/d2f/*.args; do
    case_name=$(basename "$args" .args)
    eval "set -- $(cat "$args")"
    if ! "$DLMSCOPE" run "$@" >"$TMP/$case_name.out" 2>"$TMP/err"; then
        fail "$case_name: dlmscope run failed: $(cat "$TMP/err")"
        continue
    fi
    if cmp -s "$TMP/$case_name.out" "${args%.args}.expected"; then
        ok
    else
        fail "$case_name: trajectory differs"
        diff "${args%.args}.expected" "$TMP/$case_name.out" | head -n 6
    fi
    n=$((n + 1))
done
[ $n -ge 38 ] || fail "expected at least 38 rule cases (with Dream's 3, Fast-dLLM v2's 8 and D2F's 8), found $n"
echo "$n trajectories compared step by step"
finish
