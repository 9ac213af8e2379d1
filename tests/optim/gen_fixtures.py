#!/usr/bin/python3
"""tests/optim/gen_fixtures.py - write the committed fixtures of tests/optim/
into tests/fixtures/optim/ (run from anywhere with /usr/bin/python3, PyTorch
1.13; deterministic).

  trajectories.safetensors  torch.optim trajectories, 20 steps per case:
      kern.*  one (4, 6) parameter driven by a fixed gradient sequence
              (kern.grads (20, 4, 6), kern.init (4, 6)); kern.<case> (20, 4, 6)
              holds the parameter after each step.
      mlp.*   a 4 -> 8 -> 3 tanh MLP (fc1.weight, fc1.bias, fc2.weight,
              fc2.bias) on fixed data (data.x (16, 4), data.y (16, 3),
              data.labels (16)), gradients of the MSE or cross-entropy loss;
              mlp.<case>.<param> (20, ...) after each step.
      metadata "<case>" describes the PyTorch call.
  schedules.safetensors     base_lr (1); metadata "lr.<case>" (and
      "momentum.<case>") holds 300 learning rates (momenta) as Python reprs,
      exact doubles, read by the C test with strtod.

The C test (tests/optim/test_optim.c) holds the same case names and builds
the matching tenet configuration for each.
"""
import math
import os
import sys
import warnings

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "fixtures", "optim")
sys.path.insert(0, os.path.join(ROOT, "tests"))

from safetensors_io import write_safetensors  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
STEPS = 20
O = torch.optim
S = torch.optim.lr_scheduler

# name -> (optimizer class, kwargs, options)
#   mask: biases in a group with weight_decay 0 (tenet's default TN_NO_DECAY
#         handling); otherwise every tensor is decayed as PyTorch does.
#   loss: "mse" or "ce"; sched: a function (optimizer) -> scheduler.
CASES = {
    "sgd": (O.SGD, dict(lr=0.1), {}),
    "sgd_momentum": (O.SGD, dict(lr=0.1, momentum=0.9), {}),
    "sgd_dampening": (O.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5), {}),
    "sgd_nesterov": (O.SGD, dict(lr=0.1, momentum=0.9, nesterov=True), {"loss": "ce"}),
    "sgd_wd": (O.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01), {"mask": True}),
    "sgd_nesterov_wd": (O.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05), {}),
    "sgd_steplr": (O.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01),
                   {"sched": lambda o: S.StepLR(o, 5, 0.5)}),
    "sgd_onecycle": (O.SGD, dict(lr=0.1, momentum=0.9),
                     {"sched": lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=STEPS)}),
    "adagrad": (O.Adagrad, dict(), {}),
    "adagrad_opts": (O.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1,
                                      eps=1e-6), {}),
    "adagrad_wd": (O.Adagrad, dict(lr=0.05, weight_decay=0.01), {"loss": "ce"}),
    "adadelta": (O.Adadelta, dict(), {}),
    "adadelta_opts": (O.Adadelta, dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.01), {}),
    "rmsprop": (O.RMSprop, dict(), {}),
    "rmsprop_centered": (O.RMSprop, dict(lr=0.01, centered=True, momentum=0.5), {}),
    "rmsprop_centered_plain": (O.RMSprop, dict(lr=0.01, centered=True), {}),
    "rmsprop_momentum_wd": (O.RMSprop, dict(lr=0.01, momentum=0.9, alpha=0.9, weight_decay=0.01),
                            {"mask": True}),
    "adam": (O.Adam, dict(), {}),
    "adam_amsgrad": (O.Adam, dict(lr=0.01, betas=(0.8, 0.99), amsgrad=True), {"loss": "ce"}),
    "adam_wd": (O.Adam, dict(lr=0.01, weight_decay=0.01), {}),
    "adam_wd_mask": (O.Adam, dict(lr=0.01, weight_decay=0.1, eps=1e-6), {"mask": True}),
    "adamw": (O.AdamW, dict(), {}),
    "adamw_mask": (O.AdamW, dict(lr=0.01, weight_decay=0.1), {"mask": True}),
    "adamw_amsgrad": (O.AdamW, dict(lr=0.01, weight_decay=0.05, amsgrad=True), {}),
    "adamw_cosine": (O.AdamW, dict(lr=0.01, weight_decay=0.1),
                     {"sched": lambda o: S.CosineAnnealingLR(o, T_max=STEPS, eta_min=0.0)}),
    "nadam": (O.NAdam, dict(), {}),
    "nadam_opts": (O.NAdam, dict(lr=0.01, betas=(0.8, 0.99), momentum_decay=0.01,
                                 weight_decay=0.01), {"loss": "ce"}),
    "radam": (O.RAdam, dict(), {}),
    "radam_wd": (O.RAdam, dict(lr=0.01, betas=(0.85, 0.99), weight_decay=0.01), {"loss": "ce"}),
    "adamax": (O.Adamax, dict(), {}),
    "adamax_wd": (O.Adamax, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-4, weight_decay=0.01), {}),
}


