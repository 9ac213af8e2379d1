#!/usr/bin/env bash
# tests/examples/resnet_cifar_smoke.sh RESNET_CIFAR CKPT_EQUAL SHARED_DIR
# The bundled program end to end on a tiny copy of the shared CIFAR-10
# folder: train, resume (mid-epoch, bit-identical), compare (2 methods,
# interrupted and resumed), sweep (2x2), eval, and bad options.
set -euo pipefail
prog=$1 ckpt_equal=$2 shared=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { echo "ok - $*"; passed=$((passed + 1)); }
no() { echo "FAILED - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else no "$what"; fi; }
passed=0 failed=0

# A tiny image folder: 16 training and 8 test images per class.
src=$shared/datasets/cifar10-jpg
for split in train:16 test:8; do
    name=${split%%:*} n=${split##*:}
    for cls in "$src/$name"/*/; do
        c=$(basename "$cls")
        mkdir -p "$tmp/data/$name/$c"
        ls "$cls" | sort | sed -n "1,${n}p" | while read -r f; do cp "$cls/$f" "$tmp/data/$name/$c/"; done
    done
done
common=(--data "$tmp/data" --no-cache --batch 40 --threads 2 --quiet)

# train: 3 epochs of 4 steps; the loss must fall.
out=$("$prog" train "${common[@]}" --epochs 3 --out "$tmp/a" 2>"$tmp/a.log")
check "train prints RESULT last" grep -q '^RESULT test_acc=[0-9.]* test_loss=[0-9.]* train_loss=[0-9.]* epochs=3 seconds=' <<<"$(tail -n1 <<<"$out")"
check "train writes metrics.csv with 3 epochs" test "$(wc -l <"$tmp/a/metrics.csv")" -eq 4
check "train writes a checkpoint" test -s "$tmp/a/checkpoint.safetensors"
l1=$(awk -F, 'NR==2{print $3}' "$tmp/a/metrics.csv") l3=$(awk -F, 'NR==4{print $3}' "$tmp/a/metrics.csv")
check "training loss fell ($l1 -> $l3)" awk -v a="$l1" -v b="$l3" 'BEGIN{exit !(b < a)}'

# resume: stop mid-epoch (step 6 of 12), resume, and match the uninterrupted run.
set +e
"$prog" train "${common[@]}" --epochs 3 --out "$tmp/b" --stop-after-steps 6 >/dev/null 2>"$tmp/b.log"
rc=$?
set -e
check "an interrupted run exits 130 (got $rc)" test "$rc" -eq 130
"$prog" train "${common[@]}" --epochs 3 --out "$tmp/b" --resume >/dev/null 2>>"$tmp/b.log"
check "resumed run equals the uninterrupted one (model and optimizer)" \
    "$ckpt_equal" "$tmp/a/checkpoint.safetensors" "$tmp/b/checkpoint.safetensors"
cp "$tmp/b/result.txt" "$tmp/b.result"
"$prog" train "${common[@]}" --epochs 3 --out "$tmp/b" --resume >"$tmp/b2.out" 2>>"$tmp/b.log"
check "resuming a finished run reports its result again" \
    test "$(tail -n1 "$tmp/b2.out" | cut -d' ' -f2-3)" = "$(tail -n1 <<<"$out" | cut -d' ' -f2-3)"
check "resuming a finished run leaves its result.txt (time included) as it was" \
    cmp -s "$tmp/b.result" "$tmp/b/result.txt"
check "resumed metrics equal" cmp -s <(cut -d, -f1-9 "$tmp/a/metrics.csv") <(cut -d, -f1-9 "$tmp/b/metrics.csv")

# Ctrl-C: SIGINT during training saves a checkpoint and exits 130; it resumes.
"$prog" train "${common[@]}" --epochs 200 --out "$tmp/int" >/dev/null 2>"$tmp/int.log" &
pid=$!
for _ in $(seq 600); do [ -s "$tmp/int/metrics.csv" ] && break; sleep 0.1; done
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
check "Ctrl-C exits 130 after saving (got $rc)" test "$rc" -eq 130
check "Ctrl-C says how to continue" grep -q "checkpoint saved; continue with --resume" "$tmp/int.log"
set +e
"$prog" train "${common[@]}" --epochs 200 --out "$tmp/int" --resume --stop-after-steps 1 >/dev/null 2>"$tmp/int2.log"
set -e
s1=$(sed -n 's/^stopped at step \([0-9]*\);.*/\1/p' "$tmp/int.log")
s2=$(sed -n 's/^stopped at step \([0-9]*\);.*/\1/p' "$tmp/int2.log")
check "the interrupted run resumes where it stopped (step $s1, then $s2)" test "$s2" -eq $((s1 + 1))

# early stopping on a validation split: val accuracy logged, best model kept.
"$prog" train "${common[@]}" --epochs 3 --val 0.25 --patience 1 --out "$tmp/v" >/dev/null 2>"$tmp/v.log"
check "validation accuracy is logged" awk -F, 'NR==2{exit !($6 != "nan" && $6 >= 0)}' "$tmp/v/metrics.csv"
check "the best model is saved" test -s "$tmp/v/best.safetensors"

# compare: 2 methods of two optimizer families (each gets its own
# optimizer's defaults); interrupt the first mid-run, then rerun to finish.
cmp_opts=(--methods sgd-l2,adamw --seeds 1 --model resnet20 --variant bn --epochs 2 "${common[@]}")
"$prog" compare "${cmp_opts[@]}" --out "$tmp/c1" >/dev/null 2>"$tmp/c1.log"
set +e
"$prog" compare "${cmp_opts[@]}" --out "$tmp/c2" --stop-after-steps 3 >/dev/null 2>"$tmp/c2.log"
rc=$?
set -e
check "an interrupted compare exits 130 (got $rc)" test "$rc" -eq 130
"$prog" compare "${cmp_opts[@]}" --out "$tmp/c2" >"$tmp/c2.out" 2>>"$tmp/c2.log"
check "compare prints its table" grep -q '^| adamw |' "$tmp/c2.out"
check "compare writes results.md" grep -q '^| sgd-l2 |' "$tmp/c2/results.md"
for f in test_error.png train_loss.png init.safetensors; do check "compare writes $f" test -s "$tmp/c2/$f"; done
for m in sgd-l2 adamw; do
    check "resumed compare run $m equals the uninterrupted one" \
        "$ckpt_equal" "$tmp/c1/$m/checkpoint.safetensors" "$tmp/c2/$m/checkpoint.safetensors"
done
check "compare runs start from one initial checkpoint" cmp -s "$tmp/c1/init.safetensors" "$tmp/c2/init.safetensors"

# sweep: 2x2 for one pair.
"$prog" sweep --methods adam-l2,adamw --lrs 2 --wds 2 --epochs 1 "${common[@]}" --out "$tmp/s" >/dev/null 2>"$tmp/s.log"
for m in adam-l2 adamw; do check "sweep writes $m/grid.csv (4 cells)" test "$(wc -l <"$tmp/s/$m/grid.csv")" -eq 5; done
check "sweep writes the heat map" test -s "$tmp/s/heatmap_adam-l2_vs_adamw.png"

# eval
"$prog" eval --checkpoint "$tmp/a/checkpoint.safetensors" --data "$tmp/data" --no-cache --batch 40 >"$tmp/e.out"
check "eval prints accuracy and the confusion matrix" grep -q '^airplane' "$tmp/e.out"

# bad options and paths: one line on stderr, non-zero exit, no crash.
bad() {
    local what=$1; shift
    set +e
    "$prog" "$@" >/dev/null 2>"$tmp/err"
    local rc=$?
    set -e
    if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^resnet_cifar: ' "$tmp/err"; then
        ok "$what: $(cat "$tmp/err")"
    else
        no "$what (exit $rc): $(cat "$tmp/err")"
    fi
}
bad "unknown command" frobnicate
bad "unknown option" train --frobnicate
bad "bad number" train --lr abc
bad "missing value" train --epochs
bad "bad depth" train --model resnet21
bad "bad method" compare --methods sgd,adamw
bad "missing data folder" train --data "$tmp/nonexistent" --no-cache
bad "missing checkpoint" eval --quiet --checkpoint "$tmp/nope.safetensors" --data "$tmp/data" --no-cache
bad "compare given a run's lr" compare --lr 0.1
bad "resume with other options" train "${common[@]}" --epochs 4 --out "$tmp/a" --resume
bad "compare into a folder of other results" compare "${cmp_opts[@]}" --epochs 3 --out "$tmp/c1"
bad "unsorted milestones" train --schedule multistep --milestones 5,2
bad "momentum for adam" train --method adam-l2 --momentum 0.9
printf 'garbage' >"$tmp/bad.safetensors"
bad "corrupt checkpoint" eval --quiet --checkpoint "$tmp/bad.safetensors" --data "$tmp/data" --no-cache

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
