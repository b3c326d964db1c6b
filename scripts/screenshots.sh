#!/bin/sh
# screenshots.sh — regenerate docs/screenshots from the sample traces (samples/traces, `make samples`)
# by driving the real binary in tmux: NAME.txt is the pane without colour (--no-color, so the heat
# grid shows its glyph ramp) for the docs; NAME.ans is the same view in colour, for `cat` in a
# terminal (or `less -R`).
set -eu
cd "$(dirname "$0")/.."
DLM=${DLMSCOPE:-./dlmscope}
OUT=docs/screenshots
T=samples/traces
W=${COLS:-120} H=${ROWS:-34}
command -v tmux >/dev/null || { echo "screenshots: tmux is needed" >&2; exit 1; }
for f in t2m t2t evotoken; do [ -f "$T/$f.dlmtrace" ] || { echo "screenshots: no $T/$f.dlmtrace (make samples)" >&2; exit 1; }; done
mkdir -p "$OUT"
sock=""
tm() { tmux -L "$sock" "$@"; }
trap '[ -z "$sock" ] || tm kill-server 2>/dev/null || true' EXIT

# shot NAME "ARGS" KEYS... — open dlmscope ARGS, send each key (a pause after each), capture.
shot() {
    name=$1 args=$2
    shift 2
    for mode in txt ans; do
        flags=""
        [ $mode = txt ] && flags="--no-color"
        sock=dlmscope-shots-$$-$name-$mode   # a server per capture: restarting one races its exit
        tm new-session -d -x "$W" -y "$H" "COLORTERM=truecolor $DLM $args $flags; sleep 30"
        sleep 1.5
        for k in "$@"; do tm send-keys "$k"; sleep 0.3; done
        sleep 0.5
        if [ $mode = txt ]; then tm capture-pane -p >"$OUT/$name.txt"; else tm capture-pane -p -e >"$OUT/$name.ans"; fi
        tm kill-server
    done
    echo "screenshots: $OUT/$name.txt"
}

# T2M: the step where LowProb remasks a committed token (`}` jumps to the next edit or remask).
shot t2m-remask "view $T/t2m.dlmtrace" "}"
# T2M next to T2T on the same prompt and seed, at the end: the positions where they differ are marked.
shot compare-t2m-t2t "view $T/t2m.dlmtrace --compare $T/t2t.dlmtrace" G
# EvoToken mid-trajectory: soft masks, Soft(V) tokens, and the soft mixture fed to the model in
# the inspector; the heat grid shows entropy.
shot evotoken-soft "view $T/evotoken.dlmtrace" : 6 Enter l l l l l l l l l l m m m
# The help overlay, generated from the key table.
shot help "view $T/t2m.dlmtrace" "?"
# Demo mode: autoplay with a caption per step.
shot demo "view $T/t2t.dlmtrace" d
