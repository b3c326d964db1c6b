# The visualizer in script mode (--script FILE --dump-screens DIR): keys from a file, screens as
# text, no terminal and no sleeping. One check per defect of issue 13 (and 18's mouse click before
# the first step), each written to fail on the code before its fix.
. tests/cli/lib.sh
export LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
unset NO_COLOR COLUMNS LINES

"$DLMSCOPE" synth --shape tiny --out "$TMP/m" 2>/dev/null || fail "synth"
cp tests/fixtures/tokenizer-tiny.json "$TMP/m/tokenizer.json" # the fuzz tokenizer with ids up to the synthetic vocabulary (384), so every answer decodes
PROMPT='the and on 123'
for r in t2m evotoken llada; do
    "$DLMSCOPE" run --model "$TMP/m" --prompt "$PROMPT" --gen 32 --block 16 --rule $r --record "$TMP/$r.dlmtrace" >/dev/null 2>&1 ||
        fail "record a $r trace"
done


# ---- 1. colours: 256 under xterm-256color (COLORS was read before start_color), 8, none ----
scr c256 'screen s' "$DLMSCOPE" view "$TMP/t2m.dlmtrace"
head -n 1 "$TMP/c256/s.txt" | grep -q "colours=256" && ok || fail "xterm-256color: $(head -n 1 "$TMP/c256/s.txt")"
grep -aqE '\[(38|48);5;(1[6-9]|[2-9][0-9]|1[0-9][0-9]|2[0-5][0-9])m' "$TMP/c256/terminal.out" && ok ||
    fail "xterm-256color: no 256-colour escape sequence in the output"
# the heat legend: every level its own colour (title, 8 levels, blank: 10 styles on that line)
hl=$(text_of "$TMP/c256/s.txt" | grep -n "heat:" | head -n 1 | cut -d: -f1)
n=$(sed -n '/^-- style of each cell/,$p' "$TMP/c256/s.txt" | sed -n "$((hl + 1))p" | fold -w1 | sort -u | wc -l)
[ "$n" -ge 10 ] && ok || fail "256 colours: the heat legend line has $n styles, expected at least 10"
TERM=xterm scr c8 'screen s' "$DLMSCOPE" view "$TMP/t2m.dlmtrace"
head -n 1 "$TMP/c8/s.txt" | grep -q "colours=8" && ok || fail "xterm: $(head -n 1 "$TMP/c8/s.txt")"
NO_COLOR=1 scr cnone 'screen s' "$DLMSCOPE" view "$TMP/t2m.dlmtrace"
head -n 1 "$TMP/cnone/s.txt" | grep -q "colours=none" && ok || fail "NO_COLOR: $(head -n 1 "$TMP/cnone/s.txt")"
grep -aqE '\[(38|48);5;' "$TMP/cnone/terminal.out" && fail "NO_COLOR: colour escapes in the output" || ok

# ---- 3. EvoToken soft masks draw as the documented glyph ----
scr evo 'screen s' "$DLMSCOPE" view "$TMP/evotoken.dlmtrace"
text_of "$TMP/evo/s.txt" | sed -n 3p | grep -q '░' && ok || fail "evotoken step 0: no soft mask glyph ░ on the canvas: $(text_of "$TMP/evo/s.txt" | sed -n 3p)"

# ---- 6 + 18.3: click the token step 0 committed (before it only masks, one column each) ----
P=$("$DLMSCOPE" trace dump "$TMP/llada.dlmtrace" --json | head -n 1 | sed 's/.*"prompt_len":\([0-9]*\).*/\1/')
p=$("$DLMSCOPE" trace dump "$TMP/llada.dlmtrace" --step 0 | grep -a '\[commit\]' | head -n 1 | awk '{print $1}')
scr commit "size 120 40
click $((p - P)) 2
screen s" "$DLMSCOPE" view "$TMP/llada.dlmtrace"
has "inspector follows the click" "$TMP/commit/s.txt" "position $p "
has "committed: the forward saw the mask" "$TMP/commit/s.txt" "this step's forward saw \[MASK\]"
hasnt "no p(current) of the mask for a committed token" "$TMP/commit/s.txt" "p\(current\) 0\.000"
hasnt "no stuck verdict from the mask's probability" "$TMP/commit/s.txt" "not stuck: p\(.*\)=0\.000 <"

