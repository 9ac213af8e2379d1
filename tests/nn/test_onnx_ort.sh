#!/usr/bin/env bash
# tests/nn/test_onnx_ort.sh - export CIFAR ResNets (bn, preact, nobn; option A
# and B shortcuts) and check that ONNX Runtime (npm onnxruntime-node, CPU)
# gives tenet's eval-mode logits within 1e-4.  Skipped (77) without node, the
# package (scripts/ort_setup.sh installs it) or a build with ONNX export.
# Each model is exported by the library and again from its checkpoint by
# `resnet_cifar export-onnx`.
#   test_onnx_ort.sh ONNX_REF NODE_MODULES_DIR CHECK_JS RESNET_CIFAR
set -uo pipefail
ref=$1 modules=$2 check=$3 cli=$4
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
[ -d "$modules/onnxruntime-node" ] ||
    { echo "SKIP: onnxruntime-node is not in $modules (run scripts/ort_setup.sh)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
# variant shortcut depth batch input-batch
for c in "bn A 20 8 dynamic" "bn B 8 4 fixed" "preact A 8 4 dynamic" "preact B 8 4 fixed" \
         "nobn A 8 4 dynamic" "nobn B 8 4 fixed"; do
    read -r variant shortcut depth batch kind <<<"$c"
    dir="$tmp/$variant$shortcut"
    mkdir -p "$dir"
    "$ref" "$dir" "$variant" "$shortcut" "$depth" "$batch" "$kind"
    rc=$?
    [ $rc -eq 77 ] && { echo "SKIP: this build has no ONNX export"; exit 77; }
    [ $rc -ne 0 ] && { echo "FAILED - onnx_ref $c"; failed=1; continue; }
    check_model() { # what
        if out=$(NODE_PATH="$modules" node "$check" "$dir" "$batch" 10 1e-4); then
            echo "ok - $1 resnet$depth $variant/$shortcut batch $batch: $out"
        else
            echo "FAILED - $1 resnet$depth $variant/$shortcut batch $batch: $out"
            failed=1
        fi
    }
    check_model "library ($kind batch)"
    batch_opt=$([ "$kind" = fixed ] && echo dynamic || echo "$batch")
    if "$cli" export-onnx --checkpoint "$dir/model.safetensors" --out "$dir/model.onnx" \
        --batch "$batch_opt" >/dev/null; then
        check_model "export-onnx --batch $batch_opt"
    else
        echo "FAILED - resnet_cifar export-onnx $c"
        failed=1
    fi
done

# Errors from outside: a bad --batch, an unwritable --out (nothing written).
ckpt="$tmp/bnA/model.safetensors"
"$cli" export-onnx --checkpoint "$ckpt" --out "$tmp/x.onnx" --batch 0 2>/dev/null
[ $? -eq 2 ] && [ ! -e "$tmp/x.onnx" ] && echo "ok - --batch 0 is refused" ||
    { echo "FAILED - --batch 0 is refused"; failed=1; }
msg=$("$cli" export-onnx --checkpoint "$ckpt" --out "$tmp/none/x.onnx" 2>&1)
[ $? -eq 1 ] && [[ $msg == *"cannot write '$tmp/none/x.onnx'"* ]] &&
    echo "ok - an unwritable --out is reported: $msg" ||
    { echo "FAILED - an unwritable --out is reported: $msg"; failed=1; }
exit $failed
