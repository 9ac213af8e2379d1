#!/usr/bin/env bash
# tests/examples/crash_consistency.sh RESNET_CIFAR CKPT_EQUAL SHARED_DIR
# Crash consistency of `resnet_cifar train` on a tiny copy of the shared
# CIFAR-10 folder (20 training and 10 test images per class, 3 epochs of 5
# steps, 1 thread):
#  (a) a run killed with SIGKILL at fixed moments (fixed delays after
#      training starts or after a checkpoint is written, so that the kills
#      land however fast the machine) and resumed with --resume each time ends
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
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

# The first 20 training and 10 test images of every class.
tiny_data "$shared" "$tmp/data" 20 10
common=(--data "$tmp/data" --no-cache --batch 40 --threads 1 --epochs 3)

# The same run as the reference?  Model, optimizer, metrics and result.
same_run() {
    local ref=$1 run=$2
    "$ckpt_equal" "$ref/checkpoint.safetensors" "$run/checkpoint.safetensors" >/dev/null &&
        cmp -s <(cut -d, -f1-9 "$ref/metrics.csv") <(cut -d, -f1-9 "$run/metrics.csv") &&
        cmp -s <(head -n1 "$ref/result.txt" | cut -d' ' -f1-5) <(head -n1 "$run/result.txt" | cut -d' ' -f1-5)
}

"$prog" train "${common[@]}" --quiet --out "$tmp/ref" >/dev/null 2>"$tmp/ref.log"

# (a) SIGKILL at fixed moments, then resume.  Each start is killed a fixed
# delay after an event of its own, so that the kills land whatever the
# machine's speed: "start", training began (the run's description line; a
# kill mid-epoch, before any progress), or "ckpt", a new checkpoint was
# renamed into place (a kill early in the next epoch, after progress).
inode() { stat -c %i "$tmp/kill/checkpoint.safetensors" 2>/dev/null || echo none; }
kills=0
for step in start:0.3 ckpt:0.2 start:0.6 ckpt:0.05 start:0.1 ckpt:0.4 start:0.8 ckpt:0.1; do
    event=${step%%:*} delay=${step##*:} before=$(inode)
    : >"$tmp/attempt.log"
    "$prog" train "${common[@]}" --resume --out "$tmp/kill" >/dev/null 2>"$tmp/attempt.log" &
    pid=$!
    if [ "$event" = start ]; then
        while kill -0 "$pid" 2>/dev/null && ! grep -q '^resnet20 ' "$tmp/attempt.log"; do sleep 0.02; done
    else
        while kill -0 "$pid" 2>/dev/null && [ "$(inode)" = "$before" ]; do sleep 0.02; done
    fi
    sleep "$delay"
    if kill -KILL "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null || true
    grep -a '^resuming ' "$tmp/attempt.log" >>"$tmp/kill.log" || true
    [ -s "$tmp/kill/result.txt" ] && break
done
"$prog" train "${common[@]}" --resume --out "$tmp/kill" >/dev/null 2>>"$tmp/kill.log"
resumes=$(grep -c '^resuming ' "$tmp/kill.log" || true)
echo "# $kills runs killed; $resumes resumed from a checkpoint:"
grep '^resuming ' "$tmp/kill.log" | sed 's/^/#   /' || true
echo "# temporary files left by kills during a write: $(ls "$tmp/kill" | grep -c '\.tmp\.' || true)"
check "a run killed $kills times and resumed equals the uninterrupted run" same_run "$tmp/ref" "$tmp/kill"
check "SIGKILL hit the run at least 5 times" test "$kills" -ge 5
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
