#!/usr/bin/env bash
# run_all.sh [OUT] — regenerate the bundled model from seeds: task sets, tokenizer, SFT model,
# EvoToken CTS adapter, checks against dlmscope, held-out evaluation, loss plot.
#
#   train/run_all.sh                          # -> samples/models/dlm-tiny (GPU: about 15 minutes on an H100)
#   train/run_all.sh /tmp/dlm-smoke           # another output folder
#   PROFILE=cpu train/run_all.sh              # the CPU recipe of the bundled model (2 cores, about 70 minutes)
#
# Environment knobs (defaults: the profile's, PROFILE=gpu (default) or cpu; see train/README.md):
#   PROFILE      gpu: the larger H100 recipe; cpu: the recipe that trained the bundled model on two
#                shared cores (1 torch thread, generation length 32, time-budgeted SFT + short CTS)
#   PYTHON       python with torch (default python3)
#   TRAIN_FLAGS  flags for train/train.py (model size, steps, batch, lr, ...)
#   CTS_FLAGS    flags for train/cts.py
#   TOK_FLAGS    flags for train/bpe.py train
#   EVAL_LIMIT   items per test file for the evaluation (0: all 500)
#   EVAL_FLAGS   extra flags for train/decode.py eval (e.g. --device cpu --threads 1)
#   WORK         scratch folder for checkpoints (default /tmp/dlm-work-$(basename OUT)); the
#                checkpoints with optimizer state stay out of the bundled model folder
#   SKIP_EVAL=1  skip the held-out evaluation
#   ARITH_FLAGS  flags for the CPU profile's arith stage (train/train.py from the SFT checkpoint; "" to skip)
#   RESUME=1     continue SFT from WORK/ckpt/last.pt (same flags; a time-budgeted schedule continues
#                where it stopped, so a run split over several sessions follows the same curve)
#   DLM_THREADS  --threads for the dlmscope commands (default: all cores)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${1:-samples/models/dlm-tiny}
PY=${PYTHON:-python3}
WORK=${WORK:-/tmp/dlm-work-$(basename "$OUT")}
PROFILE=${PROFILE:-gpu}
case $PROFILE in
gpu)
    GEN=${GEN:-128}
    D_TOK="--vocab 1536 --samples 40000 --seed 0"
    D_TRAIN="--d-model 256 --n-heads 8 --n-layers 8 --mlp 768 --gen $GEN --steps 16000 --batch 256 --lr 1e-3 --warmup 500 --seed 0 --t2t-seqs 0.1 --t2t-rate 0.1 --time-budget 660 --log-every 100 --eval-every 4000 --eval-n 64 --export-every 4000"
    SFT_ARITH=columns
    D_ARITH=""
    D_CTS="--gen $GEN --steps 1500 --batch 128 --lr 5e-4 --r 16 --alpha 32 --seed 1 --log-every 50 --time-limit 150"
    D_EVAL="" ;;
cpu)
    # Measured on the shared 2-core machine (train/README.md, "CPU recipe"): one torch thread is as
    # fast as two under load, and passive OpenMP threads do not collapse when a core is taken.
    export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
    GEN=${GEN:-32}
    D_TOK="--vocab 1536 --samples 20000 --seed 0"
    D_TRAIN="--d-model 128 --n-heads 4 --n-layers 4 --mlp 384 --gen $GEN --long-gen 128 --long-every 16 --steps 100000 --batch 64 --lr 2e-3 --warmup 100 --seed 0 --t2t-seqs 0.2 --t2t-rate 0.1 --threads 1 --device cpu --time-budget ${SFT_SECONDS:-3000} --log-every 25 --ckpt-every 100 --eval-every 500 --eval-n 32 --eval-batch 64 --export-every 500"
    # The tokenizer and the first SFT stage saw arith as two-step chains (DLM_ARITH=chain): the bundled
    # model was trained so, and had not learned it (8%). A second stage, from that checkpoint, teaches
    # arith in columns (the held-out sets and every later step use that format) with arith weighted 3:1.
    SFT_ARITH=chain
    D_ARITH="--d-model 128 --n-heads 4 --n-layers 4 --mlp 384 --gen $GEN --long-gen 128 --long-every 16 --steps 2500 --batch 64 --lr 1e-3 --warmup 100 --seed 3 --t2t-seqs 0.2 --t2t-rate 0.1 --threads 1 --device cpu --log-every 25 --ckpt-every 100 --eval-every 500 --eval-n 32 --eval-batch 64 --export-every 500 --mix arith=3,countdown=1,digits=1,sort=1"
    D_CTS="--gen $GEN --block $GEN --K 2 --steps 1900 --batch 16 --lr 1e-3 --r 16 --alpha 32 --seed 1 --threads 1 --device cpu --log-every 10 --time-limit ${CTS_SECONDS:-1200}"
    D_EVAL="--device cpu --threads 1" ;;
*) echo "run_all.sh: PROFILE must be gpu or cpu, not '$PROFILE'" >&2; exit 2 ;;
esac
TOK_FLAGS=${TOK_FLAGS:-$D_TOK}
TRAIN_FLAGS=${TRAIN_FLAGS:-$D_TRAIN}
CTS_FLAGS=${CTS_FLAGS:-$D_CTS}
ARITH_FLAGS=${ARITH_FLAGS-$D_ARITH}
EVAL_LIMIT=${EVAL_LIMIT:-0}
EVAL_FLAGS=${EVAL_FLAGS:-$D_EVAL}
mkdir -p "$OUT" "$WORK"
LOG="$OUT/run_all.log"
: > "$LOG"
say() { echo "== $*" | tee -a "$LOG"; }
t_start=$(date +%s)

say "environment"
$PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee -a "$LOG"

