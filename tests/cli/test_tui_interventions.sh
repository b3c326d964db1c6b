# Interventions in the visualizer (issue 19), in script mode on the bundled model: on the stuck
# token of tests/fixtures/interim/stuck.dlmtrace (a copy of the sample the bundled model of issue 19 recorded) (step 2, position 60: ' *', which the model doubts but
# T2T cannot edit), `x` finds it, `f` offers its candidates, Enter forces the first; the fork shows
# in the status line, the model's answer in the next step, the divergence in the compare view;
# `P` pins, `M` remasks; the demo caption names what was done by hand; `q` quits cleanly.
. tests/cli/lib.sh
export LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
unset NO_COLOR COLUMNS LINES
M=tests/fixtures/interim/dlm-tiny # the model that recorded the fixture traces (the bundled model before issue 21)
T=tests/fixtures/interim/stuck.dlmtrace


scr force 'size 120 40
x
screen stuck
f
screen cand
Down
Up
Enter
wait
screen forked
c
screen compare
M
wait
screen remasked
Escape
:
type 3
Enter
Left
P
wait
screen pinned
q' "$DLMSCOPE" view "$T" --model "$M"
S=$TMP/force
has "x finds the stuck token" "$S/stuck.txt" "step 2/57 .* stuck"
has "the inspector shows it" "$S/stuck.txt" "position 60 .*active block"
has "f: the first candidate the position does not hold" "$S/cand.txt" "^force 60, candidate 1 p 0\.356 .*: 6$"
has "forked: the status line says so" "$S/forked.txt" "step 3/3 .*LIVE .*fork@2: force 60 '6'"
has "the forced token marked on the canvas" "$S/forked.txt" "^2✎6 \* 6 = "
has "the model's answer: p of the forced token" "$S/forked.txt" "this step's forward saw '6': p 0\.986"
has "the inspector names the intervention" "$S/forked.txt" "by hand: force 60=#54"
has "the timeline marks the step" "$S/forked.txt" "^\|·!✎$"
has "compare: the fork" "$S/compare.txt" "fork after step 2: force 60 '6'"
has "compare: the parent" "$S/compare.txt" "parent: t2t"
has "compare: they diverge" "$S/compare.txt" "^2✎6 \* 6 = .*│2 \* \* 6 = "
has "M: remask forks again" "$S/remasked.txt" "fork@3: remask 60"
has "the remask marked" "$S/remasked.txt" "^2✎"
has "P: pin forks at step 3" "$S/pinned.txt" "fork@3: pin 59"
has "pinned in the inspector" "$S/pinned.txt" "pinned: no rule may change it"
hasnt "no error" "$S/pinned.txt" "error|Error"

# The fork recorded: view it without the model, the demo caption names the intervention.
"$DLMSCOPE" run --model $M --resume "$T@2" --force 60=6 --record "$TMP/fork.dlmtrace" >/dev/null 2>&1 || fail "record the fork"
scr demo 'size 120 40
d
wait
:
type 3
Enter
screen caption
q' "$DLMSCOPE" view "$TMP/fork.dlmtrace"
has "the caption names the intervention" "$TMP/demo/caption.txt" "^step 3, block 0: you forced '6' at 60, then committed"
# Without the model there is nothing to fork with: said, not crashed.
scr replay 'x
f
screen s
q' "$DLMSCOPE" view "$T"
has "replay: force needs the model" "$TMP/replay/s.txt" "force needs the model"
finish
