# bash completion (dlmscope --completion bash, what make install installs), driven as bash drives
# it (COMP_LINE, COMP_POINT, the default COMP_WORDBREAKS): commands, options, rule names, a rule's
# parameters and their values, themes, shapes, trace subcommands, hub cache names.
. tests/cli/lib.sh
command -v bash >/dev/null || skip "SKIP: bash not installed; the bash completion was not tested"
BC=$TMP/dlmscope.bash
"$DLMSCOPE" --completion bash >"$BC" || fail "--completion bash"
bash -n "$BC" && ok || fail "bash completion: syntax"
expect_error "other shell" "--completion: 'fish' is not a shell with completions here \(bash or zsh\)" "$DLMSCOPE" --completion fish
complete_bash() { # LINE -> the candidates, one per line
    bash --norc --noprofile -c '. "$1"; COMP_LINE=$2; COMP_POINT=${#2}; _dlmscope 2>/dev/null; printf "%s\n" "${COMPREPLY[@]}"' \
        _ "$BC" "$1"
}
expect_completion() { # LINE CANDIDATE...
    line=$1; shift
    complete_bash "$line" >"$TMP/c"
    for want in "$@"; do grep -qxF -e "$want" "$TMP/c" && ok || fail "bash: '$line' does not offer '$want' (got: $(tr '\n' ' ' <"$TMP/c"))"; done
}
expect_completion "dlmscope ru" run
expect_completion "dlmscope " view tokenize run eval trace logits bench synth
expect_completion "dlmscope run --mo" --model
expect_completion "dlmscope eval --record-" --record-dir
expect_completion "dlmscope --rule t2" t2t t2m
expect_completion "dlmscope run --rule t2m:det" detector=
expect_completion "dlmscope run --rule t2m:detector=logitdiff,ca" logitdiff,cache= logitdiff,cap= # bash breaks words at '='
expect_completion "dlmscope run --rule t2m:detector=lo" lowprob logitdiff
expect_completion "dlmscope run --rule evotoken:al" alpha=
expect_completion "dlmscope view x --theme " dark light high-contrast mono
expect_completion "dlmscope --theme=hi" high-contrast
expect_completion "dlmscope trace " info dump diff
expect_completion "dlmscope synth --shape " tiny small medium llada-8b
expect_completion "dlmscope --completion " bash zsh
expect_completion "dlmscope --prompt run --ru" --rule
mkdir -p "$TMP/hub/models--some-org--some-model/snapshots"
HF_HUB_CACHE="$TMP/hub" complete_bash "dlmscope run --model some" >"$TMP/c"
grep -qx "some-org/some-model" "$TMP/c" && ok || fail "bash: --model does not offer hub names (got: $(cat "$TMP/c"))"
complete_bash "dlmscope run --rule t2m:" >"$TMP/c"
grep -q "alpha" "$TMP/c" && fail "bash: t2m offered evotoken's alpha" || ok
grep -q "detector=" "$TMP/c" && ok || fail "bash: t2m did not offer detector="
complete_bash "dlmscope tokenize --" >"$TMP/c"
grep -qx -- "--rule" "$TMP/c" && fail "bash: tokenize offered --rule" || ok
finish
