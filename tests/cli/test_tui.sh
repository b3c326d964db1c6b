# The visualizer end to end, driven in tmux (send-keys, capture-pane): replay stepping, the
# inspector against `trace dump`, a live session with a T2T -> T2M fork, help, key bindings from
# the config file, themes and NO_COLOR, resizing down to tiny sizes, and a clean exit (Ctrl-C,
# q, SIGTERM) that leaves the terminal in cooked mode.
. tests/cli/lib.sh
command -v tmux >/dev/null || skip "tmux is not installed (apt-get install tmux)"
export LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
# A fresh tmux server (socket) per session: reusing one right after kill-server races its exit.
n_sock=0
SOCK="$TMP/tmux.0"
T() { tmux -S "$SOCK" "$@"; }
# On exit, also end any visualizer of this test still alive after its tmux server: under ASan, a
# process that quits on SIGHUP can hang in LeakSanitizer's exit check (its tracer child defunct),
# spinning a core for as long as the machine lives (seen in make debug; not our event loop).
trap 'for s in "$TMP"/tmux.*; do tmux -S "$s" kill-server 2>/dev/null; done; pkill -KILL -f "$TMP/" 2>/dev/null; rm -rf "$TMP"' EXIT

# A random-weight model with a real tokenizer (garbage text, real tokens) and a recorded trace.
"$DLMSCOPE" synth --shape tiny --out "$TMP/m" 2>/dev/null || fail "synth"
cp tests/fixtures/tokenizer-tiny.json "$TMP/m/tokenizer.json" # the fuzz tokenizer with ids up to the synthetic vocabulary (384), so every answer decodes
PROMPT='the and on 123'
"$DLMSCOPE" run --model "$TMP/m" --prompt "$PROMPT" --gen 32 --block 16 --rule t2m --record "$TMP/a.dlmtrace" >/dev/null 2>&1 ||
    fail "record a trace"
steps=$("$DLMSCOPE" trace info "$TMP/a.dlmtrace" | sed -n 's/^steps      \([0-9]*\) .*/\1/p')
last=$((steps - 1)) # steps are numbered from 0 everywhere: the status shows "step N/last"

