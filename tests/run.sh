#!/bin/sh
# run.sh — the whole test suite: C unit tests, then end-to-end shell tests against the binary.
#
# Environment: DLMSCOPE (binary under test), UNIT_DIR (unit test binaries), TOOL_DIR (helpers).
# A shell test exits 0 (pass), 77 (skip: it prints why, and the summary repeats it) or anything
# else (fail). Skips are loud on purpose: a skipped test is not a passed one.
set -u
cd "$(dirname "$0")/.."
: "${DLMSCOPE:=build/release/dlmscope}" "${UNIT_DIR:=build/release/tests}" "${TOOL_DIR:=build/release/tools}"
export DLMSCOPE UNIT_DIR TOOL_DIR
DLMSCOPE=$(cd "$(dirname "$DLMSCOPE")" && pwd)/$(basename "$DLMSCOPE")
TOOL_DIR=$(cd "$TOOL_DIR" && pwd)
export DLMSCOPE TOOL_DIR
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
# Sleeping, not spinning, OpenMP threads: on a shared machine two spinning threads per test process
# made the suite 10-80x slower (test_bundled: 7 s idle, 604 s beside other jobs).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

pass=0; fail=0; skip=0; failed=""; skipped=""
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

run_one() { # name command...
    name=$1; shift
    start=$(date +%s)
    "$@" >"$log/out" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); printf '  PASS  %-44s %3ss\n' "$name" "$secs"
    elif [ $rc -eq 77 ]; then
        skip=$((skip + 1)); reason=$(tail -n 1 "$log/out")
        skipped="$skipped\n  SKIP  $name: $reason"; printf '  SKIP  %-44s %s\n' "$name" "$reason"
    else
        fail=$((fail + 1)); failed="$failed $name"; printf '  FAIL  %-44s (exit %d)\n' "$name" "$rc"
        sed 's/^/        | /' "$log/out" | tail -n 40
    fi
}

echo "unit tests ($UNIT_DIR)"
for t in "$UNIT_DIR"/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
echo "end-to-end tests (tests/cli)"
for t in tests/cli/test_*.sh; do
    run_one "$(basename "$t" .sh)" sh "$t"
done

echo
echo "passed $pass, failed $fail, skipped $skip"
[ $skip -gt 0 ] && printf "skipped (not passed):$skipped\n"
[ $fail -gt 0 ] && { echo "FAILED:$failed"; exit 1; }
exit 0
