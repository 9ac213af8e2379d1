#!/usr/bin/env bash
# tests/examples/resnet_cifar_seeds.sh RESNET_CIFAR SHARED_DIR
# compare and sweep over several seeds on a tiny copy of the shared CIFAR-10
# folder: one initial checkpoint per seed shared by the methods, the table's
# mean and paired difference against the runs' own result.txt, resuming an
# interrupted comparison, its runs' sharpness, two comparisons paired by
# `pair`, and a sweep on the timescale axis run in child
# processes whose grid.csv holds the mean over seeds.
set -euo pipefail
prog=$1 shared=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {
    local what=$1; shift
    if "$@"; then echo "ok - $what"; passed=$((passed + 1)); else echo "FAILED - $what"; failed=$((failed + 1)); fi
}

# 8 training and 4 test images per class.
for dir in "$shared"/datasets/cifar10-jpg/{train,test}/*/; do
    split=$(basename "$(dirname "$dir")") cls=$(basename "$dir")
    n=4; [ "$split" = train ] && n=8
    mkdir -p "$tmp/data/$split/$cls"
    find "$dir" -maxdepth 1 -type f | sort | sed -n "1,${n}p" | xargs cp -t "$tmp/data/$split/$cls/"
done
common=(--data "$tmp/data" --no-cache --batch 20 --threads 1 --quiet --model resnet8 --variant bn)
acc() { sed -n 's/^RESULT test_acc=\([0-9.]*\) .*/\1/p' "$1/result.txt"; }
opt_init() { sed -n 's/.*--init \([^ ]*\).*/\1/p' "$1/result.txt"; }

# compare, 2 seeds: interrupted in the first run, then resumed to the end.
cmp=(--methods sgd-l2,sgdw --epochs 2 --seeds 2 "${common[@]}")
rc=0
"$prog" compare "${cmp[@]}" --out "$tmp/c" --stop-after-steps 2 >/dev/null 2>"$tmp/c.log" || rc=$?
check "an interrupted compare exits 130 (got $rc)" test "$rc" -eq 130
"$prog" compare "${cmp[@]}" --out "$tmp/c" >"$tmp/c.out" 2>>"$tmp/c.log"
for s in 1 2; do
    for m in sgd-l2 sgdw; do check "seed $s $m finished" test -s "$tmp/c/seed$s/$m/result.txt"; done
    # --init is recorded relative to the run folder: the seed's checkpoint.
    check "seed $s: both methods start from the seed's checkpoint" \
        test "$(opt_init "$tmp/c/seed$s/sgd-l2")" = "../init.safetensors" -a \
             "$(opt_init "$tmp/c/seed$s/sgdw")" = "../init.safetensors" -a \
             -s "$tmp/c/seed$s/init.safetensors"
done
check "the seeds' initial weights differ" bash -c "! cmp -s '$tmp/c/seed1/init.safetensors' '$tmp/c/seed2/init.safetensors'"
# The table's mean and the paired difference from the four result.txt files.
a1=$(acc "$tmp/c/seed1/sgd-l2") a2=$(acc "$tmp/c/seed2/sgd-l2")
b1=$(acc "$tmp/c/seed1/sgdw") b2=$(acc "$tmp/c/seed2/sgdw")
mean=$(awk -v a="$a1" -v b="$a2" 'BEGIN{printf "%.4f", (a + b) / 2}')
check "the table gives sgd-l2's mean final accuracy $mean" grep -q "^| sgd-l2 | .* | 2 | $mean" "$tmp/c.out"
diff=$(awk -v a1="$a1" -v a2="$a2" -v b1="$b1" -v b2="$b2" 'BEGIN{d = 100 * ((b1 - a1) + (b2 - a2)) / 2; printf "%+.2f", d == 0 ? 0 : d}')
check "the paired difference is $diff points" grep -q "^| sgdw − sgd-l2 | 2 | $diff" "$tmp/c/results.md"
check "results.md says whether the interval excludes 0" grep -q "^- \*\*sgdw vs sgd-l2\*\*: .* interval" "$tmp/c/results.md"
check "results.md names the Student-t interval" grep -q "Student-t" "$tmp/c/results.md"
check "mean curves per method" test "$(wc -l <"$tmp/c/curves/sgdw.csv")" -eq 3
"$prog" compare "${cmp[@]}" --out "$tmp/c" >/dev/null 2>"$tmp/c2.log"
check "a finished compare skips all 4 runs" test "$(grep -c 'finished earlier, skipped' "$tmp/c2.log")" -eq 4

# --sharpness on the finished compare: measured once per run, into its folder
# and the tables (the mean of the four sharpness.txt values), read back on a rerun.
"$prog" compare "${cmp[@]}" --sharpness --out "$tmp/c" >"$tmp/c3.out" 2>"$tmp/c3.log"
sharp() { sed -n 's/^sharpness \([0-9.]*\)$/\1/p' "$1/sharpness.txt"; }
for s in 1 2; do
    for m in sgd-l2 sgdw; do check "seed $s $m: sharpness measured" test -n "$(sharp "$tmp/c/seed$s/$m")"; done
