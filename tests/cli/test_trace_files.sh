# Trace files from the shell: record, info, dump --json, diff, resume (same rule: the recording
# exactly; another rule: a fork naming its parent), a run killed with SIGKILL mid-generation
# leaves a trace whose complete steps all replay, and bad files give one line and exit non-zero.
. tests/cli/lib.sh
M=tests/fixtures/models/mha-bf16
P='--prompt-ids 12,7,99,5,31,200 --gen 16 --block 8'

expect_ok "record" "$DLMSCOPE" run --model $M $P --rule t2m --record "$TMP/a.dlmtrace" --trace-ids
cp "$TMP/stdout" "$TMP/a.ids"
steps=$(grep -c '^step' "$TMP/a.ids")
expect_ok "info" "$DLMSCOPE" trace info "$TMP/a.dlmtrace"
grep -q "^steps      $steps in 2 blocks" "$TMP/stdout" && ok || fail "info: $(cat "$TMP/stdout")"
expect_ok "dump json" "$DLMSCOPE" trace dump "$TMP/a.dlmtrace" --json
[ "$(wc -l <"$TMP/stdout")" -eq $((steps + 1)) ] && ok || fail "dump --json: expected $((steps + 1)) lines"
expect_ok "dump step" "$DLMSCOPE" trace dump "$TMP/a.dlmtrace" --step 3 --json
grep -q '"step":3' "$TMP/stdout" && grep -q '"top":\[\[' "$TMP/stdout" && ok || fail "dump --step 3"

# Any thread count computes the same bits (the default count adapts between passes and runs, and a
# resume must equal the recording): 1, 2 and 3 threads give identical traces.
for t in 1 2 3; do
    expect_ok "threads $t" "$DLMSCOPE" run --model $M $P --rule t2m --threads $t --record "$TMP/th$t.dlmtrace"
done
for t in 2 3; do
    expect_ok "diff threads 1 $t" "$DLMSCOPE" trace diff "$TMP/th1.dlmtrace" "$TMP/th$t.dlmtrace"
    grep -q "^identical: $steps steps" "$TMP/stdout" && ok || fail "1 and $t threads differ: $(head -n 3 "$TMP/stdout")"
done

# Resume after step 9 with the same rule: the rest of the recording, token for token.
expect_ok "resume" "$DLMSCOPE" run --model $M --resume "$TMP/a.dlmtrace@9" --record "$TMP/b.dlmtrace" --trace-ids
grep -v '^step [0-9] ' "$TMP/a.ids" >"$TMP/a.tail"
cmp -s "$TMP/stdout" "$TMP/a.tail" && ok || fail "resume differs from the recording"
expect_ok "diff same" "$DLMSCOPE" trace diff "$TMP/a.dlmtrace" "$TMP/b.dlmtrace"
grep -q "identical: $steps steps" "$TMP/stdout" && ok || fail "diff of a resumed trace: $(cat "$TMP/stdout")"

# Fork at step 9 with T2T: the new trace names its parent and starts with the parent's steps.
expect_ok "fork" "$DLMSCOPE" run --model $M --resume "$TMP/a.dlmtrace@9" --rule t2t --record "$TMP/c.dlmtrace"
expect_ok "fork info" "$DLMSCOPE" trace info "$TMP/c.dlmtrace"
grep -q "forked     from $TMP/a.dlmtrace after step 9" "$TMP/stdout" && ok || fail "fork parent: $(cat "$TMP/stdout")"
"$DLMSCOPE" trace diff "$TMP/a.dlmtrace" "$TMP/c.dlmtrace" >"$TMP/diff.out"
[ $? -eq 1 ] && grep -qE "first difference at step (1[0-9]|[2-9][0-9])" "$TMP/diff.out" && ok || fail "fork diff: $(cat "$TMP/diff.out")"

# Issue 13: diff exits 1 on any difference, header ones included, and lists every differing step.
expect_ok "record eps" "$DLMSCOPE" run --model $M $P --rule t2m:stuck_eps=0.2 --record "$TMP/e.dlmtrace"
"$DLMSCOPE" trace diff "$TMP/a.dlmtrace" "$TMP/e.dlmtrace" >"$TMP/diff.out"
[ $? -eq 1 ] && grep -q "^rules: " "$TMP/diff.out" && ok || fail "rule-only diff must exit 1: $(cat "$TMP/diff.out")"
n_steps=$(grep -c '^step [0-9]* (block' "$TMP/diff.out")
n_said=$(sed -n 's/^\([0-9]*\) of [0-9]* common steps differ.*/\1/p' "$TMP/diff.out")
[ "${n_said:-0}" -eq "$n_steps" ] && [ "$(grep -c '^step [0-9]* (block' "$TMP/diff.out" 2>/dev/null)" -ge 0 ] && ok ||
    fail "diff: says ${n_said:-?} steps differ, lists $n_steps"
