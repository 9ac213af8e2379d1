#!/usr/bin/env bash
# The experiments behind the README's results, cheapest first, each resumable
# (rerun the script after an interruption: finished runs are skipped) and
# each copied into docs/results/ as soon as it finishes:
#   1. the SGD baseline at PyTorch's reference recipe: 10 epochs, cosine
#   2. ResNet-56 without batch norm, subset, constant lr: Adam+L2 vs AdamW
#   3. lr x wd heat maps (4x4 per method, subset): SGD+L2 vs SGDW, Adam+L2 vs AdamW
#   4. ResNet-20, full CIFAR-10, 15 epochs, cosine: SGD+L2, SGDW, Adam+L2, AdamW
#   5. ResNet-56 without batch norm again, 30 epochs, cosine: Adam+L2 vs AdamW
#   scripts/results.sh [RUN_DIR]   (default runs/results; ~3 h on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/results}
prog=build/examples/resnet_cifar/resnet_cifar
dst=docs/results
[ -x "$prog" ] || scripts/setup.sh

copy_run() {   # copy_run RUN_DIR DEST_DIR: a run's per-epoch CSV and result
    mkdir -p "$2"
    cp "$1"/{metrics.csv,result.txt} "$2/"
}
copy_compare() {   # copy_compare NAME: a comparison's table, plots and runs
    mkdir -p "$dst/$1"
    cp "$out/$1"/{results.md,test_error.png,train_loss.png} "$dst/$1/"
    for run in "$out/$1"/*/; do copy_run "$run" "$dst/$1/$(basename "$run")"; done
}

"$prog" train --method sgd-l2 --epochs 10 --out "$out/sgd-l2-10ep" --resume
copy_run "$out/sgd-l2-10ep" "$dst/sgd-l2-10ep"

"$prog" compare --model resnet56 --variant nobn --methods adam-l2,adamw --schedule constant \
    --subset 500 --test-subset 200 --epochs 10 --out "$out/nobn-resnet56"
copy_compare nobn-resnet56

"$prog" sweep --lrs 4 --wds 4 --subset 300 --test-subset 100 --epochs 6 --out "$out/sweep"
mkdir -p "$dst/sweep"
cp "$out"/sweep/heatmap_*.png "$dst/sweep/"
for m in sgd-l2 sgdw adam-l2 adamw; do cp "$out/sweep/$m/grid.csv" "$dst/sweep/$m.csv"; done

"$prog" compare --full --methods sgd-l2,sgdw,adam-l2,adamw --out "$out/compare-full"
copy_compare compare-full

"$prog" compare --model resnet56 --variant nobn --methods adam-l2,adamw --schedule cosine \
    --subset 500 --test-subset 200 --epochs 30 --out "$out/nobn-resnet56-30ep"
copy_compare nobn-resnet56-30ep

echo "results copied to $dst/"
