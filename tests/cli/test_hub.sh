# Hugging Face names: `--model ORG/NAME[@REV]` and `--adapter ORG/NAME` resolve offline to a hub
# cache laid out here the way huggingface_hub lays it out (refs/BRANCH holding a commit,
# snapshots/COMMIT/ of relative symlinks into blobs/), and give the same logits as the folders they
# were made from; each cache variable is honoured in order; a missing name, revision or snapshot
# is one line naming where it looked (and the download command); folders keep working.
. tests/cli/lib.sh
IDS="1 2 3 4 5 6 7 8"

# Two revisions of a synthetic checkpoint (different weights), and the fixture LoRA pair.
"$DLMSCOPE" synth --shape tiny --out "$TMP/rev1" --seed 1 >/dev/null 2>&1 || fail "synth rev1"
"$DLMSCOPE" synth --shape tiny --out "$TMP/rev2" --seed 2 >/dev/null 2>&1 || fail "synth rev2"
BASE=tests/fixtures/models/mha-bf16
LORA=tests/fixtures/adapters/mha-bf16-lora

C1=0123456789abcdef0123456789abcdef01234567
C2=89abcdef0123456789abcdef0123456789abcdef
# add_snapshot CACHE REPO_FOLDER COMMIT SRC_DIR: blobs named by content hash, snapshot symlinks
add_snapshot() {
    repo=$1/$2
    mkdir -p "$repo/blobs" "$repo/refs" "$repo/snapshots/$3"
    for f in "$4"/*; do
        sum=$(sha256sum "$f" | cut -d' ' -f1)
        cp "$f" "$repo/blobs/$sum"
        ln -s "../../blobs/$sum" "$repo/snapshots/$3/$(basename "$f")"
    done
}
HUB=$TMP/hub
add_snapshot "$HUB" models--test-org--tiny-dlm $C1 "$TMP/rev1"
add_snapshot "$HUB" models--test-org--tiny-dlm $C2 "$TMP/rev2"
printf '%s' $C1 >"$HUB/models--test-org--tiny-dlm/refs/main"
printf '%s' $C2 >"$HUB/models--test-org--tiny-dlm/refs/v2"
add_snapshot "$HUB" models--test-org--base $C1 "$BASE"
printf '%s\n' $C1 >"$HUB/models--test-org--base/refs/main"
add_snapshot "$HUB" models--test-org--base-lora $C2 "$LORA"
printf '%s' $C2 >"$HUB/models--test-org--base-lora/refs/main"
[ -L "$HUB/models--test-org--tiny-dlm/snapshots/$C1/model.safetensors" ] && ok || fail "the snapshot is not symlinks"

# logits from a folder and from a hub name must be identical
same_logits() { # NAME FOLDER_ARGS -- HUB_ARGS (with HF_* set by the caller)
    name=$1 a=$2 b=$3
    "$DLMSCOPE" logits --threads 1 --ids "$IDS" $a >"$TMP/a" 2>"$TMP/ea" || { fail "$name: folder run: $(cat "$TMP/ea")"; return; }
    "$DLMSCOPE" logits --threads 1 --ids "$IDS" $b >"$TMP/b" 2>"$TMP/eb" || { fail "$name: hub run: $(cat "$TMP/eb")"; return; }
    [ -s "$TMP/a" ] && cmp -s "$TMP/a" "$TMP/b" && ok || fail "$name: logits differ: $(diff "$TMP/a" "$TMP/b" | head -n 3)"
}
export HF_HUB_CACHE="$HUB"
same_logits "ORG/NAME (refs/main)" "--model $TMP/rev1" "--model test-org/tiny-dlm"
same_logits "ORG/NAME@main" "--model $TMP/rev1" "--model test-org/tiny-dlm@main"
same_logits "ORG/NAME@TAG" "--model $TMP/rev2" "--model test-org/tiny-dlm@v2"
same_logits "ORG/NAME@COMMIT" "--model $TMP/rev2" "--model test-org/tiny-dlm@$C2"
same_logits "--adapter ORG/NAME" "--model $BASE --adapter $LORA" "--model test-org/base --adapter test-org/base-lora"
# the two revisions really differ (so the comparisons above can fail)
"$DLMSCOPE" logits --threads 1 --ids "$IDS" --model test-org/tiny-dlm >"$TMP/m" 2>&1
"$DLMSCOPE" logits --threads 1 --ids "$IDS" --model test-org/tiny-dlm@v2 >"$TMP/v" 2>&1
cmp -s "$TMP/m" "$TMP/v" && fail "revisions main and v2 give the same logits" || ok

# run records the model as ORG/NAME, not as the snapshot's hash
expect_ok "run on a hub name" "$DLMSCOPE" run --model test-org/tiny-dlm --prompt-ids "1 2 3" --gen 8 --block 8 --threads 1 --record "$TMP/t.dlmtrace"
"$DLMSCOPE" trace info "$TMP/t.dlmtrace" >"$TMP/info" 2>&1
grep -q "^model *test-org/tiny-dlm (.*snapshots/$C1" "$TMP/info" && ok || fail "trace model name: $(grep '^model' "$TMP/info")"

# the cache folder: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, else
# XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub
unset HF_HUB_CACHE
mkdir -p "$TMP/home/.cache/huggingface" "$TMP/xdg/huggingface" "$TMP/hfhome"
ln -s "$HUB" "$TMP/home/.cache/huggingface/hub"
ln -s "$HUB" "$TMP/xdg/huggingface/hub"
ln -s "$HUB" "$TMP/hfhome/hub"
for how in "HUGGINGFACE_HUB_CACHE=$HUB" "HF_HOME=$TMP/hfhome" "XDG_CACHE_HOME=$TMP/xdg" "HOME=$TMP/home"; do
    env -u HF_HOME -u XDG_CACHE_HOME -u HUGGINGFACE_HUB_CACHE "$how" "$DLMSCOPE" logits --threads 1 --ids "$IDS" \
        --model test-org/tiny-dlm >"$TMP/b" 2>"$TMP/eb"
    "$DLMSCOPE" logits --threads 1 --ids "$IDS" --model "$TMP/rev1" >"$TMP/a" 2>&1
    cmp -s "$TMP/a" "$TMP/b" && ok || fail "cache from $how: $(cat "$TMP/eb")"
done
env -u HF_HOME -u XDG_CACHE_HOME HF_HUB_CACHE="$TMP/empty" HOME="$TMP/home" "$DLMSCOPE" logits --ids 1 --model test-org/tiny-dlm \
    >/dev/null 2>&1 && fail "HF_HUB_CACHE did not take precedence over ~/.cache" || ok

# what is not there: one line naming where it looked and how to download it
export HF_HUB_CACHE="$HUB"
expect_error "missing name" "nope/missing is neither a folder nor in the Hugging Face cache \(looked in $HUB/models--nope--missing\); download it with: hf download nope/missing" \
    "$DLMSCOPE" logits --model nope/missing --ids 1
expect_error "missing name, run" "--model nope/missing .*looked in $HUB/models--nope--missing" \
    "$DLMSCOPE" run --model nope/missing --prompt-ids 1
expect_error "missing revision" "no revision 'nosuch' .*refs/nosuch.*snapshots/nosuch; cached snapshots: .*hf download test-org/tiny-dlm --revision nosuch" \
    "$DLMSCOPE" logits --model test-org/tiny-dlm@nosuch --ids 1
expect_error "missing adapter" "--adapter nope/lora is neither a folder nor in the Hugging Face cache" \
    "$DLMSCOPE" logits --model test-org/base --adapter nope/lora --ids 1
cp -r "$HUB/models--test-org--tiny-dlm" "$HUB/models--test-org--broken"
printf 'ffffffffffffffffffffffffffffffffffffffff' >"$HUB/models--test-org--broken/refs/main"
expect_error "ref to a missing snapshot" "refs/main points at ffff.*snapshots/ffff.* is missing" \
    "$DLMSCOPE" logits --model test-org/broken --ids 1
printf '../../etc' >"$HUB/models--test-org--broken/refs/main"
expect_error "bad ref" "refs/main: not a commit hash" "$DLMSCOPE" logits --model test-org/broken --ids 1
expect_error "bad revision text" "/nope/x@..: not a model folder" "$DLMSCOPE" logits --model /nope/x@.. --ids 1

# a folder that looks like a name is a folder
mkdir -p "$TMP/cwd/test-org"
cp -r "$TMP/rev2" "$TMP/cwd/test-org/tiny-dlm"
(cd "$TMP/cwd" && "$DLMSCOPE" logits --threads 1 --ids "$IDS" --model test-org/tiny-dlm) >"$TMP/b" 2>&1
"$DLMSCOPE" logits --threads 1 --ids "$IDS" --model "$TMP/rev2" >"$TMP/a" 2>&1
cmp -s "$TMP/a" "$TMP/b" && ok || fail "a folder named like ORG/NAME was not used as a folder"
finish
