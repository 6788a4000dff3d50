#!/usr/bin/env python3
"""Plot the pause benchmark: cycle duration and pause percentiles per live-heap
size, from target/pause-<marker>-<mutators>.json (written by
`cargo bench -p tmgc --bench pause`, with `--features pause-cputime` for the
CPU-time bars). Writes an SVG (default docs/pause.svg).
Log-scale y axis, one group per heap size. No dependencies."""
import json, math, sys, pathlib

root = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "docs" / "pause.svg"
runs = []
for f in sorted((root / "target").glob("pause-*.json")):
    runs += [json.loads(l) for l in f.read_text().splitlines() if l.strip()]
if not runs:
    sys.exit("no target/pause-*.json: run cargo bench -p tmgc --bench pause first")

series = [("pause p99", "pause_p99_us", 1.0, "#4c9be8"), ("pause max", "pause_max_us", 1.0, "#e8724c"),
          ("pause max, CPU time", "pause_cpu_max_us", 1.0, "#9b59b6"),
          ("cycle mean", "cycle_mean_ms", 1000.0, "#6bbf59")]
W, H, L, B, T = 1100, 380, 70, 74, 40
lo, hi = 0.01, 1e7  # µs
def y(v):
    v = max(v, lo)
    return T + (H - T - B) * (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))
groups = [(r.get("marker", "serial"), r["mutators"], r["live_mib"]) for r in runs]
gw = (W - L - 20) / len(groups)
bw = gw / (len(series) + 1)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
       f'<text x="{W/2}" y="18" text-anchor="middle" font-size="13">tmgc pauses and cycle time (log scale, µs)</text>']
for e in range(-2, 8):
    v = 10 ** e
    svg.append(f'<line x1="{L}" x2="{W-20}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
    label = {-2: "10 ns", -1: "100 ns", 0: "1 µs", 1: "10 µs", 2: "100 µs", 3: "1 ms", 4: "10 ms", 5: "100 ms", 6: "1 s", 7: "10 s"}[e]
    svg.append(f'<text x="{L-6}" y="{y(v)+4:.1f}" text-anchor="end">{label}</text>')
for target, name in [(100, "p99 target"), (1000, "max target")]:
    svg.append(f'<line x1="{L}" x2="{W-20}" y1="{y(target):.1f}" y2="{y(target):.1f}" stroke="#c00" stroke-dasharray="4 3"/>')
    svg.append(f'<text x="{W-22}" y="{y(target)-3:.1f}" text-anchor="end" fill="#c00">{name}</text>')
for gi, (r, (mk, m, mib)) in enumerate(zip(runs, groups)):
    x0 = L + gi * gw + bw / 2
    for si, (name, key, scale, colour) in enumerate(series):
        if r.get(key) is None:
            continue  # CPU times: only from runs with --features pause-cputime
        v = r[key] * scale
        x = x0 + si * bw
        svg.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bw*0.9:.1f}" height="{H-B-y(v):.1f}" fill="{colour}"/>')
    svg.append(f'<text x="{x0 + bw*len(series)/2:.1f}" y="{H-B+16}" text-anchor="middle">{mib} MiB</text>')
    svg.append(f'<text x="{x0 + bw*len(series)/2:.1f}" y="{H-B+30}" text-anchor="middle">{m} mut.</text>')
    svg.append(f'<text x="{x0 + bw*len(series)/2:.1f}" y="{H-B+44}" text-anchor="middle">{mk}</text>')
for si, (name, _, _, colour) in enumerate(series):
    svg.append(f'<rect x="{L + si*150}" y="{H-18}" width="10" height="10" fill="{colour}"/>')
    svg.append(f'<text x="{L + si*150 + 14}" y="{H-9}">{name}</text>')
svg.append("</svg>")
out.write_text("\n".join(svg) + "\n")
print(f"wrote {out}")
