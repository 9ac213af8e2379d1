"""tests/examples/export_check.py - helpers of export_torch.sh.

  export_check.py data DIR
      a tiny image folder DIR/{train,test}/c0..c9/*.bmp (32x32 RGB, seeded)
  export_check.py names EXPORT FIXTURE
      the names and shapes of EXPORT (resnet_cifar export) are those of
      PyTorch's ResNet-20 state_dict: the model entries of FIXTURE (made by
      tests/nn/gen_fixtures.py from the twin) plus num_batches_tracked per
      batch norm; no optimizer state.  Python's standard library only.
  export_check.py torch EXPORT DATA EVAL_OUTPUT      (needs torch and numpy)
      a plain safetensors read of EXPORT loads into the PyTorch twin with
      load_state_dict(strict=True); its eval-mode logits on DATA/test give
      the accuracy, loss and confusion matrix that `resnet_cifar eval`
      printed (EVAL_OUTPUT).
"""
import json
import os
import random
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIDE = 32
CLASSES = ["c%d" % k for k in range(10)]


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        h = json.loads(f.read(n).decode("utf-8"))
    return h.pop("__metadata__", {}), h


def write_bmp(path, rgb):  # rgb: rows top to bottom of (r, g, b)
    rows = b"".join(bytes(c for px in row for c in (px[2], px[1], px[0])) for row in reversed(rgb))
    head = struct.pack("<2sIHHIIiiHHIIiiII", b"BM", 54 + len(rows), 0, 0, 54, 40, SIDE, SIDE, 1,
                       24, 0, len(rows), 2835, 2835, 0, 0)
    with open(path, "wb") as f:
        f.write(head + rows)


def read_bmp(path):  # -> (3, H, W) lists of bytes, as tenet decodes them
    with open(path, "rb") as f:
        b = f.read()
    off, w, h = struct.unpack_from("<I", b, 10)[0], *struct.unpack_from("<ii", b, 18)
    planes = [[[0] * w for _ in range(h)] for _ in range(3)]
    for y in range(h):
        row = b[off + (h - 1 - y) * w * 3:]
        for x in range(w):
            for c in range(3):
                planes[c][y][x] = row[x * 3 + 2 - c]
    return planes


def make_data(root):
    rng = random.Random(12345)
    for split, n in (("train", 4), ("test", 2)):
        for k, cls in enumerate(CLASSES):
            d = os.path.join(root, split, cls)
            os.makedirs(d)
            for i in range(n):
                base = 20 * k
                img = [[tuple(min(255, base + rng.randrange(0, 60) + (30 * c if (x + y) % (k + 2) == 0 else 0))
                              for c in range(3)) for x in range(SIDE)] for y in range(SIDE)]
                write_bmp(os.path.join(d, "%03d.bmp" % i), img)


def check_names(export, fixture):
    meta, have = header(export)
    _, fx = header(fixture)
    skip = ("after.", "grad.")
    want = {k: v["shape"] for k, v in fx.items()
            if not k.startswith(skip) and k not in ("input", "labels", "logits_eval", "logits_train", "loss")}
    for k in list(want):
        if k.endswith(".running_mean"):
            want[k[:-len("running_mean")] + "num_batches_tracked"] = []
    got = {k: v["shape"] for k, v in have.items()}
    only_export = sorted(set(got) - set(want))
    only_torch = sorted(set(want) - set(got))
    bad_shape = sorted(k for k in set(got) & set(want) if got[k] != want[k])
    if only_export or only_torch or bad_shape:
        sys.exit("names differ: only in the export %s, only in PyTorch %s, other shapes %s"
                 % (only_export[:5], only_torch[:5], bad_shape[:5]))
    if meta.get("resnet.depth") != "20" or meta.get("resnet.shortcut") != "A":
        sys.exit("architecture metadata missing: %s" % meta)
    print("%d tensors, names and shapes of PyTorch's ResNet-20 state_dict" % len(got))


def check_torch(export, data, eval_output):
    import numpy as np
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "nn"))
    from safetensors_io import read_safetensors
    from torch_resnet import CifarResNet

    torch.set_num_threads(1)
    sd, meta = read_safetensors(export)
    model = CifarResNet(depth=int(meta["resnet.depth"]), variant=meta["resnet.variant"],
                        shortcut=meta["resnet.shortcut"], width=int(meta["resnet.width"]),
                        num_classes=int(meta["resnet.num_classes"]),
                        in_channels=int(meta["resnet.in_channels"]))
    model.load_state_dict(sd, strict=True)
    model.eval()

    def split(name):
        xs, ys = [], []
        for k, cls in enumerate(CLASSES):
            d = os.path.join(data, name, cls)
            for f in sorted(os.listdir(d)):
                xs.append(read_bmp(os.path.join(d, f)))
                ys.append(k)
        return np.array(xs, dtype=np.uint8), np.array(ys)

    train, _ = split("train")
    test, labels = split("test")
    # tenet's normalisation: statistics of the training set in double, then
    # (float(v) / 255 - mean) / std in float.
    x = np.empty(test.shape, np.float32)
    for c in range(3):
        v = train[:, c].astype(np.float64) / 255.0
        mean, var = v.mean(), (v * v).mean() - v.mean() ** 2
        std = np.float32(np.sqrt(var)) if var > 1e-12 else np.float32(1)
        x[:, c] = (test[:, c].astype(np.float32) / np.float32(255) - np.float32(mean)) / std
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
    loss = float(F.cross_entropy(logits.double(), torch.from_numpy(labels)))
    pred = logits.argmax(1).numpy()
    acc = float((pred == labels).mean())
    conf = np.zeros((10, 10), int)
    for t, p in zip(labels, pred):
        conf[t, p] += 1

    with open(eval_output) as f:
        lines = f.read().splitlines()
    acc_line = next(l for l in lines if l.startswith("test accuracy"))
    t_acc, t_loss = float(acc_line.split()[2]), float(acc_line.split()[4])
    t_conf = np.array([[int(v) for v in l.split()[2:]] for l in lines if l.split()[:1] and l.split()[0] in CLASSES])
    print("PyTorch: accuracy %.4f loss %.6f; resnet_cifar eval: accuracy %.4f loss %.4f"
          % (acc, loss, t_acc, t_loss))
    if abs(acc - t_acc) > 1e-4 or abs(loss - t_loss) > 2e-4 or not (conf == t_conf).all():
        sys.exit("PyTorch's logits differ from tenet's:\n%s\nvs\n%s" % (conf, t_conf))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "data":
        make_data(sys.argv[2])
    elif cmd == "names":
        check_names(sys.argv[2], sys.argv[3])
    elif cmd == "torch":
        check_torch(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("unknown command " + cmd)
