# Text in and out of the mixture-of-experts families: the LLaDA2.x and LLaDA-MoE fixtures
# (tests/fixtures/models, random weights) with a tokenizer in the Ling layout
# (tests/fixtures/tokenizer-ling.json, tests/reference/make_ling_tokenizer.py). `run --prompt`
# wraps the message in the ling chat template with the tokenizer's ids; the special ids the real
# LLaDA2.1 config.json leaves out (mask, EOS) come from the tokenizer; `eval` runs every decoding
# rule on both families, and each rule's recorded trace replays step for step. The answers are
# random-model garbage: what is checked is that everything runs and is recorded faithfully.
. tests/cli/lib.sh
TOK=tests/fixtures/tokenizer-ling.json
# The ids of the fixture tokenizer (its added tokens, at the top of the 320-token vocabulary).
ROLE=314 ROLE_CLOSE=315 ROLE_END=316 EOS=318 MASK=319

# LLaDA2: config.json as LLaDA2.1-mini's, which names neither the mask nor the EOS token.
mkdir -p "$TMP/llada2" "$TMP/llada-moe"
cp tests/fixtures/models/llada2-f32/model.safetensors "$TMP/llada2/"
grep -vE '"(mask|eos)_token_id"' tests/fixtures/models/llada2-f32/config.json >"$TMP/llada2/config.json"
grep -q '"mask_token_id"' "$TMP/llada2/config.json" && fail "the LLaDA2 config still names the mask"
cp "$TOK" "$TMP/llada2/tokenizer.json"
# LLaDA-MoE: its own config (ids given) and a tokenizer_config.json whose chat template is Ling's
# (the opening of LLaDA2.1-flash's template), which is how a LLaDA-MoE checkpoint picks up `ling`.
cp tests/fixtures/models/llada-moe-f32/model.safetensors tests/fixtures/models/llada-moe-f32/config.json "$TMP/llada-moe/"
cp "$TOK" "$TMP/llada-moe/tokenizer.json"
cat >"$TMP/llada-moe/tokenizer_config.json" <<'EOF'
{"add_bos_token": false, "add_eos_token": false, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
 "chat_template": "{% set thinking_option = 'off' %}\n{{- '<role>SYSTEM</role>' }}\n{{- 'detailed thinking ' + thinking_option + '<|role_end|>' }}{%- for message in messages %}{{- '<role>' + message.role|upper + '</role>' + message.content + '<|role_end|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<role>ASSISTANT</role>' }}{%- endif %}",
 "tokenizer_class": "PreTrainedTokenizerFast"}
EOF

# The ids the template must produce: <role>SYSTEM</role>detailed thinking off<|role_end|>
# <role>HUMAN</role>{message}<|role_end|><role>ASSISTANT</role>, the tags as single tokens.
MSG="Sort 12, 3 and 45."
msg_ids=$("$DLMSCOPE" tokenize --tokenizer "$TOK" "$MSG" | tr ' ' ',')
sys_ids=$("$DLMSCOPE" tokenize --tokenizer "$TOK" "SYSTEM" | tr ' ' ',')
think_ids=$("$DLMSCOPE" tokenize --tokenizer "$TOK" "detailed thinking off" | tr ' ' ',')
human_ids=$("$DLMSCOPE" tokenize --tokenizer "$TOK" "HUMAN" | tr ' ' ',')
asst_ids=$("$DLMSCOPE" tokenize --tokenizer "$TOK" "ASSISTANT" | tr ' ' ',')
want="[$ROLE,$sys_ids,$ROLE_CLOSE,$think_ids,$ROLE_END,$ROLE,$human_ids,$ROLE_CLOSE,$msg_ids,$ROLE_END,$ROLE,$asst_ids,$ROLE_CLOSE]"
case "$msg_ids" in *,*,*) ok ;; *) fail "the message should take several tokens: $msg_ids" ;; esac

