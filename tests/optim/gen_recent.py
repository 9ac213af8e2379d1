#!/usr/bin/python3
"""tests/optim/gen_recent.py - write tests/fixtures/optim/recent.safetensors,
the reference trajectories of Lion, LAMB, LARS, Adan and AdaBelief under
every regularisation mode (run from anywhere with /usr/bin/python3; numpy
only; deterministic).

Each optimizer is its paper's pseudo-code, step by step in float64 (the
algorithm and line each follows is named at its function), with the
defaults tenet takes for it; the modes act around it as docs/optim.md says.

The run: three parameters, body.weight (4, 6) and body.bias (6) in group 0
(base lr alpha; the 1-dim bias is TN_NO_DECAY, so no mode touches it) and
head.weight (3, 5) in group 1 at half the base lr; 8 steps with the cosine
schedule lr_t = alpha*(1 + cos(pi*t/8))/2, t = 0..7, eta_t = lr_t/alpha.
The data gradient of step t is a fixed tensor G_t (grads.<param> (8, ...)),
the gradient of the loss sum(w*G_t); the modes l2 and l1 add their penalty's
gradient lambda*w or lambda*sign(w).

  init.<param>                 the parameters before step 1
  grads.<param>   (8, ...)     G_t
  <opt>.<mode>.<param> (8, ...) the parameters after each step
  metadata "<opt>.<mode>"      "lr=<alpha> lambda=<lambda>" (Python reprs)
"""
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "fixtures", "optim", "recent.safetensors")
sys.path.insert(0, os.path.join(ROOT, "tests"))

from safetensors_io import write_safetensors  # noqa: E402

STEPS = 8
PARAMS = [("body.weight", (4, 6), 0), ("body.bias", (6,), 0), ("head.weight", (3, 5), 1)]
GROUP_LR = [1.0, 0.5]  # group base lr / alpha
MODES = ["none", "l2", "l1", "coupled", "decoupled-lr", "decoupled", "prox-l2", "prox-l1",
         "corrected"]
# Test learning rates (large enough that every mode moves the weights visibly).
LR = {"lion": 0.01, "lamb": 0.05, "lars": 5.0, "adan": 0.01, "adabelief": 0.01}


def lam_of(mode, lr0):
    return {"none": 0.0, "l2": 0.05, "l1": 0.01, "coupled": 0.05, "decoupled-lr": 0.02 / lr0,
            "decoupled": 0.02, "prox-l2": 0.02, "prox-l1": 0.005, "corrected": 0.02 / lr0}[mode]


def decays(name):
    return name != "body.bias"


# ------------------------------------------------------------- optimizers
# Each: init(w) -> state; step(state, w, g, lr, t, wd, wd_update) -> new w,
# with g the gradient (coupled decay already added, except LARS which takes
# wd itself), lr the group's lr_t, t from 1; wd_update is LAMB's lambda
# inside the ratio (mode decoupled-lr).


class Lion:
    """Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms",
    Algorithm 2 (Lion); defaults lr 1e-4, betas (0.9, 0.99)."""
    b1, b2 = 0.9, 0.99

    def init(self, w):
        return {"m": np.zeros_like(w)}

    def step(self, s, w, g, lr, t, wd, wd_update):
        c = self.b1 * s["m"] + (1 - self.b1) * g          # c_t = b1 m_{t-1} + (1 - b1) g_t
        self.margin = min(getattr(self, "margin", 1.0), float(np.min(np.abs(c))))
        w = w - lr * np.sign(c)                            # theta_t = theta_{t-1} - eta sign(c_t)
        s["m"] = self.b2 * s["m"] + (1 - self.b2) * g      # m_t = b2 m_{t-1} + (1 - b2) g_t
        return w


