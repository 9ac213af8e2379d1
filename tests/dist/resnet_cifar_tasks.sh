#!/usr/bin/env bash
# tests/dist/resnet_cifar_tasks.sh RESNET_CIFAR MPIRUN SHARED_DIR
# resnet_cifar compare and sweep under mpirun -np 2 run whole runs on
# separate ranks: the same results.md and result.txt as one process (each
# run computed by one rank alone: bit-identical), each rank its own runs, a
# rerun skips every run, a stopped comparison resumes, a rank whose run
# fails ends the job with its message, and a 2x2 sweep writes its grid.
set -euo pipefail
prog=$1 mpirun=$2 shared=$3
source "$(dirname "$0")/../examples/common.sh"
tiny_data "$shared" "$tmp/data" 5 5
tiny=(--data "$tmp/data" --no-cache --subset 5 --test-subset 5 --epochs 1 --batch 8 --depth 8
      --width 4 --threads 1 --quiet)
cmp=(--seeds 2 --methods adam-l2,adamw "${tiny[@]}")
np2=("$mpirun" --allow-run-as-root --oversubscribe -np 2)
# result.txt without its timings
numbers() { sed 's/seconds=[^ ]*//; s/images_per_s=[^ ]*//; s/data_wait_fraction=[^ ]*//' "$1"; }
# same_runs WHAT DIR: every run's result.txt in DIR is one process's.
same_runs() {
    local s m
    for s in 1 2; do
        for m in adam-l2 adamw; do
            check "$1: seed $s $m's result.txt as one process" \
                cmp <(numbers "$tmp/one/seed$s/$m/result.txt") <(numbers "$2/seed$s/$m/result.txt")
        done
    done
}

"$prog" compare "${cmp[@]}" --out "$tmp/one" >/dev/null 2>"$tmp/one.err"
"${np2[@]}" "$prog" compare "${cmp[@]}" --out "$tmp/two" >"$tmp/two.out" 2>"$tmp/two.err"
check "2 ranks: the same results.md as one process" cmp "$tmp/one/results.md" "$tmp/two/results.md"
same_runs "2 ranks" "$tmp/two"
check "the table is printed once" test "$(grep -c '^| adamw | adam |' "$tmp/two.out")" -eq 1
r0=$(grep -c '^\[[0-9]/[0-9]\] .* (rank 0)$' "$tmp/two.err" || true)
r1=$(grep -c '^\[[0-9]/[0-9]\] .* (rank 1)$' "$tmp/two.err" || true)
check "each rank ran 2 of the 4 runs (rank 0: $r0, rank 1: $r1)" test "$r0" -eq 2 -a "$r1" -eq 2
check "no run on both ranks" test "$(sed -n 's/^\[[0-9]\/[0-9]\] \(.*\) (rank [01])$/\1/p' "$tmp/two.err" | sort -u | wc -l)" -eq 4

"${np2[@]}" "$prog" compare "${cmp[@]}" --out "$tmp/two" >/dev/null 2>"$tmp/two2.err"
check "a rerun skips all 4 runs" test "$(grep -c 'finished earlier, skipped' "$tmp/two2.err")" -eq 4
"$prog" compare "${cmp[@]}" --out "$tmp/one" >/dev/null 2>"$tmp/one2.err"
check "the rerun's results.md is one process's rerun's" cmp "$tmp/one/results.md" "$tmp/two/results.md"

# Stopped in every rank's first run, then resumed to one process's results.
run_rc rc "${np2[@]}" "$prog" compare "${cmp[@]}" --stop-after-steps 2 --out "$tmp/stop" >/dev/null 2>"$tmp/stop.err"
check "a stopped compare exits 130 (got $rc)" test "$rc" -eq 130
check "no results.md after a stop" test ! -e "$tmp/stop/results.md"
"${np2[@]}" "$prog" compare "${cmp[@]}" --out "$tmp/stop" >/dev/null 2>"$tmp/stop2.err"
same_runs "resumed" "$tmp/stop"

# A run that cannot write its folder (a file in its place) on rank 1.
mkdir -p "$tmp/bad/seed1"
touch "$tmp/bad/seed1/adamw"
start=$(date +%s)
run_rc rc "${np2[@]}" "$prog" compare "${cmp[@]}" --out "$tmp/bad" >/dev/null 2>"$tmp/bad.err"
check "a failing run ends the job non-zero (exit $rc)" test "$rc" -ne 0
check "within seconds ($(($(date +%s) - start)) s)" test $(($(date +%s) - start)) -lt 30
check "its message is printed" grep -q "rank 1: .*bad/seed1/adamw" "$tmp/bad.err"

sw=(--methods adamw --lrs 2 --wds 2 "${tiny[@]}")
"${np2[@]}" "$prog" sweep "${sw[@]}" --out "$tmp/s" >"$tmp/s.out" 2>"$tmp/s.err"
check "the 2x2 sweep's grid.csv has 4 cells" test "$(wc -l <"$tmp/s/adamw/grid.csv")" -eq 5
c=$(sed -n 's/^RESULT test_acc=\([0-9.]*\) .*/\1/p' "$tmp/s/adamw/lr1_wd0/result.txt")
check "a cell's accuracy ($c) is its run's" test "$(sed -n '4p' "$tmp/s/adamw/grid.csv" | cut -d, -f7)" = "$c"
check "both ranks ran cells" grep -q '(rank 1)$' "$tmp/s.err"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
