#!/usr/bin/python3
"""tests/optim/gen_schedulefree.py - write tests/fixtures/optim/schedulefree.safetensors,
the float64 reference trajectories of schedule-free SGD and AdamW (run with
/usr/bin/python3 and numpy; deterministic).

One (4, 6) parameter y_0 ("init") with the gradient of a diagonal quadratic
plus a fixed noise sequence, taken at y (the point schedule-free evaluates):
    g_t = a*(y_t - b) + noise[t]            a, b (4, 6), noise (STEPS, 4, 6)
The learning rate given at step t (from 0) is
    lr_t = alpha * min(1, (t + 1)/WARMUP) * (0.5 if t >= DROP else 1)
(a linear warm-up, then a drop, so lr_max and the given lr differ), written
as metadata "lr.<case>" (Python reprs, exact doubles).

Per case: "<case>.y", "<case>.x", "<case>.z" (STEPS, 4, 6), each iterate
after every step.  The recurrences (Defazio et al. 2024, Algorithm 1; the
schedulefree package's SGDScheduleFree / AdamWScheduleFree):
    lr_max = max(lr_max, lr_t);  w = (t + 1)^r * lr_max^p;  S += w;  c = w/S
    u = g (sgd)  or  g/(sqrt(v/(1 - beta2^(t+1))) + eps),
        v = beta2*v + (1 - beta2)*g^2 (adamw)
    decay at y: coupled adds lam*y to g before u; the decoupled modes add
        k*y to u with k = lam (decoupled-lr), lam/alpha (decoupled),
        lam*lr_t/alpha (corrected); cautious keeps it only where u*y > 0
    z <- z - lr_t*u;  prox-l2: z <- z/(1 + eta*lam);  prox-l1: soft-threshold
        z by eta*lam  (eta = lr_t/alpha)
    x <- (1 - c)*x + c*z;  y = (1 - beta)*z + beta*x
Without a proximal mode the trajectory is computed in the package's form
(y.lerp_(z, c); y += lr*(beta*(1 - c) - 1)*u; z -= lr*u; x recovered by
the eval lerp x = y + (1 - 1/beta)*(z - y)) and checked against the z/x
form above to 1e-12.

The C test (tests/optim/test_schedulefree.c) holds the same cases.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "fixtures", "optim", "schedulefree.safetensors")
sys.path.insert(0, os.path.join(ROOT, "tests"))

from safetensors_io import write_safetensors  # noqa: E402

STEPS = 20
WARMUP = 5
DROP = 14
SHAPE = (4, 6)

# name: (optimizer, alpha, mode, lambda, cautious, r, weight_lr_power)
CASES = {
    "sgd.none": ("sgd", 0.1, "none", 0.0, False, 0.0, 2.0),
    "sgd.coupled": ("sgd", 0.1, "coupled", 0.5, False, 0.0, 2.0),
    "sgd.decoupled_lr": ("sgd", 0.1, "decoupled-lr", 0.5, False, 0.0, 2.0),
    "sgd.decoupled": ("sgd", 0.1, "decoupled", 0.05, False, 0.0, 2.0),
    "sgd.corrected": ("sgd", 0.1, "corrected", 0.5, False, 0.0, 2.0),
    "sgd.prox_l2": ("sgd", 0.1, "prox-l2", 0.05, False, 0.0, 2.0),
    "sgd.prox_l1": ("sgd", 0.1, "prox-l1", 0.01, False, 0.0, 2.0),
    "sgd.cautious": ("sgd", 0.1, "decoupled-lr", 0.5, True, 0.0, 2.0),
    "sgd.r1_p1": ("sgd", 0.1, "none", 0.0, False, 1.0, 1.0),
    "adamw.none": ("adamw", 0.01, "none", 0.0, False, 0.0, 2.0),
    "adamw.coupled": ("adamw", 0.01, "coupled", 0.5, False, 0.0, 2.0),
    "adamw.decoupled_lr": ("adamw", 0.01, "decoupled-lr", 5.0, False, 0.0, 2.0),
    "adamw.decoupled": ("adamw", 0.01, "decoupled", 0.05, False, 0.0, 2.0),
    "adamw.corrected": ("adamw", 0.01, "corrected", 5.0, False, 0.0, 2.0),
    "adamw.prox_l2": ("adamw", 0.01, "prox-l2", 0.05, False, 0.0, 2.0),
    "adamw.cautious": ("adamw", 0.01, "decoupled", 0.05, True, 0.0, 2.0),
}
BETA_SGD = 0.9
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


def lr_at(alpha, t):
    return alpha * min(1.0, (t + 1) / WARMUP) * (0.5 if t >= DROP else 1.0)


def direction(opt, g, y, v, t, mode, lam, k, cautious):
    """The base update u at y (v updated in place for adamw)."""
    if mode == "coupled":
        g = g + lam * y
    if opt == "adamw":
        v *= BETA2
        v += (1 - BETA2) * g * g
        u = g / (np.sqrt(v / (1 - BETA2 ** (t + 1))) + EPS)
    else:
        u = g.copy()
    if k != 0.0:
        mask = (u * y > 0) if cautious else np.ones_like(u, dtype=bool)
        u = u + np.where(mask, k * y, 0.0)
    return u


def decay_k(mode, lam, alpha, lr):
    return {"decoupled-lr": lam, "decoupled": lam / alpha,
            "corrected": lam * lr / alpha}.get(mode, 0.0)


def run(case, init, a, b, noise):
    opt, alpha, mode, lam, cautious, r, power = CASES[case]
    beta = BETA1 if opt == "adamw" else BETA_SGD
    z, x = init.copy(), init.copy()
    y = init.copy()
    v = np.zeros(SHAPE)
    yl, zl, vl = init.copy(), init.copy(), np.zeros(SHAPE)  # the package's form
    lr_max, wsum = 0.0, 0.0
    ys, xs, zs, lrs = [], [], [], []
    for t in range(STEPS):
        lr = lr_at(alpha, t)
        lrs.append(lr)
        eta = lr / alpha
        lr_max = max(lr_max, lr)
        w = (t + 1) ** r * lr_max ** power
        wsum += w
        c = w / wsum
        k = decay_k(mode, lam, alpha, lr)
        # z/x form (the paper's Algorithm 1)
        u = direction(opt, a * (y - b) + noise[t], y, v, t, mode, lam, k, cautious)
        z = z - lr * u
        if mode == "prox-l2":
            z = z / (1 + eta * lam)
        elif mode == "prox-l1":
            z = np.sign(z) * np.maximum(np.abs(z) - eta * lam, 0.0)
        x = (1 - c) * x + c * z
        y = (1 - beta) * z + beta * x
        if not mode.startswith("prox"):
            ul = direction(opt, a * (yl - b) + noise[t], yl, vl, t, mode, lam, k, cautious)
            yl = yl + c * (zl - yl)
            yl = yl + lr * (beta * (1 - c) - 1) * ul
            zl = zl - lr * ul
            xl = yl + (1 - 1 / beta) * (zl - yl)
            for p, q in ((yl, y), (zl, z), (xl, x)):
                assert np.max(np.abs(p - q)) < 1e-12, (case, t)
        ys.append(y.copy())
        xs.append(x.copy())
        zs.append(z.copy())
    return np.stack(ys), np.stack(xs), np.stack(zs), lrs


def main():
    rng = np.random.default_rng(20240501)
    init = rng.normal(0.0, 1.0, SHAPE).astype(np.float32).astype(np.float64)
    a = rng.uniform(0.5, 2.0, SHAPE).astype(np.float32).astype(np.float64)
    b = rng.normal(0.0, 0.5, SHAPE).astype(np.float32).astype(np.float64)
    noise = rng.normal(0.0, 0.3, (STEPS,) + SHAPE).astype(np.float32).astype(np.float64)
    tensors = {"init": init, "a": a, "b": b, "noise": noise}
    meta = {}
    for case in CASES:
        y, x, z, lrs = run(case, init, a, b, noise)
        tensors[case + ".y"], tensors[case + ".x"], tensors[case + ".z"] = y, x, z
        meta["lr." + case] = ",".join(repr(v) for v in lrs)
    write_safetensors(OUT, tensors, meta)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
