# make install / make uninstall into a temporary DESTDIR: the installed binary runs the bundled model
# from another folder (its data found from its own location, and through DLMSCOPE_DATA), --version
# reports the build, the man page renders with man -l and names every option --help prints, the
# bash completion completes commands, options, rules, parameters and themes, and uninstall removes
# every file install wrote.
. tests/cli/lib.sh
command -v make >/dev/null || skip "SKIP: make not found"
D=$TMP/dest
BIN=$D/usr/bin/dlmscope
SHARE=$D/usr/share
# The binary under test is installed as is (INSTALL_BIN), so nothing is rebuilt.
env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory install DESTDIR="$D" PREFIX=/usr INSTALL_BIN="$DLMSCOPE" \
    >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; fail "make install failed"; finish; exit 1; }
(cd "$D" && find . ! -type d | LC_ALL=C sort) >"$TMP/installed"
for f in usr/bin/dlmscope usr/share/man/man1/dlmscope.1 usr/share/bash-completion/completions/dlmscope \
         usr/share/zsh/site-functions/_dlmscope usr/share/dlmscope/samples/models/dlm-tiny/model.safetensors \
         usr/share/dlmscope/samples/prompts.txt usr/share/dlmscope/samples/tasks/arith-test.jsonl \
         usr/share/dlmscope/samples/traces/t2m.dlmtrace usr/share/dlmscope/themes/dark.theme usr/share/doc/dlmscope/README.md; do
    grep -qx "./$f" "$TMP/installed" && ok || fail "make install did not install $f"
done
[ -x "$BIN" ] && ok || fail "$BIN is not executable"

# The installed binary, from /, on the bundled model by name: data found next to the binary.
PROMPT=$(grep -v '^#' samples/prompts.txt | head -n 1)
(cd / && "$BIN" run --model dlm-tiny --prompt "$PROMPT" --gen 32 --threads 2) >"$TMP/out" 2>"$TMP/err" \
    && ok || fail "installed run from /: $(cat "$TMP/err")"
grep -q "^dlmscope run: [0-9]* steps" "$TMP/out" "$TMP/err" && ok || fail "installed run: no summary line"
(cd / && "$BIN" --version) >"$TMP/version" 2>&1
grep -q "^data *$SHARE/dlmscope$" "$TMP/version" && ok || fail "installed --version data folder: $(grep data "$TMP/version")"
grep -q "^prefix" "$TMP/version" && grep -q "^revision  [0-9a-f]" "$TMP/version" && grep -q "^BLAS      OpenBLAS" "$TMP/version" &&
    grep -qE "^CUDA      (built|not built|emulated)" "$TMP/version" && ok || fail "--version lacks build facts: $(cat "$TMP/version")"
# DLMSCOPE_DATA points a copy elsewhere at the data (the binary alone, in another folder)
mkdir -p "$TMP/elsewhere"
cp "$BIN" "$TMP/elsewhere/dlmscope"
(cd / && DLMSCOPE_DATA="$SHARE/dlmscope" "$TMP/elsewhere/dlmscope" run --model dlm-tiny --prompt "$PROMPT" --gen 32 --threads 2) \
    >"$TMP/out" 2>"$TMP/err" && ok || fail "DLMSCOPE_DATA run: $(cat "$TMP/err")"
(cd / && DLMSCOPE_DATA="$SHARE/dlmscope" "$BIN" view --help) >/dev/null 2>&1 && ok || fail "installed view --help"
"$BIN" trace info "$SHARE/dlmscope/samples/traces/t2m.dlmtrace" >/dev/null 2>&1 && ok || fail "installed sample trace does not open"

# The man page: renders without warnings and names every option and command --help prints.
MAN=$SHARE/man/man1/dlmscope.1
if command -v man >/dev/null && command -v groff >/dev/null; then
    LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$MAN" >"$TMP/man.txt" 2>"$TMP/man.err" && ok || fail "man -l failed"
    [ -s "$TMP/man.err" ] && fail "man -l warnings: $(head -n 3 "$TMP/man.err")" || ok
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS MODELS "DECODING RULES" KEYS ENVIRONMENT FILES "EXIT STATUS"; do
        grep -q "^$s" "$TMP/man.txt" && ok || fail "man page has no $s section"
    done
else
    echo "SKIP (part): man or groff missing (Debian: man-db groff-base); checking the roff source instead"
    sed 's/\\-/-/g; s/\\f[BIR]//g' "$MAN" >"$TMP/man.txt"