for fam in llada2 llada-moe; do
    M=$TMP/$fam
    bc=""
    [ $fam = llada2 ] && bc="--block-causal 8"
    # run --prompt with the family's default rule: the chat template and the ids in the trace header
    # shellcheck disable=SC2086
    expect_ok "$fam run --prompt" "$DLMSCOPE" run --model "$M" --prompt "$MSG" --gen 16 --block 8 $bc --record "$TMP/$fam.dlmtrace"
    "$DLMSCOPE" trace dump "$TMP/$fam.dlmtrace" --json | head -n 1 >"$TMP/$fam.header"
    grep -qF "\"prompt_ids\":$want" "$TMP/$fam.header" && ok ||
        fail "$fam: prompt ids $(grep -o '"prompt_ids":\[[0-9,]*\]' "$TMP/$fam.header"), expected $want"
    grep -qF '"prompt_text":"<role>SYSTEM</role>detailed thinking off<|role_end|><role>HUMAN</role>Sort 12, 3 and 45.<|role_end|><role>ASSISTANT</role>"' \
        "$TMP/$fam.header" && ok || fail "$fam: prompt text: $(cat "$TMP/$fam.header")"
    grep -qF "\"mask_id\":$MASK,\"eos_id\":$EOS" "$TMP/$fam.header" && ok || fail "$fam: mask and EOS ids: $(cat "$TMP/$fam.header")"
    # --raw: the message alone
    # shellcheck disable=SC2086
    expect_ok "$fam run --raw" "$DLMSCOPE" run --model "$M" --prompt "$MSG" --raw --gen 16 --block 8 $bc --record "$TMP/$fam-raw.dlmtrace"
    "$DLMSCOPE" trace dump "$TMP/$fam-raw.dlmtrace" --json | head -n 1 | grep -qF "\"prompt_ids\":[$msg_ids]" && ok ||
        fail "$fam: --raw prompt ids"

    # eval: every rule (t2t in both of LLaDA2.1's modes); --steps 12 divides the two or three
    # blocks a 16-token answer spans (LLaDA2's blocks are aligned to position 0, so where the prompt
    # ends decides). Each recorded trace must replay: resumed after its first step, the same run.
    head -n 2 samples/tasks/sort-test.jsonl >"$TMP/items.jsonl"
    head -n 1 samples/tasks/arith-test.jsonl >>"$TMP/items.jsonl"
    rules="llada threshold t2t t2t:mode=s t2m evotoken margin dream fdllm2"
    set --
    for r in $rules; do set -- "$@" --rule "$r"; done
    # shellcheck disable=SC2086
    expect_ok "$fam eval" "$DLMSCOPE" eval --model "$M" --tasks "$TMP/items.jsonl" --gen 16 --block 8 --steps 12 $bc --quiet \
        --record-dir "$TMP/$fam-rec" --out "$TMP/$fam.json" "$@"
    for name in llada threshold t2t t2t-2 t2m evotoken margin dream fdllm2; do
        grep -qE "^$name +[0-9.]+%  \[" "$TMP/stdout" || { fail "$fam eval: no row for $name: $(cat "$TMP/stdout")"; continue; }
        [ "$(ls "$TMP/$fam-rec/$name" | wc -l)" -eq 3 ] || { fail "$fam eval $name: $(ls "$TMP/$fam-rec/$name")"; continue; }
        tr="$TMP/$fam-rec/$name/sort-test-0001.dlmtrace"
        "$DLMSCOPE" trace dump "$tr" --json | head -n 1 | grep -qF "\"prompt_ids\":[$ROLE," ||
            { fail "$fam eval $name: the prompt is not in the ling template"; continue; }
        "$DLMSCOPE" trace dump "$tr" --json | grep -q '"experts":{"1":\[' || { fail "$fam eval $name: no experts in the trace"; continue; }
        if ! "$DLMSCOPE" run --model "$M" --resume "$tr@0" --record "$TMP/again.dlmtrace" >/dev/null 2>"$TMP/err"; then
            fail "$fam eval $name: resume: $(cat "$TMP/err")"
            continue
        fi
        "$DLMSCOPE" trace diff "$tr" "$TMP/again.dlmtrace" | grep -qE "^identical: [0-9]+ steps$" && ok ||
            fail "$fam eval $name: the trace does not replay: $("$DLMSCOPE" trace diff "$tr" "$TMP/again.dlmtrace" | head -n 3)"
    done
    grep -q '"response"' "$TMP/$fam.json" && ok || fail "$fam eval: JSON without responses"
done

# The default steps on a block-causal model whose prompt ends mid-block: the answer spans one block
# more than gen / block, and the default is rounded up to a multiple of 6 (both 2 and 3 blocks); an
# explicit steps that is not one is refused by name.
M=$TMP/llada2
for r in llada evotoken margin dream; do
    expect_ok "llada2 $r, default steps" "$DLMSCOPE" run --model "$M" --prompt "$MSG" --gen 16 --block 8 --block-causal 8 --rule "$r" \
        --record "$TMP/steps.dlmtrace"
    "$DLMSCOPE" trace info "$TMP/steps.dlmtrace" | grep -qE "^rule +$r:.*steps=(18|12)(,|$)" && ok ||
        fail "llada2 $r: steps not rounded up to the 3 blocks: $("$DLMSCOPE" trace info "$TMP/steps.dlmtrace" | grep ^rule)"
done
expect_error "llada2 explicit steps" "steps 16 is not a multiple of the 3 blocks" \
    "$DLMSCOPE" run --model "$M" --prompt "$MSG" --gen 16 --block 8 --block-causal 8 --rule llada --steps 16
finish
