#!/usr/bin/env bash
# bench/compare.sh - tenet vs PyTorch, side by side: ResNet training and
# inference throughput (img/s) and peak RSS on this machine; for inference
# ONNX Runtime too, as the anchor.
#
#   bench/compare.sh [--quick] [--pairs N] [--build DIR] [--eval-chunk N]
#                    [--case "MODEL MODE BATCH THREADS"]...
#
# Runs bench/resnet_bench (tenet) and bench/bench_torch.py (PyTorch 1.13,
# /usr/bin/python3) alternately, N pairs per case (default 5; --quick: 3
# pairs unless --pairs says otherwise, and fewer steps).  Both sides time
# alike: the same --warmup untimed steps, then the same --steps timed ones;
# an eval case first runs TRAIN_WARMUP training steps (3) on each side that
# supports them (the state a user evaluates in; PyTorch's eval is several
# times slower before any training step), and the CASE line says how many
# each side ran.
#
# tenet's eval runs as a deployment would: batch-parallel inference
# (tn_nn_infer, resnet_bench --chunk), each thread taking N images at a time
# through the whole network (--eval-chunk N, default 8; 0: one graph, every
# op over the whole batch on all threads).
#
# Eval cases also run ONNX Runtime (bench/bench_ort.js, node +
# onnxruntime-node, installed into BUILD/node_modules by
# scripts/ort_setup.sh) on resnet_bench's weights (--save, exported once per
# model by resnet_cifar export-onnx into a temporary directory), in the same
# rotation, with the same steps and warm-up (it has no training step).
# Without node or the package the ort fields are '-'.
#
# For each side: the median and the best img/s of its N runs, and its
# spread (max - min) / median; the ratios tenet/pytorch median/median and
# best/best; a side whose runs spread by more than 20% is flagged SPREAD in
# the table (spread_tenet=1 / spread_pytorch=1 / spread_ort=1 in the CASE
# line): rerun on a quieter machine.  Peak RSS: the median of the runs' ru_maxrss.  Then one
# line per case:
#   CASE model=resnet20 mode=train batch=128 threads=2 tenet=<median img/s>
#        pytorch=<median img/s> ratio=<median/median> tenet_rss_mb=<MB>
#        pytorch_rss_mb=<MB> tenet_best=<img/s> pytorch_best=<img/s>
#        ratio_best=<best/best> tenet_spread=<fraction> pytorch_spread=<fraction>
#        spread_tenet=<0|1> spread_pytorch=<0|1> runs=<N> steps=<timed steps>
#        warmup=<steps> tenet_train_warmup=<steps> pytorch_train_warmup=<steps>
#        tenet_eval_chunk=<images a thread takes at a time; 0: one graph; - in train>
#        ort=<median img/s> ort_best=<img/s> ratio_ort=<tenet/ort median/median>
#        ratio_ort_best=<best/best> ort_spread=<fraction> spread_ort=<0|1>
# (one line each; the ort fields '-' in train cases or without ONNX Runtime).  The build directory defaults to build/ (made by
# scripts/setup.sh when it has no resnet_bench yet).  The machine should be
# otherwise idle: other work on the cores skews both sides.
# OPENBLAS_CORETYPE (which may cap OpenBLAS at an older CPU's kernels:
# tenet's sgemm, PyTorch's BLAS calls) is left as the environment sets it;
# its value is printed first.
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=
QUICK=0
WARMUP=2
TRAIN_WARMUP=3
EVAL_CHUNK=8
SPREAD_MAX=0.20
BUILD=build
CASES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --pairs) PAIRS="$2"; shift ;;
        --build) BUILD="$2"; shift ;;
        --eval-chunk) EVAL_CHUNK="$2"; shift ;;
        --case) CASES+=("$2"); shift ;;
        -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$PAIRS" ] || PAIRS=$([ "$QUICK" -eq 1 ] && echo 3 || echo 5)