def describe(name):
    cls, kw, opt = CASES[name]
    extra = {k: v for k, v in opt.items() if k != "sched"}
    return "%s(%s) %s" % (cls.__name__, ", ".join("%s=%r" % kv for kv in sorted(kw.items())),
                          extra or "")


def run_kernel_case(name, init, grads):
    cls, kw, opt = CASES[name]
    p = torch.nn.Parameter(init.clone())
    # One 2-D tensor: decayed in both frameworks, mask or not.
    o = cls([p], **kw)
    sched = opt["sched"](o) if "sched" in opt else None
    out = []
    for t in range(STEPS):
        p.grad = grads[t].clone()
        o.step()
        if sched:
            sched.step()
        out.append(p.detach().clone())
    return torch.stack(out)


def mlp_forward(params, x):
    h = torch.tanh(F.linear(x, params["fc1.weight"], params["fc1.bias"]))
    return F.linear(h, params["fc2.weight"], params["fc2.bias"])


def run_mlp_case(name, init, x, y, labels):
    cls, kw, opt = CASES[name]
    params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
    if opt.get("mask"):
        kw_nd = dict(kw, weight_decay=0.0)
        groups = [{"params": [params["fc1.weight"], params["fc2.weight"]]},
                  dict(params=[params["fc1.bias"], params["fc2.bias"]], **kw_nd)]
        o = cls(groups, **kw)
    else:
        o = cls(list(params.values()), **kw)
    sched = opt["sched"](o) if "sched" in opt else None
    traj = {k: [] for k in params}
    for t in range(STEPS):
        o.zero_grad()
        out = mlp_forward(params, x)
        if opt.get("loss", "mse") == "ce":
            loss = F.cross_entropy(out, labels)
        else:
            loss = F.mse_loss(out, y)
        loss.backward()
        o.step()
        if sched:
            sched.step()
        for k, v in params.items():
            traj[k].append(v.detach().clone())
    return {k: torch.stack(v) for k, v in traj.items()}


def conditioning(name, init, x, y, labels, traj):
    """The case's float32 trajectory against its float64 rerun: the largest
    normwise relative difference over steps and tensors.  A case worth
    comparing to 1e-5 must itself be well conditioned (some adaptive runs
    amplify float32 rounding to 1e-5 within 20 steps; those are not used)."""
    torch.set_default_dtype(torch.float64)
    try:
        r64 = run_mlp_case(name, {k: v.double() for k, v in init.items()}, x.double(),
                           y.double(), labels)
    finally:
        torch.set_default_dtype(torch.float32)
    worst = 0.0
    for k, v in traj.items():
        dims = tuple(range(1, v.dim()))
        d = (v.double() - r64[k]).abs().amax(dim=dims) / r64[k].abs().amax(dim=dims)
        worst = max(worst, d.max().item())
    return worst


