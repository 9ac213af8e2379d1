#!/usr/bin/python3
"""bench/bench_torch.py - the PyTorch twin of bench/resnet_bench.c.

    /usr/bin/python3 bench/bench_torch.py [--model resnet20|resnet56]
        [--mode train|eval] [--batch N] [--threads N] [--steps N]
        [--warmup N] [--profile]

Same model (tests/nn/torch_resnet.py: CifarResNet(depth, variant="bn",
shortcut="A")), same step: train = zero_grad, forward, cross-entropy,
backward, torch.optim.SGD(lr=0.05, momentum=0.9, weight_decay=5e-4).step();
eval = model.eval() forward under torch.no_grad().  Fixed random inputs.

Prints one line, as resnet_bench does:
    RESULT impl=pytorch model=resnet20 mode=train batch=128 threads=2 steps=20
           img_s=... step_ms=... rss_mb=...
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
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    if a.batch < 2 or a.threads < 1 or a.steps < 1 or a.warmup < 0:
        ap.error("batch >= 2, threads >= 1, steps >= 1, warmup >= 0")

    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    depth = 20 if a.model == "resnet20" else 56
    model = load_twin().CifarResNet(depth=depth, variant="bn", shortcut="A")
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    train = a.mode == "train"
    if train:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    else:
        model.eval()

    def step():
        if train:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)

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
          "step_ms=%.2f rss_mb=%.1f" % (a.model, a.mode, a.batch, a.threads, a.steps,
                                        a.batch * a.steps / total, total / a.steps * 1e3,
                                        rss_mb))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
