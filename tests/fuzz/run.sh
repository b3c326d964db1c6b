#!/bin/sh
# run.sh BIN_DIR SECONDS — replay the kept regression inputs of every fuzz target, then fuzz each
# target for SECONDS from its seed corpus (new inputs go to build/, not the repository). A crash
# leaves its input in build/fuzz/artifacts/; add it to tests/fuzz/regressions/<target>/ once fixed.
set -u
bin_dir=$1
seconds=$2
cd "$(dirname "$0")/../.."
art=build/fuzz/artifacts
mkdir -p "$art"
status=0
export DLM_FUZZ_TOKENIZER=tests/fuzz/tokenizer.json
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for bin in "$bin_dir"/fuzz_*; do
    name=$(basename "$bin")
    regs=$(ls tests/fuzz/regressions/"$name"/* 2>/dev/null)
    if [ -n "$regs" ]; then
        if ! "$bin" -runs=1 $regs >"$art/$name.replay.log" 2>&1; then
            echo "fuzz $name: a kept regression input fails again:"; tail -n 30 "$art/$name.replay.log"; status=1; continue
        fi
    fi
    work=build/fuzz/corpus/$name
    mkdir -p "$work"
    if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$art/$name-" "$work" "tests/fuzz/corpus/$name" >"$art/$name.log" 2>&1; then
        echo "fuzz $name: ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$art/$name.log" | grep -o '[0-9]*$') runs in ${seconds}s, $(ls "$work" | wc -l) corpus files)"
    else
        echo "fuzz $name: FAILED"; grep -E 'ERROR|SUMMARY|Test unit written' "$art/$name.log" | head -n 10; status=1
    fi
done
exit $status