[ "$PAIRS" -ge 1 ] 2>/dev/null || { echo "compare.sh: --pairs takes a whole number >= 1" >&2; exit 2; }
[ "$EVAL_CHUNK" -ge 0 ] 2>/dev/null || { echo "compare.sh: --eval-chunk takes a whole number >= 0" >&2; exit 2; }
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
# The values on stdin: "median best spread", spread = (max - min) / median.
stats() {
    sort -g | awk '{a[NR] = $1}
        END {m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
             s = 0; if (m > 0) s = (a[NR] - a[1]) / m
             printf "%.1f %.1f %.3f\n", m, a[NR], s}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {r = 0; if (b > 0) r = a / b; printf "%.2f", r}'; }
over() { awk -v s="$1" -v m="$SPREAD_MAX" 'BEGIN {f = 0; if (s > m) f = 1; print f}'; }
pct() { awk -v s="$1" 'BEGIN {printf "%.0f%%", 100 * s}'; }

# ONNX Runtime for the eval cases, when node and onnxruntime-node are there.
ORT=0
ORT_DIR=$(mktemp -d)
trap 'rm -rf "$ORT_DIR"' EXIT
RESNET_CIFAR="$BUILD/examples/resnet_cifar/resnet_cifar"
if printf '%s\n' "${CASES[@]}" | awk '$2 == "eval" {f = 1} END {exit !f}'; then
    if ! command -v node >/dev/null; then
        echo "compare.sh: no node: the eval cases run without ONNX Runtime"
    elif [ ! -x "$RESNET_CIFAR" ]; then
        echo "compare.sh: $RESNET_CIFAR was not built: the eval cases run without ONNX Runtime"
    else
        scripts/ort_setup.sh "$BUILD"
        if [ -d "$BUILD/node_modules/onnxruntime-node" ]; then
            ORT=1
        else
            echo "compare.sh: no onnxruntime-node: the eval cases run without ONNX Runtime"
        fi
    fi
fi
# MODEL -> its .onnx (resnet_bench's weights), exported on first use.
ort_model() {
    local f="$ORT_DIR/$1.onnx"
    if [ ! -f "$f" ]; then
        "$TENET" --model "$1" --save "$ORT_DIR/$1.safetensors" >/dev/null || return 1
        "$RESNET_CIFAR" export-onnx --checkpoint "$ORT_DIR/$1.safetensors" --out "$f" >/dev/null ||
            return 1
    fi
    echo "$f"
}

# The training warm-up before an eval case, where the side supports it.
T_TW_ARGS=(); T_TW=0
if { "$TENET" --help 2>&1 || true; } | grep -q -- '--train-warmup'; then
    T_TW_ARGS=(--train-warmup "$TRAIN_WARMUP"); T_TW=$TRAIN_WARMUP
fi
# Batch-parallel inference, where the build has it.
T_CHUNK_ARGS=(); T_CHUNK=0
if [ "$EVAL_CHUNK" -gt 0 ] && { "$TENET" --help 2>&1 || true; } | grep -q -- '--chunk'; then
    T_CHUNK_ARGS=(--chunk "$EVAL_CHUNK"); T_CHUNK=$EVAL_CHUNK
fi

echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; $PAIRS runs per side per case; SPREAD: (max - min) / median > $(pct "$SPREAD_MAX"); tenet eval: $([ "$T_CHUNK" -gt 0 ] && echo "tn_nn_infer, chunks of $T_CHUNK images a thread" || echo "one graph over the batch")"
printf '%-9s %-5s %5s %3s | %-17s | %-17s | %-11s | %-17s | %-11s | %-17s | %s\n' "" "" "" "" \
    "tenet img/s" "torch img/s" "tenet/torch" "ort img/s" "tenet/ort" "peak RSS MB" "spread"
printf '%-9s %-5s %5s %3s | %8s %8s | %8s %8s | %5s %5s | %8s %8s | %5s %5s | %8s %8s | %s\n' \
    model mode batch thr median best median best med best median best med best tenet torch \
    "tenet/torch[/ort]"
LINES=()
for c in "${CASES[@]}"; do
    read -r model mode batch threads <<<"$c"
    steps=$(steps_for "$model" "$mode" "$batch" "$threads")
    args=(--model "$model" --mode "$mode" --batch "$batch" --threads "$threads" --steps "$steps" --warmup "$WARMUP")
    t_tw=0; p_tw=0; t_extra=(); p_extra=()
    if [ "$mode" = eval ]; then
        t_tw=$T_TW; t_extra=("${T_TW_ARGS[@]}" "${T_CHUNK_ARGS[@]}")
        p_tw=$TRAIN_WARMUP; p_extra=(--train-warmup "$TRAIN_WARMUP")
    fi
    sides=(tenet torch)
    if [ "$mode" = eval ] && [ "$ORT" -eq 1 ]; then
        sides+=(ort)
        onnx=$(ort_model "$model")
    fi
    t_ips=(); p_ips=(); o_ips=(); t_rss=(); p_rss=()
    for ((i = 0; i < PAIRS; i++)); do
        # Rotate which goes first, so that drift hits every side alike.
        for ((j = 0; j < ${#sides[@]}; j++)); do
            who=${sides[$(((i + j) % ${#sides[@]}))]}
            if [ "$who" = tenet ]; then
                out=$("$TENET" "${args[@]}" "${t_extra[@]}" | grep '^RESULT')
                t_ips+=("$(field img_s <<<"$out")"); t_rss+=("$(field rss_mb <<<"$out")")
            elif [ "$who" = torch ]; then
                out=$("$PY" bench/bench_torch.py "${args[@]}" "${p_extra[@]}" | grep '^RESULT')
                p_ips+=("$(field img_s <<<"$out")"); p_rss+=("$(field rss_mb <<<"$out")")
            else
                out=$(node bench/bench_ort.js --onnx "$onnx" --modules "$BUILD/node_modules" \
                      --model "$model" --batch "$batch" --threads "$threads" --steps "$steps" \
                      --warmup "$WARMUP" | grep '^RESULT')
                o_ips+=("$(field img_s <<<"$out")")
            fi
        done
    done
    read -r tm tb ts <<<"$(printf '%s\n' "${t_ips[@]}" | stats)"
    read -r pm pb ps <<<"$(printf '%s\n' "${p_ips[@]}" | stats)"
    tr=$(printf '%s\n' "${t_rss[@]}" | median); pr=$(printf '%s\n' "${p_rss[@]}" | median)
    rm_=$(ratio "$tm" "$pm"); rb=$(ratio "$tb" "$pb")
    st=$(over "$ts"); sp=$(over "$ps")
    om=- ob=- os=- so=- ro=- rob=-
    flag="$(pct "$ts")/$(pct "$ps")"
    if [ ${#o_ips[@]} -gt 0 ]; then
        read -r om ob os <<<"$(printf '%s\n' "${o_ips[@]}" | stats)"
        ro=$(ratio "$tm" "$om"); rob=$(ratio "$tb" "$ob"); so=$(over "$os")
        flag="$flag/$(pct "$os")"
    fi
    [ "$st" -eq 1 ] && flag="$flag SPREAD:tenet"
    [ "$sp" -eq 1 ] && flag="$flag SPREAD:torch"
    [ "$so" = 1 ] && flag="$flag SPREAD:ort"
    printf '%-9s %-5s %5s %3s | %8s %8s | %8s %8s | %5s %5s | %8s %8s | %5s %5s | %8s %8s | %s\n' \
        "$model" "$mode" "$batch" "$threads" "$tm" "$tb" "$pm" "$pb" "$rm_" "$rb" "$om" "$ob" "$ro" \
        "$rob" "$tr" "$pr" "$flag"
    LINES+=("CASE model=$model mode=$mode batch=$batch threads=$threads tenet=$tm pytorch=$pm ratio=$rm_ tenet_rss_mb=$tr pytorch_rss_mb=$pr tenet_best=$tb pytorch_best=$pb ratio_best=$rb tenet_spread=$ts pytorch_spread=$ps spread_tenet=$st spread_pytorch=$sp runs=$PAIRS steps=$steps warmup=$WARMUP tenet_train_warmup=$t_tw pytorch_train_warmup=$p_tw tenet_eval_chunk=$([ "$mode" = eval ] && echo "$T_CHUNK" || echo -) ort=$om ort_best=$ob ratio_ort=$ro ratio_ort_best=$rob ort_spread=$os spread_ort=$so")
done
echo
printf '%s\n' "${LINES[@]}"
