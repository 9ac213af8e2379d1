#!/usr/bin/env bash
# Run the whole test suite: set up (packages, build/), run every test, then
# build with AddressSanitizer + UBSan in build-asan/ and run every suite but
# the slow training ones and the MPI ones (LeakSanitizer reports Open MPI's
# own allocations at exit) there too, then fuzz the parsers briefly (clang,
# libFuzzer).  Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || exit 1
# ONNX Runtime for node, for the ONNX export test (skipped without it).
scripts/ort_setup.sh build || echo "test: onnxruntime-node could not be installed: the ONNX Runtime test is skipped"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

meson test -C build --print-errorlogs 2>&1 | tee "$logs/release.log"
release_rc=${PIPESTATUS[0]}

if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Dsanitize=true -Dbuildtype=debugoptimized >/dev/null || exit 1
fi
ninja -C build-asan >/dev/null || { ninja -C build-asan; exit 1; }
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C build-asan --print-errorlogs --no-suite slow --no-suite install --no-suite dist 2>&1 | tee "$logs/asan.log"
asan_rc=${PIPESTATUS[0]}

# A short libFuzzer run of the CIFAR reader and the image decoding path.
scripts/fuzz.sh 10 2>&1 | tail -n 4
fuzz_rc=${PIPESTATUS[0]}

count() { awk -v k="$1" '$1 == k ":" {s += $2} END {print s + 0}' "$logs"/*.log; }
passed=$(( $(count Ok) + (fuzz_rc == 0) ))
failed=$(( $(count Fail) + $(count Timeout) + (fuzz_rc != 0) ))
status() { [ "$1" -eq 0 ] && echo ok || echo FAILED; }
echo "release build: $(status $release_rc), sanitizer build: $(status $asan_rc), fuzzing: $(status $fuzz_rc)"
echo "$passed passed, $failed failed"
[ $release_rc -eq 0 ] && [ $asan_rc -eq 0 ] && [ $fuzz_rc -eq 0 ]
