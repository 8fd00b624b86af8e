"""Minimal safetensors reader/writer built on numpy.

File layout (all little-endian):
    u64 N                      -- byte length of the JSON header
    N bytes of JSON            -- {name: {"dtype", "shape", "data_offsets": [begin, end]},
                                   "__metadata__": {str: str}}
                                  padded with spaces so that 8 + N is a multiple of 8
    raw tensor data            -- offsets are relative to the first byte after the header

Supported dtypes: F32, F16, BF16 (read and write), F64 (read only).
BF16 values are produced from float32 with round-to-nearest-even and stored as
uint16 (the top half of the float32 bit pattern).

API:
    save_file(tensors, path, metadata=None)
        tensors: dict name -> (np.ndarray, dtype_str) with dtype_str in {"F32","F16","BF16"}
    load_file(path) -> dict name -> np.float32 array
    load_metadata(path) -> dict (the "__metadata__" entry, possibly empty)
    bf16_round(a) -> np.float32 array holding exactly what a BF16 store reproduces
    f16_round(a)  -> np.float32 array holding exactly what an F16 store reproduces
    round_to(a, dtype_str) -> the matching rounding for "F32"/"F16"/"BF16"

Usable as a script:  /usr/bin/python3 tools/safetensors_io.py FILE   (lists tensors)
"""

import json
import struct
import sys

import numpy as np

__all__ = [
    "save_file",
    "load_file",
    "load_metadata",
    "read_header",
    "bf16_round",
    "f16_round",
    "round_to",
    "to_bf16_bits",
    "from_bf16_bits",
]

_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}


def to_bf16_bits(a):
    """float32 array -> uint16 array of bfloat16 bit patterns (round to nearest, ties to even)."""
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    u = a.view(np.uint32).astype(np.uint64)
    lsb = (u >> np.uint64(16)) & np.uint64(1)
    rounded = (u + np.uint64(0x7FFF) + lsb) >> np.uint64(16)
    bits = rounded.astype(np.uint16)  # overflow to inf is handled naturally by the carry
    nan = np.isnan(a)
    if nan.any():
        # keep sign and force a quiet NaN payload
        hi = (u >> np.uint64(16)).astype(np.uint16)
        bits = np.where(nan, hi | np.uint16(0x0040), bits)
    return bits.astype(np.uint16)


def from_bf16_bits(bits):
    """uint16 array of bfloat16 bit patterns -> float32 array."""
    bits = np.ascontiguousarray(np.asarray(bits, dtype=np.uint16))
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def bf16_round(a):
    """Value a BF16 store of float32 array `a` reproduces, as float32."""
    a = np.asarray(a, dtype=np.float32)
    return from_bf16_bits(to_bf16_bits(a)).reshape(a.shape)


def f16_round(a):
    """Value an F16 store of float32 array `a` reproduces, as float32 (numpy rounds to nearest even)."""
    a = np.asarray(a, dtype=np.float32)
    return a.astype(np.float16).astype(np.float32)


def round_to(a, dtype):
    if dtype == "F32":
        return np.asarray(a, dtype=np.float32).copy()
    if dtype == "F16":
        return f16_round(a)
    if dtype == "BF16":
        return bf16_round(a)
    raise ValueError("unsupported dtype %r" % (dtype,))


def _encode(arr, dtype):
    arr = np.asarray(arr)
    if dtype == "F32":
        return np.ascontiguousarray(arr, dtype="<f4").tobytes()
    if dtype == "F16":
        return np.ascontiguousarray(arr.astype(np.float32).astype("<f2")).tobytes()
    if dtype == "BF16":
        return np.ascontiguousarray(to_bf16_bits(arr.astype(np.float32)).astype("<u2")).tobytes()
    raise ValueError("unsupported dtype %r" % (dtype,))


def save_file(tensors, path, metadata=None):
    """Write `tensors` (name -> (array, dtype_str)) to `path` in safetensors format.

    Tensors are laid out in sorted-name order. Metadata values are converted to str.
    """
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr, dtype = tensors[name]
        if dtype not in ("F32", "F16", "BF16"):
            raise ValueError("unsupported dtype %r for %s" % (dtype, name))
        arr = np.asarray(arr)
        data = _encode(arr, dtype)
        assert len(data) == arr.size * _ITEMSIZE[dtype]
        header[name] = {
            "dtype": dtype,
            "shape": [int(s) for s in arr.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    pad = (-(8 + len(hjson))) % 8
    hjson += b" " * pad
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def read_header(path):
    """Return (header_dict, data_start_offset) of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError("%s: truncated header length" % path)
        (n,) = struct.unpack("<Q", raw)
        hjson = f.read(n)
        if len(hjson) != n:
            raise ValueError("%s: truncated header" % path)
    return json.loads(hjson.decode("utf-8")), 8 + n


def load_metadata(path):
    header, _ = read_header(path)
    return dict(header.get("__metadata__", {}))


def load_file(path):
    """Read a safetensors file; every tensor is returned as a float32 numpy array."""
    header, start = read_header(path)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info["dtype"]
        shape = tuple(info["shape"])
        b, e = info["data_offsets"]
        if not (0 <= b <= e <= len(data)):
            raise ValueError("%s: bad data_offsets for %s" % (path, name))
        n = int(np.prod(shape, dtype=np.int64))
        if e - b != n * _ITEMSIZE.get(dtype, -1):
            raise ValueError("%s: size mismatch for %s (%s %s)" % (path, name, dtype, shape))
        buf = data[b:e]
        if dtype == "F32":
            a = np.frombuffer(buf, dtype="<f4").astype(np.float32)
        elif dtype == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif dtype == "BF16":
            a = from_bf16_bits(np.frombuffer(buf, dtype="<u2"))
        elif dtype == "F64":
            a = np.frombuffer(buf, dtype="<f8").astype(np.float32)
        else:
            raise ValueError("%s: unsupported dtype %s for %s" % (path, dtype, name))
        out[name] = a.reshape(shape)
    return out


def _main(argv):
    for path in argv[1:]:
        header, start = read_header(path)
        print("%s  (header %d bytes, data starts at %d)" % (path, start - 8, start))
        meta = header.get("__metadata__")
        if meta:
            print("  metadata:", meta)
        for name in sorted(k for k in header if k != "__metadata__"):
            info = header[name]
            print("  %-50s %-5s %s" % (name, info["dtype"], info["shape"]))


if __name__ == "__main__":
    _main(sys.argv)
