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
{
    "$DLMSCOPE" --help
    "$DLMSCOPE" --live-help
    for c in $("$DLMSCOPE" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}'); do
        echo "command $c"
        "$DLMSCOPE" "$c" --help
    done
} >"$TMP/help.txt"
n_opts=0
for o in $(grep -oE '^  --[a-z][a-z0-9-]*' "$TMP/help.txt" | sort -u); do
    n_opts=$((n_opts + 1))
    grep -qE -e "(^|[^a-z-])$o([^a-z-]|$)" "$TMP/man.txt" && ok || fail "option $o (in --help) is not in the man page"
done
[ "$n_opts" -gt 40 ] && ok || fail "only $n_opts options found in --help output (parsing broken?)"
n_cmds=0
for c in $(grep '^command ' "$TMP/help.txt" | cut -d' ' -f2); do
    n_cmds=$((n_cmds + 1))
    grep -q "dlmscope $c" "$TMP/man.txt" && ok || fail "command $c is not in the man page"
done
[ "$n_cmds" -ge 8 ] && ok || fail "only $n_cmds commands in --help"
for r in $("$DLMSCOPE" run --help-rules | awk '/^  [a-z0-9_]+ / {print $1}'); do
    grep -qE "^ +$r( |$)" "$TMP/man.txt" && ok || fail "rule or parameter $r is not in the man page"
done
grep -q "step-forward" "$TMP/man.txt" && grep -qE "^ +HF_HUB_CACHE" "$TMP/man.txt" && ok || fail "keys or environment missing"
finish
