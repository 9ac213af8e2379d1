#!/usr/bin/python3
"""tests/nn/gen_fixtures.py - write the committed fixtures of tests/nn/ into
tests/fixtures/nn/ (run from anywhere with /usr/bin/python3, PyTorch 1.13).

  torch_state.safetensors   a small PyTorch model's state_dict written on the
                            Python side (checkpoint interoperability test)
  resnet20_{A,B}.safetensors
                            golden ResNet-20 (tests/nn/torch_resnet.py, option
                            A and B shortcuts): its state_dict (weights from the
                            deterministic fill det_fill, running statistics
                            after 4 train-mode forwards) under PyTorch's names,
                            which tenet loads with tn_nn_load as it would any
                            PyTorch checkpoint; then a batch "input" (8, 3,
                            32, 32) and "labels" (8), train-mode "logits_train",
                            "loss" and "grad.<name>" of every parameter,
                            "after.<buffer>" running statistics after that
                            forward, then eval-mode "logits_eval".
  resnet8_{gn_B,ln_A}.safetensors
                            the same for ResNet-8 with group norm (option B,
                            so the projection's norm is covered) and layer
                            norm (option A), batch 4: no running statistics,
                            and eval mode equals train mode.

Arguments, if any, name the fixtures to write (file names without
.safetensors); none writes them all.
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "fixtures", "nn")
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)

from safetensors_io import write_safetensors  # noqa: E402
from torch_resnet import CifarResNet, det_fill, det_init_spec, n_params  # noqa: E402


def state_dict_f32(model):
    """A state_dict without num_batches_tracked (int64; tenet keeps no such
    counter: its batch norm uses a fixed momentum)."""
    return {k: v.detach().float() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def gen_torch_state():
    torch.manual_seed(1234)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 2 * 2, 5),
    )
    with torch.no_grad():  # non-trivial running statistics
        model(torch.randn(6, 3, 2, 2))
    sd = state_dict_f32(model)
    # Exactly representable values to check element by element, a 0-dim
    # tensor, and a name that needs JSON escapes.
    sd["exact.ramp"] = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) * 0.25 - 1.0
    sd["exact.scalar"] = torch.tensor(-2.5)
    sd['odd "name"\\ caf\u00e9'] = torch.tensor([1.0, 2.0])
    # The model's output in eval mode on a fixed input: tests/nn/test_layers.c
    # rebuilds it as a tn_nn_seq, loads this file and compares.
    model.eval()
    x = torch.randn(3, 3, 2, 2)
    sd["io.input"] = x
    with torch.no_grad():
        sd["io.output"] = model(x)
    meta = {"format": "pt", "producer": "tests/nn/gen_fixtures.py"}
    for k, v in sd.items():  # float64 sums, for the C side to check
        meta["sum:" + k] = repr(float(v.double().sum()))
    write_safetensors(os.path.join(OUT, "torch_state.safetensors"), sd, meta)


def gen_resnet(option, expected_params, depth=20, variant="bn", batch=8,
               fname=None):
    torch.manual_seed(0)
    model = CifarResNet(depth, shortcut=option, variant=variant)
    assert n_params(model) == expected_params, n_params(model)
    meta = {"depth": str(depth), "shortcut": option, "variant": variant,
            "batch": str(batch)}
    with torch.no_grad():
        for name, p in model.named_parameters():
            off, sc = det_init_spec(name, tuple(p.shape))
            p.copy_(torch.from_numpy(det_fill(name, tuple(p.shape), off, sc)))
    gen = torch.Generator().manual_seed(7)
    model.train()
    with torch.no_grad():  # non-trivial running statistics
        for _ in range(4):
            model(torch.randn(8, 3, 32, 32, generator=gen) * 1.5 + 0.2)
    out = {k: v.clone() for k, v in state_dict_f32(model).items()}
    x = torch.randn(batch, 3, 32, 32, generator=gen)
    labels = torch.randint(0, 10, (batch,), generator=gen)
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad.clone()
    for k, v in model.state_dict().items():
        if k.endswith("running_mean") or k.endswith("running_var"):
            out["after." + k] = v.clone()
    model.eval()
    with torch.no_grad():
        out["logits_eval"] = model(x)
    out["input"] = x
    out["labels"] = labels.float()
    out["logits_train"] = logits.detach()
    out["loss"] = loss.detach()
    meta["loss"] = repr(float(loss))
    fname = fname or "resnet20_%s" % option
    write_safetensors(os.path.join(OUT, fname + ".safetensors"), out, meta)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    # Group and layer norm: the parameter counts of the batch-norm ResNet-8.
    bn8 = {o: n_params(CifarResNet(8, shortcut=o)) for o in "AB"}
    fixtures = {
        "torch_state": gen_torch_state,
        "resnet20_A": lambda: gen_resnet("A", 269722),
        "resnet20_B": lambda: gen_resnet("B", 272474),
        "resnet8_gn_B": lambda: gen_resnet("B", bn8["B"], depth=8, variant="gn", batch=4,
                                           fname="resnet8_gn_B"),
        "resnet8_ln_A": lambda: gen_resnet("A", bn8["A"], depth=8, variant="ln", batch=4,
                                           fname="resnet8_ln_A"),
    }
    for name in sys.argv[1:] or fixtures:
        fixtures[name]()
    print("wrote", OUT)
