#!/bin/sh
# tui-goldens.sh — the visualizer's golden screens, written by script mode (docs/tui.md).
#
#   scripts/tui-goldens.sh [--fixtures] [OUT_DIR]
#
# Each view (a replay, EvoToken soft tokens, compare, help, the rule panel) at 80x24, 120x40 and 200x60, in 256
# colours (TERM=xterm-256color), 8 colours (TERM=xterm) and none (NO_COLOR=1), into OUT_DIR
# (default tests/golden/tui). tests/cli/test_tui_golden.sh writes them to a temporary folder and
# compares. After a deliberate change to what the screen shows, run this and review `git diff`.
#
# The screens show committed traces (tests/fixtures/tui/), recorded from a random-weight synth
# model, so they do not change when the bundled model is retrained. --fixtures records them again
# (then the goldens change too: timings and probabilities are part of a trace).
# DLMSCOPE: the binary (default build/release/dlmscope).
set -eu
cd "$(dirname "$0")/.."
D=${DLMSCOPE:-build/release/dlmscope}
F=tests/fixtures/tui
if [ "${1:-}" = "--fixtures" ]; then
    shift
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$D" synth --shape tiny --out "$tmp/m" 2>/dev/null
    cp tests/fixtures/tokenizer-tiny.json "$tmp/m/tokenizer.json" # covers the synthetic vocabulary: every answer decodes
    mkdir -p "$F"
    for r in t2m llada evotoken; do
        "$D" run --model "$tmp/m" --prompt 'the and on 123' --gen 32 --block 16 --rule "$r" --threads 1 \
            --record "$F/$r.dlmtrace" >/dev/null
    done
fi
OUT=${1:-tests/golden/tui}
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LANG=C.UTF-8 LC_ALL=C.UTF-8
unset COLUMNS LINES

# view NAME KEYS ARGS...: the keys, then the screen at every size
view() {
    name=$1 keys=$2
    shift 2
    printf '%s\n' "$keys" >"$work/script"
    for size in 80x24 120x40 200x60; do
        printf 'size %s\nscreen %s-%s\n' "$(echo $size | tr x ' ')" "$name" "$size" >>"$work/script"
    done
    for colours in 256 8 none; do
        rm -rf "$work/d" && mkdir "$work/d"
        case $colours in
        256) env TERM=xterm-256color "$D" "$@" --script "$work/script" --dump-screens "$work/d" ;;
        8) env TERM=xterm "$D" "$@" --script "$work/script" --dump-screens "$work/d" ;;
        none) env TERM=xterm-256color NO_COLOR=1 "$D" "$@" --script "$work/script" --dump-screens "$work/d" ;;
        esac
        for f in "$work/d"/"$name"-*.txt; do
            b=$(basename "$f" .txt)
            cp "$f" "$OUT/$b-$colours.txt"
        done
    done
}

view replay "5
Right
Right" view "$F/t2m.dlmtrace"
view evotoken "." view "$F/evotoken.dlmtrace"
view compare "5" view "$F/t2m.dlmtrace" --compare "$F/llada.dlmtrace"
view help "?" view "$F/t2m.dlmtrace"
view params "o" view "$F/t2m.dlmtrace"
echo "golden screens in $OUT: $(ls "$OUT" | wc -l) files"
