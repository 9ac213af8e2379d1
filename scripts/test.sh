#!/usr/bin/env bash
# Run the whole test suite: set up (packages, build/), run every test, then
# build with AddressSanitizer + UBSan in build-asan/ and run the suites that
# exercise parsers and error paths there too.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
meson test -C build --print-errorlogs

if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Dsanitize=true -Dbuildtype=debugoptimized
fi
ninja -C build-asan
# LeakSanitizer on; OpenBLAS's thread pool is process-lifetime, not a leak.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C build-asan --print-errorlogs --no-suite slow
