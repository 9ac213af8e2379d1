#!/usr/bin/env bash
# tests/examples/resnet_cifar_diverge.sh RESNET_CIFAR CKPT_EQUAL SHARED_DIR
# A diverging run stops at the step where a weight turns NaN or infinite,
# exits 3 with a message naming the epoch and the step, prints no RESULT,
# writes no result.txt, and leaves the last finite checkpoint on disk;
# a test loss gone NaN stops it too; --allow-nonfinite trains on.
set -euo pipefail
prog=$1 ckpt_equal=$2 shared=$3
source "$(dirname "$0")/common.sh"
tiny_data "$shared" "$tmp/data" 16 8
# 4 steps per epoch; lr x wd = 10^4 multiplies the decayed weights by
# about -10^4 a step: they overflow float at step 4.
common=(--data "$tmp/data" --no-cache --batch 40 --threads 1 --quiet --epochs 3
        --lr 100 --wd 100 --checkpoint-steps 1)

run_rc rc "$prog" train "${common[@]}" --out "$tmp/d" >"$tmp/d.out" 2>"$tmp/d.err"
check "a diverged run exits 3 (got $rc)" test "$rc" -eq 3
check "the message names the epoch and the step: $(cat "$tmp/d.err")" \
    grep -q '^resnet_cifar: diverged at epoch 1, step 4 (step 4 of the epoch): a weight or running statistic is NaN or infinite; .*checkpoint.safetensors holds step 3, the last finite state' "$tmp/d.err"
check "no RESULT is printed" test ! -s "$tmp/d.out"
check "no result.txt is written" test ! -e "$tmp/d/result.txt"
# The same run stopped after step 3 checkpoints step 3's state.
run_rc rc "$prog" train "${common[@]}" --out "$tmp/s" --stop-after-steps 3 >/dev/null 2>&1
check "the reference run stops after step 3 (exit $rc)" test "$rc" -eq 130
check "the checkpoint left is step 3's, the last finite one" \
    "$ckpt_equal" "$tmp/s/checkpoint.safetensors" "$tmp/d/checkpoint.safetensors"
check "no temporaries are left" test -z "$(ls "$tmp/d" | grep tmp || true)"

# --allow-nonfinite: the run goes on to the end and reports.
run_rc rc "$prog" train "${common[@]}" --out "$tmp/a" --allow-nonfinite >"$tmp/a.out" 2>"$tmp/a.err"
check "--allow-nonfinite trains on (exit $rc)" test "$rc" -eq 0
check "--allow-nonfinite prints RESULT" grep -q '^RESULT .* epochs=3 ' "$tmp/a.out"

# Momentum 0.99 at lr 100: the training loss stays finite (batch norm), the
# test loss after epoch 2 does not.
run_rc rc "$prog" train --data "$tmp/data" --no-cache --batch 40 --threads 1 --quiet --epochs 3 \
    --lr 100 --momentum 0.99 --out "$tmp/m" >"$tmp/m.out" 2>"$tmp/m.err"
check "a NaN test loss exits 3 (got $rc)" test "$rc" -eq 3
check "and says so: $(cat "$tmp/m.err")" \
    grep -q '^resnet_cifar: diverged at epoch 2, step 8 (step 4 of the epoch): the test loss after the epoch is NaN; .*holds step 4,' "$tmp/m.err"
check "with no RESULT" test ! -s "$tmp/m.out"
check "metrics.csv ends at the last finite epoch" test "$(wc -l <"$tmp/m/metrics.csv")" -eq 2

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
