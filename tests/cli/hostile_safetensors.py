#!/usr/bin/env python3
"""hostile_safetensors.py FILE short|gap — alter a safetensors file in place so that its tensors
no longer tile the data block (tests/cli/test_reliability.sh, issue 18):
  short  the header length says one byte less than the header holds (its last padding space
         joins the data block), so every offset points one byte early
  gap    eight bytes (alignment kept) between the first tensor and the rest, offsets adjusted
"""
import json
import struct
import sys

path, how = sys.argv[1], sys.argv[2]
b = open(path, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
head, data = b[8:8 + n].rstrip(b" "), b[8 + n:]
if how == "gap":
    h = json.loads(head)
    first_end = min(v["data_offsets"][1] for k, v in h.items() if k != "__metadata__")
    for k, v in h.items():
        if k != "__metadata__" and v["data_offsets"][0] >= first_end:
            v["data_offsets"] = [v["data_offsets"][0] + 8, v["data_offsets"][1] + 8]
    head, data = json.dumps(h).encode(), data[:first_end] + bytes(8) + data[first_end:]
    out = struct.pack("<Q", len(head)) + head + data
elif how == "short":
    out = struct.pack("<Q", len(head)) + head + b" " + data
else:
    sys.exit("hostile_safetensors.py: unknown mode " + how)
open(path, "wb").write(out)
