#!/usr/bin/env bash
# tests/install/test_install.sh BUILD_DIR SOURCE_DIR
# `meson install` into a temporary root, then build a user program against
# the installed headers and library with `pkg-config tenet`, and run it.
set -euo pipefail
build=$1 src=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --destdir "$root" --no-rebuild >/dev/null
pc=$(dirname "$(find "$root" -name tenet.pc | head -n1)")
prefix=$(sed -n 's/^prefix=//p' "$pc/tenet.pc")
flags() { PKG_CONFIG_PATH=$pc pkg-config --define-variable=prefix="$root$prefix" "$@" tenet; }
for h in tenet.h tensor/tensor.h tensor/safetensors.h nn/nn.h optim/optim.h data/data.h; do
    test -f "$root$prefix/include/tenet/$h" || { echo "not installed: $h"; exit 1; }
done
cc -std=c11 -Wall -Wextra -Werror $(flags --cflags) "$src/examples/mlp.c" -o "$root/mlp" \
    $(flags --libs) -lm
libdir=$(flags --variable=libdir)
LD_LIBRARY_PATH=$libdir "$root/mlp" >/dev/null
echo "installed tenet builds and runs a user program: 1 passed, 0 failed"
