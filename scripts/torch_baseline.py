#!/usr/bin/python3
"""scripts/torch_baseline.py - the same-recipe PyTorch 1.13 baseline of
`resnet_cifar train`: the CIFAR ResNet twin (tests/nn/torch_resnet.py),
the CIFAR-10 JPEG folder, per-channel normalisation from the training set,
random crop (pad 4, black) + horizontal flip, batch 128, a cosine schedule
stepped per batch to 0, decay on the weights of 2 or more dimensions only.

    /usr/bin/python3 scripts/torch_baseline.py --method adamw-torch --wd 0.05 \
        --epochs 10 --shortcut B --init torch --out runs/torch-adamw

Methods: sgd-l2 (SGD, momentum 0.9, weight_decay = L2 in the loss),
sgdw (the same SGD, decay w <- w - eta_t*wd*w before each step, eta_t the
schedule's multiplier), adam-l2 (Adam, weight_decay) and adamw-torch
(torch.optim.AdamW: decay lr_t*wd).  --init torch keeps PyTorch's default
initialisation; --init kaiming uses tenet's (Kaiming normal, fan_out, for
every conv and linear weight).  --save-init FILE writes the initial weights
as a safetensors file that `resnet_cifar train --init FILE` starts from, so
both frameworks can start from the same weights (with --epochs 0 it writes
them and stops).

Writes OUT/metrics.csv (epoch, lr, train loss and accuracy, test loss and
accuracy, seconds) and prints `RESULT test_acc=... train_loss=...`.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "nn"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from torch_resnet import CifarResNet  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402

DEFAULT_LR = {"sgd-l2": 0.1, "sgdw": 0.1, "adam-l2": 1e-3, "adamw-torch": 1e-3}


def load_split(root, split, per_class=0):
    """An image folder split as uint8 (N, 3, 32, 32) and int64 labels."""
    from PIL import Image
    folder = os.path.join(root, split)
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    images, labels = [], []
    for k, cls in enumerate(classes):
        names = sorted(n for n in os.listdir(os.path.join(folder, cls))
                       if n.lower().endswith((".jpg", ".jpeg", ".png")))
        if per_class > 0:
            names = names[:per_class]
        for n in names:
            with Image.open(os.path.join(folder, cls, n)) as im:
                images.append(np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1))
            labels.append(k)
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes


def augment(x, gen):
    """Random crop with 4 pixels of black padding and a horizontal flip,
    on a normalised batch; the padding is black (augment.black per channel)."""
    n = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4))
    padded[:, :, :4, :] = augment.black
    padded[:, :, -4:, :] = augment.black
    padded[:, :, :, :4] = augment.black
    padded[:, :, :, -4:] = augment.black
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.randint(0, 2, (n,), generator=gen).bool()
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


def evaluate(model, x, y, batch=500):
    model.eval()
    loss, hits = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(x[i:i + batch])
            loss += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item()
            hits += (logits.argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    return loss / len(x), hits / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=sorted(DEFAULT_LR), default="sgd-l2")
    ap.add_argument("--lr", type=float, default=0.0, help="default: 0.1 (SGD), 1e-3 (Adam)")
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--epochs", type=int, default=10, help="0: only --save-init")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--shortcut", choices=("A", "B"), default="B")
    ap.add_argument("--init", choices=("torch", "kaiming"), default="torch")
    ap.add_argument("--subset", type=int, default=0, help="training images per class (0: all)")
    ap.add_argument("--data", default=os.environ.get("TENET_DATA", "../shared/datasets/cifar10-jpg"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save-init", default="")
    ap.add_argument("--out", default="runs/torch-baseline")
    a = ap.parse_args()
    lr0 = a.lr if a.lr > 0 else DEFAULT_LR[a.method]
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    t0 = time.time()
    xtr, ytr, classes = load_split(a.data, "train", a.subset)
    xte, yte, _ = load_split(a.data, "test")
    scaled = xtr.astype(np.float64) / 255.0
    mean = scaled.mean(axis=(0, 2, 3))
    std = scaled.std(axis=(0, 2, 3))
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    augment.black = (-m / s).view(1, 3, 1, 1)
    xtr_t = (torch.from_numpy(xtr).float() / 255.0 - m) / s
    xte_t = (torch.from_numpy(xte).float() / 255.0 - m) / s
    ytr_t, yte_t = torch.from_numpy(ytr), torch.from_numpy(yte)
    print(f"loaded {len(xtr)} + {len(xte)} images in {time.time() - t0:.1f} s")

    model = CifarResNet(a.depth, len(classes), shortcut=a.shortcut)
    if a.init == "kaiming":
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)
    if a.save_init:
        write_safetensors(a.save_init, {k: v for k, v in model.state_dict().items()
                                        if not k.endswith("num_batches_tracked")})
        if a.epochs == 0:
            return
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    coupled = a.wd if a.method in ("sgd-l2", "adam-l2", "adamw-torch") else 0.0
    groups = [{"params": decay, "weight_decay": coupled}, {"params": rest, "weight_decay": 0.0}]
    if a.method.startswith("sgd"):
        opt = torch.optim.SGD(groups, lr=lr0, momentum=0.9)
    elif a.method == "adam-l2":
        opt = torch.optim.Adam(groups, lr=lr0)
    else:
        opt = torch.optim.AdamW(groups, lr=lr0)
    steps_per_epoch = math.ceil(len(xtr) / a.batch)
    total = steps_per_epoch * a.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total)))

    os.makedirs(a.out, exist_ok=True)
    csv = open(os.path.join(a.out, "metrics.csv"), "w")
    csv.write("epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds\n")
    start = time.time()
    for epoch in range(1, a.epochs + 1):
        perm = torch.randperm(len(xtr_t), generator=gen)
        loss_sum, hits = 0.0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * a.batch:(b + 1) * a.batch]
            x = augment(xtr_t[idx], gen)
            y = ytr_t[idx]
            if a.method == "sgdw":
                eta = opt.param_groups[0]["lr"] / lr0
                with torch.no_grad():
                    for p in decay:
                        p.mul_(1.0 - eta * a.wd)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            hits += (logits.argmax(1) == y).sum().item()
        test_loss, test_acc = evaluate(model, xte_t, yte_t)
        lr = opt.param_groups[0]["lr"]
        row = (epoch, lr, loss_sum / len(xtr_t), hits / len(xtr_t), test_loss, test_acc,
               time.time() - start)
        csv.write("%d,%.6g,%.6f,%.6f,%.6f,%.6f,%.1f\n" % row)
        csv.flush()
        print("epoch %d lr %.3g train loss %.4f acc %.4f test loss %.4f acc %.4f (%.0f s)" % row)
    csv.close()
    print(f"RESULT test_acc={test_acc:.4f} test_loss={test_loss:.4f} "
          f"train_loss={loss_sum / len(xtr_t):.4f} epochs={a.epochs} seconds={time.time() - start:.1f}")


if __name__ == "__main__":
    main()