"$DLMSCOPE" trace diff "$TMP/a.dlmtrace" "$TMP/c.dlmtrace" >"$TMP/diff.out"
[ "$(grep -c '^step [0-9]* (block' "$TMP/diff.out")" -gt 1 ] && ok || fail "fork diff lists only one step: $(cat "$TMP/diff.out")"
# Issue 13: one numbering (steps and blocks from 0) and one mask name ([MASK]) in dumps.
"$DLMSCOPE" trace dump "$TMP/a.dlmtrace" --step 0 | head -n 1 | grep -q "^step 0  block 0 " && ok || fail "dump numbering"
"$DLMSCOPE" trace dump "$TMP/a.dlmtrace" | grep -q "(was \[MASK\])" && ok || fail "dump: the mask is not [MASK]"

# SIGKILL in the middle of a long recorded run.
"$DLMSCOPE" synth --shape small --out "$TMP/small" 2>/dev/null || fail "synth"
"$DLMSCOPE" run --model "$TMP/small" --prompt-ids "5 6 7 8" --gen 512 --block 64 --threads 1 --record "$TMP/k.dlmtrace" >/dev/null 2>&1 &
pid=$!
i=0
size_of() { if [ -f "$1" ]; then wc -c <"$1"; else echo 0; fi; }
while [ $i -lt 100 ] && [ "$(size_of "$TMP/k.dlmtrace")" -lt 200000 ]; do sleep 0.1; i=$((i + 1)); done
kill -9 $pid
wait $pid 2>/dev/null
"$DLMSCOPE" trace info "$TMP/k.dlmtrace" >"$TMP/k.info" 2>"$TMP/k.err"
rc=$?
[ $rc -le 1 ] && grep -q "no footer" "$TMP/k.info" && ok || fail "killed trace info (exit $rc): $(cat "$TMP/k.info" "$TMP/k.err")"
n=$(sed -n 's/^steps      \([0-9]*\) .*/\1/p' "$TMP/k.info")
"$DLMSCOPE" trace dump "$TMP/k.dlmtrace" --json >"$TMP/k.json" 2>"$TMP/k.err"
[ "$(wc -l <"$TMP/k.json")" -eq $((n + 1)) ] && [ "$n" -gt 0 ] && ok || fail "killed trace: $n steps indexed, $(wc -l <"$TMP/k.json") lines dumped"
echo "killed run: $n complete steps replay; $(cat "$TMP/k.err")"

# Bad files.
expect_error "missing" "nope.dlmtrace: No such file" "$DLMSCOPE" trace info "$TMP/nope.dlmtrace"
expect_error "directory" "is a directory" "$DLMSCOPE" trace info "$TMP"
: >"$TMP/empty.dlmtrace"
expect_error "empty" "empty file" "$DLMSCOPE" trace info "$TMP/empty.dlmtrace"
printf 'not a trace at all\n' >"$TMP/text.dlmtrace"
expect_error "text" "not a dlmscope trace" "$DLMSCOPE" trace info "$TMP/text.dlmtrace"
cp $M/model.safetensors.index.json "$TMP/json.dlmtrace"
expect_error "json" "not a dlmscope trace" "$DLMSCOPE" trace info "$TMP/json.dlmtrace"
head -c 3000 "$TMP/a.dlmtrace" >"$TMP/cut.dlmtrace"
"$DLMSCOPE" trace info "$TMP/cut.dlmtrace" >/dev/null 2>"$TMP/cut.err"
[ $? -eq 1 ] && grep -qE "cut.dlmtrace: byte [0-9]+: truncated" "$TMP/cut.err" && [ "$(wc -l <"$TMP/cut.err")" -eq 1 ] && ok ||
    fail "truncated trace: $(cat "$TMP/cut.err")"
expect_error "resume bad step" "has $steps steps" "$DLMSCOPE" run --model $M --resume "$TMP/a.dlmtrace@999"
expect_error "resume wrong model" "was recorded with model 'mha-bf16'" "$DLMSCOPE" run --model tests/fixtures/models/gqa-f32 --resume "$TMP/a.dlmtrace@3"
expect_error "resume syntax" "expected TRACE@STEP" "$DLMSCOPE" run --model $M --resume "$TMP/a.dlmtrace"
expect_error "trace usage" "expected info FILE" "$DLMSCOPE" trace frobnicate x
finish
