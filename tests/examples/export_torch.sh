#!/usr/bin/env bash
# tests/examples/export_torch.sh RESNET_CIFAR SOURCE_ROOT
# `resnet_cifar export` on the checkpoint of a tiny training run (synthetic
# 32x32 BMP folder, 10 classes): the export holds exactly PyTorch's
# ResNet-20 state_dict names and shapes (checked without torch), evaluates
# in tenet as the checkpoint does, and, when /usr/bin/python3 has torch,
# loads into the PyTorch twin with load_state_dict(strict=True) and gives
# the accuracy, loss and confusion matrix of `resnet_cifar eval`;
# scripts/safetensors_to_torch.py takes the training checkpoint itself.
set -euo pipefail
prog=$1 src=$2
py=$src/tests/examples/export_check.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { echo "ok - $*"; passed=$((passed + 1)); }
no() { echo "FAILED - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else no "$what"; fi; }
passed=0 failed=0

python3 "$py" data "$tmp/data"
common=(--data "$tmp/data" --no-cache --threads 1 --quiet)
"$prog" train "${common[@]}" --batch 20 --epochs 1 --out "$tmp/run" >/dev/null 2>"$tmp/train.log"
ckpt=$tmp/run/checkpoint.safetensors
check "a training checkpoint holds optimizer state" grep -aq '"optim\.' "$ckpt"

"$prog" export --checkpoint "$ckpt" --out "$tmp/model.safetensors" 2>"$tmp/export.log"
check "export reports what it wrote" grep -q '^exported 116 tensors (19 batch norms) of resnet20' "$tmp/export.log"
check "the export has PyTorch's names and shapes, and no optimizer state" \
    python3 "$py" names "$tmp/model.safetensors" "$src/tests/fixtures/nn/resnet20_A.safetensors"

"$prog" eval --checkpoint "$ckpt" "${common[@]}" --batch 20 >"$tmp/eval_ckpt.out"
"$prog" eval --checkpoint "$tmp/model.safetensors" "${common[@]}" --batch 20 >"$tmp/eval_model.out"
check "the export evaluates as the checkpoint does" \
    cmp -s <(tail -n +2 "$tmp/eval_ckpt.out") <(tail -n +2 "$tmp/eval_model.out")

set +e
"$prog" export --checkpoint "$tmp/nope.safetensors" --out "$tmp/x.safetensors" 2>"$tmp/err"
rc=$?
set -e
check "a missing checkpoint is an error naming it (exit $rc)" \
    eval '[ "$rc" -eq 1 ] && grep -q "nope.safetensors" "$tmp/err" && [ ! -e "$tmp/x.safetensors" ]'
set +e
"$prog" export --checkpoint "$ckpt" 2>"$tmp/err"
rc=$?
set -e
check "export without --out is a usage error (exit $rc)" eval '[ "$rc" -eq 2 ] && grep -q -- "--out" "$tmp/err"'

if /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
    check "PyTorch loads the export (strict) and its logits give eval's results" \
        /usr/bin/python3 "$py" torch "$tmp/model.safetensors" "$tmp/data" "$tmp/eval_model.out"
    check "safetensors_to_torch.py takes the model part of a training checkpoint" \
        /usr/bin/python3 "$src/scripts/safetensors_to_torch.py" "$ckpt"
else
    echo "skip - /usr/bin/python3 has no torch: the PyTorch load and logits are not checked"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
