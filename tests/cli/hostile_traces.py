#!/usr/bin/env python3
"""hostile_traces.py IN.dlmtrace OUTDIR — write hostile variants of a real trace for the
reliability tests (tests/cli/test_reliability.sh). Each variant is one defect class found by the
hostile-input campaign of issue 18; the file name says which. IN should be a t2m trace of the
fixture model with at least 5 steps.

Standard library only (CI has no msgpack module): a MessagePack subset that covers what traces
use (maps, arrays, str, bin, int, float, bool, nil). Strings are kept as bytes-faithful Python
str (surrogateescape), so invalid UTF-8 round-trips.
"""
import math
import os
import struct
import sys


class Reader:
    def __init__(self, data):
        self.d, self.i = data, 0

    def take(self, n):
        if self.i + n > len(self.d):
            raise ValueError("truncated")
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def u(self, n):
        return int.from_bytes(self.take(n), "big")

    def obj(self):
        b = self.u(1)
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0x80 <= b <= 0x8F:
            return self.map(b & 0x0F)
        if 0x90 <= b <= 0x9F:
            return [self.obj() for _ in range(b & 0x0F)]
        if 0xA0 <= b <= 0xBF:
            return self.take(b & 0x1F).decode("utf-8", "surrogateescape")
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if b in simple:
            return simple[b]
        if b in (0xC4, 0xC5, 0xC6):
            return bytes(self.take(self.u({0xC4: 1, 0xC5: 2, 0xC6: 4}[b])))
        if b == 0xCA:
            return struct.unpack(">f", self.take(4))[0]
        if b == 0xCB:
            return struct.unpack(">d", self.take(8))[0]
        if b in (0xCC, 0xCD, 0xCE, 0xCF):
            return self.u({0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}[b])
        if b in (0xD0, 0xD1, 0xD2, 0xD3):
            n = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}[b]
            return int.from_bytes(self.take(n), "big", signed=True)
        if b in (0xD9, 0xDA, 0xDB):
            return self.take(self.u({0xD9: 1, 0xDA: 2, 0xDB: 4}[b])).decode("utf-8", "surrogateescape")
        if b in (0xDC, 0xDD):
            return [self.obj() for _ in range(self.u(2 if b == 0xDC else 4))]
        if b in (0xDE, 0xDF):
            return self.map(self.u(2 if b == 0xDE else 4))
        raise ValueError("unsupported msgpack byte 0x%02x" % b)

    def map(self, n):
        out = {}
        for _ in range(n):
            k = self.obj()
            out[k] = self.obj()
        return out


def pack(o):
    if o is None:
        return b"\xc0"
    if o is True:
        return b"\xc3"
    if o is False:
        return b"\xc2"
    if isinstance(o, int):
        if 0 <= o <= 0x7F:
            return bytes([o])
        if o < 0:
            return b"\xd3" + struct.pack(">q", o)
        return b"\xcf" + struct.pack(">Q", o)
    if isinstance(o, float):
        return b"\xcb" + struct.pack(">d", o)
    if isinstance(o, str):
        b = o.encode("utf-8", "surrogateescape")
        return b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(o, (bytes, bytearray)):
        return b"\xc6" + struct.pack(">I", len(o)) + bytes(o)
    if isinstance(o, list):
        return b"\xdd" + struct.pack(">I", len(o)) + b"".join(pack(x) for x in o)
    if isinstance(o, dict):
        return b"\xdf" + struct.pack(">I", len(o)) + b"".join(pack(k) + pack(v) for k, v in o.items())
    raise TypeError(type(o))


def records(path):
    r = Reader(open(path, "rb").read())
    out = []
    while r.i < len(r.d):
        out.append(r.obj())
    return out


def write(outdir, name, recs):
    with open(os.path.join(outdir, name), "wb") as f:
        for rec in recs:
            f.write(pack(rec))


def main():
    src, outdir = sys.argv[1], sys.argv[2]
    recs = records(src)
    head, steps = recs[0], [x for x in recs if x.get("type") == "step"]
    assert len(steps) >= 5, "the input trace needs at least 5 steps"
    copy = lambda: [dict(x) for x in [head] + steps]

    # 2: a header string that is not UTF-8 (a model folder named in Latin-1), NaN and Inf times.
    v = copy()
    v[0]["model"] = dict(v[0]["model"], name="mod\udce8le", dir="/models/mod\udce8le")
    v[1]["forward_ms"] = math.nan
    v[2]["forward_ms"] = math.inf
    write(outdir, "json-unsafe.dlmtrace", v)

    # 4: session counters near INT32_MAX after step 3 (each alone).
    for key in ("step", "step_in_block", "post_steps"):
        v = copy()
        v[4]["session"] = dict(v[4]["session"], **{key: 2**31 - 2})
        write(outdir, "counter-%s.dlmtrace" % key, v)

    # 10: a small file that claims a million generation positions (the most a rule allows), with
    # and without step records.
    gen = 1 << 20
    v = copy()
    v[0]["gen_len"], v[0]["n_tokens"] = gen, v[0]["prompt_len"] + gen
    v[0]["rule"] = v[0]["rule"].replace("gen=16,", "gen=%d," % gen)
    for s in v[1:]:
        s["session"] = dict(s["session"], rule=s["session"]["rule"].replace("gen=16,", "gen=%d," % gen))
    write(outdir, "huge-claim.dlmtrace", v)
    write(outdir, "huge-claim-header-only.dlmtrace", v[:1])

    # Interventions (format 1.3, issue 19), on step 2: an unknown kind, a position past the canvas,
    # more entries than a step may hold, a token past the vocabulary, a pin on a masked position.
    P, N = head["prompt_len"], head["n_tokens"]
    iv = lambda **kw: dict({"who": "user", "what": "force", "pos": P, "end": P + 1, "token": 3}, **kw)
    for name, entries in (("iv-what", [iv(what="delete")]), ("iv-pos", [iv(what="pin", pos=N, end=N + 1)]),
                          ("iv-many", [iv(what="pin")] * 65), ("iv-token", [iv(token=head["model"]["n_vocab"])])):
        v = copy()
        v[3]["interventions"] = entries
        write(outdir, name + ".dlmtrace", v)
    v = copy()
    masked = [i for i in range(N - P) if v[3]["token"][2 * i:2 * i + 2] == head["model"]["mask_id"].to_bytes(2, "little")]
    pinned = bytearray(N - P)
    pinned[masked[0] if masked else 0] = 1 if masked else 2
    v[3]["session"] = dict(v[3]["session"], pinned=bytes(pinned))
    write(outdir, "iv-pinned-mask.dlmtrace", v)

    # 12: records out of order, and a record repeated.
    v = copy()
    v[2], v[3] = v[3], v[2]
    write(outdir, "swapped.dlmtrace", v)
    v = copy()
    write(outdir, "repeated.dlmtrace", v[:2] + v[1:])


if __name__ == "__main__":
    main()
