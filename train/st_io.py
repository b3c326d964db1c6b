"""st_io.py — safetensors read/write without the `safetensors` package (same file format).

Format: u64 little-endian header length N, N bytes of JSON {"__metadata__": {...}, name: {"dtype",
"shape", "data_offsets": [begin, end]}} padded with spaces so that 8 + N is a multiple of 8, then
the raw little-endian tensor data.
"""

import json
import struct

import numpy as np
import torch

_DT = {"BF16": (torch.bfloat16, 2), "F16": (torch.float16, 2), "F32": (torch.float32, 4)}


def _raw(t, dtype):
    tdt, _ = _DT[dtype]
    x = t.detach().to("cpu").to(tdt).contiguous()
    if tdt == torch.bfloat16:
        return x.view(torch.int16).numpy().astype("<i2").tobytes()
    if tdt == torch.float16:
        return x.numpy().astype("<f2").tobytes()
    return x.numpy().astype("<f4").tobytes()


def save(path, tensors, dtype="BF16", metadata=None):
    """tensors: dict name -> tensor (any float dtype, any device), written as dtype, in dict order."""
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    blobs, off = [], 0
    for name, t in tensors.items():
        b = _raw(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)   # every tensor has the same element size, so offsets stay aligned
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-(8 + len(h))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path):
    """dict name -> float32 CPU tensor."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        dt = info["dtype"]
        if dt == "F32":
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif dt == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError("%s: unsupported dtype %s for %s" % (path, dt, name))
        out[name] = torch.from_numpy(arr.copy()).reshape(info["shape"])
    return out
