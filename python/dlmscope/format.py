"""The dlmscope trace file format (docs/trace-format.md is normative): msgpack encoding only.

TraceWriter knows nothing about decoding rules: it takes a header dict and per-step columns
(numpy arrays over the generation region) and writes them exactly as the C writer
(record/trace_writer.c) does: maps with string keys, little-endian binary columns, one record per
step appended and flushed as it happens, a footer with the step index on a clean close.
The Recorder (recorder.py) derives those columns from the tensors a decoding loop has.
"""

import os
import time

import msgpack
import numpy as np

FORMAT = "dlmscope-trace"
VERSION = (1, 1)          # the trace format version this writer produces (record/trace_format.h)
TOP_K_MAX = 8             # DLM_SNAPSHOT_TOP_MAX
SOFT_MAX = 9              # DLM_SOFT_MAX: k_soft (<= 8) candidates + the position's own token
MAX_TOKEN_BYTES = 4096

# Position states (column "state") and event bits (column "events"): engine/session.h.
PROMPT, MASK, SOFT_MASK, SOFT, DECODED = 0, 1, 2, 3, 4
STATE_NAMES = ("prompt", "mask", "soft-mask", "soft", "decoded")
COMMIT, EDIT, REMASK, TRANSITION, FINALIZE = 1, 2, 4, 8, 16
EVENT_NAMES = ("commit", "edit", "remask", "transition", "finalize")
FLAG_HAS_DIST, FLAG_STUCK = 1, 2


def quant_p(p):
    """Probabilities -> u16: round(p * 65535) in float32 arithmetic, as dlm_trace_quant_p."""
    p = np.asarray(p, dtype=np.float32)
    q = np.rint(p * np.float32(65535.0))
    q = np.where(p > 0, q, 0)                      # also maps NaN to 0
    return np.where(p >= 1, 65535, q).astype("<u2")


def dequant_p(q):
    return (np.asarray(q, dtype=np.float32) / np.float32(65535.0)).astype(np.float32)


def quant_entropy(h):
    """Entropy in nats -> u16 of nats * 2048, saturating (dlm_trace_quant_entropy)."""
    h = np.asarray(h, dtype=np.float32).astype(np.float64)
    v = np.rint(h * 2048.0)
    v = np.where(h > 0, v, 0)
    return np.where(v >= 65535, 65535, v).astype("<u2")


def dequant_entropy(q):
    return (np.asarray(q, dtype=np.float32) / np.float32(2048.0)).astype(np.float32)