done
m=$(awk -v a="$(sharp "$tmp/c/seed1/sgdw")" -v b="$(sharp "$tmp/c/seed2/sgdw")" 'BEGIN{printf "%.3f", (a + b) / 2}')
check "the table gives sgdw's mean sharpness $m" grep -q "^| sgdw | .* | $m ± [0-9.]* | [0-9]* |$" "$tmp/c/results.md"
check "the paired table has a sharpness column" grep -q "^| pair | .* | ε-sharpness |$" "$tmp/c/results.md"
check "each run's loss along a direction is drawn" test -s "$tmp/c/seed2/sgdw/loss_direction.csv"
"$prog" compare "${cmp[@]}" --sharpness --out "$tmp/c" >"$tmp/c4.out" 2>&1
check "a rerun reads the sharpness back" bash -c "! grep -q '^sharpness of' '$tmp/c4.out' && grep -q '^| sgdw | .* | $m ± ' '$tmp/c4.out'"

# pair: the same comparison with batch 10 against batch 20, method by method
# over the 2 seeds: the difference from the runs' own result.txt files.
"$prog" compare "${cmp[@]}" --batch 10 --out "$tmp/c10" >/dev/null 2>&1
"$prog" pair "$tmp/c" "$tmp/c10" >"$tmp/pair.out"
d=$(awk -v a1="$(acc "$tmp/c/seed1/sgdw")" -v a2="$(acc "$tmp/c/seed2/sgdw")" \
        -v b1="$(acc "$tmp/c10/seed1/sgdw")" -v b2="$(acc "$tmp/c10/seed2/sgdw")" \
        'BEGIN{d = 100 * ((b1 - a1) + (b2 - a2)) / 2; printf "%+.2f", d == 0 ? 0 : d}')
check "pair gives sgdw's paired difference $d points" grep -q "^| sgdw | 2 | .* | $d " "$tmp/pair.out"
check "and says in words whether it exceeds the spread" grep -q "^- \*\*sgdw\*\*: test accuracy $d points (\(within\|beyond\) the seed-to-seed spread)" "$tmp/pair.out"
rc=0
"$prog" pair "$tmp/c" "$tmp/none" >/dev/null 2>"$tmp/pair.err" || rc=$?
check "pair of a missing folder exits 1 (got $rc)" test "$rc" -eq 1
check "and names the folder" grep -q "cannot open $tmp/none" "$tmp/pair.err"

# sweep on the timescale axis, 2 seeds, in child processes.
sw=(--methods adam-l2,adamw --lrs 2 --wds 3 --wd-axis tau --tau-min 0.5 --tau-max 50 --epochs 1 --seeds 2 --jobs 1)
"$prog" sweep "${sw[@]}" "${common[@]}" --out "$tmp/s" >"$tmp/s.out" 2>"$tmp/s.log"
check "grid.csv has 6 cells" test "$(wc -l <"$tmp/s/adamw/grid.csv")" -eq 7
check "the tau axis spans 0.5 to 50 run lengths" \
    test "$(cut -d, -f5 "$tmp/s/adamw/grid.csv" | sed -n '2p;3p;4p' | tr '\n' ' ')" = "0.5 5 50 "
# 80 images in batches of 20, 1 epoch: 4 steps; adamw's lambda = 1/tau_iter.
check "lambda of tau 0.5 runs (2 steps) is 0.5" test "$(sed -n '2p' "$tmp/s/adamw/grid.csv" | cut -d, -f2)" = "0.5"
c1=$(acc "$tmp/s/seed1/adamw/lr1_wd2") c2=$(acc "$tmp/s/seed2/adamw/lr1_wd2")
m=$(awk -v a="$c1" -v b="$c2" 'BEGIN{printf "%.4f", (a + b) / 2}')
check "a cell's mean over seeds ($m)" test "$(sed -n '7p' "$tmp/s/adamw/grid.csv" | cut -d, -f7)" = "$m"
check "each cell's RESULT is in its train.log" grep -q '^RESULT test_acc=' "$tmp/s/seed2/adam-l2/lr0_wd0/train.log"
check "the slope is printed" grep -q "^adamw: slope d log lambda\*/d log lr" "$tmp/s.out"
check "the heat map is drawn" test -s "$tmp/s/heatmap_adam-l2_vs_adamw.png"

# Every pair the table knows (more than four: the words of each pair once overflowed).
all=adam-l2,adamw,adamw-torch,adamprox,adamc,lion-l2,lion-w
"$prog" compare --methods "$all" --epochs 1 --seeds 1 "${common[@]}" --out "$tmp/all" >"$tmp/all.out" 2>"$tmp/all.log"
rc=$?
check "a compare of seven methods finishes (exit $rc)" test "$rc" -eq 0
check "its table pairs lion-w with lion-l2" grep -q "^| lion-w − lion-l2 |" "$tmp/all.out"
check "and says in words what one seed cannot tell" test "$(grep -c "with one seed, so no interval" "$tmp/all.out")" -eq 5

echo "$passed passed, $failed failed"
test "$failed" -eq 0