# ---- 7. one numbering: steps and blocks from 0, as trace dump shows them; [MASK] everywhere ----
steps=$("$DLMSCOPE" trace info "$TMP/llada.dlmtrace" | sed -n 's/^steps      \([0-9]*\) .*/\1/p')
scr num 'screen s0
G
screen last' "$DLMSCOPE" view "$TMP/llada.dlmtrace"
has "first step is step 0" "$TMP/num/s0.txt" "block 0/1 │ step 0/$((steps - 1)) "
has "last step" "$TMP/num/last.txt" "step $((steps - 1))/$((steps - 1)) "
"$DLMSCOPE" trace dump "$TMP/llada.dlmtrace" --step 0 | head -n 1 | grep -q "^step 0  block 0 " && ok || fail "trace dump numbering"
"$DLMSCOPE" trace dump "$TMP/llada.dlmtrace" | grep -aq "(was \[MASK\])" && ok || fail "trace dump: the mask is not named [MASK]"

# ---- 9 + 18.3: --paused live: an honest header, and a click before any step ----
scr paused 'screen s
click 5 3
click 5 20
screen after' "$DLMSCOPE" --model "$TMP/m" --prompt "$PROMPT" --gen 32 --block 16 --rule llada --paused
has "paused: no step yet" "$TMP/paused/s.txt" "llada .* no step yet"
sed -n 2p "$TMP/paused/s.txt" | grep -q "→" && fail "paused: llada -> llada: $(sed -n 2p "$TMP/paused/s.txt")" || ok
has "click before the first step" "$TMP/paused/after.txt" "no step yet"

# ---- 4. r, t, v pressed again at the same step go on from the pending fork ----
scr cycle '.
r
screen r1
r
screen r2
t
screen t1
t
screen t2' "$DLMSCOPE" --model "$TMP/m" --prompt "$PROMPT" --gen 32 --block 16 --rule llada --paused
has "r once" "$TMP/cycle/r1.txt" "llada .* → threshold"
has "r twice" "$TMP/cycle/r2.txt" "llada .* → t2t"
has "t after r r" "$TMP/cycle/t1.txt" "llada .* → t2m"
has "t again" "$TMP/cycle/t2.txt" "llada .* → t2t"

# ---- 5. compare: both panes say what they show, each has its heat grid ----
scr cmp 'size 200 60
screen s' "$DLMSCOPE" view "$TMP/t2m.dlmtrace" --compare "$TMP/llada.dlmtrace"
has "A's title" "$TMP/cmp/s.txt" "A: t2m.dlmtrace · t2m"
has "B's title: rule and step" "$TMP/cmp/s.txt" "B: llada.dlmtrace · llada low-conf steps 32 · step 0/"
has "two heat grids" "$TMP/cmp/s.txt" "A heat: .* B heat: "

# ---- 8. the prompt editor, the next sample prompt, the help's last line, 60x24 ----
printf 'alpha one\nbeta two\n' >"$TMP/prompts.txt"
DLMSCOPE_PROMPTS="$TMP/prompts.txt" scr prompt 'p
screen next
C-u
type hello big world
C-w
type Y
screen cw
C-a
type X
screen ca
C-e
Left
Backspace
screen bs' "$DLMSCOPE" --model "$TMP/m" --gen 32 --block 16 --rule llada --paused
has "p: the next sample prompt" "$TMP/prompt/next.txt" "^prompt: beta two"
has "C-u then C-w" "$TMP/prompt/cw.txt" "^prompt: hello big Y$"
has "C-a" "$TMP/prompt/ca.txt" "^prompt: Xhello big Y$"
has "Left, Backspace" "$TMP/prompt/bs.txt" "^prompt: Xhello bigY$"
for size in "80 24" "120 40" "200 60"; do
    set -- $size
    scr help "size $1 $2
?
screen s" "$DLMSCOPE" view "$TMP/t2m.dlmtrace"
    has "help's last line at ${1}x$2" "$TMP/help/s.txt" "theme NAME\)\."
done
scr small 'size 60 24
screen s' "$DLMSCOPE" view "$TMP/t2m.dlmtrace"
has "60x24: the inspector stays" "$TMP/small/s.txt" "position [0-9]+ \(gen"
scr tiny 'size 60 16
screen s' "$DLMSCOPE" view "$TMP/t2m.dlmtrace"
has "60x16: the hidden inspector says so" "$TMP/tiny/s.txt" "no room for: inspector"

# ---- the candidates grid: top-K of every position, EOS and soft-input rows, the shared cursor ----
NO_COLOR=1 scr cand 'size 120 40
. . .
screen s' "$DLMSCOPE" view "$TMP/evotoken.dlmtrace"
has "candidates grid" "$TMP/cand/s.txt" "^ cand 0 +1 +2 "
has "candidates rows" "$TMP/cand/s.txt" "^  #1  "
has "EOS row" "$TMP/cand/s.txt" "^  eos [<0-9]"
has "soft input row" "$TMP/cand/s.txt" "^  msk [0-9]"
cy=$(text_of "$TMP/cand/s.txt" | grep -n "^ cand" | cut -d: -f1)
scr candclick "size 120 40
click $((6 + 9 * 3 + 2)) $((cy + 1))
screen s" "$DLMSCOPE" view "$TMP/evotoken.dlmtrace"
has "a click in the candidates grid selects that position" "$TMP/candclick/s.txt" "position $((P + 3)) \(gen 3\)"