screen() { T capture-pane -p -t s; }
# wait_for PATTERN [SECONDS]: until the screen matches (extended regex)
wait_for() {
    i=0
    while [ $i -lt $((${2:-5} * 10)) ]; do
        screen | grep -aqE -- "$1" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
start() { # start COLS ROWS COMMAND...
    cols=$1 rows=$2
    shift 2
    T kill-server 2>/dev/null
    n_sock=$((n_sock + 1))
    SOCK="$TMP/tmux.$n_sock"
    T new-session -d -s s -x "$cols" -y "$rows" "$* ; echo EXIT=\$?; stty -a | tr ' ' '\n' | grep -x -- '-\{0,1\}icanon'; sleep 60"
}
check() { # check NAME PATTERN [SECONDS]
    if wait_for "$2" "${3:-5}"; then ok; else
        fail "$1: the screen never matched /$2/"
        screen | sed 's/^/    | /'
    fi
}
keys() { T send-keys -t s "$@"; sleep 0.15; }

# ---- replay ----
start 120 40 "$DLMSCOPE" view "$TMP/a.dlmtrace"
check "opens" "step 0/$last .*REPLAY"
line3=$(screen | sed -n 3p)
keys .
check "step forward" "step 1/$last"
keys ,
check "step back" "step 0/$last"
keys G
check "last step" "step $last/$last"
[ "$(screen | sed -n 3p)" != "$line3" ] && ok || fail "the canvas did not change between the first and last step"
keys g
check "first step" "step 0/$last"
# The inspector shows the selected position's top candidates as `trace dump` has them.
keys 5
s=$(screen | sed -n 's/.*step \([0-9]*\)\/.*/\1/p' | head -n 1)
P=$("$DLMSCOPE" trace dump "$TMP/a.dlmtrace" --json | head -n 1 | sed 's/.*"prompt_len":\([0-9]*\).*/\1/')
want=$("$DLMSCOPE" trace dump "$TMP/a.dlmtrace" --step $s | grep -aE "^ +$P " | LC_ALL=C sed 's/.* top: [^ ]*:\([0-9.]*\).*/\1/')
[ -n "$want" ] && ok || fail "no top probability for position $P at step $s in trace dump"
check "inspector position" "position $P "
screen | grep -a -A1 "top candidates" | tail -n 1 | grep -aq -- " $want " && ok ||
    fail "inspector: expected the top probability $want at step $s position $P"
keys x
check "next stuck or message" "stuck|no stuck token"
keys '?'
check "help" "dlmscope keys"
keys Escape
sleep 0.3
screen | grep -aq "dlmscope keys" && fail "Escape did not close the help" || ok
keys m
check "metric" "heat: p\(current token\)"
keys / t h e Enter
check "search" "step [0-9]+/$last"
keys C-c
check "Ctrl-C quits" "EXIT=0"
check "terminal restored" "^icanon$"

# ---- a T2M trace of a real model: `}` jumps to the T2M remask and selects its position ----
# A sample of the earlier bundled model, kept as a fixture because it remasks (the trained model
# decodes its samples in one or two forwards, with no remask to jump to).
sample=tests/fixtures/interim/t2m.dlmtrace
start 120 40 "$DLMSCOPE" view "$sample"
check "sample opens" "t2m lowprob"
keys '}'
check "next remask, selected" "remask: was"
keys q
check "q quits the sample" "EXIT=0"

# ---- sizes: resize at any moment, down to tiny ----
start 100 30 "$DLMSCOPE" view "$TMP/a.dlmtrace"
check "opens at 100x30" "dlmscope"
for size in "30 10" "200 60" "45 13" "39 12" "40 11" "80 24" "15 5" "120 40"; do
    set -- $size
    T resize-window -t s -x "$1" -y "$2"
    sleep 0.3
    if [ "$1" -lt 40 ] || [ "$2" -lt 12 ]; then check "tiny ${1}x$2" "too small|^ *[0-9]+x[0-9]+ *$"
    else check "size ${1}x$2" "dlmscope"; fi
done
keys q
check "q quits" "EXIT=0"

# ---- live: step, fork T2T -> T2M, back ----
start 120 40 "$DLMSCOPE" --model "$TMP/m" --prompt "'$PROMPT'" --gen 32 --block 16 --rule t2t --paused
check "live opens" "LIVE"
keys .
check "live step" "step 0/0 "
keys . .
check "live steps" "step 2/2 "
keys t
check "fork message" "forked after step 2"
check "fork to t2m" "t2t Q .* → t2m lowprob"
keys .
check "fork continues" "step 3/3 "
keys , ,
check "step back in the fork" "step 1/3 "
keys c
check "compare" "parent: t2t"
keys q
check "live quits" "EXIT=0"

# ---- themes, NO_COLOR, config bindings, SIGTERM ----
mkdir -p "$TMP/cfg/dlmscope"
printf 'bind z step-forward\nbind F5 nonsense-action\n' >"$TMP/cfg/dlmscope/config"
start 100 30 env XDG_CONFIG_HOME="$TMP/cfg" NO_COLOR=1 "$DLMSCOPE" view "$TMP/a.dlmtrace" --theme light
check "bad binding reported" "unknown action 'nonsense-action'"
keys z
check "rebound key" "step 1/"
T kill-server
start 100 30 "$DLMSCOPE" view "$TMP/a.dlmtrace" --theme nope
check "unknown theme reported" "theme 'nope' not found"
pkill -TERM -P "$(T display -p -t s '#{pane_pid}')" dlmscope
check "SIGTERM quits" "EXIT=0"
check "terminal restored after SIGTERM" "^icanon$"
T kill-server

# ---- issue 18: every signal that ends the process gives the terminal back; a crash too ----
for sig in QUIT USR1 PIPE ALRM SEGV; do
    start 100 30 "$DLMSCOPE" view "$TMP/a.dlmtrace"
    check "opens for SIG$sig" "dlmscope"
    pkill -$sig -P "$(T display -p -t s '#{pane_pid}')" dlmscope
    check "SIG$sig ends it" "EXIT=[0-9]+"
    check "terminal restored after SIG$sig" "^icanon$"
    T kill-server
done
# ---- a terminal that disappears (no SIGHUP: not the controlling tty): exit, do not spin ----
start 100 30 sh -c "'setsid $DLMSCOPE view $TMP/a.dlmtrace & echo \$! >$TMP/pid; wait'"
check "opens without a controlling terminal" "dlmscope"
pid=$(cat "$TMP/pid")
T kill-server
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
    fail "the visualizer kept running after its terminal closed"
    kill -9 "$pid"
else ok; fi

# ---- errors before the screen ----
expect_error "view missing" "nope.dlmtrace: No such file" "$DLMSCOPE" view "$TMP/nope.dlmtrace"
printf 'junk' >"$TMP/junk.dlmtrace"
expect_error "view junk" "not a dlmscope trace" "$DLMSCOPE" view "$TMP/junk.dlmtrace"
expect_error "no tty" "needs a terminal" "$DLMSCOPE" view "$TMP/a.dlmtrace"
finish
