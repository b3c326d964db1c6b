# A trace written by the Python package (tests/python/make_fuzz_corpus.py: T2M LogitDiff with
# remasks, and an EvoToken one with soft inputs) opens in the visualizer, alone and in the compare
# view, steps to its end and exits cleanly. Driven in tmux.
. tests/cli/lib.sh
command -v tmux >/dev/null || skip "tmux is not installed (apt-get install tmux): viewing Python traces untested"
export LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
# A fresh tmux server (socket) per session: reusing one right after kill-server races its exit.
n_sock=0
SOCK="$TMP/tmux.0"
T() { tmux -S "$SOCK" "$@"; }
# On exit, also end any visualizer of this test still alive after its tmux server: under ASan, a
# process that quits on SIGHUP can hang in LeakSanitizer's exit check (its tracer child defunct),
# spinning a core for as long as the machine lives (seen in make debug; not our event loop).
trap 'for s in "$TMP"/tmux.*; do tmux -S "$s" kill-server 2>/dev/null; done; pkill -KILL -f "$TMP/" 2>/dev/null; rm -rf "$TMP"' EXIT
C=tests/fuzz/corpus/fuzz_trace
A=$C/python-t2m-logitdiff.dlmtrace
B=$C/python-evotoken-soft.dlmtrace
wait_for() { # PATTERN: until the screen matches (10 s)
    i=0
    while [ $i -lt 100 ]; do
        T capture-pane -p -t s | grep -aqE -- "$1" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
check() { if wait_for "$2"; then ok; else fail "$1: the screen never matched /$2/"; T capture-pane -p -t s | sed 's/^/    | /'; fi; }
for args in "$A" "$B" "$A --compare $A"; do
    n=$("$DLMSCOPE" trace info ${args%% *} | sed -n 's/^steps      \([0-9]*\) .*/\1/p')
    last=$((n - 1)) # steps are numbered from 0: the status shows "step N/last"
    T kill-server 2>/dev/null
    n_sock=$((n_sock + 1))
    SOCK="$TMP/tmux.$n_sock"
    # shellcheck disable=SC2086
    T new-session -d -s s -x 120 -y 40 "$DLMSCOPE view $args; echo EXIT=\$?; sleep 30"
    check "view $args" "step 0/$last .*REPLAY"
    T send-keys -t s G
    check "view $args: last step" "step $last/$last"
    T send-keys -t s q
    check "view $args: quit" "^EXIT=0"
done
finish
