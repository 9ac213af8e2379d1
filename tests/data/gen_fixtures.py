#!/usr/bin/python3
"""tests/data/gen_fixtures.py - fixtures for tests/data/ made with an
independent decoder (PIL), so that the C tests check stb_image's decoding.

    /usr/bin/python3 tests/data/gen_fixtures.py [shared-datasets-dir]

Writes into tests/fixtures/data/:
  cifar10_pil.safetensors  for each named image of ../shared/datasets/
                           cifar10-jpg, its pixels decoded by PIL as float32
                           (3, 32, 32) R, G, B planes (values 0..255), under
                           the name "<split>/<class>/<file>";
  lossless/<i>.{png,bmp,tga}  a few of those PIL pixels re-encoded losslessly
                           by PIL (which image: the "lossless" metadata), that
                           the C tests load through the image folder path
                           and must match exactly.
"""

import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from safetensors_io import write_safetensors  # noqa: E402

NAMED = [
    "train/airplane/0000.jpg",
    "train/automobile/0001.jpg",
    "train/bird/1234.jpg",
    "train/cat/4999.jpg",
    "train/truck/2500.jpg",
    "test/deer/0000.jpg",
    "test/frog/0500.jpg",
    "test/ship/0999.jpg",
    "test/truck/0999.jpg",
]
# Re-encoded losslessly: (named image, format).
LOSSLESS = [(0, "png"), (3, "png"), (5, "png"), (1, "bmp"), (7, "tga")]


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "datasets")
    src = os.path.join(shared, "cifar10-jpg")
    out = os.path.join(ROOT, "tests", "fixtures", "data")
    os.makedirs(os.path.join(out, "lossless"), exist_ok=True)
    tensors, pixels = {}, []
    for name in NAMED:
        with Image.open(os.path.join(src, name)) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
        assert a.shape == (32, 32, 3), (name, a.shape)
        pixels.append(a)
        tensors[name] = a.transpose(2, 0, 1).astype(np.float32)  # (3, H, W)
    for i, (j, fmt) in enumerate(LOSSLESS):
        path = os.path.join(out, "lossless", "%d.%s" % (i, fmt))
        Image.fromarray(pixels[j], "RGB").save(path)
        with Image.open(path) as im:  # lossless round trip
            assert np.array_equal(np.asarray(im.convert("RGB")), pixels[j]), path
    write_safetensors(os.path.join(out, "cifar10_pil.safetensors"), tensors,
                      {"generator": "tests/data/gen_fixtures.py",
                       "decoder": "PIL " + Image.__version__,
                       "images": ",".join(NAMED),
                       "lossless": ",".join("%d.%s=%s" % (i, f, NAMED[j])
                                            for i, (j, f) in enumerate(LOSSLESS))})
    print("wrote %d tensors to %s" % (len(tensors), out))


if __name__ == "__main__":
    main()
