#!/usr/bin/env bash
# tests/examples/crash_consistency.sh RESNET_CIFAR CKPT_EQUAL SHARED_DIR
# Crash consistency of `resnet_cifar train` on a tiny copy of the shared
# CIFAR-10 folder (20 training and 10 test images per class, 3 epochs of 5
# steps, 1 thread):
#  (a) a run killed with SIGKILL at fixed moments (after each start, a fixed
#      list of fractions of the uninterrupted run's time, so that the kills
#      land in training and not only in the start-up however fast the
#      machine) and resumed with --resume each time ends
#      bit-identical to an uninterrupted run: model and optimizer state
#      (ckpt_equal), metrics.csv without its wall-clock columns, result.txt's
#      figures;
#  (b) a checkpoint write that fails part way (RLIMIT_FSIZE below the
#      checkpoint's size, SIGXFSZ ignored: write() fails with EFBIG) stops
#      the run with exit 1 and a message naming the file, leaves the previous
#      checkpoint byte for byte and no temporary file; resuming without the
#      limit still ends equal to the uninterrupted run.
set -euo pipefail
prog=$1 ckpt_equal=$2 shared=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { echo "ok - $*"; passed=$((passed + 1)); }
no() { echo "FAILED - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else no "$what"; fi; }
passed=0 failed=0

src=$shared/datasets/cifar10-jpg
for split in train:20 test:10; do
    name=${split%%:*} n=${split##*:}
    for cls in "$src/$name"/*/; do
        c=$(basename "$cls")
        mkdir -p "$tmp/data/$name/$c"
        ls "$cls" | sort | sed -n "1,${n}p" | while read -r f; do cp "$cls/$f" "$tmp/data/$name/$c/"; done
    done
done
common=(--data "$tmp/data" --no-cache --batch 40 --threads 1 --epochs 3)

# The same run as the reference?  Model, optimizer, metrics and result.
same_run() {
    local ref=$1 run=$2
    "$ckpt_equal" "$ref/checkpoint.safetensors" "$run/checkpoint.safetensors" >/dev/null &&
        cmp -s <(cut -d, -f1-9 "$ref/metrics.csv") <(cut -d, -f1-9 "$run/metrics.csv") &&
        cmp -s <(head -n1 "$ref/result.txt" | cut -d' ' -f1-5) <(head -n1 "$run/result.txt" | cut -d' ' -f1-5)
}

t0=$(date +%s%N)
"$prog" train "${common[@]}" --quiet --out "$tmp/ref" >/dev/null 2>"$tmp/ref.log"
ref_s=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b - a) / 1e9}')
echo "# the uninterrupted run took ${ref_s} s"

# (a) SIGKILL at a fraction of the uninterrupted time after each start, then resume.
kills=0 resumes=""
for f in 0.55 0.3 0.6 0.45 0.35 0.6 0.5 0.65 0.4 0.6; do
    "$prog" train "${common[@]}" --resume --out "$tmp/kill" >/dev/null 2>>"$tmp/kill.log" &
    pid=$!
    sleep "$(awk -v f="$f" -v t="$ref_s" 'BEGIN{print f * t}')"
    if kill -KILL "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null || true
    [ -s "$tmp/kill/result.txt" ] && break
done
"$prog" train "${common[@]}" --resume --out "$tmp/kill" >/dev/null 2>>"$tmp/kill.log"
resumes=$(grep -c '^resuming ' "$tmp/kill.log" || true)
echo "# $kills runs killed; $resumes resumed from a checkpoint:"
grep '^resuming ' "$tmp/kill.log" | sed 's/^/#   /' || true
check "a run killed $kills times and resumed equals the uninterrupted run" same_run "$tmp/ref" "$tmp/kill"
check "SIGKILL hit the run at least 4 times" test "$kills" -ge 4
check "a killed run resumed from a checkpoint at least once" test "$resumes" -ge 1

# (b) a failing checkpoint write: stop after 7 steps (a checkpoint mid-epoch
# 2), then resume under a file size limit below the checkpoint's size.
set +e
"$prog" train "${common[@]}" --quiet --out "$tmp/full" --stop-after-steps 7 >/dev/null 2>"$tmp/full.log"
set -e
ck=$tmp/full/checkpoint.safetensors
cp "$ck" "$tmp/before.safetensors"
size_kb=$(( $(stat -c %s "$ck") / 1024 ))
set +e
(
    trap '' XFSZ
    ulimit -f $((size_kb / 2))
    exec "$prog" train "${common[@]}" --quiet --resume --out "$tmp/full" >/dev/null 2>"$tmp/full2.log"
)
rc=$?
set -e
echo "# under ulimit -f $((size_kb / 2)) (checkpoint ${size_kb} KiB): exit $rc: $(cat "$tmp/full2.log")"
check "a failed checkpoint write exits 1 (got $rc)" test "$rc" -eq 1
check "the message names the checkpoint and the cause" \
    grep -q "checkpoint.safetensors.*File too large" "$tmp/full2.log"
check "the previous checkpoint is intact" cmp -s "$tmp/before.safetensors" "$ck"
check "no temporary file is left" test -z "$(ls "$tmp/full" | grep '\.tmp\.' || true)"
"$prog" train "${common[@]}" --quiet --resume --out "$tmp/full" >/dev/null 2>>"$tmp/full.log"
check "resumed without the limit, the run equals the uninterrupted one" same_run "$tmp/ref" "$tmp/full"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
