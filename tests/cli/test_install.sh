# make install / make uninstall into a temporary DESTDIR: the installed binary runs the bundled model
# from another folder (its data found from its own location, and through DLMSCOPE_DATA), --version
# reports the build, the man page and completions are installed, and uninstall removes every file
# install wrote.
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

# The man page and completions installed are the binary's own (tests/cli/test_man.sh and
# test_*_completion.sh check what they say).
"$DLMSCOPE" --man >"$TMP/man.1" && cmp -s "$TMP/man.1" "$SHARE/man/man1/dlmscope.1" && ok || fail "installed man page differs from --man"
"$DLMSCOPE" --completion bash >"$TMP/c.bash" && cmp -s "$TMP/c.bash" "$SHARE/bash-completion/completions/dlmscope" && ok ||
    fail "installed bash completion differs from --completion bash"
"$DLMSCOPE" --completion zsh >"$TMP/c.zsh" && cmp -s "$TMP/c.zsh" "$SHARE/zsh/site-functions/_dlmscope" && ok ||
    fail "installed zsh completion differs from --completion zsh"

# uninstall removes every file install wrote, and the folders that are only ours
env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory uninstall DESTDIR="$D" PREFIX=/usr >"$TMP/uninstall.log" 2>&1 ||
    fail "make uninstall failed: $(tail -n 3 "$TMP/uninstall.log")"
left=$(cd "$D" && find . ! -type d)
[ -z "$left" ] && ok || fail "make uninstall left files: $(echo "$left" | head -n 5)"
[ -d "$SHARE/dlmscope" ] && fail "make uninstall left $SHARE/dlmscope" || ok
finish
