#!/usr/bin/env bash
# Install ONNX Runtime for node (npm onnxruntime-node, whose CPU binaries ship
# in the package) into BUILD/node_modules for the ONNX tests and
# bench/bench_ort.js; quiet, and nothing to do when it is there.  Without
# npm it says so and succeeds (the tests then skip).
#   scripts/ort_setup.sh [BUILD]        (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
[ -d "$dir/node_modules/onnxruntime-node" ] && exit 0
if ! command -v npm >/dev/null; then
    echo "ort_setup: npm not found: the ONNX Runtime tests will be skipped"
    exit 0
fi
mkdir -p "$dir"
npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --silent --no-save \
    onnxruntime-node >/dev/null
pkg="$(cd "$dir" && pwd)/node_modules/onnxruntime-node/package.json"
echo "ort_setup: onnxruntime-node $(node -p 'require(process.argv[1]).version' "$pkg") in $dir/node_modules"
