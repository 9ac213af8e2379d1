#!/usr/bin/env bash
# tests/nn/test_onnx_ort.sh - export CIFAR ResNets (bn, preact, nobn; option A
# and B shortcuts) and check that ONNX Runtime (npm onnxruntime-node, CPU)
# gives tenet's eval-mode logits within 1e-4.  Skipped (77) without node, the
# package (scripts/ort_setup.sh installs it) or a build with ONNX export.
#   test_onnx_ort.sh ONNX_REF NODE_MODULES_DIR CHECK_JS
set -uo pipefail
ref=$1 modules=$2 check=$3
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
    if out=$(NODE_PATH="$modules" node "$check" "$dir" "$batch" 10 1e-4); then
        echo "ok - resnet$depth $variant/$shortcut batch $batch ($kind): $out"
    else
        echo "FAILED - resnet$depth $variant/$shortcut batch $batch ($kind): $out"
        failed=1
    fi
done
exit $failed
