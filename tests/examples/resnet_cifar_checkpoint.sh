#!/usr/bin/env bash
# tests/examples/resnet_cifar_checkpoint.sh RESNET_CIFAR CKPT_EQUAL SHARED_DIR
# Mid-epoch checkpoints: a run killed (SIGKILL, no chance to save) after a
# checkpoint every --checkpoint-steps steps, or every --checkpoint-every
# minutes, resumes to the uninterrupted run's model, optimizer and metrics
# bit for bit; temporaries a killed write leaves are removed on start; a
# run folder written before the option table resumes.
set -euo pipefail
prog=$1 ckpt_equal=$2 shared=$3
source "$(dirname "$0")/common.sh"
tiny_data "$shared" "$tmp/data" 16 8
# 16 steps per epoch.
common=(--data "$tmp/data" --no-cache --batch 10 --threads 1 --epochs 2)

"$prog" train "${common[@]}" --quiet --out "$tmp/u" >"$tmp/u.out" 2>"$tmp/u.err"

# crash_and_resume NAME OPTIONS...: start, SIGKILL once a checkpoint is on
# disk, plant stale temporaries, resume; compare with the uninterrupted run.
crash_and_resume() {
    local name=$1 dir=$tmp/$1 rc pid step
    shift
    "$prog" train "${common[@]}" --quiet "$@" --out "$dir" >/dev/null 2>"$dir.err" &
    pid=$!
    for _ in $(seq 6000); do [ -e "$dir/checkpoint.safetensors" ] && break; sleep 0.01; done
    kill -KILL "$pid"
    run_rc rc wait "$pid"
    check "$name: killed (exit $rc)" test "$rc" -eq 137
    check "$name: a checkpoint was on disk, no result" test -s "$dir/checkpoint.safetensors" -a ! -e "$dir/result.txt"
    printf 'half' >"$dir/checkpoint.safetensors.tmp.Ab12Cd"
    printf 'half' >"$dir/metrics.csv.tmp.Xy34Zw"
    printf 'mine' >"$dir/notes.tmp.1"
    "$prog" train "${common[@]}" "$@" --out "$dir" --resume >"$dir.out" 2>"$dir.resume.err"
    step=$(sed -n 's/^resuming .* at epoch [0-9]*, step \([0-9]*\)$/\1/p' "$dir.resume.err")
    check "$name: resumed from step '$step', mid-epoch" test -n "$step" -a $((step % 16)) -ne 0
    check "$name: the stale checkpoint temporary is gone" test ! -e "$dir/checkpoint.safetensors.tmp.Ab12Cd"
    check "$name: the stale metrics temporary is gone" test ! -e "$dir/metrics.csv.tmp.Xy34Zw"
    check "$name: other files are kept" test -e "$dir/notes.tmp.1"
    check "$name: the removal is reported" grep -q "removed .*checkpoint.safetensors.tmp.Ab12Cd" "$dir.resume.err"
    check "$name: resumed run equals the uninterrupted one (model and optimizer)" \
        "$ckpt_equal" "$tmp/u/checkpoint.safetensors" "$dir/checkpoint.safetensors"
    check "$name: resumed metrics equal" cmp -s <(cut -d, -f1-9 "$tmp/u/metrics.csv") <(cut -d, -f1-9 "$dir/metrics.csv")
    check "$name: the same RESULT" test "$(tail -n1 "$dir.out" | cut -d' ' -f2-4)" = "$(tail -n1 "$tmp/u.out" | cut -d' ' -f2-4)"
}
crash_and_resume steps --checkpoint-steps 3
crash_and_resume minutes --checkpoint-every 0.002

# A fresh run folder with a stale temporary: removed too.
mkdir -p "$tmp/f"
printf 'half' >"$tmp/f/checkpoint.safetensors.tmp.Qw56Er"
"$prog" train "${common[@]}" --quiet --epochs 1 --stop-after-steps 1 --out "$tmp/f" >/dev/null 2>&1 || true
check "a fresh start removes a stale temporary" test ! -e "$tmp/f/checkpoint.safetensors.tmp.Qw56Er"

# A run folder the program wrote before the option table (ResNet-8 of
# width 4, stopped after step 5; `--data data` from the folder above it)
# resumes, to the run the program makes now without interruption.
fixture=$(cd "$(dirname "$0")" && pwd)/fixtures/run_before_option_table
prog_abs=$(realpath "$prog")
cp -r "$fixture" "$tmp/old"
small=(--data data --no-cache --batch 40 --threads 1 --quiet --depth 8 --width 4 --epochs 2)
set +e
(cd "$tmp" && "$prog_abs" train "${small[@]}" --out old --resume >/dev/null)
rc=$?
set -e
check "a run folder from before the option table resumes (exit $rc)" test "$rc" -eq 0
(cd "$tmp" && "$prog_abs" train "${small[@]}" --out new >/dev/null)
check "to the same model and optimizer as an uninterrupted run" \
    "$ckpt_equal" "$tmp/new/checkpoint.safetensors" "$tmp/old/checkpoint.safetensors"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
