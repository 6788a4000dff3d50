#!/usr/bin/env python3
"""Draw the events table of interp/bench/events.sh as an SVG bar chart:
throughput of each mode relative to the global-lock mode, per example.

Usage: interp/bench/events.sh > table.md && python3 interp/bench/plot.py table.md docs/scheme-events.svg"""
import sys

rows = []
for line in open(sys.argv[1]):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 8 and cells[0] not in ("example", "---"):
        rows.append((cells[0], cells[1], float(cells[7].rstrip("x"))))
examples = list(dict.fromkeys(r[0] for r in rows))
modes = list(dict.fromkeys(r[1] for r in rows))
colors = ["#999999", "#4477aa", "#66ccee", "#ee6677"]
W, H, left, bottom, top = 760, 360, 60, 50, 30
ymax = max(2.0, max(r[2] for r in rows) * 1.1)
group = (W - left - 20) / len(examples)
bar = group * 0.8 / len(modes)
y = lambda v: H - bottom - (H - bottom - top) * v / ymax
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<text x="{W/2}" y="18" text-anchor="middle">tmgc-scheme: events per second relative to the global-lock mode (2 cores)</text>']
for v in [0, 0.5, 1, 1.5, 2]:
    out.append(f'<line x1="{left}" x2="{W-20}" y1="{y(v)}" y2="{y(v)}" stroke="#ddd"/>'
               f'<text x="{left-6}" y="{y(v)+4}" text-anchor="end">{v:.1f}x</text>')
for gi, ex in enumerate(examples):
    x0 = left + gi * group + group * 0.1
    for mi, mode in enumerate(modes):
        v = next(r[2] for r in rows if r[0] == ex and r[1] == mode)
        x = x0 + mi * bar
        out.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bar-2:.1f}" height="{y(0)-y(v):.1f}" fill="{colors[mi % 4]}"/>')
    out.append(f'<text x="{x0 + group*0.4:.1f}" y="{H-bottom+16}" text-anchor="middle">{ex}</text>')
for mi, mode in enumerate(modes):
    out.append(f'<rect x="{left + mi*170}" y="{H-20}" width="12" height="12" fill="{colors[mi % 4]}"/>'
               f'<text x="{left + mi*170 + 16}" y="{H-10}">{mode}</text>')
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out))