def gen_trajectories():
    torch.manual_seed(20240601)
    tensors, meta = {}, {}
    # Kernel cases: gradients of mixed magnitudes, a few exact zeros.
    init = torch.randn(4, 6)
    scales = torch.tensor([1.0, 0.1, 10.0, 1e-3, 1.0, 3.0]).repeat(4, 1)
    grads = torch.randn(STEPS, 4, 6) * scales
    grads[:, 0, 0] = 0.0
    grads[::3, 1, 1] = 0.0
    tensors["kern.init"] = init
    tensors["kern.grads"] = grads
    # The MLP and its data.
    fc1, fc2 = torch.nn.Linear(4, 8), torch.nn.Linear(8, 3)
    init_mlp = {"fc1.weight": fc1.weight.detach().clone(), "fc1.bias": fc1.bias.detach().clone(),
                "fc2.weight": fc2.weight.detach().clone(), "fc2.bias": fc2.bias.detach().clone()}
    x = torch.randn(16, 4)
    y = torch.randn(16, 3)
    labels = torch.randint(0, 3, (16,))
    tensors["data.x"], tensors["data.y"] = x, y
    tensors["data.labels"] = labels.float()
    for k, v in init_mlp.items():
        tensors["init." + k] = v
    for name in CASES:
        meta[name] = describe(name)
        tensors["kern." + name] = run_kernel_case(name, init, grads)
        traj = run_mlp_case(name, init_mlp, x, y, labels)
        cond = conditioning(name, init_mlp, x, y, labels, traj)
        if cond > 1e-6:
            raise SystemExit("case %s is ill-conditioned: float32 vs float64 differ by %.2g"
                             % (name, cond))
        meta[name] += " float32-vs-float64 %.2g" % cond
        for k, v in traj.items():
            tensors["mlp.%s.%s" % (name, k)] = v
    meta["producer"] = "tests/optim/gen_fixtures.py, torch " + torch.__version__
    write_safetensors(os.path.join(OUT, "trajectories.safetensors"), tensors, meta)


# ------------------------------------------------------------- schedules

BASE_LR = 0.1
N_SCHED = 300


def record(make, per_batch=None):
    """Learning rates (and momenta) at steps 0..N_SCHED-1: the lr the
    optimizer uses at each step, the scheduler stepped after it."""
    p = torch.nn.Parameter(torch.zeros(1))
    o = O.SGD([p], lr=BASE_LR, momentum=0.9)
    s = make(o)
    lrs, moms = [], []
    for t in range(N_SCHED):
        if per_batch:
            epoch, i = divmod(t, per_batch)
            s.step(epoch + i / per_batch)
        lrs.append(o.param_groups[0]["lr"])
        moms.append(o.param_groups[0]["momentum"])
        o.step()
        if not per_batch:
            s.step()
    return lrs, moms


def gen_schedules():
    meta = {}
    cases = {
        "step": (lambda o: S.StepLR(o, step_size=30, gamma=0.5), None),
        "multistep": (lambda o: S.MultiStepLR(o, milestones=[50, 120, 200], gamma=0.3), None),
        "linear_default": (lambda o: S.LinearLR(o), None),
        "linear_decay": (lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.05,
                                              total_iters=250), None),
        "exponential": (lambda o: S.ExponentialLR(o, gamma=0.98), None),
        "cosine": (lambda o: S.CosineAnnealingLR(o, T_max=100, eta_min=0.001), None),
        "restarts": (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=1e-4),
                     None),
        "restarts_mult1": (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=7, eta_min=0.01), None),
        "restarts_batch": (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2), 10),
        "one_cycle": (lambda o: S.OneCycleLR(o, max_lr=BASE_LR, total_steps=N_SCHED), None),
        # Linear warm-up over 20 steps times cosine: LinearLR(1/w, 1, w - 1)
        # multiplies by (t + 1)/w up to t = w - 1.
        "warmup_cosine": (lambda o: S.ChainedScheduler([
            S.LinearLR(o, start_factor=1.0 / 20, end_factor=1.0, total_iters=19),
            S.CosineAnnealingLR(o, T_max=N_SCHED)]), None),
    }
    for name, (make, per_batch) in cases.items():
        lrs, moms = record(make, per_batch)
        meta["lr." + name] = " ".join(repr(float(v)) for v in lrs)
        if name == "one_cycle":
            meta["momentum." + name] = " ".join(repr(float(v)) for v in moms)
    meta["base_lr"] = repr(BASE_LR)
    meta["producer"] = "tests/optim/gen_fixtures.py, torch " + torch.__version__
    # One small tensor: a file of metadata only is valid, but keep the
    # readers' common path.
    write_safetensors(os.path.join(OUT, "schedules.safetensors"),
                      {"base_lr": torch.tensor([BASE_LR])}, meta)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    gen_trajectories()
    gen_schedules()
    print("wrote", OUT)
