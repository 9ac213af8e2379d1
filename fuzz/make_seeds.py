#!/usr/bin/env python3
"""fuzz/make_seeds.py - write the seed corpora of the fuzz targets into
fuzz/corpus/<target>/ (committed; rerun after changing a format):
small valid inputs and near-valid ones that each break one rule."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------ safetensors

def st_file(header, data=b"", raw=None, pad=True):
    text = raw if raw is not None else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*xs):
    return struct.pack("<%df" % len(xs), *xs)


def ent(shape, b, e, dtype="F32"):
    return {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}


two = {"__metadata__": {"format": "pt", "resnet.depth": "20"},
       "a.weight": ent([2, 3], 0, 24), "b": ent([], 24, 28)}
put("safetensors", "valid_two", st_file(two, f32(*range(7))))
put("safetensors", "valid_empty", st_file({}))
put("safetensors", "valid_meta_only", st_file({"__metadata__": {}}))
put("safetensors", "valid_zero_size", st_file({"z": ent([0, 4], 0, 0), "y": ent([1], 0, 4)}, f32(1)))
put("safetensors", "valid_4d_gap", st_file({"w": ent([1, 1, 1, 2], 8, 16)}, f32(0, 0, 1, 2)))
put("safetensors", "valid_escapes", st_file(
    {"caf\u00e9\U0001F600\"\\/\b\f\n\r\t": ent([1], 0, 4), "__metadata__": {"k\u0001": "v\u2028"}},
    f32(3)))
put("safetensors", "valid_spaces", st_file(None, f32(1), raw=b' {\n "x" : {"dtype":"F32",'
                                           b' "shape":[1], "data_offsets":[0,4]}\t}\r\n'))
put("safetensors", "bad_overlap", st_file({"a": ent([2], 0, 8), "b": ent([2], 4, 12)}, f32(1, 2, 3)))
put("safetensors", "bad_dtype_i64", st_file({"n": ent([], 0, 8, "I64")}, b"\0" * 8))
put("safetensors", "bad_past_end", st_file({"a": ent([4], 0, 16)}, f32(1, 2)))
put("safetensors", "bad_numel", st_file({"a": ent([3], 0, 8)}, f32(1, 2)))
put("safetensors", "bad_rank5", st_file({"a": ent([1, 1, 1, 1, 1], 0, 4)}, f32(1)))
put("safetensors", "bad_huge_dim", st_file(None, f32(1), raw=b'{"a":{"dtype":"F32","shape":'
                                           b'[99999999999999999999],"data_offsets":[0,4]}}'))
put("safetensors", "bad_float_offset", st_file(None, f32(1), raw=b'{"a":{"dtype":"F32","shape":'
                                               b'[1],"data_offsets":[0,4.0]}}'))
put("safetensors", "bad_dup_name", st_file(None, f32(1, 2), raw=b'{"a":{"dtype":"F32","shape":[1],'
                                           b'"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],'
                                           b'"data_offsets":[4,8]}}'))
put("safetensors", "bad_dup_key", st_file(None, f32(1), raw=b'{"a":{"dtype":"F32","dtype":"F32",'
                                          b'"shape":[1],"data_offsets":[0,4]}}'))
put("safetensors", "bad_dup_meta", st_file(None, raw=b'{"__metadata__":{"k":"1","k":"2"}}'))
put("safetensors", "bad_meta_number", st_file(None, raw=b'{"__metadata__":{"k":1}}'))
put("safetensors", "bad_nested", st_file(None, raw=b'{"a":{"dtype":"F32","shape":[[[[1]]]],'
                                         b'"data_offsets":[0,4]}}' + b"[" * 64))
put("safetensors", "bad_surrogate", st_file(None, raw=b'{"\\ud800x":{"dtype":"F32","shape":[],'
                                            b'"data_offsets":[0,4]}}', data=f32(1)))
put("safetensors", "bad_utf8", st_file(None, raw=b'{"\xc0\xaf":{"dtype":"F32","shape":[],'
                                       b'"data_offsets":[0,4]}}', data=f32(1)))
put("safetensors", "bad_trailing", st_file(None, raw=b'{}{}'))
put("safetensors", "bad_header_len", struct.pack("<Q", 1 << 40) + b"{}")
put("safetensors", "bad_short", b"\x02\0\0")

# ------------------------------------------------------------ image cache
# flags byte, then the 64-byte header (magic, version, endian, n, c, h, w,
# n_classes, resize, fingerprint, checksum, names_bytes), labels, pixels.

def cache(flags, n=2, c=3, h=4, w=4, k=2, labels=(0, 1), pixels=None, magic=b"TNIMGCAC",
          version=1, endian=0x01020304, checksum=0):
    if pixels is None:
        pixels = bytes([40] * 48 + [200] * 48)
    hdr = magic + struct.pack("<II6iQQQ", version, endian, n, c, h, w, k, 0, 0, checksum, 0)
    assert len(hdr) == 64
    return bytes([flags]) + hdr + struct.pack("<%di" % len(labels), *labels) + pixels


put("image_cache", "valid", cache(0x07))
put("image_cache", "no_fixups", cache(0x00))
put("image_cache", "bad_checksum", cache(0x03))
put("image_cache", "bad_fingerprint", cache(0x05))
put("image_cache", "bad_names_bytes", cache(0x06))
put("image_cache", "grey", cache(0x0f))
put("image_cache", "labels_swapped", cache(0x07, labels=(1, 0)))
put("image_cache", "label_out_of_range", cache(0x07, labels=(0, 7)))
put("image_cache", "three_images", cache(0x07, n=3, labels=(0, 1, 1), pixels=bytes(144)))
put("image_cache", "truncated", cache(0x07)[:-20])
put("image_cache", "long", cache(0x07) + b"\0" * 16)
put("image_cache", "big_size", cache(0x07, h=1 << 14, w=1 << 14))
put("image_cache", "negative", cache(0x07, n=-1, h=-4))
put("image_cache", "bad_version", cache(0x07, version=2))
put("image_cache", "raw_magic", b"\x80TNIMGCAC")
put("image_cache", "raw_empty", b"\x80")

# ----------------------------------------------------------------- config

def argv(*args):
    return b"\0".join(a.encode() for a in args)


put("config", "defaults", b"--quiet")
put("config", "full", argv("--model", "resnet32", "--method", "adamw", "--lr", "1e-3", "--wd=5e-4",
                           "--schedule", "multistep", "--milestones", "2,4.5,8", "--gamma", "0.2",
                           "--epochs", "10", "--batch", "64", "--data", "d", "--no-cache",
                           "--subset", "20", "--test-subset", "10", "--threads", "1", "--seed",
                           "7", "--out", "runs/x", "--resume"))
put("config", "custom", argv("--optimizer", "rmsprop", "--reg", "prox-l1", "--momentum", "0.5",
                             "--schedule", "onecycle", "--warmup", "0.5", "--clip", "1"))
put("config", "adam", argv("--optimizer=radam", "--beta1", "0.8", "--beta2=0.99", "--eps", "1e-6",
                           "--schedule=restarts", "--t0", "2", "--tmult", "3"))
put("config", "model", argv("--depth", "56", "--variant", "preact", "--shortcut", "b", "--width",
                            "6", "--zero-init-residual", "--dropout", "0.2", "--no-bn"))
put("config", "data", argv("--val", "0.1", "--patience", "3", "--no-augment", "--cutout", "8",
                           "--mixup", "0.2", "--cutmix", "1", "--label-smoothing", "0.1",
                           "--noise", "0.05", "--cache", "/tmp/c", "--init", "a.safetensors",
                           "--stop-after-steps", "5", "--wd-norm", "0.05", "--eta-min", "0.01"))
put("config", "bad_value", argv("--lr", "abc"))
put("config", "bad_missing", argv("--epochs"))
put("config", "bad_combo", argv("--method", "adam-l2", "--momentum", "0.9", "--nesterov"))
put("config", "bad_milestones", argv("--milestones", "5,2,,1e999"))
put("config", "bad_depth", argv("--model", "resnet21", "--depth", "9999999999999999999"))
put("config", "bad_width", argv("--width", "6"))
put("config", "bad_patience", argv("--patience", "2"))
put("config", "long_path", argv("--out", "x" * 1100))
