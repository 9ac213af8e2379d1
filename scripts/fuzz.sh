#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan + UBSan, the library
# instrumented for coverage) in build-fuzz/ and run each briefly, from the
# seeds in fuzz/corpus/ (see fuzz/README.md).
#   scripts/fuzz.sh [seconds per target, default 20]
# A crash, leak or sanitizer report makes the script fail; the reproducer
# is left in build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
# The targets write their input to a file: on tmpfs when there is one.
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
secs="${1:-20}"

if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Dsanitize=true \
        -Dbuildtype=debugoptimized -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link
fi
targets="cifar image safetensors image_cache config"
ninja -C build-fuzz $(for t in $targets; do echo "fuzz/fuzz_$t"; done)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p build-fuzz/artifacts
for t in $targets; do mkdir -p "$work/$t"; done

# Seeds: two CIFAR-10 records (one also a CIFAR-100 length), and small
# images of every format (first byte: the extension, 0 png 1 jpg 2 bmp 3 tga).
python3 - "$work" <<'PY'
import os, sys
w = sys.argv[1]
rec = bytes([3]) + bytes(range(256)) * 12
open(os.path.join(w, "cifar", "two10"), "wb").write(rec * 2)
open(os.path.join(w, "cifar", "one100"), "wb").write(bytes([4]) + rec)
PY
fx=tests/fixtures/data/lossless
for f in "$fx"/*.png; do { printf '\x00'; cat "$f"; } > "$work/image/$(basename "$f")"; done
for f in "$fx"/*.bmp; do { printf '\x02'; cat "$f"; } > "$work/image/$(basename "$f")"; done
for f in "$fx"/*.tga; do { printf '\x03'; cat "$f"; } > "$work/image/$(basename "$f")"; done
jpg=../shared/datasets/cifar10-jpg/test/cat/0000.jpg
[ -f "$jpg" ] && { printf '\x01'; cat "$jpg"; } > "$work/image/cat.jpg"
[ -f "$jpg" ] && { printf '\x05'; cat "$jpg"; } > "$work/image/cat_resized.jpg"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in $targets; do
    echo "fuzz: fuzz_$t for ${secs}s"
    seeds=()
    [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
    # The option parser prints a message per bad option: its stderr is closed.
    quiet=()
    [ "$t" = config ] && quiet=(-close_fd_mask=2)
    build-fuzz/fuzz/fuzz_$t -max_total_time="$secs" -max_len=16384 -rss_limit_mb=2048 \
        -artifact_prefix=build-fuzz/artifacts/ -print_final_stats=1 "${quiet[@]}" \
        "$work/$t" "${seeds[@]}" 2>&1 | tail -n 12
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: fuzz_$t failed" >&2; exit 1; }
done
echo "fuzz: no crash"