# ---- export: an asciinema v2 recording of the replay and stills that keep the colours; --loop ----
expect_ok "export cast" "$DLMSCOPE" view "$TMP/t2m.dlmtrace" --step 5 --export cast --out "$TMP/t.cast"
t2m_steps=$("$DLMSCOPE" trace info "$TMP/t2m.dlmtrace" | sed -n 's/^steps      \([0-9]*\) .*/\1/p')
head -n 1 "$TMP/t.cast" | grep -q '^{"version": 2, "width": 120, "height": 40' && ok || fail "cast header: $(head -n 1 "$TMP/t.cast")"
[ "$(grep -c '^\[[0-9.]*, "o", "' "$TMP/t.cast")" -eq $((t2m_steps - 5)) ] && ok || fail "cast: expected one frame per step from 5"
grep -q '38;5;' "$TMP/t.cast" && ok || fail "cast: no 256-colour codes"
expect_ok "export svg" "$DLMSCOPE" view "$TMP/t2m.dlmtrace" --export svg --out "$TMP/t.svg"
grep -q '^<svg ' "$TMP/t.svg" && grep -q 'fill="#' "$TMP/t.svg" && grep -q '</svg>' "$TMP/t.svg" && ok || fail "svg"
expect_ok "export html" "$DLMSCOPE" view "$TMP/t2m.dlmtrace" --export html --out "$TMP/t.html"
grep -q '<pre' "$TMP/t.html" && grep -q 'background:#' "$TMP/t.html" && grep -q 'dlmscope' "$TMP/t.html" && ok || fail "html"
expect_error "export format" "unknown format 'gif'" "$DLMSCOPE" view "$TMP/t2m.dlmtrace" --export gif --out "$TMP/x"
scr loop 'Escape
G
.
screen s' "$DLMSCOPE" view "$TMP/t2m.dlmtrace" --loop
has "--loop: past the last step comes the first" "$TMP/loop/s.txt" "step 0/"

# ---- canvas navigation: down a line and back up lands where it started ----
scr updown 'size 41 30
G
j
screen down
k
screen up' "$DLMSCOPE" view "$TMP/t2m.dlmtrace" --compare "$TMP/llada.dlmtrace" # 20-column panes: 2 lines
hasnt "j moves to the next line" "$TMP/updown/down.txt" "position $P \(gen 0\)"
has "k comes back" "$TMP/updown/up.txt" "position $P \(gen 0\)"

# ---- heat grid zoom: N steps per row, every step, one row per block; the step stays put ----
scr zoom 'size 120 40
5
z
screen z2
z z z z
screen fit
z
screen blocks' "$DLMSCOPE" view "$TMP/t2m.dlmtrace"
st5=$(text_of "$TMP/zoom/z2.txt" | sed -n 's/.*│ step \([0-9]*\)\/.*/\1/p' | head -n 1)
has "zoom 2" "$TMP/zoom/z2.txt" "heat: confidence +2 steps/row"
has "zoom: every step on screen" "$TMP/zoom/fit.txt" "every step on screen"
has "zoom: one row per block" "$TMP/zoom/blocks.txt" "heat: confidence +blocks"
has "zooming does not move the step" "$TMP/zoom/blocks.txt" "│ step $st5/"
has "a row per block: block 1 starts a row" "$TMP/zoom/blocks.txt" "^(▶| ) +$("$DLMSCOPE" trace dump "$TMP/t2m.dlmtrace" | grep -m1 '^step [0-9]*  block 1 ' | awk '{print $2}') "

# ---- mixture of experts: the inspector names the experts the position's forward fired ----
"$DLMSCOPE" run --model tests/fixtures/models/llada2-f32 --prompt-ids "5 6 7 8 9 10 11 12 13 14" --gen 32 \
    --record "$TMP/moe.dlmtrace" >/dev/null 2>&1 || fail "record a LLaDA2-layout trace"
ex=$("$DLMSCOPE" trace dump "$TMP/moe.dlmtrace" --step 0 | grep -a ' 13 mask' | sed 's/.* experts //')
scr moe "size 120 40
click 3 2
screen s" "$DLMSCOPE" view "$TMP/moe.dlmtrace"
has "MoE inspector: the experts, as trace dump lists them" "$TMP/moe/s.txt" "experts $ex"

# ---- script errors name the line ----
printf '.\nnot-a-key\n' >"$TMP/bad.script"
expect_error "bad key" "bad.script:2: unknown key 'not-a-key'" "$DLMSCOPE" view "$TMP/t2m.dlmtrace" --script "$TMP/bad.script"
finish
