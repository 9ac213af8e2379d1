#!/usr/bin/python3
"""tests/tensor/gen_fixtures.py - write the committed PyTorch reference
fixtures of tests/tensor/test_fixtures.c into tests/fixtures/tensor/ (run
from anywhere with /usr/bin/python3, PyTorch 1.13; deterministic seeds).

Each file holds one case: its inputs (float32), a fixed random upstream
gradient R (backward runs on loss = (out * R).sum(), so every output element
is exercised), the output and the inputs' gradients.  Inputs are drawn in
float32; the references are computed by PyTorch in float64 from those exact
values and rounded to float32, so the tests measure tenet's own error.
Per-case settings are in the metadata (all strings).  Labels are stored as
float32 integers (tenet's reader takes F32 only).

  conv2d_<case>         x, w, [b], R -> out, grad_x, grad_w, [grad_b]
  batch_norm_train_*    x, gamma, beta, running_mean, running_var, R -> out,
                        grad_x, grad_gamma, grad_beta, running_mean_after,
                        running_var_after (one train step, momentum 0.1)
  batch_norm_eval_4d    the same in eval mode (running stats unchanged)
  group_norm_*, instance_norm_4d, layer_norm_*
                        x, gamma, beta, R -> out, grad_x, grad_gamma, grad_beta
                        (torch.nn.GroupNorm, InstanceNorm2d(affine=True),
                        LayerNorm; metadata: kind, groups or norm_ndim, eps)
  linear                x, w, b, R -> out, grad_x, grad_w, grad_b
  cross_entropy_*       logits, labels -> loss, grad_logits (loss.backward())
  cross_entropy_soft    logits, targets -> loss, grad_logits, grad_targets
  nll_loss              log_probs, labels -> loss, grad_log_probs
  mse_loss              pred, target -> loss, grad_pred, grad_target
  max_pool2d_*, avg_pool2d_*   x, R -> out, grad_x

The conv2d_resnet_* cases have ResNet-20's shapes (output width a multiple
of 8, output channels a multiple of 4), which take tenet's direct 3x3
kernels; the small ones take im2col + GEMM.
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "fixtures", "tensor")
sys.path.insert(0, os.path.join(ROOT, "tests"))

from safetensors_io import write_safetensors  # noqa: E402


def rand(*shape, lo=-1.0, hi=1.0):
    return (torch.rand(*shape, dtype=torch.float32) * (hi - lo) + lo)


def leaf(t):
    """A float64 copy of a float32 tensor, requiring grad."""
    return t.double().requires_grad_(True)


def save(name, tensors, meta):
    path = os.path.join(OUT, name + ".safetensors")
    write_safetensors(path, {k: v.detach().float() for k, v in tensors.items()},
                      {k: str(v) for k, v in meta.items()})
    print(f"{path}: {os.path.getsize(path)} bytes")


def gen_conv(name, seed, n, c, h, w, o, k, stride, padding, dilation, bias):
    torch.manual_seed(seed)
    x, wt = rand(n, c, h, w), rand(o, c, k, k, lo=-0.5, hi=0.5)
    b = rand(o) if bias else None
    xd, wd = leaf(x), leaf(wt)
    bd = leaf(b) if bias else None
    out = F.conv2d(xd, wd, bd, stride=stride, padding=padding, dilation=dilation)
    r = rand(*out.shape)
    (out * r.double()).sum().backward()
    t = {"x": x, "w": wt, "R": r, "out": out, "grad_x": xd.grad, "grad_w": wd.grad}
    if bias:
        t.update({"b": b, "grad_b": bd.grad})
    save(name, t, {"stride": stride, "padding": padding, "dilation": dilation,
                   "bias": int(bias)})


def gen_batch_norm(name, seed, shape, training):
    torch.manual_seed(seed)
    c = shape[1]
    x = rand(*shape, lo=-1.0, hi=3.0)
    gamma, beta = rand(c, lo=0.5, hi=1.5), rand(c)
    rm, rv = rand(c, lo=-0.5, hi=0.5), rand(c, lo=0.5, hi=2.0)
    xd, gd, bd = leaf(x), leaf(gamma), leaf(beta)
    rm_d, rv_d = rm.double(), rv.double()
    out = F.batch_norm(xd, rm_d, rv_d, gd, bd, training=training, momentum=0.1, eps=1e-5)
    r = rand(*out.shape)
    (out * r.double()).sum().backward()
    save(name, {"x": x, "gamma": gamma, "beta": beta, "running_mean": rm,
                "running_var": rv, "R": r, "out": out, "grad_x": xd.grad,
                "grad_gamma": gd.grad, "grad_beta": bd.grad,
                "running_mean_after": rm_d, "running_var_after": rv_d},
         {"training": int(training), "momentum": 0.1, "eps": 1e-5})


def gen_group_norm(name, seed, shape, kind, groups=0, norm_ndim=0):
    """kind: group (GroupNorm), instance (InstanceNorm2d(affine=True)) or
    layer (LayerNorm over the last norm_ndim dims); modules in float64."""
    torch.manual_seed(seed)
    c = shape[1]
    pshape = (c,) if kind != "layer" else tuple(shape[len(shape) - norm_ndim:])
    x = rand(*shape, lo=-1.0, hi=3.0)
    gamma, beta = rand(*pshape, lo=0.5, hi=1.5), rand(*pshape)
    if kind == "group":
        m = torch.nn.GroupNorm(groups, c, eps=1e-5)
    elif kind == "instance":
        m = torch.nn.InstanceNorm2d(c, eps=1e-5, affine=True)
        groups = c
    else:
        m = torch.nn.LayerNorm(pshape, eps=1e-5)
    m = m.double()
    with torch.no_grad():
        m.weight.copy_(gamma.double())
        m.bias.copy_(beta.double())
    xd = leaf(x)
    out = m(xd)
    r = rand(*out.shape)
    (out * r.double()).sum().backward()
    save(name, {"x": x, "gamma": gamma, "beta": beta, "R": r, "out": out,
                "grad_x": xd.grad, "grad_gamma": m.weight.grad, "grad_beta": m.bias.grad},
         {"kind": kind, "groups": groups, "norm_ndim": norm_ndim, "eps": 1e-5})


def gen_linear(seed):
    torch.manual_seed(seed)
    x, w, b = rand(5, 7), rand(4, 7, lo=-0.5, hi=0.5), rand(4)
    xd, wd, bd = leaf(x), leaf(w), leaf(b)
    out = F.linear(xd, wd, bd)
    r = rand(*out.shape)
    (out * r.double()).sum().backward()
    save("linear", {"x": x, "w": w, "b": b, "R": r, "out": out, "grad_x": xd.grad,
                    "grad_w": wd.grad, "grad_b": bd.grad}, {})


def gen_cross_entropy(name, seed, smoothing):
    torch.manual_seed(seed)
    logits = rand(8, 5, lo=-3.0, hi=3.0)
    labels = torch.randint(0, 5, (8,))
    ld = leaf(logits)
    loss = F.cross_entropy(ld, labels, label_smoothing=smoothing)
    loss.backward()
    save(name, {"logits": logits, "labels": labels.float(), "loss": loss,
                "grad_logits": ld.grad}, {"smoothing": smoothing})


def gen_cross_entropy_soft(seed):
    torch.manual_seed(seed)
    logits = rand(6, 5, lo=-3.0, hi=3.0)
    targets = torch.softmax(rand(6, 5, lo=-2.0, hi=2.0), dim=1)
    ld, td = leaf(logits), leaf(targets)
    loss = F.cross_entropy(ld, td)  # probability targets, mean over the batch
    loss.backward()
    save("cross_entropy_soft", {"logits": logits, "targets": targets, "loss": loss,
                                "grad_logits": ld.grad, "grad_targets": td.grad}, {})


def gen_nll(seed):
    torch.manual_seed(seed)
    log_probs = torch.log_softmax(rand(7, 4, lo=-2.0, hi=2.0), dim=1)
    labels = torch.randint(0, 4, (7,))
    ld = leaf(log_probs)
    loss = F.nll_loss(ld, labels)
    loss.backward()
    save("nll_loss", {"log_probs": log_probs, "labels": labels.float(), "loss": loss,
                      "grad_log_probs": ld.grad}, {})


def gen_mse(seed):
    torch.manual_seed(seed)
    pred, target = rand(4, 6), rand(4, 6)
    pd, td = leaf(pred), leaf(target)
    loss = F.mse_loss(pd, td)
    loss.backward()
    save("mse_loss", {"pred": pred, "target": target, "loss": loss, "grad_pred": pd.grad,
                      "grad_target": td.grad}, {})


def gen_pool(name, seed, kind, shape, kernel, stride, padding):
    torch.manual_seed(seed)
    x = torch.randn(*shape, dtype=torch.float32)
    xd = leaf(x)
    if kind == "max":
        out = F.max_pool2d(xd, kernel, stride, padding)
    else:
        out = F.avg_pool2d(xd, kernel, stride, padding)  # count_include_pad=True
    r = rand(*out.shape)
    (out * r.double()).sum().backward()
    save(name, {"x": x, "R": r, "out": out, "grad_x": xd.grad},
         {"kernel": kernel, "stride": stride, "padding": padding})


def main():
    os.makedirs(OUT, exist_ok=True)
    gen_conv("conv2d_s1_p1_bias", 11, 2, 3, 6, 6, 4, 3, 1, 1, 1, True)
    gen_conv("conv2d_s1_p0_nobias", 12, 2, 3, 5, 6, 4, 3, 1, 0, 1, False)
    gen_conv("conv2d_s2_p1_bias", 13, 2, 3, 7, 7, 5, 3, 2, 1, 1, True)
    gen_conv("conv2d_s2_p0_nobias", 14, 3, 2, 8, 8, 3, 3, 2, 0, 1, False)
    gen_conv("conv2d_d2_p2_bias", 15, 2, 2, 7, 7, 3, 3, 1, 2, 2, True)
    gen_conv("conv2d_s1_p1_nobias", 16, 2, 3, 6, 5, 4, 3, 1, 1, 1, False)
    gen_conv("conv2d_s1_p0_bias", 17, 2, 3, 6, 6, 4, 3, 1, 0, 1, True)
    gen_conv("conv2d_resnet_s1_p1", 18, 2, 16, 16, 16, 16, 3, 1, 1, 1, False)
    gen_conv("conv2d_resnet_s2_p1", 19, 2, 16, 16, 16, 32, 3, 2, 1, 1, False)
    gen_batch_norm("batch_norm_train_4d", 21, (4, 3, 3, 3), True)
    gen_batch_norm("batch_norm_train_2d", 22, (8, 5), True)
    gen_batch_norm("batch_norm_eval_4d", 23, (4, 3, 3, 3), False)
    gen_batch_norm("batch_norm_train_3d", 24, (4, 3, 5), True)  # BatchNorm1d on (N, C, L)
    gen_group_norm("group_norm_4d", 25, (3, 6, 4, 5), "group", groups=3)
    gen_group_norm("group_norm_4d_1group", 26, (3, 4, 3, 3), "group", groups=1)
    gen_group_norm("group_norm_resnet", 27, (2, 32, 8, 8), "group", groups=2)
    gen_group_norm("instance_norm_4d", 28, (3, 4, 5, 4), "instance")
    gen_group_norm("layer_norm_chw", 29, (3, 4, 3, 5), "layer", norm_ndim=3)
    gen_group_norm("layer_norm_last", 30, (4, 3, 7), "layer", norm_ndim=1)
    gen_linear(31)
    gen_cross_entropy("cross_entropy", 41, 0.0)
    gen_cross_entropy("cross_entropy_smooth", 42, 0.1)
    gen_cross_entropy_soft(43)
    gen_nll(44)
    gen_mse(45)
    gen_pool("max_pool2d_k3_s2_p1", 51, "max", (2, 3, 7, 7), 3, 2, 1)
    gen_pool("max_pool2d_k2_s2_p0", 52, "max", (2, 2, 6, 6), 2, 2, 0)
    gen_pool("avg_pool2d_k3_s2_p1", 53, "avg", (2, 3, 7, 7), 3, 2, 1)
    gen_pool("avg_pool2d_k2_s2_p0", 54, "avg", (2, 2, 6, 6), 2, 2, 0)


if __name__ == "__main__":
    main()
