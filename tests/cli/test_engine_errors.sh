# Bad input to `logits` and `tokenize`: each gives exactly one line on stderr naming the file and
# the field or tensor, a non-zero exit, and no crash (the suite also runs under ASan/UBSan).
. tests/cli/lib.sh
M=tests/fixtures/models/gqa-f32
cp -r "$M" "$TMP/model"

expect_error "no args" "--model and --ids are required" "$DLMSCOPE" logits
expect_error "unknown option" "unknown option '--frobnicate'" "$DLMSCOPE" logits --frobnicate
expect_error "missing model" "/nope: not a model folder" "$DLMSCOPE" logits --model /nope --ids 1
expect_error "bad ids" "--ids: 'x7' is not a token id" "$DLMSCOPE" logits --model $M --ids "1 x7"
expect_error "id out of vocab" "token id 320 at position 1 is outside the vocabulary" "$DLMSCOPE" logits --model $M --ids "1 320"
expect_error "bad top" "--top: '0' is not an integer in \[1, 32\]" "$DLMSCOPE" logits --model $M --ids 1 --top 0
expect_error "bad soft" "--soft: position '99' is not in \[0, 2\)" "$DLMSCOPE" logits --model $M --ids "1 2" --soft "99:1=1"
expect_error "bad device" "--device 'tpu'" "$DLMSCOPE" logits --model $M --ids 1 --device tpu
expect_error "adapter not a folder" "/nope: not an adapter folder" "$DLMSCOPE" logits --model $M --ids 1 --adapter /nope
expect_error "adapter for another model" "lora_A.weight' must be a float \[8, 64\]|must be a float" \
    "$DLMSCOPE" logits --model tests/fixtures/models/gqa-f16 --ids 1 --adapter tests/fixtures/adapters/mha-bf16-lora

# Broken configs.
printf '{"hidden_size": 64,' >"$TMP/model/config.json"
expect_error "config not json" "model/config.json: not valid JSON" "$DLMSCOPE" logits --model "$TMP/model" --ids 1
printf '{"model_type": "llada", "hidden_size": 99999999, "num_attention_heads": 8}' >"$TMP/model/config.json"
expect_error "absurd config" "config.json: field 'hidden_size' = 99999999 is out of range" "$DLMSCOPE" logits --model "$TMP/model" --ids 1
sed 's/"hidden_size": 64/"hidden_size": 128/' $M/config.json >"$TMP/model/config.json"
expect_error "shape mismatch" "model.safetensors: tensor 'model.transformer.[a-z._0-9]+' has shape \[[0-9, ]+\], config.json implies" \
    "$DLMSCOPE" logits --model "$TMP/model" --ids 1
cp $M/config.json "$TMP/model/config.json"

# Broken weights: truncated, header length past the end, header not JSON.
size=$(wc -c <$M/model.safetensors)
head -c $((size - 100)) $M/model.safetensors >"$TMP/model/model.safetensors"
expect_error "truncated weights" "model.safetensors: tensor '.*': data_offsets \[[0-9]+, [0-9]+\] point past the end" \
    "$DLMSCOPE" logits --model "$TMP/model" --ids 1
printf '\377\377\377\377\000\000\000\000{}' >"$TMP/model/model.safetensors"
expect_error "header past end" "model.safetensors: header length [0-9]+ points past the end of the file" \
    "$DLMSCOPE" logits --model "$TMP/model" --ids 1
printf '\010\000\000\000\000\000\000\000{"a": [}' >"$TMP/model/model.safetensors"
expect_error "header not json" "model.safetensors: header is not valid JSON" "$DLMSCOPE" logits --model "$TMP/model" --ids 1
: >"$TMP/model/model.safetensors"
expect_error "empty weights" "model.safetensors: 0 bytes is too short" "$DLMSCOPE" logits --model "$TMP/model" --ids 1
rm "$TMP/model/model.safetensors"
expect_error "no weights" "no model.safetensors or model.safetensors.index.json" "$DLMSCOPE" logits --model "$TMP/model" --ids 1

# Tokenizer files and input.
printf '{"model": {"type": "Unigram", "vocab": []}}' >"$TMP/unigram.json"
expect_error "unsupported tokenizer" "unigram.json: model.type 'Unigram' is not supported" "$DLMSCOPE" tokenize --tokenizer "$TMP/unigram.json" hi
expect_error "tokenizer missing" "/nope.json: No such file" "$DLMSCOPE" tokenize --tokenizer /nope.json hi
expect_error "tokenizer is dir" "is a directory" "$DLMSCOPE" tokenize --tokenizer "$TMP" hi
finish
