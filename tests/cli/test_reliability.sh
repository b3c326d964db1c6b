# Reliability: the defect classes of issue 18's hostile-input and fault campaign, one block each,
# every check written to fail on the code before its fix. Hostile traces come from
# tests/cli/hostile_traces.py (a real trace, altered); write faults use /dev/full and a closed
# stdout; a hang is a failure (every command that could hang runs under `timeout`). The full-disk
# cases need a mount and live in test_reliability_fullfs.sh; the TUI's signals in test_tui.sh.
. tests/cli/lib.sh
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
command -v "$PY" >/dev/null || skip "python3 not found (the hostile trace generator needs it)"
M=tests/fixtures/models/mha-bf16
P='--prompt-ids 12,7,99,5,31,200 --gen 16 --block 8'
TO="timeout 120" # generous: the suite also runs under ASan on a loaded machine

# json_lines FILE — every line of FILE is one JSON value (python's strict parser: no NaN).
json_lines() {
    "$PY" -c '
import json, sys
def no_const(c): raise ValueError("not JSON: " + c)
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    json.loads(line, parse_constant=no_const)
' "$1"
}

expect_ok "record" $TO "$DLMSCOPE" run --model $M $P --rule t2m --record "$TMP/a.dlmtrace" --trace-ids
steps=$(grep -c '^step' "$TMP/stdout")
cp "$TMP/a.dlmtrace" "$TMP/orig.dlmtrace"
mkdir "$TMP/h"
"$PY" tests/cli/hostile_traces.py "$TMP/a.dlmtrace" "$TMP/h" || fail "hostile_traces.py"

# 1. Resuming into the trace being resumed: the parent is replaced whole, never cut under its reader.
expect_ok "resume into the same file" $TO "$DLMSCOPE" run --model $M --resume "$TMP/a.dlmtrace@3" --record "$TMP/a.dlmtrace"
expect_ok "diff after resume in place" "$DLMSCOPE" trace diff "$TMP/orig.dlmtrace" "$TMP/a.dlmtrace"
grep -q "identical: $steps steps" "$TMP/stdout" && ok || fail "resumed in place: $(cat "$TMP/stdout")"
ls "$TMP"/.a.dlmtrace.*.tmp >/dev/null 2>&1 && fail "a temporary file was left behind" || ok
# A symlink to a trace: the target is replaced, the link stays a link.
ln -s orig.dlmtrace "$TMP/link.dlmtrace"
expect_ok "record through a symlink" $TO "$DLMSCOPE" run --model $M $P --rule t2m --record "$TMP/link.dlmtrace"
[ -L "$TMP/link.dlmtrace" ] && ok || fail "recording through a symlink replaced the link"
# A device is written in place (nothing to rename over).
expect_ok "record to /dev/null" $TO "$DLMSCOPE" run --model $M $P --record /dev/null
[ -c /dev/null ] && ok || fail "/dev/null is no longer a device"

# 2. trace dump --json on a header string that is not UTF-8 and on NaN/Inf times: valid JSON lines.
expect_ok "dump --json, hostile strings and numbers" "$DLMSCOPE" trace dump "$TMP/h/json-unsafe.dlmtrace" --json
json_lines "$TMP/stdout" && ok || fail "dump --json wrote something that is not JSON"
grep -q '"model":"mod\\ufffdle"\|"model":"mod�le"' "$TMP/stdout" && grep -q '"forward_ms":null' "$TMP/stdout" && ok ||
    fail "dump --json: lossy name or null time missing: $(head -c 300 "$TMP/stdout")"
# The same from a real run: a model folder whose name holds a Latin-1 byte.
latin=$(printf 'mod\351le')
ln -s "$PWD/$M" "$TMP/$latin"
expect_ok "record from a Latin-1 folder" $TO "$DLMSCOPE" run --model "$TMP/$latin" $P --record "$TMP/latin.dlmtrace"
expect_ok "dump --json of it" "$DLMSCOPE" trace dump "$TMP/latin.dlmtrace" --json
json_lines "$TMP/stdout" && [ "$(wc -l <"$TMP/stdout")" -gt 1 ] && ok || fail "dump --json of a Latin-1 model name"

# 4. Session counters near INT32_MAX: refused on resume, in bounded time, naming the field.
for k in step step_in_block post_steps; do
    expect_error "resume with a huge $k" "step record 3.session: field '$k'" $TO "$DLMSCOPE" run --model $M --resume "$TMP/h/counter-$k.dlmtrace@3"
done
expect_ok "resume before the damaged record" $TO "$DLMSCOPE" run --model $M --resume "$TMP/h/counter-step.dlmtrace@2"

