#!/usr/bin/python3
"""bench/bench_torch.py - the PyTorch twin of bench/resnet_bench.c.

    /usr/bin/python3 bench/bench_torch.py [--model resnet20|resnet56]
        [--mode train|eval] [--batch N] [--threads N] [--steps N]
        [--warmup N] [--train-warmup N] [--profile]

Same model (tests/nn/torch_resnet.py: CifarResNet(depth, variant="bn",
shortcut="A")), same step: train = zero_grad, forward, cross-entropy,
backward, torch.optim.SGD(lr=0.05, momentum=0.9, weight_decay=5e-4).step();
eval = model.eval() forward under torch.no_grad().  Fixed random inputs.

Timing, as resnet_bench's: --warmup untimed steps, then --steps timed ones,
one clock around them all.  Eval first runs --train-warmup training steps
(default 3): the state a user meets eval in, after training in the same
process.  Without them PyTorch's eval forwards run several times slower
(ResNet-20, batch 32, 1 thread: 44-62 vs 193-254 img/s).

Prints one line, as resnet_bench does:
    RESULT impl=pytorch model=resnet20 mode=train batch=128 threads=2 steps=20
           img_s=... step_ms=... rss_mb=... warmup=... train_warmup=...
(rss_mb: the peak resident set, getrusage's ru_maxrss).  --profile prints
torch.autograd.profiler's table of the timed steps first.
"""
import argparse
import importlib.util
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def load_twin():
    path = os.path.join(HERE, "..", "tests", "nn", "torch_resnet.py")
    spec = importlib.util.spec_from_file_location("torch_resnet", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=("resnet20", "resnet56"), default="resnet20")
    ap.add_argument("--mode", choices=("train", "eval"), default="train")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--train-warmup", type=int, default=3,
                    help="eval: training steps before the warm-up (default 3)")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    if a.batch < 2 or a.threads < 1 or a.steps < 1 or a.warmup < 0 or a.train_warmup < 0:
        ap.error("batch >= 2, threads >= 1, steps >= 1, warmup >= 0, train-warmup >= 0")
    train = a.mode == "train"
    train_warmup = 0 if train else a.train_warmup

    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    depth = 20 if a.model == "resnet20" else 56
    model = load_twin().CifarResNet(depth=depth, variant="bn", shortcut="A")
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

    def train_step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def eval_step():
        with torch.no_grad():
            model(x)

    model.train()
    for _ in range(train_warmup):
        train_step()
    if not train:
        model.eval()
    step = train_step if train else eval_step
    for _ in range(a.warmup):
        step()
    prof = None
    if a.profile:
        prof = torch.autograd.profiler.profile()
        prof.__enter__()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    total = time.perf_counter() - t0
    if prof is not None:
        prof.__exit__(None, None, None)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("RESULT impl=pytorch model=%s mode=%s batch=%d threads=%d steps=%d img_s=%.1f "
          "step_ms=%.2f rss_mb=%.1f warmup=%d train_warmup=%d"
          % (a.model, a.mode, a.batch, a.threads, a.steps, a.batch * a.steps / total,
             total / a.steps * 1e3, rss_mb, a.warmup, train_warmup))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
