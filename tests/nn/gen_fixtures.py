#!/usr/bin/python3
"""tests/nn/gen_fixtures.py - write the committed fixtures of tests/nn/ into
tests/fixtures/nn/ (run from anywhere with /usr/bin/python3, PyTorch 1.13).

  torch_state.safetensors   a small PyTorch model's state_dict written on the
                            Python side (checkpoint interoperability test)
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "fixtures", "nn")
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)

from safetensors_io import write_safetensors  # noqa: E402


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
    meta = {"format": "pt", "producer": "tests/nn/gen_fixtures.py"}
    for k, v in sd.items():  # float64 sums, for the C side to check
        meta["sum:" + k] = repr(float(v.double().sum()))
    write_safetensors(os.path.join(OUT, "torch_state.safetensors"), sd, meta)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    gen_torch_state()
    print("wrote", OUT)