class Lamb:
    """You et al. 2019, "Large Batch Optimization for Deep Learning: Training
    BERT in 76 minutes", Algorithm 2 (LAMB) with phi(z) = z and bias
    correction; timm's Lamb defaults betas (0.9, 0.999), eps 1e-6."""
    b1, b2, eps = 0.9, 0.999, 1e-6

    def init(self, w):
        return {"m": np.zeros_like(w), "v": np.zeros_like(w)}

    def step(self, s, w, g, lr, t, wd, wd_update):
        s["m"] = self.b1 * s["m"] + (1 - self.b1) * g
        s["v"] = self.b2 * s["v"] + (1 - self.b2) * g * g
        mh = s["m"] / (1 - self.b1 ** t)
        vh = s["v"] / (1 - self.b2 ** t)
        r = mh / (np.sqrt(vh) + self.eps)                  # r_t = m^/(sqrt(v^) + eps)
        u = r + wd_update * w                              # r_t + lambda x_t
        wn, un = np.linalg.norm(w), np.linalg.norm(u)
        ratio = wn / un if wn > 0 and un > 0 else 1.0      # phi(||x_t||)/||r_t + lambda x_t||
        self.ratios.append(ratio)
        return w - lr * ratio * u


class Lars:
    """You et al. 2017, "Large Batch Training of Convolutional Networks",
    Algorithm 1 (LARS), with timm's Lars: local lr
    trust_coeff*||w||/(||g|| + beta*||w|| + eps) (1 when a norm is 0), the
    momentum in PyTorch SGD's form (buffer = the first d, then mu*buf + d;
    w -= lr_t*buf) where the paper's v = m*v + gamma_t*lambda*(g + beta*w)
    keeps the global lr inside the buffer; momentum 0.9, trust_coeff 1e-3,
    eps 1e-8."""
    mu, tc, eps = 0.9, 1e-3, 1e-8

    def init(self, w):
        return {"b": np.zeros_like(w)}

    def step(self, s, w, g, lr, t, wd, wd_update):
        wn, gn = np.linalg.norm(w), np.linalg.norm(g)
        ratio = self.tc * wn / (gn + wd * wn + self.eps) if wn > 0 and gn > 0 else 1.0
        d = ratio * (g + wd * w)
        s["b"] = d if t == 1 else self.mu * s["b"] + d
        return w - lr * s["b"]


class Adan:
    """Xie et al. 2022, "Adan: Adaptive Nesterov Momentum Algorithm for
    Faster Optimizing Deep Models", Algorithm 1, as the reference code
    (sail-sg/Adan) runs it: its betas (0.98, 0.92, 0.99) are 1 - the paper's
    (0.02, 0.08, 0.01), it bias-corrects the three averages, and its first
    step takes g_0 = g_1 (gradient difference 0); eps 1e-8.  Its proximal
    decay (the default, no_prox=False) is the table's prox-l2 mode."""
    b1, b2, b3, eps = 0.98, 0.92, 0.99, 1e-8

    def init(self, w):
        z = np.zeros_like(w)
        return {"m": z.copy(), "d": z.copy(), "n": z.copy(), "prev": None}

    def step(self, s, w, g, lr, t, wd, wd_update):
        prev = g if t == 1 else s["prev"]
        diff = g - prev
        s["m"] = self.b1 * s["m"] + (1 - self.b1) * g                  # m_k
        s["d"] = self.b2 * s["d"] + (1 - self.b2) * diff               # v_k
        z = g + self.b2 * diff
        s["n"] = self.b3 * s["n"] + (1 - self.b3) * z * z              # n_k
        denom = np.sqrt(s["n"]) / math.sqrt(1 - self.b3 ** t) + self.eps
        step = lr / (1 - self.b1 ** t) * s["m"] + lr * self.b2 / (1 - self.b2 ** t) * s["d"]
        s["prev"] = g
        return w - step / denom


