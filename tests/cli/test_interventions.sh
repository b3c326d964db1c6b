# Interventions from the shell (issue 19): `run --resume T@N --force/--remask/--pin/--unpin` forks a
# recorded run with hand-made changes before its next step; the trace records them as events of
# that step; resuming the fork after the intervened step continues it exactly, and rerunning the
# same intervention reproduces it; `trace diff` names the interventions where the forks diverge.
. tests/cli/lib.sh
M=samples/models/dlm-tiny
T=samples/traces/t2t.dlmtrace # step 3: block 1 (positions 74-105) half filled; 77 and 85 masked

# Force position 77 to the text "7" (its second candidate) and pin it; remask the committed 76.
expect_ok "force" "$DLMSCOPE" run --model $M --resume "$T@3" --force 77=7 --pin 77 --remask 76 \
    --record "$TMP/f.dlmtrace" --trace-text
grep -q "^  user: remask 76, force 77'7', pin 77$" "$TMP/stdout" && ok || fail "trace-text: $(head -3 "$TMP/stdout")"
grep -q "^step   4 " "$TMP/stdout" && ok || fail "the fork's first step is step 4"
expect_ok "dump" "$DLMSCOPE" trace dump "$TMP/f.dlmtrace" --step 4 --json
grep -q '"interventions":\[{"who":"user","what":"remask","pos":76,"end":77},{"who":"user","what":"force","pos":77,"end":78,"token":' \
    "$TMP/stdout" && ok || fail "dump --json: $(head -c 400 "$TMP/stdout")"
grep -q '"pos":77,[^}]*"pinned":true,"user":\["force","pin"\]' "$TMP/stdout" && ok || fail "dump --json: position 77 not pinned"
# The pin holds to the end; the final answer keeps the forced 7.
expect_ok "dump last" "$DLMSCOPE" trace dump "$TMP/f.dlmtrace" --step 6
grep -qE '^ +77 decoded +7 .*\[pinned\]' "$TMP/stdout" && ok || fail "last step: $(grep '^ *77 ' "$TMP/stdout")"

expect_ok "info" "$DLMSCOPE" trace info "$TMP/f.dlmtrace"
grep -q "^by hand    3 interventions, the first before step 4 " "$TMP/stdout" && ok || fail "info: $(cat "$TMP/stdout")"

# trace diff: where the fork leaves its parent, and why.
"$DLMSCOPE" trace diff "$T" "$TMP/f.dlmtrace" >"$TMP/diff.out"
[ $? -eq 1 ] && ok || fail "diff exit"
grep -q "^B forks $T after step 3$" "$TMP/diff.out" && ok || fail "diff: fork line: $(head -2 "$TMP/diff.out")"
grep -q "^  interventions before step 4:$" "$TMP/diff.out" && grep -q "^    A: none$" "$TMP/diff.out" &&
    grep -q "^    B user: remask 76, force 77'7', pin 77$" "$TMP/diff.out" && ok || fail "diff: $(cat "$TMP/diff.out")"
grep -q "first difference at step 4" "$TMP/diff.out" && ok || fail "diff: first difference"
grep -qE "^  pos +77 .* user force in B  user pin in B  pinned in B$" "$TMP/diff.out" && ok || fail "diff: position 77"

# Replay: the same intervention again gives the same trajectory; resume after it continues it.
expect_ok "again" "$DLMSCOPE" run --model $M --resume "$T@3" --force 77=7 --pin 77 --remask 76 --record "$TMP/g.dlmtrace"
expect_ok "diff again" "$DLMSCOPE" trace diff "$TMP/f.dlmtrace" "$TMP/g.dlmtrace"
grep -q "^identical: 7 steps$" "$TMP/stdout" && ok || fail "replay: $(cat "$TMP/stdout")"
expect_ok "resume fork" "$DLMSCOPE" run --model $M --resume "$TMP/f.dlmtrace@4" --record "$TMP/h.dlmtrace"
expect_ok "diff resume" "$DLMSCOPE" trace diff "$TMP/f.dlmtrace" "$TMP/h.dlmtrace"
grep -q "^identical: 7 steps$" "$TMP/stdout" && ok || fail "resume after the intervention: $(cat "$TMP/stdout")"
# Unpin on the resumed fork: T2T may then edit 77 again (the run just has to work and say so).
expect_ok "unpin" "$DLMSCOPE" run --model $M --resume "$TMP/f.dlmtrace@4" --unpin 77 --trace-text
grep -q "^  user: unpin 77$" "$TMP/stdout" && ok || fail "unpin: $(head -2 "$TMP/stdout")"
# Forcing by id, before the first step of a fresh run.
expect_ok "force id" "$DLMSCOPE" run --model $M --prompt "Sort 3 1 2" --gen 32 --block 32 --rule llada:steps=8 --force 20=#20 --pin 20 --trace-ids
grep -qE "^step 0 block 0 :( [0-9]+){3} 20 " "$TMP/stdout" && ok || fail "force by id: $(head -1 "$TMP/stdout")"

# Mistakes: one line each, nothing run.
expect_error "force syntax" "--force: expected POS=TOKEN" "$DLMSCOPE" run --model $M --resume "$T@3" --force 77
expect_error "force text" "--force: 'no such token' is not the text of one token" "$DLMSCOPE" run --model $M --resume "$T@3" --force "77=no such token"
expect_error "force mask" "--force 77=#708: force: the mask is not a token to force" "$DLMSCOPE" run --model $M --resume "$T@3" --force 77=#708
expect_error "force prompt" "outside the generation region 42-169" "$DLMSCOPE" run --model $M --resume "$T@3" --force 3=7
expect_error "range" "--remask: expected a canvas position POS or a range POS-END, got '90-80'" "$DLMSCOPE" run --model $M --resume "$T@3" --remask 90-80
expect_error "pin mask" "--pin 85: pin: position 85 is masked" "$DLMSCOPE" run --model $M --resume "$T@3" --pin 85
expect_error "remask pinned" "remask: position 77 is pinned" "$DLMSCOPE" run --model $M --resume "$TMP/f.dlmtrace@4" --remask 76-80
expect_error "remask finished" "remask: position 50 is in a finished block" "$DLMSCOPE" run --model $M --resume "$T@3" --remask 50
expect_error "finished" "generation is finished" "$DLMSCOPE" run --model $M --resume "$T@6" --pin 50
finish
