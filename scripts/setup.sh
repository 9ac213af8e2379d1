#!/usr/bin/env bash
# Set up tenet on a Debian machine: install the Debian packages that are
# missing, configure the release build in build/ and compile it.
#   scripts/setup.sh [extra meson options]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(meson ninja-build pkg-config gcc libopenblas-dev libstb-dev libcriterion-dev
          gnuplot-nox clang libclang-rt-14-dev python3 openmpi-bin libopenmpi-dev
          libprotobuf-c-dev protobuf-c-compiler libonnx-dev)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -f build/build.ninja ]; then
    meson setup build "$@"
elif [ $# -gt 0 ]; then
    meson configure build "$@"
fi
ninja -C build