class AdaBelief:
    """Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by the
    Belief in Observed Gradients", Algorithm 2, as adabelief-pytorch >= 0.2
    (eps inside s, bias correction, no rectification, no AMSGrad); betas
    (0.9, 0.999), eps 1e-16."""
    b1, b2, eps = 0.9, 0.999, 1e-16

    def init(self, w):
        return {"m": np.zeros_like(w), "s": np.zeros_like(w)}

    def step(self, s, w, g, lr, t, wd, wd_update):
        s["m"] = self.b1 * s["m"] + (1 - self.b1) * g
        s["s"] = self.b2 * s["s"] + (1 - self.b2) * (g - s["m"]) ** 2 + self.eps
        mh = s["m"] / (1 - self.b1 ** t)
        sh = s["s"] / (1 - self.b2 ** t)
        return w - lr * mh / (np.sqrt(sh) + self.eps)


OPTIMIZERS = {"lion": Lion, "lamb": Lamb, "lars": Lars, "adan": Adan, "adabelief": AdaBelief}


# ------------------------------------------------------------------ the run


def run(opt_name, mode, init, grads):
    opt = OPTIMIZERS[opt_name]()
    opt.ratios = []
    lr0 = LR[opt_name]
    lam = lam_of(mode, lr0)
    w = {n: init[n].copy() for n, _, _ in PARAMS}
    state = {n: opt.init(w[n]) for n, _, _ in PARAMS}
    out = {n: [] for n, _, _ in PARAMS}
    for t in range(STEPS):
        lr = lr0 * (1 + math.cos(math.pi * t / STEPS)) / 2
        eta = lr / lr0
        for n, _, gi in PARAMS:
            lr_g = lr * GROUP_LR[gi]
            m = mode if decays(n) else "none"
            x, g = w[n], grads[n][t].copy()
            if m == "l2":
                g = g + lam * x
            elif m == "l1":
                g = g + lam * np.sign(x)
            wd = lam if m == "coupled" else 0.0
            if wd and opt_name != "lars":  # LARS puts it in its ratio too
                g, wd = g + wd * x, 0.0
            wd_update = 0.0
            if m == "decoupled-lr":
                if opt_name == "lamb":
                    wd_update = lam
                else:
                    x = x * (1 - lr_g * lam)
            elif m == "decoupled":
                x = x - eta * lam * x
            elif m == "corrected":  # Defazio 2025: lambda_t = lambda*lr_t/lr_max, lr_max = lr_g/eta
                x = x - lr_g * eta * lam * x
            x = opt.step(state[n], x, g, lr_g, t + 1, wd, wd_update)
            if m == "prox-l2":
                x = x / (1 + eta * lam)
            elif m == "prox-l1":
                x = np.sign(x) * np.maximum(np.abs(x) - eta * lam, 0.0)
            w[n] = x
            out[n].append(x.copy())
    return out, opt


def main():
    rng = np.random.default_rng(20230217)
    f32 = lambda a: a.astype(np.float32).astype(np.float64)  # noqa: E731
    init = {n: f32(rng.normal(0.0, 0.5, shape)) for n, shape, _ in PARAMS}
    grads = {n: f32(rng.normal(0.0, 1.0, (STEPS,) + shape)) for n, shape, _ in PARAMS}
    tensors, meta = {}, {}
    for n, _, _ in PARAMS:
        tensors["init." + n] = init[n]
        tensors["grads." + n] = grads[n]
    for opt_name in OPTIMIZERS:
        for mode in MODES:
            out, opt = run(opt_name, mode, init, grads)
            if opt_name == "lion":  # sign(c) must not hinge on float rounding
                assert opt.margin > 1e-4, (mode, opt.margin)
            for n, _, _ in PARAMS:
                tensors["%s.%s.%s" % (opt_name, mode, n)] = np.stack(out[n])
            meta["%s.%s" % (opt_name, mode)] = "lr=%r lambda=%r" % (
                LR[opt_name], lam_of(mode, LR[opt_name]))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_safetensors(OUT, tensors, meta)
    print("wrote %s: %d tensors" % (OUT, len(tensors)))


if __name__ == "__main__":
    main()