# 5. An answer holding ids the tokenizer cannot decode (the model's vocabulary is larger): the
#    rest of the text, as Hugging Face decodes it, and a warning that says so; not an empty answer.
$TO "$DLMSCOPE" synth --shape tiny --out "$TMP/tiny" 2>/dev/null || fail "synth"
"$DLMSCOPE" run --model "$TMP/tiny" --tokenizer tests/fuzz/tokenizer.json --prompt-ids 5,6,7 --gen 16 --block 16 \
    --temperature 1 --seed 0 >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && grep -qE "warning: the answer holds [0-9]+ ids? the tokenizer cannot decode \(first: [0-9]+" "$TMP/err" &&
    [ -n "$(tr -d '\n' <"$TMP/out")" ] && ok || fail "undecodable answer: exit $rc, stdout '$(cat "$TMP/out")': $(cat "$TMP/err")"

# 6. eval keeps every result: long ids cut inside a UTF-8 character, ids equal in their first 63
#    bytes, repeated ids. 7 (eval): an item that fails is reported with its reason, exit non-zero.
cp tests/fuzz/tokenizer.json "$TMP/tiny/"
long=$(printf 'x%.0s' $(seq 62))
{
    printf '{"id": "%s\\u00e9tail", "task": "sort", "prompt": "3 1 2", "answer": "1 2 3"}\n' "$long"
    printf '{"id": "%sA-one", "task": "sort", "prompt": "3 1 2", "answer": "1 2 3"}\n' "$long$long"
    printf '{"id": "%sA-two", "task": "sort", "prompt": "2 1", "answer": "1 2"}\n' "$long$long"
    printf '{"id": "dup", "task": "sort", "prompt": "2 1", "answer": "1 2"}\n'
    printf '{"id": "dup", "task": "sort", "prompt": "1 3", "answer": "1 3"}\n'
    printf '{"id": "../up", "task": "sort", "prompt": "1 3", "answer": "1 3"}\n'
} >"$TMP/ids.jsonl"
"$DLMSCOPE" eval --model "$TMP/tiny" --tasks "$TMP/ids.jsonl" --gen 16 --block 16 --temperature 1 --quiet --out "$TMP/ids.json" \
    --record-dir "$TMP/rec" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && ok || fail "eval with awkward ids: exit $rc: $(cat "$TMP/err")"
