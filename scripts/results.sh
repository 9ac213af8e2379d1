#!/usr/bin/env bash
# The experiments behind the README's results, cheapest first, each resumable
# (rerun the script after an interruption: finished runs are skipped) and
# each copied into docs/results/ as soon as it finishes:
#   1. the quick comparison (the README's first command): 3 seeds
#   2. the SGD baseline at PyTorch's reference recipe: 10 epochs, cosine
#   3. PyTorch's AdamW recipe (lr 1e-3, decay 0.05, option B, 10 epochs)
#      from tenet's Kaiming init and from PyTorch's default init
#   4. ResNet-56 without batch norm, subset, constant lr: Adam+L2 vs AdamW
#   5. lr x wd heat maps (5x5, decay axis as a timescale, 2 seeds, ResNet-8
#      on a subset): SGD+L2 vs SGDW, Adam+L2 vs AdamW, with the slopes
#   6. ResNet-20, full CIFAR-10, 15 epochs, cosine, 3 seeds: SGD+L2, SGDW,
#      Adam+L2, AdamW
#   7. ResNet-56 without batch norm again, 30 epochs, cosine: Adam+L2 vs AdamW
#   8. normalization: ResNet-20 with batch norm, group norm and none, Adam+L2
#      vs AdamW, 3 seeds, a 4,000-image subset, 12 epochs of batch 64
#      and the quick comparison's ResNet-32 with batch norm and group norm
#   9. batch size: batch 32 vs 512 (lr and SGDW's lambda scaled linearly,
#      2 warm-up epochs), SGD+L2 vs SGDW, 3 seeds, with each run's sharpness
#   scripts/results.sh [RUN_DIR]   (default runs/results; ~9 h on 2 cores)
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
copy_compare() {   # copy_compare NAME: a comparison's table, plots and runs (any seed layout)
    mkdir -p "$dst/$1"
    cp "$out/$1"/{results.md,test_error.png,train_loss.png} "$dst/$1/"
    (cd "$out/$1" && find . -name result.txt -printf '%h\n') | while read -r run; do
        copy_run "$out/$1/$run" "$dst/$1/$run"
    done
}

"$prog" compare --out "$out/compare-quick"
copy_compare compare-quick

"$prog" train --method sgd-l2 --epochs 10 --out "$out/sgd-l2-10ep" --resume
copy_run "$out/sgd-l2-10ep" "$dst/sgd-l2-10ep"

for init in kaiming torch; do
    args=(--method adamw-torch --wd 0.05 --shortcut B --epochs 10)
    if [ "$init" = torch ]; then
        [ -f "$out/torch-init.safetensors" ] ||
            /usr/bin/python3 scripts/torch_baseline.py --shortcut B --seed 0 --epochs 0 \
                --save-init "$out/torch-init.safetensors"
        args+=(--init "$out/torch-init.safetensors")
    fi
    "$prog" train "${args[@]}" --out "$out/adamw-torch-$init-init" --resume
    copy_run "$out/adamw-torch-$init-init" "$dst/adamw-torch-$init-init"
done

"$prog" compare --model resnet56 --variant nobn --methods adam-l2,adamw --schedule constant \
    --subset 500 --test-subset 200 --epochs 10 --out "$out/nobn-resnet56"
copy_compare nobn-resnet56

"$prog" sweep --lrs 5 --wds 5 --seeds 2 --wd-axis tau --tau-min 0.05 --tau-max 5 \
    --model resnet8 --subset 200 --test-subset 100 --batch 64 --epochs 30 --out "$out/sweep"
mkdir -p "$dst/sweep"
cp "$out/sweep/"heatmap_*.png "$dst/sweep/"
for m in sgd-l2 sgdw adam-l2 adamw; do cp "$out/sweep/$m/grid.csv" "$dst/sweep/$m.csv"; done

"$prog" compare --full --seeds 3 --methods sgd-l2,sgdw,adam-l2,adamw --out "$out/compare-full"
copy_compare compare-full

"$prog" compare --model resnet56 --variant nobn --methods adam-l2,adamw --schedule cosine \
    --subset 500 --test-subset 200 --epochs 30 --out "$out/nobn-resnet56-30ep"
copy_compare nobn-resnet56-30ep

for v in bn gn nobn; do
    "$prog" compare --model resnet20 --variant "$v" --methods adam-l2,adamw --seeds 3 \
        --subset 400 --test-subset 100 --batch 64 --epochs 12 --out "$out/norm-$v"
    copy_compare "norm-$v"
done

for v in bn gn; do   # the quick comparison's setting with a normalization
    "$prog" compare --model resnet32 --variant "$v" --out "$out/quick-$v"
    copy_compare "quick-$v"
done

batch=(--model resnet20 --methods sgd-l2,sgdw --seeds 3 --subset 400 --test-subset 100
       --epochs 16 --warmup 2 --sharpness)
"$prog" compare "${batch[@]}" --batch 32 --lr-sgd 0.025 --wd-sgdw 1.25e-4 --out "$out/batch32"
"$prog" compare "${batch[@]}" --batch 512 --lr-sgd 0.4 --wd-sgdw 2e-3 --out "$out/batch512"
for b in batch32 batch512; do
    copy_compare "$b"
    (cd "$out/$b" && find . -name sharpness.txt -printf '%h\n') | while read -r run; do
        cp "$out/$b/$run"/{sharpness.txt,loss_direction.csv} "$dst/$b/$run/"
    done
done

"$prog" pair "$out/batch32" "$out/batch512" > "$dst/batch-pair.md"

echo "results copied to $dst/"
