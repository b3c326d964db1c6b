# Reliability on a full disk (issue 18, defect 7): a tiny tmpfs, mounted in a private mount
# namespace (unprivileged through a user namespace where the kernel allows it, else as root), so
# nothing outside this test sees it. `eval --record-dir` there must report the no-space error of
# the items it hits and exit non-zero; `run --record` must fail with the reason; a trace that
# already existed there must survive a failed rewrite. Skips (loudly) where no mount is possible.
. tests/cli/lib.sh
command -v unshare >/dev/null || skip "unshare not found: cannot mount a full tmpfs"
mnt="$TMP/full"
mkdir "$mnt"
ns=""
for how in "-r -m" "-m"; do
    if unshare $how sh -c "mount -t tmpfs -o size=256k tmpfs '$mnt'" 2>/dev/null; then ns=$how; break; fi
done
[ -n "$ns" ] || skip "cannot mount a tmpfs here (no user namespaces and not root): full-disk checks not run"

"$DLMSCOPE" synth --shape tiny --out "$TMP/m" 2>/dev/null || fail "synth"
cp tests/fixtures/tokenizer-tiny.json "$TMP/m/tokenizer.json" # the fuzz tokenizer with ids up to the synthetic vocabulary (384), so every answer decodes
head -n 20 samples/tasks/sort-test.jsonl >"$TMP/items.jsonl"
M=tests/fixtures/models/mha-bf16
P='--prompt-ids 12,7,99,5,31,200 --gen 16 --block 8'
export M P TMP mnt
# Everything on the full disk happens inside one namespace; results come back through $TMP.
unshare $ns sh -c '
    mount -t tmpfs -o size=256k tmpfs "$mnt" || exit 3
    # A trace written while there was room, then the disk filled up.
    "$DLMSCOPE" run --model $M $P --rule t2m --record "$mnt/keep.dlmtrace" >/dev/null 2>&1 || exit 4
    cp "$mnt/keep.dlmtrace" "$TMP/keep.before"
    dd if=/dev/zero of="$mnt/filler" bs=4k 2>/dev/null
    "$DLMSCOPE" run --model $M $P --rule t2m --record "$mnt/keep.dlmtrace" >"$TMP/run.out" 2>"$TMP/run.err"
    echo $? >"$TMP/run.rc"
    cp "$mnt/keep.dlmtrace" "$TMP/keep.after"
    ls -a "$mnt" >"$TMP/ls.out"
    rm -f "$mnt/filler"
    # Room for a few traces but not twenty.
    dd if=/dev/zero of="$mnt/filler" bs=1k count=150 2>/dev/null
    "$DLMSCOPE" eval --model "$TMP/m" --tasks "$TMP/items.jsonl" --gen 32 --block 16 --quiet --record-dir "$mnt/rec" \
        >"$TMP/eval.out" 2>"$TMP/eval.err"
    echo $? >"$TMP/eval.rc"
' || fail "setting up the full tmpfs (exit $?)"

rc=$(cat "$TMP/run.rc")
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && grep -q "No space left on device" "$TMP/run.err" && ok ||
    fail "run --record on a full disk: exit $rc: $(cat "$TMP/run.err")"
cmp -s "$TMP/keep.before" "$TMP/keep.after" && ok || fail "a failed rewrite damaged the trace that was there"
grep -q '\.tmp$' "$TMP/ls.out" && fail "a temporary file was left on the full disk: $(cat "$TMP/ls.out")" || ok
rc=$(cat "$TMP/eval.rc")
[ "$rc" -eq 1 ] && ok || fail "eval on a full disk: exit $rc, expected 1"
grep -qE "items failed to run; first, [^:]+: .*No space left on device" "$TMP/eval.err" && ok ||
    fail "eval on a full disk does not say why: $(cat "$TMP/eval.err")"
grep -qE "[0-9]+ items failed to run \(first, .*No space left on device" "$TMP/eval.out" && ok ||
    fail "eval table does not say why: $(cat "$TMP/eval.out")"
finish
