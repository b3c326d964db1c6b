# lib.sh — helpers for the end-to-end shell tests (sourced).
set -u
: "${DLMSCOPE:?DLMSCOPE must point at the binary under test}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
n_checks=0
n_failed=0

fail() { echo "FAIL: $*"; n_failed=$((n_failed + 1)); }
skip() { echo "$*"; exit 77; }
ok() { n_checks=$((n_checks + 1)); }
finish() {
    echo "$n_checks checks, $n_failed failed"
    [ "$n_failed" -eq 0 ]
}

# expect_error NAME PATTERN COMMAND... — the command must exit non-zero (not by a signal, not
# a sanitizer report) with exactly one line on stderr that matches the extended regex PATTERN.
expect_error() {
    name=$1 pattern=$2
    shift 2
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    lines=$(wc -l <"$TMP/stderr")
    if [ $rc -eq 0 ]; then
        fail "$name: exit 0, expected an error"
    elif [ $rc -ge 128 ]; then
        fail "$name: killed by signal $((rc - 128))"; cat "$TMP/stderr"
    elif grep -qE 'Sanitizer|runtime error|LeakSanitizer' "$TMP/stderr"; then
        fail "$name: sanitizer report"; cat "$TMP/stderr"
    elif [ "$lines" -ne 1 ]; then
        fail "$name: $lines lines on stderr, expected one"; cat "$TMP/stderr"
    elif ! grep -qE -e "$pattern" "$TMP/stderr"; then
        fail "$name: message '$(cat "$TMP/stderr")' does not match /$pattern/"
    else
        ok
    fi
}

# expect_ok NAME COMMAND... — exit 0 and no sanitizer report; stdout kept in $TMP/stdout.
expect_ok() {
    name=$1
    shift
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    if [ $rc -ne 0 ] || grep -qE 'Sanitizer|runtime error' "$TMP/stderr"; then
        fail "$name: exit $rc"; cat "$TMP/stderr"
    else
        ok
    fi
}

# ---- the visualizer's script mode (--script / --dump-screens) ----
# scr NAME SCRIPT-TEXT COMMAND... : run the command with the script, screens in $TMP/NAME/
scr() {
    name=$1 text=$2
    shift 2
    rm -rf "$TMP/$name"
    mkdir -p "$TMP/$name"
    printf '%s\n' "$text" >"$TMP/$name.script"
    "$@" --script "$TMP/$name.script" --dump-screens "$TMP/$name" >"$TMP/$name.out" 2>&1
    rc=$?
    if [ $rc -ne 0 ] || grep -qE 'Sanitizer|runtime error' "$TMP/$name.out"; then
        fail "$name: exit $rc"; cat "$TMP/$name.out"
    else
        ok
    fi
}
text_of() { sed -n '2,/^-- styles/p' "$1" | sed '$d'; } # a dumped screen's text lines
has() { # has NAME FILE PATTERN : the screen's text matches the extended regex
    if text_of "$2" | grep -aqE -- "$3"; then ok; else fail "$1: no /$3/ on the screen:"; text_of "$2" | sed 's/^/    | /'; fi
}
hasnt() { # hasnt NAME FILE PATTERN : it does not
    if text_of "$2" | grep -aqE -- "$3"; then fail "$1: /$3/ on the screen:"; text_of "$2" | sed 's/^/    | /'; else ok; fi
}
