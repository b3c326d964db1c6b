# `dlmscope run`: bad flags and rule specs give one clear line naming the flag, a non-zero exit.
. tests/cli/lib.sh
M=tests/fixtures/models/mha-bf16
P='--prompt-ids 12,7,99,5'
expect_error "no prompt" "--prompt TEXT or --prompt-ids IDS is required" "$DLMSCOPE" run --model $M
expect_error "unknown rule" "--rule: unknown rule 'nope' \(rules: llada, threshold, t2t, t2m, evotoken[,)]" "$DLMSCOPE" run --model $M $P --rule nope
expect_error "unknown param" "rule t2m has no parameter 'alpha'" "$DLMSCOPE" run --model $M $P --rule t2m:alpha=0.3
expect_error "alpha range" "alpha=1.5: expected a number in \[0, 1\)" "$DLMSCOPE" run --model $M $P --rule evotoken:alpha=1.5
expect_error "tau range" "tau=2: expected a number in \[0, 1\]" "$DLMSCOPE" run --model $M $P --rule threshold:tau=2
expect_error "gen not multiple" "gen 20 is not a multiple of block 8" "$DLMSCOPE" run --model $M $P --gen 20 --block 8
expect_error "steps not multiple" "steps 15 is not a multiple of the 2 blocks" "$DLMSCOPE" run --model $M $P --gen 16 --block 8 --steps 15
expect_error "steps for t2t" "--steps: rule t2t has no fixed step count" "$DLMSCOPE" run --model $M $P --rule t2t --steps 16
expect_error "bad gen" "--gen: gen=abc: expected an integer" "$DLMSCOPE" run --model $M $P --gen abc
expect_error "negative gen" "gen=-5: expected an integer in \[1, [0-9]+\]$" "$DLMSCOPE" run --model $M $P --gen -5
expect_error "too long" "prompt \(4 tokens\) \+ --gen 512 = 516 tokens, more than the model's 256" "$DLMSCOPE" run --model $M $P --gen 512 --block 512
expect_error "prompt id range" "--prompt-ids: id 999 is outside the vocabulary" "$DLMSCOPE" run --model $M --prompt-ids "1 999"
expect_error "text needs tokenizer" "no tokenizer.json" "$DLMSCOPE" run --model $M --prompt "hi"
expect_error "both prompts" "exactly one of --prompt TEXT, --prompt-ids IDS and --resume" "$DLMSCOPE" run --model $M --prompt hi $P --tokenizer x
expect_error "block-causal mismatch" "--block 8 must equal the model's attention block size 4" "$DLMSCOPE" run --model $M $P --rule t2t --gen 16 --block 8 --block-causal 4
expect_error "rows" "--rows: 'some' is not 'all' or 'needed'" "$DLMSCOPE" run --model $M $P --rows some
# A working run prints the answer on stdout and one summary line on stderr.
expect_ok "run ok" "$DLMSCOPE" run --model $M $P --gen 16 --block 8 --rule t2m
[ "$(wc -l <"$TMP/stderr")" -eq 1 ] && grep -q 'forwards' "$TMP/stderr" && ok || fail "summary line: $(cat "$TMP/stderr")"
expect_ok "help-rules" "$DLMSCOPE" run --help-rules
grep -q 'evotoken' "$TMP/stdout" && grep -q 'rho_max' "$TMP/stdout" && ok || fail "help-rules lists rules and parameters"
# --version answers before the live visualizer's option parsing sees it; the live visualizer's errors
# name it plainly.
"$DLMSCOPE" --version | grep -qE '^dlmscope [0-9]+\.[0-9]+' && ok || fail "--version"
expect_error "live: unknown option" "^dlmscope: unknown option '--bogus' \(see dlmscope --help\)$" "$DLMSCOPE" --bogus
finish
