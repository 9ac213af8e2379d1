# tests/examples/common.sh - sourced by the resnet_cifar shell tests: a
# temporary folder $tmp (removed on exit), check helpers, and tiny_data.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# tiny_data SHARED_DIR OUT N_TRAIN N_TEST: the first N_TRAIN training and
# N_TEST test images per class of the shared CIFAR-10 image folder, copied
# into OUT/train and OUT/test.
tiny_data() {
    local src=$1/datasets/cifar10-jpg out=$2 split name n cls c
    for split in "train:$3" "test:$4"; do
        name=${split%%:*} n=${split##*:}
        for cls in "$src/$name"/*/; do
            c=$(basename "$cls")
            mkdir -p "$out/$name/$c"
            ls "$cls" | sort | sed -n "1,${n}p" | while read -r f; do cp "$cls/$f" "$out/$name/$c/"; done
        done
    done
}

passed=0 failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
no() { echo "FAILED - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else no "$what"; fi; }
# run_rc VAR CMD...: run CMD with errexit off, its exit status into VAR.
run_rc() { local var=$1; shift; set +e; "$@"; printf -v "$var" '%d' $?; set -e; }
