#!/usr/bin/env bash
# Download the official CIFAR binary releases, check their published MD5
# sums, and extract them.
#   scripts/get_cifar.sh [10|100|all] [destination folder, default data-cache/]
# Gives  <dest>/cifar-10-batches-bin/  (data_batch_1..5.bin, test_batch.bin,
# batches.meta.txt) and  <dest>/cifar-100-binary/  (train.bin, test.bin,
# fine_label_names.txt, coarse_label_names.txt), which tn_cifar_load() reads.
# An archive already present with the right checksum is not downloaded again;
# nothing is extracted from an archive whose checksum is wrong.
set -euo pipefail
cd "$(dirname "$0")/.."

which="${1:-all}"
dest="${2:-data-cache}"
# CIFAR_BASE_URL: a mirror (or file:// folder) holding the same archives.
base="${CIFAR_BASE_URL:-https://www.cs.toronto.edu/~kriz}"

case "$which" in
    10|100|all) ;;
    *) echo "usage: $0 [10|100|all] [destination]" >&2; exit 2 ;;
esac

if command -v curl >/dev/null; then
    fetch() { curl -fL --retry 3 -o "$2" "$1"; }
elif command -v wget >/dev/null; then
    fetch() { wget -O "$2" "$1"; }
else
    echo "get_cifar: neither curl nor wget is installed" >&2
    exit 1
fi

md5_of() { md5sum "$1" | cut -d' ' -f1; }

# get <archive> <md5> <folder it extracts to>
get() {
    local archive="$1" md5="$2" folder="$3"
    local path="$dest/$archive"
    mkdir -p "$dest"
    if [ -f "$path" ] && [ "$(md5_of "$path")" = "$md5" ]; then
        echo "get_cifar: $path present, checksum ok"
    else
        echo "get_cifar: downloading $base/$archive"
        # Into a temporary name first: a partial download never looks complete.
        rm -f "$path.part"
        fetch "$base/$archive" "$path.part"
        local got
        got="$(md5_of "$path.part")"
        if [ "$got" != "$md5" ]; then
            echo "get_cifar: $archive: MD5 $got, expected $md5; not extracting" >&2
            rm -f "$path.part"
            exit 1
        fi
        mv "$path.part" "$path"
    fi
    rm -rf "${dest:?}/$folder"
    tar -xzf "$path" -C "$dest"
    if [ ! -d "$dest/$folder" ]; then
        echo "get_cifar: $archive did not contain $folder/" >&2
        exit 1
    fi
    echo "get_cifar: $dest/$folder ready"
}

if [ "$which" = 10 ] || [ "$which" = all ]; then
    get cifar-10-binary.tar.gz c32a1d4ab5d03f1284b67883e8d87530 cifar-10-batches-bin
fi
if [ "$which" = 100 ] || [ "$which" = all ]; then
    get cifar-100-binary.tar.gz 03b5dce01913d631647c71ecec9e9cb8 cifar-100-binary
fi
