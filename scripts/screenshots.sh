#!/bin/sh
# screenshots.sh — regenerate docs/screenshots from the sample traces (samples/traces, `make samples`)
# in script mode (no terminal, no sleeping): NAME.txt is the screen without colour (NO_COLOR, so
# the heat grid shows its glyph ramp) for the docs; NAME.svg is the same view in 256 colours
# (TERM=xterm-256color) for any browser; NAME.png a render of it for the README, by rsvg-convert
# (Debian's librsvg2-bin) or else ImageMagick's `convert`, where either is installed.
set -eu
cd "$(dirname "$0")/.."
DLM=${DLMSCOPE:-./dlmscope}
OUT=docs/screenshots
T=samples/traces
W=${COLS:-120} H=${ROWS:-34}
for f in t2m repair-t2m repair-t2t t2t-fix evotoken stuck; do [ -f "$T/$f.dlmtrace" ] || { echo "screenshots: no $T/$f.dlmtrace (make samples)" >&2; exit 1; }; done
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LANG=C.UTF-8 LC_ALL=C.UTF-8
unset COLUMNS LINES

# shot NAME "ARGS" "KEYS" — open dlmscope ARGS in script mode, press KEYS (one script line each), capture.
shot() {
    name=$1 args=$2 keys=$3
    printf 'size %s %s\n%s\nscreen %s\nexport svg %s\n' "$W" "$H" "$keys" "$name" "$work/$name.svg" >"$work/script"
    rm -rf "$work/d" && mkdir "$work/d"
    # shellcheck disable=SC2086
    env NO_COLOR=1 TERM=xterm-256color $DLM $args --script "$work/script" --dump-screens "$work/d"
    sed -n '2,/^-- styles/p' "$work/d/$name.txt" | sed '$d' >"$OUT/$name.txt"
    rm -rf "$work/d" && mkdir "$work/d"
    # shellcheck disable=SC2086
    env TERM=xterm-256color $DLM $args --script "$work/script" --dump-screens "$work/d"
    cp "$work/$name.svg" "$OUT/$name.svg"
    if { command -v rsvg-convert >/dev/null && rsvg-convert "$OUT/$name.svg" -o "$work/$name.png" 2>/dev/null; } ||
        { command -v convert >/dev/null && convert "$OUT/$name.svg" "$work/$name.png" 2>/dev/null; }; then
        cp "$work/$name.png" "$OUT/$name.png"
    fi
    echo "screenshots: $OUT/$name.txt, .svg$([ -f "$OUT/$name.png" ] && echo ', .png')"
}

# A stuck token (`x` jumps to the first step with one and selects it): the README's screen.
shot stuck "view $T/stuck.dlmtrace" "x"
# T2M: the step where LowProb remasks a committed token (`}` jumps to the next edit or remask), on the
# item where T2M repairs what T2T cannot.
shot t2m-remask "view $T/repair-t2m.dlmtrace" "}"
# T2M next to T2T on that item, at the end: the positions where they differ are marked.
shot compare-t2m-t2t "view $T/repair-t2m.dlmtrace --compare $T/repair-t2t.dlmtrace" "G"
# EvoToken mid-trajectory: soft masks, Soft(V) tokens, the soft mixture fed to the model in the
# inspector and the candidates grid; the heat grid shows entropy.
shot evotoken-soft "view $T/evotoken.dlmtrace" ":
type 6
Enter
l l l l l l l l l l
m m m"
# The help overlay, generated from the key table.
shot help "view $T/t2m.dlmtrace" "?"
# Demo mode: autoplay with a caption per step (script mode plays it to the end).
shot demo "view $T/t2t-fix.dlmtrace" "d"
