# D2F-LLaDA's pipelined decoding (`--rule d2f`, docs/rules.md) from the command line: several blocks
# in flight with their states in the trace, a run resumed mid-way from its trace continuing exactly,
# the D2F LoRA through --adapter, and clear refusals of what it cannot run. The trajectories
# against the PyTorch transcription of the official loop are in test_rules_reference.sh.
. tests/cli/lib.sh
M=tests/fixtures/models/gqa-f32
IDS="5 6 7 8 9 10 11"

# A run with a trace: some step has two blocks active at once, blocks go to-cache then in-cache.
expect_ok "d2f run" "$DLMSCOPE" run --model $M --prompt-ids "$IDS" --rule d2f --gen 32 --block 8 --device cpu \
    --record "$TMP/d2f.dlmtrace" --trace-ids
cp "$TMP/stdout" "$TMP/straight"
grep -q "d2f:gen=32,block=8,.*tau=0.9,.*cache=prefix,block_add=0.1,decoded=0.55" "$TMP/stderr" && ok ||
    { fail "d2f run: the official demo's defaults"; cat "$TMP/stderr"; }
"$DLMSCOPE" trace dump "$TMP/d2f.dlmtrace" --json >"$TMP/dump" 2>&1 || fail "trace dump"
grep -q '"blocks":\["active complete","active"' "$TMP/dump" && ok || fail "no step with two blocks in flight"
grep -q '"to-cache complete"' "$TMP/dump" && grep -q '"in-cache complete"' "$TMP/dump" && ok ||
    fail "blocks never went to the cache"
"$DLMSCOPE" trace info "$TMP/d2f.dlmtrace" >"$TMP/info" 2>&1 && grep -q "1\.4" "$TMP/info" && ok ||
    { fail "trace info: version 1.4"; cat "$TMP/info"; }

# The visualizer's status line shows the blocks in flight (docs/tui.md): at step 5 of this run
# block 0 and 1 are active and complete, block 2 active, block 3 not open.
(export LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color; unset NO_COLOR COLUMNS LINES
 scr tui "size 160 30
screen s" "$DLMSCOPE" view "$TMP/d2f.dlmtrace" --step 5 && has "status line blocks" "$TMP/tui/s.txt" "block 0/3 ▓▓▒·"
 LANG=C LC_ALL=C scr tuia "size 160 30
screen s" "$DLMSCOPE" view "$TMP/d2f.dlmtrace" --step 5 && has "status line blocks (ASCII)" "$TMP/tuia/s.txt" "block 0/3 AAa\."
 exit $n_failed) || fail "the visualizer's block states"

# A damaged `blocks` state is refused by name (tests/cli/hostile_traces.py reads and writes records).
"${PYTHON:-/usr/bin/python3}" - "$TMP/d2f.dlmtrace" "$TMP" <<'EOF' || fail "write the damaged traces"
import sys
sys.path.insert(0, "tests/cli")
import hostile_traces as h
recs = h.records(sys.argv[1])
steps = [r for r in recs if r.get("type") == "step"]
fresh = lambda: [dict(x) for x in [recs[0]] + steps]
v = fresh()
b = bytearray(v[4]["session"]["blocks"])
b[0] = 0x30
v[4]["session"] = dict(v[4]["session"], blocks=bytes(b))
h.write(sys.argv[2], "bad-block.dlmtrace", v)
v = fresh()
v[4]["session"] = dict(v[4]["session"], blocks=bytes(v[4]["session"]["blocks"])[:-1])
h.write(sys.argv[2], "short-blocks.dlmtrace", v)
EOF
expect_error "a block state out of range" "field 'blocks'.*value 48 of block 0" "$DLMSCOPE" trace dump "$TMP/bad-block.dlmtrace" --step 3
expect_error "a short block state" "field 'blocks'" "$DLMSCOPE" trace dump "$TMP/short-blocks.dlmtrace" --step 3
expect_ok "the steps before it" "$DLMSCOPE" trace dump "$TMP/bad-block.dlmtrace" --step 2

# Resumed after step 5 (two blocks open), the rest of the run is the same as the straight one.
expect_ok "d2f resume" "$DLMSCOPE" run --model $M --resume "$TMP/d2f.dlmtrace@5" --device cpu --trace-ids
grep '^final' "$TMP/stdout" >"$TMP/resumed.final"
grep '^final' "$TMP/straight" | cmp -s - "$TMP/resumed.final" && ok || { fail "resumed run differs"; cat "$TMP/stdout"; }

# The D2F LoRA (q_proj, k_proj, v_proj, attn_out) through the adapter path changes the decoding.
expect_ok "d2f with the LoRA" "$DLMSCOPE" run --model tests/fixtures/models/mha-bf16 \
    --adapter tests/fixtures/adapters/mha-bf16-d2f-lora --prompt-ids "$IDS" --rule d2f --gen 16 --block 8 --device cpu --trace-ids
grep '^final' "$TMP/stdout" >"$TMP/lora.final"
expect_ok "d2f without it" "$DLMSCOPE" run --model tests/fixtures/models/mha-bf16 --prompt-ids "$IDS" --rule d2f --gen 16 \
    --block 8 --device cpu --trace-ids
grep '^final' "$TMP/stdout" | cmp -s - "$TMP/lora.final" && fail "the adapter changed nothing" || ok

# LLaDA-MoE (bidirectional, LLaDA's layout) runs it too, its routing in every step.
expect_ok "d2f on LLaDA-MoE" "$DLMSCOPE" run --model tests/fixtures/models/llada-moe-f32 --prompt-ids "$IDS" --rule d2f \
    --gen 16 --block 8 --device cpu --record "$TMP/moe.dlmtrace"
"$DLMSCOPE" trace dump "$TMP/moe.dlmtrace" --json | grep -q '"experts":{"1":\[' && ok || fail "d2f on LLaDA-MoE: no routing in the trace"

# Refusals, one line each.
expect_error "d2f on Dream" "rule d2f needs a bidirectional model whose logits are not shifted.*dream model \\(shifted logits\\)" \
    "$DLMSCOPE" run --model tests/fixtures/models/dream-f32 --prompt-ids "$IDS" --rule d2f --gen 16 --block 8 --device cpu
expect_error "d2f on LLaDA2" "rule d2f needs a bidirectional model.*llada2 model \\(block-causal\\)" \
    "$DLMSCOPE" run --model tests/fixtures/models/llada2-f32 --prompt-ids "$IDS" --rule d2f --gen 16 --block 8 --device cpu
expect_error "d2f with --block-causal" "brings its own attention mask" \
    "$DLMSCOPE" run --model $M --prompt-ids "$IDS" --rule d2f --gen 16 --block 8 --block-causal 8 --device cpu
expect_error "d2f cache=dual" "does not support cache=dual" \
    "$DLMSCOPE" run --model $M --prompt-ids "$IDS" --rule d2f:cache=dual --gen 16 --block 8 --device cpu
expect_error "d2f block_add out of range" "block_add=2" \
    "$DLMSCOPE" run --model $M --prompt-ids "$IDS" --rule d2f:block_add=2 --gen 16 --block 8 --device cpu
expect_error "d2f gen not a multiple of block" "not a multiple of block" \
    "$DLMSCOPE" run --model $M --prompt-ids "$IDS" --rule d2f --gen 20 --block 8 --device cpu
"$DLMSCOPE" run --help-rules 2>&1 | grep -q "d2f" && ok || fail "--help-rules does not list d2f"
finish
