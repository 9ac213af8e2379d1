#!/usr/bin/env bash
# tests/examples/resnet_cifar_training_aids.sh RESNET_CIFAR CKPT_EQUAL SHARED_DIR
# --accumulate K on a group-norm ResNet-8 trains as the plain step does (the
# metrics of two epochs, 32 steps, within 2e-4 relative: the gradients
# agree to float rounding, which the steps amplify; measured 4e-7 with
# K = 4, 4e-5 with K = 3; --accumulate 1 is the plain step bit for bit), and --weight-noise changes the run, is reproducible, and a run
# stopped mid-epoch resumes to the uninterrupted one bit for bit (its rng is
# in the checkpoint).  `sharpness` on a checkpoint: a non-negative figure,
# the store restored (the loss at alpha = 0 is the checkpoint's), the CSV.
set -euo pipefail
prog=$1 ckpt_equal=$2 shared=$3
source "$(dirname "$0")/common.sh"
tiny_data "$shared" "$tmp/data" 16 8
# 16 steps per epoch.
common=(--data "$tmp/data" --no-cache --batch 10 --threads 1 --epochs 2 --depth 8 --width 8
        --variant gn --quiet)
train() { local out=$1; shift; "$prog" train "${common[@]}" "$@" --out "$tmp/$out" >"$tmp/$out.out" 2>&1; }
# close A B: metrics.csv columns 3-9 (losses, accuracies, weight norm) within 2e-4 relative.
close() {
    paste -d, "$1" "$2" | awk -F, 'NR > 1 { for (i = 3; i <= 9; i++) { if (i == 6) continue;
        a = $i; b = $(i + 11); d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b;
        if (d > 2e-4 * m + 1e-7) bad = 1 } } END { exit bad }'
}
differ() { ! "$ckpt_equal" "$@" 2>/dev/null; }
far() { ! close "$@"; }
fails() { ! "$@" >/dev/null 2>&1; }

train plain
train k1 --accumulate 1
train k4 --accumulate 4
train k3 --accumulate 3
check "--accumulate 1 is the plain step" "$ckpt_equal" "$tmp/plain/checkpoint.safetensors" "$tmp/k1/checkpoint.safetensors"
check "--accumulate 4: the plain run's metrics" close "$tmp/plain/metrics.csv" "$tmp/k4/metrics.csv"
check "--accumulate 3 (parts of 4, 3, 3): the plain run's metrics" \
    close "$tmp/plain/metrics.csv" "$tmp/k3/metrics.csv"
check "--accumulate is recorded" grep -q -- "--accumulate 4" "$tmp/k4/result.txt"

train wn --weight-noise 0.05
train wn2 --weight-noise 0.05
check "weight noise is reproducible" "$ckpt_equal" "$tmp/wn/checkpoint.safetensors" "$tmp/wn2/checkpoint.safetensors"
check "a run with weight noise is not close" far "$tmp/plain/metrics.csv" "$tmp/wn/metrics.csv"
check "weight noise changes the run" differ "$tmp/plain/checkpoint.safetensors" "$tmp/wn/checkpoint.safetensors"
run_rc rc train wns --weight-noise 0.05 --accumulate 2 --stop-after-steps 21
check "stopped mid-epoch (exit $rc)" test "$rc" -ne 0 -a -s "$tmp/wns/checkpoint.safetensors"
train wns --weight-noise 0.05 --accumulate 2 --resume
train wnu --weight-noise 0.05 --accumulate 2
check "weight noise resumes to the uninterrupted run" \
    "$ckpt_equal" "$tmp/wnu/checkpoint.safetensors" "$tmp/wns/checkpoint.safetensors"

sh=(--data "$tmp/data" --no-cache --threads 1 --subset 4 --steps 3 --points 5 --eps 1e-3)
run_rc rc "$prog" sharpness "${sh[@]}" --checkpoint "$tmp/plain/checkpoint.safetensors" \
    --out "$tmp/sharp" >"$tmp/sharp.out" 2>&1
check "sharpness runs (exit $rc)" test "$rc" -eq 0
s=$(sed -n 's/^sharpness \([0-9.e+-]*\)$/\1/p' "$tmp/sharp/sharpness.txt")
l0=$(sed -n 's/^loss \([0-9.]*\)$/\1/p' "$tmp/sharp/sharpness.txt")
check "sharpness '$s' is a number >= 0" awk -v s="$s" 'BEGIN { exit !(s != "" && s + 0 >= 0) }'
check "loss_direction.csv: a header and 5 points" test "$(wc -l <"$tmp/sharp/loss_direction.csv")" -eq 6
check "the loss at alpha 0 is the checkpoint's ($l0)" \
    test "$(awk -F, '$1 == 0 { print $2 }' "$tmp/sharp/loss_direction.csv")" = "$l0"
check "sharpness needs --checkpoint" fails "$prog" sharpness "${sh[@]}" --out "$tmp/sharp2"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
