#!/usr/bin/python3
"""scripts/safetensors_to_torch.py - load a tenet ResNet checkpoint into the
equivalent PyTorch model (tests/nn/torch_resnet.py) and check its logits.

    /usr/bin/python3 scripts/safetensors_to_torch.py CKPT.safetensors [...]
        [--depth 20 --variant bn|preact|nobn|gn|ln --shortcut A|B --width 16
         --num-classes 10 --in-channels 3] [--tol 1e-4] [--save model.pt]

The architecture comes from the checkpoint's metadata (tn_resnet_meta_write:
resnet.depth, resnet.variant, ...) unless given as options.  Every tenet
tensor must match a PyTorch state_dict entry by name and shape, except the
optimizer state of a training checkpoint ("optim.*", left out: the model
part is converted); num_batches_tracked (which tenet does not keep) is set
to zero.  `resnet_cifar export` writes the model part alone, in these names,
for a plain safetensors read in PyTorch.  If the file
holds "check.input" and "check.logits" (tenet's eval-mode logits), the
PyTorch model's eval-mode logits on that input are compared and the script
exits 1 when the largest difference exceeds tol * max(1, max |logit|).
With --save, the state_dict is written with torch.save for use in PyTorch.
"""
import argparse
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "nn"))

from safetensors_io import read_safetensors  # noqa: E402
from torch_resnet import CifarResNet  # noqa: E402


def load(path, args):
    tensors, meta = read_safetensors(path)
    def pick(opt, key, conv):
        if opt is not None:
            return opt
        if key not in meta:
            sys.exit("%s: no metadata '%s'; give the architecture as options" % (path, key))
        return conv(meta[key])
    arch = dict(depth=pick(args.depth, "resnet.depth", int),
                variant=pick(args.variant, "resnet.variant", str),
                shortcut=pick(args.shortcut, "resnet.shortcut", str),
                width=pick(args.width, "resnet.width", int),
                num_classes=pick(args.num_classes, "resnet.num_classes", int),
                in_channels=pick(args.in_channels, "resnet.in_channels", int),
                group_channels=int(meta.get("resnet.gn_group_channels", 16)))
    model = CifarResNet(**arch)
    sd = model.state_dict()
    extra = sorted(k for k in tensors if k not in sd and not k.startswith(("check.", "optim.")))
    missing = sorted(k for k in sd if k not in tensors and not k.endswith("num_batches_tracked"))
    if extra or missing:
        sys.exit("%s: names differ from PyTorch's: only in tenet %s, only in PyTorch %s"
                 % (path, extra[:10], missing[:10]))
    new = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            new[k] = torch.zeros_like(v)
            continue
        t = tensors[k]
        if tuple(t.shape) != tuple(v.shape):
            sys.exit("%s: '%s' has shape %s, PyTorch expects %s" % (path, k, tuple(t.shape), tuple(v.shape)))
        new[k] = t.to(v.dtype)
    model.load_state_dict(new, strict=True)
    return model, tensors, arch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--depth", type=int)
    ap.add_argument("--variant", choices=("bn", "preact", "nobn", "gn", "ln"))
    ap.add_argument("--shortcut", choices=("A", "B"))
    ap.add_argument("--width", type=int)
    ap.add_argument("--num-classes", type=int)
    ap.add_argument("--in-channels", type=int)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--save")
    args = ap.parse_args()
    torch.set_num_threads(1)
    failed = False
    for path in args.checkpoints:
        model, tensors, arch = load(path, args)
        n = sum(p.numel() for p in model.parameters())
        line = "%s: %s, %d parameters loaded" % (os.path.basename(path), arch, n)
        if "check.input" in tensors and "check.logits" in tensors:
            model.eval()
            with torch.no_grad():
                logits = model(tensors["check.input"])
            want = tensors["check.logits"]
            err = float((logits - want).abs().max())
            scale = max(1.0, float(want.abs().max()))
            ok = err <= args.tol * scale
            failed |= not ok
            line += "; eval logits max |torch - tenet| = %.3g (max |logit| %.3g): %s" % (
                err, float(want.abs().max()), "OK" if ok else "MISMATCH")
        print(line)
        if args.save:
            torch.save(model.state_dict(), args.save)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
