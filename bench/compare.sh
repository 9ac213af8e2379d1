#!/usr/bin/env bash
# bench/compare.sh - tenet vs PyTorch, side by side: ResNet training and
# inference throughput (img/s) and peak RSS on this machine.
#
#   bench/compare.sh [--quick] [--pairs N] [--build DIR] [--case "MODEL MODE BATCH THREADS"]...
#
# Runs bench/resnet_bench (tenet) and bench/bench_torch.py (PyTorch 1.13,
# /usr/bin/python3) alternately, N pairs per case (default 5; --quick: 3
# pairs and fewer steps), and prints a table of the median img/s of each, the
# ratio tenet/pytorch, and the peak RSS (the median of the runs' ru_maxrss),
# then one line per case:
#   CASE model=resnet20 mode=train batch=128 threads=2 tenet=<img/s> pytorch=<img/s> \
#        ratio=<tenet/pytorch> tenet_rss_mb=<MB> pytorch_rss_mb=<MB>
# The build directory defaults to build/ (made by scripts/setup.sh when it
# has no resnet_bench yet).  The machine should be otherwise idle: other
# work on the cores skews both sides.
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=5
QUICK=0
BUILD=build
CASES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; PAIRS=3 ;;
        --pairs) PAIRS="$2"; shift ;;
        --build) BUILD="$2"; shift ;;
        --case) CASES+=("$2"); shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
if [ ${#CASES[@]} -eq 0 ]; then
    CASES=("resnet20 train 128 2" "resnet20 eval 128 2" "resnet56 train 128 2"
           "resnet20 train 32 2" "resnet20 eval 32 2" "resnet20 train 128 1"
           "resnet20 eval 128 1")
fi

TENET="$BUILD/bench/resnet_bench"
if [ ! -x "$TENET" ]; then
    if [ "$BUILD" = build ]; then
        scripts/setup.sh
    else
        ninja -C "$BUILD"
    fi
fi
[ -x "$TENET" ] || { echo "compare.sh: $TENET was not built" >&2; exit 1; }
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "compare.sh: installing Debian's python3-torch for the PyTorch side"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch >/dev/null
    "$PY" -c 'import torch' || { echo "compare.sh: $PY still has no torch" >&2; exit 1; }
fi

# Timed steps per run: enough for a few seconds of work per run.
steps_for() { # model mode batch threads
    local s
    case "$1/$2" in
        resnet20/train) s=12 ;;
        resnet20/eval) s=30 ;;
        resnet56/train) s=5 ;;
        resnet56/eval) s=12 ;;
    esac
    [ "$3" -le 32 ] && s=$((s * 3))
    [ "$4" -eq 1 ] && s=$((s * 2 / 3))
    [ "$QUICK" -eq 1 ] && s=$(((s + 1) / 2))
    echo "$s"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-9s %-5s %5s %3s | %10s %10s %6s | %9s %9s\n' model mode batch thr "tenet img/s" \
    "torch img/s" ratio "tenet MB" "torch MB"
LINES=()
for c in "${CASES[@]}"; do
    read -r model mode batch threads <<<"$c"
    steps=$(steps_for "$model" "$mode" "$batch" "$threads")
    args=(--model "$model" --mode "$mode" --batch "$batch" --threads "$threads" --steps "$steps" --warmup 2)
    t_ips=(); p_ips=(); t_rss=(); p_rss=()
    for ((i = 0; i < PAIRS; i++)); do
        # Alternate which goes first, so that drift hits both alike.
        for who in $( [ $((i % 2)) -eq 0 ] && echo "tenet torch" || echo "torch tenet"); do
            if [ "$who" = tenet ]; then
                out=$("$TENET" "${args[@]}" | grep '^RESULT')
                t_ips+=("$(field img_s <<<"$out")"); t_rss+=("$(field rss_mb <<<"$out")")
            else
                out=$("$PY" bench/bench_torch.py "${args[@]}" | grep '^RESULT')
                p_ips+=("$(field img_s <<<"$out")"); p_rss+=("$(field rss_mb <<<"$out")")
            fi
        done
    done
    ti=$(printf '%s\n' "${t_ips[@]}" | median); pi=$(printf '%s\n' "${p_ips[@]}" | median)
    tr=$(printf '%s\n' "${t_rss[@]}" | median); pr=$(printf '%s\n' "${p_rss[@]}" | median)
    ratio=$(awk -v a="$ti" -v b="$pi" 'BEGIN {printf "%.2f", a / b}')
    printf '%-9s %-5s %5s %3s | %10s %10s %6s | %9s %9s\n' "$model" "$mode" "$batch" "$threads" \
        "$ti" "$pi" "$ratio" "$tr" "$pr"
    LINES+=("CASE model=$model mode=$mode batch=$batch threads=$threads tenet=$ti pytorch=$pi ratio=$ratio tenet_rss_mb=$tr pytorch_rss_mb=$pr")
done
echo
printf '%s\n' "${LINES[@]}"
