#!/usr/bin/env python3
"""bench/scaling.py - data-parallel scaling efficiency on paper, from a
measured single-node step time and the ring all-reduce cost.

    python3 bench/scaling.py --step-ms 114 --grad-mb 1.1 --backward 0.6

Each of N nodes computes a step on its own batch (weak scaling: the per-node
batch stays as measured) in step_ms; the gradients (grad_mb megabytes, float32)
are averaged by a ring all-reduce, which moves 2(N-1)/N x grad_mb per node
over a link of B Gb/s and takes 2(N-1) latency steps of alpha per bucket
(buckets of bucket_mb).  Efficiency = step / (step + exposed communication):
  - without overlap the whole all-reduce is exposed;
  - with overlap (buckets all-reduced during backward, as tenet's DDP does)
    only what does not fit in the backward pass (backward x step_ms) is
    exposed, and at least the last bucket's all-reduce.
With --strong the global batch is the measured one, split over the nodes
(compute step_ms / N per node, an ideal split), which is where communication
starts to show.  Prints a markdown table for N = 2..64 and 10, 25, 100 Gb/s.
"""
import argparse
import math


def allreduce_ms(n, grad_mb, gbps, alpha_us, bucket_mb):
    """Ring all-reduce time of grad_mb megabytes over n nodes, in ms."""
    if n < 2:
        return 0.0
    buckets = max(1, math.ceil(grad_mb / bucket_mb))
    bytes_moved = 2.0 * (n - 1) / n * grad_mb * 1e6
    return bytes_moved * 8 / (gbps * 1e9) * 1e3 + 2 * (n - 1) * buckets * alpha_us * 1e-3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--step-ms", type=float, required=True, help="measured step time of one node")
    ap.add_argument("--grad-mb", type=float, required=True, help="gradient size in MB (float32)")
    ap.add_argument("--backward", type=float, default=0.6,
                    help="share of the step spent in backward (overlap window), default 0.6")
    ap.add_argument("--alpha-us", type=float, default=10.0, help="latency per ring step, default 10 us")
    ap.add_argument("--bucket-mb", type=float, default=1.0, help="bucket size, default 1 MB (tenet's)")
    ap.add_argument("--strong", action="store_true",
                    help="split the measured batch over the nodes (default: each node a full batch)")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    nodes = [2, 4, 8, 16, 32, 64]
    links = [10, 25, 100]
    print("%s step %.1f ms on one node, gradient %.2f MB, backward %.0f%% of the step, latency %g us, %s"
          % (a.label, a.step_ms, a.grad_mb, 100 * a.backward, a.alpha_us,
             "strong scaling (the batch split over the nodes)" if a.strong
             else "weak scaling (a full batch per node)"))
    print()
    print("| nodes | " + " | ".join("%d Gb/s: no overlap / overlap" % l for l in links) + " |")
    print("|---|" + "---|" * len(links))
    last_bucket = min(a.grad_mb, a.bucket_mb)
    for n in nodes:
        cells = []
        step = a.step_ms / n if a.strong else a.step_ms
        for gbps in links:
            c = allreduce_ms(n, a.grad_mb, gbps, a.alpha_us, a.bucket_mb)
            tail = allreduce_ms(n, last_bucket, gbps, a.alpha_us, a.bucket_mb)
            exposed = max(c - a.backward * step, tail)
            cells.append("%3.0f%% / %3.0f%%" % (100 * step / (step + c),
                                                100 * step / (step + min(c, exposed))))
        print("| %d | %s |" % (n, " | ".join(cells)))


if __name__ == "__main__":
    main()
