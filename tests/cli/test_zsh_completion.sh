# zsh completion, driven as a user drives it: an interactive zsh in a pseudo-terminal (zsh/zpty)
# with `dlmscope --completion zsh` on its fpath and compinit loaded; Tab after a partial command
# line must complete (or list) what the tables say: commands, options, rule names, a rule's
# parameters and their values, themes, hub cache names.
. tests/cli/lib.sh
command -v zsh >/dev/null || skip "SKIP: zsh not installed (Debian: zsh); the zsh completion was not tested"
zsh -f -c 'zmodload zsh/zpty' 2>/dev/null || skip "SKIP: zsh has no zpty module"
mkdir -p "$TMP/fpath" "$TMP/hub/models--some-org--some-model/snapshots"
"$DLMSCOPE" --completion zsh >"$TMP/fpath/_dlmscope" || fail "--completion zsh"
zsh -n "$TMP/fpath/_dlmscope" && ok || fail "zsh completion: syntax"

cat >"$TMP/drive.zsh" <<'EOF'
# drive.zsh FPATH LINE WANT: type LINE, press Tab, wait (up to 20 s) for WANT on the screen
zmodload zsh/zpty
setopt extendedglob
zpty z 'zsh -f -i'
zpty -w z "PS1='> '; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D; LISTMAX=1000; print RE''ADY"
zpty -r z _ '*READY*'
zpty -w -n z "$2"$'\t'
out=''
for i in {1..200}; do
  zpty -r -t z chunk && out+=$chunk
  out=${${out//$'\e'\[[0-9;?]#[a-zA-Z]/}//$'\r'/}   # without terminal escapes
  [[ $out == *"$3"* ]] && break
  sleep 0.1
done
zpty -d z
print -r -- "$out"
EOF
expect_zsh() { # LINE WANT
    HF_HUB_CACHE="$TMP/hub" zsh -f "$TMP/drive.zsh" "$TMP/fpath" "$1" "$2" >"$TMP/screen" 2>&1
    grep -qF -e "$2" "$TMP/screen" && ok || fail "zsh: Tab after '$1' did not give '$2': $(tail -c 300 "$TMP/screen" | cat -v)"
}
expect_zsh "dlmscope tr" "dlmscope trace "
expect_zsh "dlmscope run --mod" "dlmscope run --model"
expect_zsh "dlmscope run --rule t2m:det" "--rule t2m:detector="
expect_zsh "dlmscope run --rule t2m:detector=logit" "t2m:detector=logitdiff"
expect_zsh "dlmscope run --rule evo" "--rule evotoken"
expect_zsh "dlmscope --theme high" "--theme high-contrast"
expect_zsh "dlmscope synth --shape med" "--shape medium"
expect_zsh "dlmscope run --model some-o" "--model some-org/some-model"
expect_zsh "dlmscope trace d" "diff"
finish
