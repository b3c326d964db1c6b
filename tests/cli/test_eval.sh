# dlmscope eval: the table, JSON output, determinism (the same seed twice gives the same results),
# traces per item and rule, bad input lines counted and skipped, and errors that stop the run.
. tests/cli/lib.sh
"$DLMSCOPE" synth --shape tiny --out "$TMP/m" 2>/dev/null || fail "synth"
cp tests/fixtures/tokenizer-tiny.json "$TMP/m/tokenizer.json" # the fuzz tokenizer with ids up to the synthetic vocabulary (384), so every answer decodes
head -n 3 samples/tasks/sort-test.jsonl >"$TMP/items.jsonl"
head -n 3 samples/tasks/countdown-test.jsonl >>"$TMP/items.jsonl"
E="$DLMSCOPE eval --model $TMP/m --tasks $TMP/items.jsonl --gen 32 --block 16 --quiet"

expect_ok "eval" $E --rule llada --rule t2m --rule "llada:temperature=0.8" --out "$TMP/r1.json" --record-dir "$TMP/rec"
grep -qE '^llada +[0-9.]+%  \[' "$TMP/stdout" && grep -q '^t2m ' "$TMP/stdout" && grep -q '^llada-2 ' "$TMP/stdout" && ok ||
    fail "table rows: $(cat "$TMP/stdout")"
grep -q 'paired comparisons' "$TMP/stdout" && grep -q 'llada vs t2m' "$TMP/stdout" && ok || fail "paired comparison"
grep -qE '^sort +[0-9.]+% [0-9]/3' "$TMP/stdout" && grep -qE '^countdown ' "$TMP/stdout" && ok || fail "by family"
[ "$(ls "$TMP/rec/t2m" | wc -l)" -eq 6 ] && ok || fail "one trace per item for t2m: $(ls "$TMP/rec/t2m")"
expect_ok "recorded trace opens" "$DLMSCOPE" trace info "$TMP/rec/llada-2/sort-test-0000.dlmtrace"
# Issue 13: no "ETA 0 s" before the first item is done (the log has a line at 0%).
"$DLMSCOPE" eval --model "$TMP/m" --tasks "$TMP/items.jsonl" --gen 32 --block 16 --rule llada >/dev/null 2>"$TMP/progress"
grep -q "0/6 items done.*ETA after the first item" "$TMP/progress" && ! grep -q "0/6 items done.*ETA 0 s" "$TMP/progress" && ok ||
    fail "eval progress before the first item: $(cat "$TMP/progress")"
expect_ok "same seed again" $E --rule llada --rule t2m --rule "llada:temperature=0.8" --out "$TMP/r2.json" --jobs 2
# identical results apart from timings
sed -E 's/"(ms|seconds_per_item)": [0-9.e+-]+/"\1": 0/' "$TMP/r1.json" >"$TMP/a"
sed -E 's/"(ms|seconds_per_item)": [0-9.e+-]+/"\1": 0/' "$TMP/r2.json" >"$TMP/b"
cmp -s "$TMP/a" "$TMP/b" && ok || fail "two runs with the same seed (jobs 1 and 2) differ: $(diff "$TMP/a" "$TMP/b" | head -n 5)"
grep -q '"items"' "$TMP/r1.json" && grep -q '"response"' "$TMP/r1.json" && ok || fail "JSON holds the items"

# Bad lines are reported with their line number, counted, and skipped.
{
    head -n 1 samples/tasks/arith-test.jsonl
    echo 'this is not json'
    echo '{"prompt": "p", "task": "arith"}'
    echo '{"prompt": "p", "answer": "1", "task": "poetry"}'
    echo '{"prompt": "p", "answer": "1"}'
    echo '[1, 2]'
    echo
    head -n 1 samples/tasks/digits-test.jsonl
} >"$TMP/mixed.jsonl"
"$DLMSCOPE" eval --model "$TMP/m" --tasks "$TMP/mixed.jsonl" --gen 32 --block 16 --quiet >"$TMP/out" 2>"$TMP/err"
[ $? -eq 0 ] && ok || fail "a run with some bad lines should finish"
grep -q "mixed.jsonl:2: not JSON" "$TMP/err" && grep -q "mixed.jsonl:3: missing field 'answer'" "$TMP/err" &&
    grep -q "mixed.jsonl:4: unknown task family 'poetry'" "$TMP/err" && grep -q "mixed.jsonl:5: no 'task' field" "$TMP/err" &&
    grep -q "mixed.jsonl:6: not a JSON object" "$TMP/err" && ok || fail "bad line messages: $(cat "$TMP/err")"
grep -q "5 input lines skipped" "$TMP/out" && grep -q "^2 items" "$TMP/out" && ok || fail "skipped count: $(cat "$TMP/out")"

# Errors that stop the run.
: >"$TMP/empty.jsonl"
expect_error "empty file" "no usable items" "$DLMSCOPE" eval --model "$TMP/m" --tasks "$TMP/empty.jsonl"
expect_error "missing file" "nope.jsonl: No such file" "$DLMSCOPE" eval --model "$TMP/m" --tasks "$TMP/nope.jsonl"
expect_error "bad rule" "--rule 't2m:tau=9': tau=9: expected a number in \[0, 1\]" $E --rule "t2m:tau=9"
expect_error "bad checker" "--checker 'poetry': unknown" $E --checker poetry
expect_error "no tasks" "--tasks FILE.jsonl is required" "$DLMSCOPE" eval --model "$TMP/m"
finish