say "task checkers and test sets (samples/tasks, deterministic)"
$PY train/test_tasks.py | tail -1 | tee -a "$LOG"
$PY train/tasks.py write samples/tasks | tee -a "$LOG"

say "tokenizer"
DLM_ARITH=$SFT_ARITH $PY train/bpe.py train "$OUT" $TOK_FLAGS | tee -a "$LOG"

HAVE_DLM=0
if [ -x ./dlmscope ] || make -s >/dev/null 2>&1; then
    [ -x ./dlmscope ] && HAVE_DLM=1
fi
if [ "$HAVE_DLM" = 1 ]; then
    say "tokenizer vs dlmscope"
    $PY train/check_tokenizer.py "$OUT/tokenizer.json" | tee -a "$LOG"
else
    say "WARNING: ./dlmscope could not be built; skipping the checks against the C engine"
fi

say "SFT training: train/train.py $TRAIN_FLAGS"
t0=$(date +%s)
RES=""
[ "${RESUME:-0}" = 1 ] && RES="--resume"
DLM_ARITH=$SFT_ARITH $PY train/train.py --out "$OUT" --tokenizer "$OUT/tokenizer.json" --ckpt-dir "$WORK/ckpt" \
    $TRAIN_FLAGS $RES 2>&1 | tee -a "$LOG"
echo "train seconds: $(( $(date +%s) - t0 ))" | tee -a "$LOG"

STAGE_PLOT=""
if [ -n "$ARITH_FLAGS" ]; then
    say "SFT, arith stage (arith in columns): train/train.py --init $WORK/ckpt/last.pt $ARITH_FLAGS"
    t0=$(date +%s)
    $PY train/train.py --out "$OUT" --tokenizer "$OUT/tokenizer.json" --ckpt-dir "$WORK/ckpt-arith" \
        --init "$WORK/ckpt/last.pt" --log-suffix _arith --resume $ARITH_FLAGS 2>&1 | tee -a "$LOG"
    echo "arith stage seconds: $(( $(date +%s) - t0 ))" | tee -a "$LOG"
    STAGE_PLOT="--stage $OUT/train_log_arith.csv"
fi

if [ "$HAVE_DLM" = 1 ]; then
    say "model vs dlmscope logits"
    $PY train/check_model.py "$OUT" | tee -a "$LOG"
fi

say "EvoToken CTS adapter: train/cts.py $CTS_FLAGS"
t0=$(date +%s)
$PY train/cts.py --model "$OUT" $CTS_FLAGS 2>&1 | tee -a "$LOG"
echo "cts seconds: $(( $(date +%s) - t0 ))" | tee -a "$LOG"

if [ "$HAVE_DLM" = 1 ]; then
    say "model + adapter vs dlmscope logits"
    $PY train/check_model.py "$OUT" --adapter "$OUT/evotoken-cts" | tee -a "$LOG"
fi

if [ "$HAVE_DLM" = 1 ]; then
    say "reference decoders vs dlmscope run (llada, evotoken + adapter)"
    $PY train/check_decode.py "$OUT" --adapter "$OUT/evotoken-cts" --n 8 --gen "$GEN" | tee -a "$LOG"
fi

say "loss plot"
$PY train/plot_loss.py "$OUT/train_log.csv" "$OUT/loss.png" $STAGE_PLOT --cts "$OUT/evotoken-cts/cts_log.csv" | tee -a "$LOG"

if [ "${SKIP_EVAL:-0}" != 1 ]; then
    mkdir -p "$OUT/eval"
    say "held-out evaluation, llada rule (PyTorch reference decoder)"
    $PY train/decode.py eval "$OUT" samples/tasks/{arith,countdown,digits,sort}-test.jsonl --limit "$EVAL_LIMIT" \
        --rule llada --gen "$GEN" --out "$OUT/eval/llada.jsonl" $EVAL_FLAGS | tee "$OUT/eval/llada.txt" | tee -a "$LOG"
    say "held-out evaluation, evotoken rule without the adapter (PyTorch reference decoder)"
    $PY train/decode.py eval "$OUT" samples/tasks/{arith,countdown,digits,sort}-test.jsonl --limit "$EVAL_LIMIT" \
        --rule evotoken --gen "$GEN" --out "$OUT/eval/evotoken-base.jsonl" $EVAL_FLAGS | tee "$OUT/eval/evotoken-base.txt" | tee -a "$LOG"
    say "held-out evaluation, evotoken rule + CTS adapter (PyTorch reference decoder)"
    $PY train/decode.py eval "$OUT" samples/tasks/{arith,countdown,digits,sort}-test.jsonl --limit "$EVAL_LIMIT" \
        --rule evotoken --gen "$GEN" --adapter "$OUT/evotoken-cts" --out "$OUT/eval/evotoken.jsonl" $EVAL_FLAGS \
        | tee "$OUT/eval/evotoken.txt" | tee -a "$LOG"
fi

if [ "$HAVE_DLM" = 1 ]; then
    say "dlmscope run on the result"
    DT=${DLM_THREADS:+--threads $DLM_THREADS}
    ./dlmscope run $DT --model "$OUT" --prompt "What is 413 + 238?" --gen "$GEN" --block 32 2>&1 | tee -a "$LOG"
    ./dlmscope run $DT --model "$OUT" --adapter "$OUT/evotoken-cts" --rule evotoken \
        --prompt "Sort these numbers from smallest to largest: 74, 98, 63, 47, 52" --gen "$GEN" --block 32 2>&1 | tee -a "$LOG"
fi

say "done in $(( $(date +%s) - t_start )) s; model folder:"
du -sh "$OUT" | tee -a "$LOG"
ls -la "$OUT" | tee -a "$LOG"
