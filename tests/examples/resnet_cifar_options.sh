#!/usr/bin/env bash
# tests/examples/resnet_cifar_options.sh CONFIG_PROBE RESNET_CIFAR
# The option table: fingerprints of fixed configurations equal those the
# option code before the table wrote (a run folder made then must still
# resume), read back through config_args, TENET_DATA and --data, and --help
# names every option.
set -euo pipefail
probe=$1 prog=$2
unset TENET_DATA
passed=0 failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
no() { echo "FAILED - $*"; failed=$((failed + 1)); }
fingerprint() { "$probe" "$@" | sed -n 's/^fingerprint: //p'; }

# Each "args:" line and the fingerprint the earlier code printed for it.
while IFS= read -r args && IFS= read -r want; do
    args=${args#args: } want=${want#want: }
    # shellcheck disable=SC2086
    got=$(fingerprint $args)
    if [ "$got" = "$want" ]; then ok "fingerprint of '${args:0:40}...'"; else no "fingerprint of '$args': got '$got', want '$want'"; fi
    # config_args reads back to the same configuration (from the run
    # folder: --init is recorded relative to it).
    # shellcheck disable=SC2086
    again=$(fingerprint $got --out .)
    if [ "$again" = "$got" ]; then ok "config_args reads back"; else no "config_args reads back: '$again'"; fi
done <<'FIXTURES'
args: 
want: --depth 20 --variant bn --shortcut A --width 16 --dropout 0 --method sgd-l2 --lr 0.1 --wd 0.0005 --momentum 0.9 --schedule cosine --warmup 0 --t0 10 --tmult 2 --step-epochs 30 --gamma 0.1 --eta-min 0 --data ../shared/datasets/cifar10-jpg --subset 0 --test-subset 0 --val 0 --patience 0 --batch 128 --cutout 0 --mixup 0 --cutmix 0 --label-smoothing 0 --noise 0 --epochs 15 --threads 2 --seed 1
args: --method adamw --model resnet56 --no-bn --shortcut B --width 32 --zero-init-residual --dropout 0.1 --lr 0.003 --wd 1e-4 --beta1 0.85 --beta2 0.995 --eps 1e-7 --clip 5 --schedule restarts --t0 3 --tmult 3 --warmup 0.5 --eta-min 0.01 --subset 100 --test-subset 50 --val 0.1 --patience 3 --batch 64 --no-augment --cutout 8 --mixup 0.2 --cutmix 1 --label-smoothing 0.1 --noise 0.05 --epochs 30 --threads 1 --seed 7 --init x.safetensors --data=foo --out o --resume --quiet --stop-after-steps 5 --no-cache
want: --depth 56 --variant nobn --shortcut B --width 32 --zero-init-residual --dropout 0.10000000149011612 --method adamw --lr 0.003 --wd 0.0001 --beta1 0.85 --beta2 0.995 --eps 1e-07 --clip 5 --schedule restarts --warmup 0.5 --t0 3 --tmult 3 --step-epochs 30 --gamma 0.1 --eta-min 0.01 --data foo --subset 100 --test-subset 50 --val 0.1 --patience 3 --batch 64 --no-augment --cutout 8 --mixup 0.20000000298023224 --cutmix 1 --label-smoothing 0.10000000149011612 --noise 0.05000000074505806 --epochs 30 --threads 1 --seed 7 --init ../x.safetensors
args: --optimizer sgd --reg prox-l1 --momentum 0.5 --nesterov --wd-norm 0.05 --schedule multistep --milestones 1.5,3,10 --gamma 0.2 --seed 2147483647 --subset 1000000 --variant preact --shortcut b --clip 0.25 --eps 1e-9
want: --depth 20 --variant preact --shortcut B --width 16 --dropout 0 --optimizer sgd --reg prox-l1 --lr 0.1 --wd 0 --wd-norm 0.05 --momentum 0.5 --eps 1e-09 --nesterov --clip 0.25 --schedule multistep --warmup 0 --t0 10 --tmult 2 --step-epochs 30 --gamma 0.2 --milestones 1.5,3,10 --eta-min 0 --data ../shared/datasets/cifar10-jpg --subset 1e+06 --test-subset 0 --val 0 --patience 0 --batch 128 --cutout 0 --mixup 0 --cutmix 0 --label-smoothing 0 --noise 0 --epochs 15 --threads 2 --seed 2147483647
args: --method adam-l2 --beta2 0.98 --schedule onecycle --width 64 --cache /x --label-smoothing 0.05 --depth 44
want: --depth 44 --variant bn --shortcut A --width 64 --dropout 0 --method adam-l2 --lr 0.001 --wd 0.0005 --beta2 0.98 --schedule onecycle --warmup 0 --t0 10 --tmult 2 --step-epochs 30 --gamma 0.1 --eta-min 0 --data ../shared/datasets/cifar10-jpg --subset 0 --test-subset 0 --val 0 --patience 0 --batch 128 --cutout 0 --mixup 0 --cutmix 0 --label-smoothing 0.05000000074505806 --noise 0 --epochs 15 --threads 2 --seed 1
args: --method lion-w
want: --depth 20 --variant bn --shortcut A --width 16 --dropout 0 --method lion-w --lr 0.0001 --wd 5 --schedule cosine --warmup 0 --t0 10 --tmult 2 --step-epochs 30 --gamma 0.1 --eta-min 0 --data ../shared/datasets/cifar10-jpg --subset 0 --test-subset 0 --val 0 --patience 0 --batch 128 --cutout 0 --mixup 0 --cutmix 0 --label-smoothing 0 --noise 0 --epochs 15 --threads 2 --seed 1
args: --method lambw
want: --depth 20 --variant bn --shortcut A --width 16 --dropout 0 --method lambw --lr 0.001 --wd 0.01 --schedule cosine --warmup 0 --t0 10 --tmult 2 --step-epochs 30 --gamma 0.1 --eta-min 0 --data ../shared/datasets/cifar10-jpg --subset 0 --test-subset 0 --val 0 --patience 0 --batch 128 --cutout 0 --mixup 0 --cutmix 0 --label-smoothing 0 --noise 0 --epochs 15 --threads 2 --seed 1
args: --method adan-prox
want: --depth 20 --variant bn --shortcut A --width 16 --dropout 0 --method adan-prox --lr 0.001 --wd 2e-05 --schedule cosine --warmup 0 --t0 10 --tmult 2 --step-epochs 30 --gamma 0.1 --eta-min 0 --data ../shared/datasets/cifar10-jpg --subset 0 --test-subset 0 --val 0 --patience 0 --batch 128 --cutout 0 --mixup 0 --cutmix 0 --label-smoothing 0 --noise 0 --epochs 15 --threads 2 --seed 1
args: --optimizer lars --reg coupled --wd 1e-4
want: --depth 20 --variant bn --shortcut A --width 16 --dropout 0 --optimizer lars --reg coupled --lr 1 --wd 0.0001 --momentum 0.9 --schedule cosine --warmup 0 --t0 10 --tmult 2 --step-epochs 30 --gamma 0.1 --eta-min 0 --data ../shared/datasets/cifar10-jpg --subset 0 --test-subset 0 --val 0 --patience 0 --batch 128 --cutout 0 --mixup 0 --cutmix 0 --label-smoothing 0 --noise 0 --epochs 15 --threads 2 --seed 1
args: --optimizer lion --reg decoupled-lr --wd 1
want: --depth 20 --variant bn --shortcut A --width 16 --dropout 0 --optimizer lion --reg decoupled-lr --lr 0.0001 --wd 1 --schedule cosine --warmup 0 --t0 10 --tmult 2 --step-epochs 30 --gamma 0.1 --eta-min 0 --data ../shared/datasets/cifar10-jpg --subset 0 --test-subset 0 --val 0 --patience 0 --batch 128 --cutout 0 --mixup 0 --cutmix 0 --label-smoothing 0 --noise 0 --epochs 15 --threads 2 --seed 1
FIXTURES

check() { local what=$1; shift; if "$@"; then ok "$what"; else no "$what"; fi; }
# --init is recorded relative to the run folder, whatever the working directory.
check "--init beside the run folder" grep -q -- "--init ../init.safetensors$" \
    <<<"$(fingerprint --init runs/c/seed1/init.safetensors --out runs/c/seed1/adamw)"
check "--init as an absolute path" grep -q -- "--init ../init.safetensors$" \
    <<<"$(fingerprint --init /srv/c/seed1/init.safetensors --out /srv/c/seed1/adamw)"
check "--init elsewhere" grep -q -- "--init ../../w/init.safetensors$" \
    <<<"$(fingerprint --init ./w/x/../init.safetensors --out runs/r)"
check "the default data folder" grep -q -- "--data ../shared/datasets/cifar10-jpg " <<<"$(fingerprint)"
check "TENET_DATA overrides the default" grep -q -- "--data /env/data " <<<"$(TENET_DATA=/env/data fingerprint)"
check "--data overrides TENET_DATA" grep -q -- "--data /opt/data " <<<"$(TENET_DATA=/env/data fingerprint --data /opt/data)"
check "an empty TENET_DATA is ignored" grep -q -- "--data ../shared/datasets/cifar10-jpg " <<<"$(TENET_DATA= fingerprint)"
set +e
TENET_DATA=$(printf '%*s' 1100 | tr ' ' x) "$probe" >/dev/null 2>/tmp/probe_err.$$
rc=$?
set -e
check "a TENET_DATA too long is an error (exit $rc)" test "$rc" -eq 2
check "which names TENET_DATA" grep -q "TENET_DATA" /tmp/probe_err.$$
rm -f /tmp/probe_err.$$
set +e
"$probe" --quiet=1 >/dev/null 2>&1
rc=$?
set -e
check "a flag given a value is an error (exit $rc)" test "$rc" -eq 2

help=$("$prog" train --help)
check "--help documents TENET_DATA" grep -q 'TENET_DATA' <<<"$help"
for opt in --model --depth --variant --no-bn --shortcut --width --zero-init-residual --dropout \
    --method --optimizer --reg --lr --wd --wd-norm --momentum --beta1 --beta2 --eps --nesterov \
    --clip --schedule --warmup --t0 --tmult --step-epochs --gamma --milestones --eta-min --data \
    --cache --no-cache --subset --test-subset --val --patience --batch --no-augment --cutout \
    --mixup --cutmix --label-smoothing --noise --epochs --threads --seed --init --out --resume \
    --checkpoint-every --checkpoint-steps --allow-nonfinite --stop-after-steps --quiet; do
    check "--help lists $opt" grep -q -- "^  $opt\b" <<<"$help"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
