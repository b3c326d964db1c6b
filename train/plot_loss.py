#!/usr/bin/env python3
"""plot_loss.py — loss curve PNG from train_log.csv (and cts_log.csv) for the model card.

    python3 train/plot_loss.py OUT/train_log.csv OUT/loss.png [--stage OUT/train_log_arith.csv]
                               [--cts OUT/evotoken-cts/cts_log.csv]

Uses matplotlib when it is installed; otherwise draws the same plot with a tiny built-in PNG
writer (zlib + a 5x7 bitmap font), so it works on a machine with only torch.
"""

import argparse
import csv
import math
import struct
import sys
import zlib


def read_log(path, key):
    xs, ys = [], []
    with open(path) as f:
        for row in csv.DictReader(f):
            try:
                xs.append(float(row["step"]))
                ys.append(float(row[key]))
            except (KeyError, ValueError):
                pass
    return xs, ys


def plot_matplotlib(series, out, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.6), dpi=120)
    if len(series) == 1:
        axes = [axes]
    for ax, (name, curves) in zip(axes, series):
        for label, (xs, ys) in curves:
            ax.plot(xs, ys, label=label, linewidth=1.2)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if len(curves) > 1:
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out)


# ---- fallback: a minimal raster plot -------------------------------------------------------

FONT = {  # 5x7, rows top to bottom, '#' = ink
    "0": [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
    "1": ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
    "2": [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
    "3": ["####.", "....#", "....#", ".###.", "....#", "....#", "####."],
    "4": ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
    "5": ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
    "6": [".###.", "#....", "#....", "####.", "#...#", "#...#", ".###."],
    "7": ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
    "8": [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
    "9": [".###.", "#...#", "#...#", ".####", "....#", "....#", ".###."],
    ".": [".....", ".....", ".....", ".....", ".....", ".##..", ".##.."],
    "-": [".....", ".....", ".....", "#####", ".....", ".....", "....."],
    " ": ["....."] * 7,
    "a": [".....", ".....", ".###.", "....#", ".####", "#...#", ".####"],
    "c": [".....", ".....", ".###.", "#....", "#....", "#...#", ".###."],
    "e": [".....", ".....", ".###.", "#...#", "#####", "#....", ".###."],
    "k": ["#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."],
    "l": [".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."],
    "m": [".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"],
    "o": [".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."],
    "p": [".....", ".....", "####.", "#...#", "####.", "#....", "#...."],
    "s": [".....", ".....", ".####", "#....", ".###.", "....#", "####."],
    "t": [".#...", ".#...", "####.", ".#...", ".#...", ".#..#", "..##."],
    "/": ["....#", "...#.", "...#.", "..#..", ".#...", ".#...", "#...."],
}
COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def set(self, x, y, c):
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(c)

    def line(self, x0, y0, x1, y1, c, thick=1):
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for i in range(n + 1):
            x = x0 + (x1 - x0) * i / max(n, 1)
            y = y0 + (y1 - y0) * i / max(n, 1)
            for dx in range(thick):
                for dy in range(thick):
                    self.set(int(round(x)) + dx, int(round(y)) + dy, c)

    def text(self, x, y, s, c=(0, 0, 0), scale=2):
        for ch in s:
            g = FONT.get(ch, FONT[" "])
            for r, row in enumerate(g):
                for q, v in enumerate(row):
                    if v == "#":
                        for dx in range(scale):
                            for dy in range(scale):
                                self.set(x + q * scale + dx, y + r * scale + dy, c)
            x += 6 * scale

    def png(self, path):
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3]) for y in range(self.h))

        def chunk(t, d):
            return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)))
            f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
            f.write(chunk(b"IEND", b""))


def fmt(v):
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return "%dk" % round(v / 1000) if v % 1000 == 0 else "%.1fk" % (v / 1000)
    return ("%.2f" % v).rstrip("0").rstrip(".")


def plot_fallback(series, out, title):
    pw, ph = 480, 320
    W, H = pw * len(series), ph
    cv = Canvas(W, H)
    for si, (name, curves) in enumerate(series):
        ox = si * pw
        L, R, T, B = ox + 70, ox + pw - 20, 40, ph - 50
        allx = [x for _, (xs, _) in curves for x in xs]
        ally = [y for _, (_, ys) in curves for y in ys if math.isfinite(y)]
        if not allx or not ally:
            continue
        x0, x1 = min(allx), max(allx)
        y0, y1 = min(ally), max(ally)
        if y1 - y0 < 1e-9:
            y1 = y0 + 1
        y0 = max(0.0, y0 - 0.05 * (y1 - y0))

        def X(v):
            return L + (v - x0) / max(x1 - x0, 1e-9) * (R - L)

        def Y(v):
            return B - (v - y0) / (y1 - y0) * (B - T)

        for k in range(5):
            yv = y0 + (y1 - y0) * k / 4
            cv.line(L, Y(yv), R, Y(yv), (225, 225, 225))
            cv.text(ox + 4, int(Y(yv)) - 6, fmt(yv), scale=2)
            xv = x0 + (x1 - x0) * k / 4
            cv.text(int(X(xv)) - 12, B + 8, fmt(round(xv)), scale=2)
        cv.line(L, T, L, B, (0, 0, 0))
        cv.line(L, B, R, B, (0, 0, 0))
        for ci, (label, (xs, ys)) in enumerate(curves):
            c = COLORS[ci % len(COLORS)]
            pts = [(X(x), Y(y)) for x, y in zip(xs, ys) if math.isfinite(y)]
            for (a, b), (p, q) in zip(pts, pts[1:]):
                cv.line(a, b, p, q, c, thick=2)
            cv.text(L + 10 + ci * 110, 8, label, c, scale=2)
        cv.text(ox + pw // 2 - 24, B + 30, "step", scale=2)
    cv.png(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train_log")
    ap.add_argument("out")
    ap.add_argument("--stage", default=None, help="a further SFT stage's train log, for its own panel")
    ap.add_argument("--cts", default=None, help="cts_log.csv for a panel of its own")
    ap.add_argument("--title", default="dlm-tiny training loss")
    a = ap.parse_args()
    series = [("sft", [("loss", read_log(a.train_log, "loss")), ("mask", read_log(a.train_log, "mask_loss")),
                       ("t2t", read_log(a.train_log, "t2t_loss"))])]
    if a.stage:
        series.append(("sft, arith stage", [("loss", read_log(a.stage, "loss")),
                                            ("mask", read_log(a.stage, "mask_loss"))]))
    if a.cts:
        series.append(("cts", [("cts", read_log(a.cts, "loss"))]))
    try:
        plot_matplotlib(series, a.out, a.title)
        how = "matplotlib"
    except ImportError:
        plot_fallback(series, a.out, a.title)
        how = "built-in PNG writer"
    print("wrote %s (%s)" % (a.out, how))
    return 0


if __name__ == "__main__":
    sys.exit(main())
