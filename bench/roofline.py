#!/usr/bin/env python3
"""Draws a roofline plot (SVG) of `tessera bench` or `bench/peers.py` figures.

Usage: python3 bench/roofline.py IN.json OUT.svg [--title TEXT]

IN.json is either what `tessera bench --json` writes (one point per workload and backend) or
what `bench/peers.py --json` writes (one point per workload and peer: Tessera's code generators,
ONNX Runtime, NumPy). Each workload sits at its arithmetic intensity (floating-point operations
per byte it must move at least, from the `flops` and `bytes` tessera reports; bandwidth-bound
workloads count nominal operations, one per elementwise operation or reduction step per
element) and at the GFLOP/s its median latency gives. The roof is the machine's peak as probed
in the same run: min(peak GFLOP/s, intensity x peak GB/s). No third-party packages needed.
"""

import html
import json
import math
import os
import sys

COLOURS = {"tessera-llvm": "#1f77b4", "tessera-cranelift": "#17becf", "onnxruntime": "#d62728",
           "numpy": "#2ca02c"}
MARKERS = {"tessera-llvm": "circle", "tessera-cranelift": "circle", "onnxruntime": "square",
           "numpy": "diamond"}


def marker(series, X, Y):
    """The series' marker centred on (X, Y)."""
    c = COLOURS.get(series, "#7f7f7f")
    shape = MARKERS.get(series, "circle")
    if shape == "square":
        return f'<rect x="{X - 4:.1f}" y="{Y - 4:.1f}" width="8" height="8" fill="{c}"/>'
    if shape == "diamond":
        return (f'<polygon points="{X:.1f},{Y - 5:.1f} {X + 5:.1f},{Y:.1f} {X:.1f},{Y + 5:.1f} '
                f'{X - 5:.1f},{Y:.1f}" fill="{c}"/>')
    return f'<circle cx="{X:.1f}" cy="{Y:.1f}" r="4" fill="{c}"/>'


def points_of(doc):
    """[(workload, series, intensity, gflops)] and the peak from either JSON form."""
    peak = doc.get("peak") or {}
    pts = []
    if "results" in doc:  # tessera bench --json
        for r in doc["results"]:
            f, b, ms = r.get("flops"), r.get("bytes"), r.get("median_ms")
            if f and b and ms:
                series = "tessera-" + r["backend"].split("/")[-1]
                pts.append((r["workload"], series, f / b, f / (ms * 1e-3) / 1e9))
    else:  # peers.py --json
        work = doc.get("work", {})
        for w, row in doc.get("median_ms", {}).items():
            f, b = work.get(w, {}).get("flops"), work.get(w, {}).get("bytes")
            if not (f and b):
                continue
            for series, ms in row.items():
                if ms:
                    pts.append((w, series, f / b, f / (ms * 1e-3) / 1e9))
    return pts, peak.get("gflops"), peak.get("gbps")


def svg(pts, peak_gf, peak_bw, title):
    width, height, left, right, top, bottom = 760, 520, 70, 170, 40, 60
    xs = [p[2] for p in pts] or [1.0]
    ys = [p[3] for p in pts] + ([peak_gf] if peak_gf else [])
    x0 = 10 ** math.floor(math.log10(min(xs) / 2))
    x1 = 10 ** math.ceil(math.log10(max(xs) * 2))
    y0 = 10 ** math.floor(math.log10(max(min(ys) / 2, 1e-3)))
    y1 = 10 ** math.ceil(math.log10(max(ys) * 1.5))
    pw, ph = width - left - right, height - top - bottom

    def px(x):
        return left + pw * (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0))

    def py(y):
        return top + ph * (1 - (math.log10(y) - math.log10(y0)) / (math.log10(y1) - math.log10(y0)))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="15">{html.escape(title)}</text>']
    # Grid and axes: one line per decade.
    d = x0
    while d <= x1 * 1.0001:
        out.append(f'<line x1="{px(d):.1f}" y1="{top}" x2="{px(d):.1f}" y2="{top + ph}" stroke="#ddd"/>')
        out.append(f'<text x="{px(d):.1f}" y="{top + ph + 16}" text-anchor="middle">{d:g}</text>')
        d *= 10
    d = y0
    while d <= y1 * 1.0001:
        out.append(f'<line x1="{left}" y1="{py(d):.1f}" x2="{left + pw}" y2="{py(d):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{py(d) + 4:.1f}" text-anchor="end">{d:g}</text>')
        d *= 10
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="black"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 18}" text-anchor="middle">'
               'arithmetic intensity (FLOP / byte)</text>')
    out.append(f'<text x="18" y="{top + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {top + ph / 2})">GFLOP/s</text>')
    # The roof, sampled densely along x.
    if peak_gf and peak_bw:
        steps = 200
        pts_roof = []
        for i in range(steps + 1):
            x = 10 ** (math.log10(x0) + (math.log10(x1) - math.log10(x0)) * i / steps)
            y = min(peak_gf, x * peak_bw)
            if y >= y0:
                pts_roof.append(f"{px(x):.1f},{py(y):.1f}")
        out.append(f'<polyline points="{" ".join(pts_roof)}" fill="none" stroke="black" stroke-width="2"/>')
        out.append(f'<text x="{left + pw - 4}" y="{py(peak_gf) - 6:.1f}" text-anchor="end">'
                   f'peak {peak_gf:.0f} GFLOP/s, {peak_bw:.1f} GB/s (probed)</text>')
    # Points: one marker per (workload, series); the workload named once, beside Tessera's.
    named = set()
    for w, series, x, y in sorted(pts):
        X, Y = px(x), py(y)
        out.append(marker(series, X, Y))
        if w not in named and series.startswith("tessera"):
            named.add(w)
            out.append(f'<text x="{X + 7:.1f}" y="{Y + 4:.1f}" font-size="10">{html.escape(w)}</text>')
    # Legend.
    seen = [s for s in COLOURS if any(p[1] == s for p in pts)]
    seen += sorted({p[1] for p in pts} - set(seen))
    for i, s in enumerate(seen):
        y = top + 10 + 18 * i
        out.append(marker(s, left + pw + 16, y))
        out.append(f'<text x="{left + pw + 26}" y="{y + 4}">{html.escape(s)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    title = "Roofline"
    if "--title" in argv:
        i = argv.index("--title")
        title = argv[i + 1]
    with open(argv[1]) as f:
        doc = json.load(f)
    pts, peak_gf, peak_bw = points_of(doc)
    if not pts:
        print(f"{argv[1]}: no workload with flops, bytes and a median", file=sys.stderr)
        return 1
    text = svg(pts, peak_gf, peak_bw, title)
    tmp = argv[2] + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, argv[2])
    print(f"wrote {argv[2]}: {len(pts)} points")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
