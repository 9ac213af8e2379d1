"""tests/safetensors_io.py - read and write safetensors files in pure Python.

Used by every fixture generator (run with /usr/bin/python3, which has torch
and numpy).  The format: an 8-byte little-endian header length N, N bytes of
JSON {name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
"__metadata__": {str: str}}, padded with spaces to a multiple of 8, then the
raw little-endian data.  Only float32 is written (tenet reads F32 only);
reading also accepts the other common dtypes so that foreign files can be
inspected.

    write_safetensors(path, {"w": np.zeros((2, 3), np.float32)}, {"k": "v"})
    tensors, metadata = read_safetensors(path)   # dict of torch tensors
"""

import json
import os
import struct

import numpy as np

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "BOOL": np.bool_,
}


def _to_numpy(x):
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    # np.array keeps 0-dim shapes (np.ascontiguousarray would make them 1-D).
    return np.array(x, dtype=np.float32, order="C")


def write_safetensors(path, tensors, metadata=None):
    """Write {name: float32 array-like} (and {str: str} metadata) to path,
    tensors sorted by name, atomically (temporary file + rename)."""
    arrays = {name: _to_numpy(x) for name, x in tensors.items()}
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    names = sorted(arrays)
    for name in names:
        a = arrays[name]
        n = a.size * 4
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in names:
            f.write(arrays[name].astype("<f4").tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_safetensors(path, as_torch=True):
    """Return ({name: torch tensor (or numpy array)}, metadata dict)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        dt = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
        b, e = info["data_offsets"]
        a = np.frombuffer(data[b:e], dtype=dt).reshape(info["shape"]).copy()
        if as_torch:
            import torch
            a = torch.from_numpy(a.astype(a.dtype.newbyteorder("=")))
        out[name] = a
    return out, metadata
