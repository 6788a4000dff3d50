#!/usr/bin/env python3
"""Print the allocation benchmark as a per-object table with ratios.

Run after `cargo bench -p tmgc-alloc --bench alloc`; reads the medians that
criterion saved under target/criterion. Usage: scripts/bench-table.py [target-dir]
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target") / "criterion"
PER = {"alloc_fresh": 64 * 2**20 // 32}


def median_ns(group, variant, work):
    f = root / group / variant / work / "new" / "estimates.json"
    if not f.exists():
        return None
    est = json.loads(f.read_text())["median"]["point_estimate"]
    n = PER.get(group, 2048 if group.startswith("alloc_2t") else 1024)
    return est / n


def row(cells):
    print("| " + " | ".join(cells) + " |")


for group in ["alloc_1t_k1", "alloc_1t_k64", "alloc_2t_k64"]:
    print(f"\n{group} (ns per object; ratios from the same run)\n")
    variants = ["bump", "tmgc", "tmgc_swept", "mimalloc", "system"]
    row(["work"] + variants + ["tmgc / bump", "mimalloc / tmgc"])
    row(["---"] * (len(variants) + 3))
    for work in ["16", "32", "64", "mixed"]:
        v = {x: median_ns(group, x, work) for x in variants}
        if v["tmgc"] is None:
            continue
        cells = [work] + [f"{v[x]:.2f}" if v[x] else "" for x in variants]
        cells.append(f"{v['tmgc'] / v['bump']:.2f}x")
        cells.append(f"{v['mimalloc'] / v['tmgc']:.2f}x")
        row(cells)

print("\nalloc_fresh (ns per 32-byte object, 64 MiB of never-touched memory)\n")
row(["pages", "bump", "tmgc", "tmgc / bump"])
row(["---"] * 4)
for pages in ["4k", "thp"]:
    b, t = median_ns("alloc_fresh", "bump", pages), median_ns("alloc_fresh", "tmgc", pages)
    if b and t:
        row([pages, f"{b:.2f}", f"{t:.2f}", f"{t / b:.2f}x"])
