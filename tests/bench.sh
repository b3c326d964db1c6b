#!/bin/sh
# bench.sh — `make bench`: the CPU figures recorded in docs/BENCHMARKS.md.
set -eu
: "${DLMSCOPE:=./dlmscope}"
echo "== CPU forward pass, bundled-model size (random weights) =="
"$DLMSCOPE" bench --shape small --tokens 128,256,512 --repeat 20
echo
echo "== CPU forward pass, medium shape =="
"$DLMSCOPE" bench --shape medium --tokens 128,512 --repeat 10
