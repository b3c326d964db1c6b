# Golden screens: every view of the visualizer at 80x24, 120x40 and 200x60, in 256 colours,
# 8 colours and NO_COLOR, written by script mode and compared with tests/golden/tui/ (text and the
# style of every cell). After a deliberate change: scripts/tui-goldens.sh, then review git diff.
. tests/cli/lib.sh
sh scripts/tui-goldens.sh "$TMP/screens" >"$TMP/log" 2>&1 || { cat "$TMP/log"; fail "scripts/tui-goldens.sh"; }
n=0
for g in tests/golden/tui/*.txt; do
    b=$(basename "$g")
    if [ ! -f "$TMP/screens/$b" ]; then
        fail "$b: not written"
    elif cmp -s "$g" "$TMP/screens/$b"; then
        ok
    else
        fail "$b differs from the golden screen (regenerate: DLMSCOPE=$DLMSCOPE scripts/tui-goldens.sh):"
        diff "$g" "$TMP/screens/$b" | head -n 12 | sed 's/^/    /'
    fi
    n=$((n + 1))
done
[ "$n" -ge 45 ] && ok || fail "only $n golden screens in tests/golden/tui"
finish