def bf16_bits(w):
    """float32 -> the top 16 bits, rounded to nearest even (dlm_f32_to_bf16; NaN kept as NaN)."""
    f = np.asarray(w, dtype=np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    s16 = np.uint64(16)
    r = ((u + np.uint64(0x7FFF) + ((u >> s16) & np.uint64(1))) >> s16).astype(np.uint16)
    return np.where(np.isnan(f), ((u >> s16) | np.uint64(0x40)).astype(np.uint16), r).astype("<u2")


def bf16_value(bits):
    return (np.asarray(bits, dtype=np.uint32) << np.uint32(16)).view(np.float32)


def fnv1a64(data, seed=0):
    """dlm_hash64: FNV-1a 64 with the offset basis xored with seed."""
    h = 1469598103934665603 ^ seed
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


class TraceWriter:
    """Low-level writer: header at open, step records, footer at close (see docs/trace-format.md).

    header: a dict with the header keys of the format (type/format/version are added), where
    prompt_ids is a sequence of ints (encoded here as an id column). Token text: call
    step(..., new_tokens=...) / pass header["new_tokens"] as {id: bytes}; ids already written are
    dropped, so callers may pass every id they see.
    """

    def __init__(self, path, header):
        self.path = path
        self.n_vocab = int(header["model"]["n_vocab"])
        self.id_width = 2 if self.n_vocab <= 65536 else 4
        self.id_dtype = "<u2" if self.id_width == 2 else "<u4"
        self.prompt_len = int(header["prompt_len"])
        self.n_tokens = int(header["n_tokens"])
        self.gen_len = int(header["gen_len"])
        self.mask_id = int(header["model"]["mask_id"])
        self.seen = np.zeros(self.n_vocab, dtype=bool)
        self.offsets = []
        self.pos = 0
        self.totals = dict(commits=0, edits=0, remasks=0, forward_ms=0.0)
        self.last_tokens = np.full(self.gen_len, self.mask_id, dtype=np.int64)
        self.f = open(path, "wb")
        h = {"type": "header", "format": FORMAT, "version": list(VERSION)}
        for k, v in header.items():
            if k in ("new_tokens", "type", "format", "version"):
                continue
            h[k] = v
        h["id_width"] = self.id_width
        h["prompt_ids"] = self.ids(header["prompt_ids"])
        self._token_table(h, header.get("new_tokens"))
        self._write(h)

    # ---- columns -------------------------------------------------------------------------------

    def ids(self, a):
        a = np.asarray(a, dtype=np.int64).ravel()
        if a.size and (a.min() < 0 or a.max() >= self.n_vocab):
            bad = a[(a < 0) | (a >= self.n_vocab)][0]
            raise ValueError("%s: token id %d is outside the vocabulary [0, %d)" % (self.path, bad, self.n_vocab))
        return a.astype(self.id_dtype).tobytes()

    @staticmethod
    def u8(a):
        return np.asarray(a).astype(np.uint8).ravel().tobytes()

    @staticmethod
    def u16(a):
        return np.asarray(a).astype("<u2").ravel().tobytes()

    @staticmethod
    def f32(a):
        return np.asarray(a, dtype="<f4").ravel().tobytes()

    def _token_table(self, rec, new_tokens):
        """new_token_ids / new_token_bytes for the ids not written yet (both keys always present,
        as the C writer does; empty without a tokenizer)."""
        ids, raw = [], []
        for i, b in (new_tokens or {}).items():
            i = int(i)
            if 0 <= i < self.n_vocab and not self.seen[i] and b is not None:
                self.seen[i] = True
                ids.append(i)
                raw.append(bytes(b[:MAX_TOKEN_BYTES]))
        rec["new_token_ids"] = ids
        rec["new_token_bytes"] = raw

    def _write(self, rec):
        data = msgpack.packb(rec, use_bin_type=True)
        self.f.write(data)
        self.f.flush()                 # a killed process leaves every complete record readable
        self.pos += len(data)

    # ---- records -------------------------------------------------------------------------------

    def step(self, scalars, columns, session, new_tokens=None):
        """Append one step record. scalars: the step's scalar keys (step, block, n_blocks, ...);
        columns: the encoded binary columns and top_k / soft_k (dict, insertion order kept);
        session: the session map (already encoded)."""
        rec = {"type": "step"}
        rec.update(scalars)
        self._token_table(rec, new_tokens)
        rec.update(columns)
        rec["session"] = session
        self.offsets.append(self.pos)
        self._write(rec)
        for k in ("commits", "edits", "remasks"):
            self.totals[k] += int(scalars[k])
        self.totals["forward_ms"] += float(scalars["forward_ms"])
        return len(self.offsets) - 1

    def set_last_tokens(self, tokens_gen):
        self.last_tokens = np.asarray(tokens_gen[:self.gen_len], dtype=np.int64)

    def close(self):
        if self.f is None:
            return
        idx = np.zeros(2 * len(self.offsets), dtype="<u4")
        off = np.asarray(self.offsets, dtype=np.uint64)
        idx[0::2] = (off & 0xFFFFFFFF).astype(np.uint32)
        idx[1::2] = (off >> np.uint64(32)).astype(np.uint32)
        self._write({"type": "footer", "steps": len(self.offsets), "final": self.ids(self.last_tokens),
                     "commits": self.totals["commits"], "edits": self.totals["edits"],
                     "remasks": self.totals["remasks"], "forward_ms": float(self.totals["forward_ms"]),
                     "index": idx.tobytes()})
        os.fsync(self.f.fileno())
        self.f.close()
        self.f = None

    def abort(self):
        """Stop without a footer (the file stays readable up to its last record)."""
        if self.f is not None:
            self.f.close()
            self.f = None


def now_ms():
    return time.perf_counter() * 1e3
