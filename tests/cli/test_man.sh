# The man page (dlmscope --man, what make install installs): man -l renders it without warnings,
# it has the sections a man page has, and it names every command, every option that any --help
# prints, and every rule and parameter --help-rules lists.
. tests/cli/lib.sh
command -v man >/dev/null && command -v groff >/dev/null ||
    skip "SKIP: man or groff not installed (Debian: man-db groff-base); the man page was not rendered"
"$DLMSCOPE" --man >"$TMP/dlmscope.1" || fail "dlmscope --man failed"
LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$TMP/dlmscope.1" >"$TMP/man.txt" 2>"$TMP/man.err" && ok || fail "man -l failed"
[ -s "$TMP/man.err" ] && fail "man -l warnings: $(head -n 3 "$TMP/man.err")" || ok
for s in NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS MODELS "DECODING RULES" KEYS ENVIRONMENT FILES "EXIT STATUS"; do
    grep -q "^$s" "$TMP/man.txt" && ok || fail "man page has no $s section"
done
# section SECTION_START_REGEX: the man text from that line to the next (sub)section
section() { awk -v start="$1" 'hit && /^(   )?[^ ]/ {exit} $0 ~ start {hit = 1} hit' "$TMP/man.txt"; }
# options_in HELP_COMMAND... : the options the --help output lists
options_in() { "$@" 2>&1 | grep -oE '^  --[a-z][a-z0-9-]*' | sort -u; }
check_options() { # NAME SECTION_REGEX HELP_COMMAND...
    name=$1 start=$2
    shift 2
    section "$start" >"$TMP/section"
    [ -s "$TMP/section" ] || { fail "$name: no section /$start/ in the man page"; return; }
    n=0
    for o in $(options_in "$@"); do
        n=$((n + 1))
        grep -qE -e "^ {7}$o( |$)" "$TMP/section" && ok || fail "$name: option $o (in --help) is not in its man page section"
    done
    [ "$n" -gt 0 ] && ok || fail "$name: --help lists no options"
    n_total=$((n_total + n))
}
n_total=0
check_options "dlmscope" "^OPTIONS" "$DLMSCOPE" --help
check_options "the visualizer" "^   dlmscope$" "$DLMSCOPE" --live-help
n_cmds=0
for c in $("$DLMSCOPE" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}'); do
    n_cmds=$((n_cmds + 1))
    check_options "$c" "^   dlmscope $c$" "$DLMSCOPE" "$c" --help
done
[ "$n_cmds" -ge 8 ] && ok || fail "only $n_cmds commands in --help"
[ "$n_total" -gt 80 ] && ok || fail "only $n_total options found in --help output (parsing broken?)"
for r in $("$DLMSCOPE" run --help-rules | awk '/^  [a-z0-9_]+ / {print $1}'); do
    grep -qE "^ +$r( |$)" "$TMP/man.txt" && ok || fail "rule or parameter $r is not in the man page"
done
grep -q "step-forward" "$TMP/man.txt" && grep -qE "^ +HF_HUB_CACHE" "$TMP/man.txt" && ok || fail "keys or environment missing"
finish