fi
{
    "$BIN" --help
    "$BIN" --live-help
    for c in $("$BIN" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}'); do
        echo "command $c"
        "$BIN" "$c" --help
    done
} >"$TMP/help.txt"
n_opts=0
for o in $(grep -oE '^  --[a-z][a-z0-9-]*' "$TMP/help.txt" | sort -u); do
    n_opts=$((n_opts + 1))
    grep -qE -e "(^|[^a-z-])$o([^a-z-]|$)" "$TMP/man.txt" && ok || fail "option $o (in --help) is not in the man page"
done
[ "$n_opts" -gt 40 ] && ok || fail "only $n_opts options found in --help output (parsing broken?)"
for c in $(grep '^command ' "$TMP/help.txt" | cut -d' ' -f2); do
    grep -q "dlmscope $c" "$TMP/man.txt" && ok || fail "command $c is not in the man page"
done
for r in $("$BIN" run --help-rules | awk '/^  [a-z0-9_]+ / {print $1}'); do
    grep -qE "^ +$r( |$)" "$TMP/man.txt" && ok || fail "rule or parameter $r is not in the man page"
done

# bash completion (the installed script), driven as bash drives it
BC=$SHARE/bash-completion/completions/dlmscope
complete_bash() { # LINE -> the candidates, one per line
    bash --norc --noprofile -c '. "$1"; COMP_LINE=$2; COMP_POINT=${#2}; _dlmscope 2>/dev/null; printf "%s\n" "${COMPREPLY[@]}"' \
        _ "$BC" "$1"
}
expect_completion() { # LINE CANDIDATE...
    line=$1; shift
    complete_bash "$line" >"$TMP/c"
    for want in "$@"; do grep -qxF -e "$want" "$TMP/c" && ok || fail "bash: '$line' does not offer '$want' (got: $(tr '\n' ' ' <"$TMP/c"))"; done
}
bash -n "$BC" && ok || fail "bash completion: syntax"
expect_completion "dlmscope ru" run
expect_completion "dlmscope " view tokenize run eval trace logits bench synth
expect_completion "dlmscope run --mo" --model
expect_completion "dlmscope eval --record-" --record-dir
expect_completion "dlmscope --rule t2" t2t t2m
expect_completion "dlmscope run --rule t2m:det" detector=
expect_completion "dlmscope run --rule t2m:detector=logitdiff,ca" logitdiff,cache= logitdiff,cap=  # bash breaks words at =
expect_completion "dlmscope run --rule t2m:detector=lo" lowprob logitdiff
expect_completion "dlmscope run --rule evotoken:al" alpha=
expect_completion "dlmscope view x --theme " dark light high-contrast mono
expect_completion "dlmscope --theme=hi" high-contrast
expect_completion "dlmscope trace " info dump diff
expect_completion "dlmscope synth --shape " tiny small medium llada-8b
expect_completion "dlmscope --completion " bash zsh
expect_completion "dlmscope --prompt run --ru" --rule
mkdir -p "$TMP/hub/models--some-org--some-model/snapshots"
HF_HUB_CACHE="$TMP/hub" complete_bash "dlmscope run --model some" >"$TMP/c"
grep -qx "some-org/some-model" "$TMP/c" && ok || fail "bash: --model does not offer hub names (got: $(cat "$TMP/c"))"
complete_bash "dlmscope run --rule t2m:" >"$TMP/c"
grep -q "alpha" "$TMP/c" && fail "bash: t2m offered evotoken's alpha" || ok

# zsh completion: syntax here; tests/cli/test_zsh_completion.sh drives it
if command -v zsh >/dev/null; then zsh -n "$SHARE/zsh/site-functions/_dlmscope" && ok || fail "zsh completion: syntax"; fi

# uninstall removes every file install wrote, and the folders that are only ours
env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory uninstall DESTDIR="$D" PREFIX=/usr >"$TMP/uninstall.log" 2>&1 ||
    fail "make uninstall failed: $(tail -n 3 "$TMP/uninstall.log")"
left=$(cd "$D" && find . ! -type d)
[ -z "$left" ] && ok || fail "make uninstall left files: $(echo "$left" | head -n 5)"
[ -d "$SHARE/dlmscope" ] && fail "make uninstall left $SHARE/dlmscope" || ok
finish
