#!/bin/sh
# bench.sh — `make bench`: the CPU figures recorded in docs/BENCHMARKS.md.
set -eu
: "${DLMSCOPE:=./dlmscope}"
echo "== CPU forward pass and cached block steps, bundled-model size (random weights) =="
"$DLMSCOPE" bench --shape small --tokens 128,256,512 --repeat 20 --recording 128
echo
echo "== CPU forward pass and cached block steps, medium shape =="
"$DLMSCOPE" bench --shape medium --tokens 128,512 --repeat 10
echo
echo "== viewer: a 10,000-step trace of 1,024 positions =="
LANG=C.UTF-8 "$DLMSCOPE" bench --viewer 10000
