#!/usr/bin/env bash
# The experiments behind the README's results, in order, each resumable
# (rerun the script after an interruption: finished runs are skipped):
#   1. ResNet-20, full CIFAR-10, 15 epochs, cosine: SGD+L2, SGDW, Adam+L2, AdamW
#   2. lr x wd heat maps (4x4 per method, subset): SGD+L2 vs SGDW, Adam+L2 vs AdamW
#   3. ResNet-56 without batch norm, subset, constant lr: Adam+L2 vs AdamW
#   4. the SGD baseline at PyTorch's reference recipe: 10 epochs, cosine
# then copies the tables, CSVs and plots into docs/results/.
#   scripts/results.sh [RUN_DIR]   (default runs/results; ~4 h on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/results}
prog=build/examples/resnet_cifar/resnet_cifar
[ -x "$prog" ] || scripts/setup.sh

"$prog" compare --full --methods sgd-l2,sgdw,adam-l2,adamw --out "$out/compare-full"
"$prog" sweep --lrs 4 --wds 4 --subset 300 --test-subset 100 --epochs 6 --out "$out/sweep"
"$prog" compare --model resnet56 --variant nobn --methods adam-l2,adamw --schedule constant \
    --subset 500 --test-subset 200 --epochs 10 --out "$out/nobn-resnet56"
"$prog" train --method sgd-l2 --epochs 10 --out "$out/sgd-l2-10ep" --resume

dst=docs/results
for exp in compare-full nobn-resnet56; do
    mkdir -p "$dst/$exp"
    cp "$out/$exp"/{results.md,test_error.png,train_loss.png} "$dst/$exp/"
    for run in "$out/$exp"/*/; do
        m=$(basename "$run")
        mkdir -p "$dst/$exp/$m"
        cp "$run"/{metrics.csv,result.txt} "$dst/$exp/$m/"
    done
done
mkdir -p "$dst/sgd-l2-10ep"
cp "$out"/sgd-l2-10ep/{metrics.csv,result.txt} "$dst/sgd-l2-10ep/"
mkdir -p "$dst/sweep"
cp "$out"/sweep/heatmap_*.png "$dst/sweep/"
for m in sgd-l2 sgdw adam-l2 adamw; do cp "$out/sweep/$m/grid.csv" "$dst/sweep/$m.csv"; done
echo "results copied to $dst/"