grep -q "ids.jsonl:5: id 'dup' repeats the item of .*ids.jsonl:4" "$TMP/err" && ok || fail "repeated id not reported: $(cat "$TMP/err")"
"$PY" -c '
import json, sys
items = json.load(open(sys.argv[1]))["items"]
given = [json.loads(l)["id"] for l in open(sys.argv[2])]
assert [i["id"] for i in items] == given, ([i["id"] for i in items], given)
names = [i["trace_name"] for i in items]
assert len(set(names)) == len(names), names
' "$TMP/ids.json" "$TMP/ids.jsonl" && ok || fail "eval --out lost or renamed items"
[ "$(ls "$TMP/rec/llada" | wc -l)" -eq 6 ] && ok || fail "one trace per item: $(ls "$TMP/rec/llada")"
[ ! -e "$TMP/rec/up.dlmtrace" ] && ok || fail "an id escaped the record folder"
for f in "$TMP"/rec/llada/*; do "$DLMSCOPE" trace info "$f" >/dev/null 2>&1 || fail "trace $f does not open"; done
grep -q "answers hold ids the tokenizer cannot decode" "$TMP/out" && ok ||
    fail "eval does not say why undecodable answers are wrong: $(cat "$TMP/out")"

# 7. Write errors on stdout: reported on stderr, exit non-zero.
if [ -w /dev/full ]; then
    expect_error "trace info >/dev/full" "cannot write the output: No space left" sh -c "\"$DLMSCOPE\" trace info \"$TMP/orig.dlmtrace\" >/dev/full"
    expect_error "trace dump --json >/dev/full" "cannot write the output" sh -c "\"$DLMSCOPE\" trace dump \"$TMP/orig.dlmtrace\" --json >/dev/full"
    "$DLMSCOPE" run --model $M $P >/dev/full 2>"$TMP/err" # (its summary line on stderr comes first)
    rc=$?
    [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "cannot write the output" "$TMP/err" && ok || fail "run >/dev/full: exit $rc: $(cat "$TMP/err")"
    expect_error "--help >/dev/full" "cannot write the output" sh -c "\"$DLMSCOPE\" --help >/dev/full"
    expect_error "tokenize >/dev/full" "cannot write the output" sh -c "echo '\"abc\"' | \"$DLMSCOPE\" tokenize --tokenizer tests/fuzz/tokenizer.json --jsonl >/dev/full"
    expect_error "record to /dev/full" "/dev/full: write failed: No space left" $TO "$DLMSCOPE" run --model $M $P --record /dev/full
else
    fail "/dev/full is missing: the write-fault checks cannot run"
fi
expect_error "stdout closed" "cannot write the output: Bad file descriptor" sh -c "\"$DLMSCOPE\" trace info \"$TMP/orig.dlmtrace\" >&-"

# 8. Safetensors: tensors must tile the data block exactly (a header length one byte short, which
#    shifts every weight by a byte; a gap between two tensors).
for how in short gap; do
    mkdir "$TMP/st-$how"
    cp $M/config.json $M/model.safetensors.index.json $M/model-0000*.safetensors "$TMP/st-$how/"
    "$PY" tests/cli/hostile_safetensors.py "$TMP/st-$how/model-00001-of-00002.safetensors" $how || fail "hostile_safetensors.py"
done
expect_error "safetensors header one byte short" "model-00001-of-00002.safetensors: the tensors cover [0-9]+ bytes of the [0-9]+-byte data block" \
    $TO "$DLMSCOPE" run --model "$TMP/st-short" $P
expect_error "safetensors gap" "model-00001-of-00002.safetensors: tensor '.*': data_offsets begin at [0-9]+, leaving bytes [0-9]+..[0-9]+ of the data unused" \
    $TO "$DLMSCOPE" run --model "$TMP/st-gap" $P

# 9. A FIFO where a file is expected: refused at once (no reader ever opens its other end).
mkdir "$TMP/fifo"
cp $M/model.safetensors.index.json $M/model-0000*.safetensors "$TMP/fifo/"
mkfifo "$TMP/fifo/config.json"
expect_error "FIFO config.json" "config.json: not a regular file" timeout 20 "$DLMSCOPE" run --model "$TMP/fifo" $P
cp $M/config.json "$TMP/fifo/config.json.real" && rm "$TMP/fifo/config.json" && mv "$TMP/fifo/config.json.real" "$TMP/fifo/config.json"
mkfifo "$TMP/fifo/tokenizer.json"
expect_error "FIFO tokenizer.json" "tokenizer.json: not a regular file" timeout 20 "$DLMSCOPE" run --model "$TMP/fifo" $P
mkfifo "$TMP/fifo.dlmtrace"
expect_error "FIFO trace" "fifo.dlmtrace: not a regular file" timeout 20 "$DLMSCOPE" trace info "$TMP/fifo.dlmtrace"

# 10. A small file claiming a million positions is refused before anything that large is allocated.
# Measured against the same command on the real trace: a CUDA build maps the CUDA runtime and cuBLAS
# at start (about 220 MB resident before main), which is not the reader's doing.
if [ -z "${DLM_SANITIZED:-}" ] && [ -x /usr/bin/time ]; then # ASan's shadow memory would swamp the figure
    /usr/bin/time -f '%M' -o "$TMP/rss0" "$DLMSCOPE" trace dump "$TMP/orig.dlmtrace" --json >/dev/null 2>&1
    rss0=$(tail -n 1 "$TMP/rss0")
fi
for f in huge-claim huge-claim-header-only; do
    expect_error "$f" "no step record that holds them" $TO "$DLMSCOPE" trace info "$TMP/h/$f.dlmtrace"
    if [ -n "${rss0:-}" ]; then
        /usr/bin/time -f '%M' -o "$TMP/rss" "$DLMSCOPE" trace dump "$TMP/h/$f.dlmtrace" --json >/dev/null 2>&1
        rss=$(tail -n 1 "$TMP/rss")
        [ $((rss - rss0)) -lt 65536 ] && ok || fail "$f: $rss KB resident to refuse it ($rss0 KB for the real trace)"
    fi
done

# 12. Step records out of order or repeated: the trace reads up to them, and says so; a resume
#     finds the record of the step it names.
for f in swapped repeated; do
    "$DLMSCOPE" trace info "$TMP/h/$f.dlmtrace" >"$TMP/out" 2>"$TMP/err"
    [ $? -eq 1 ] && grep -q "^steps      1 in" "$TMP/out" && grep -q "records out of order or repeated" "$TMP/err" && ok ||
        fail "$f: $(cat "$TMP/out" "$TMP/err")"
    expect_error "resume $f@2" "has 1 steps" "$DLMSCOPE" run --model $M --resume "$TMP/h/$f.dlmtrace@2"
done

# Interventions (issue 19): a bad entry or pin is refused when its step is read, naming the field.
expect_error "intervention kind" "step record 2: field 'what': entry 0: unknown intervention 'delete'" "$DLMSCOPE" trace dump "$TMP/h/iv-what.dlmtrace" --step 2
expect_error "intervention position" "step record 2: field 'pos': .* out of range" "$DLMSCOPE" trace dump "$TMP/h/iv-pos.dlmtrace" --step 2
expect_error "interventions per step" "step record 2: field 'interventions': expected an array of at most 64 maps" "$DLMSCOPE" trace dump "$TMP/h/iv-many.dlmtrace" --step 2
expect_error "forced token" "step record 2: field 'token': .* out of range" "$DLMSCOPE" trace dump "$TMP/h/iv-token.dlmtrace" --step 2
expect_error "pin on a mask" "step record 2.session: field 'pinned': value" $TO "$DLMSCOPE" run --model $M --resume "$TMP/h/iv-pinned-mask.dlmtrace@2"
expect_ok "the steps before still read" "$DLMSCOPE" trace dump "$TMP/h/iv-what.dlmtrace" --step 1
finish
