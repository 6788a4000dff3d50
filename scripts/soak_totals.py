#!/usr/bin/env python3
"""Sum a soak log (scripts/soak.sh): one JSON report of tmgc-stress per line.

    scripts/soak_totals.py LOG [--short]
"""
import json
import sys


def main():
    path = sys.argv[1]
    short = "--short" in sys.argv[2:]
    runs = [json.loads(line) for line in open(path) if line.strip()]
    if not runs:
        print("no runs")
        return
    t = lambda key: sum(r.get(key, 0) for r in runs)
    per_thread = lambda key: sum(th.get(key, 0) for r in runs for th in r["threads"])
    ok = all(r.get("ok") for r in runs)
    totals = {
        "runs": len(runs),
        "hours": t("duration_s") / 3600,
        "objects_allocated": t("objects_allocated"),
        "bytes_allocated": t("allocated_bytes"),
        "transactions": t("transactions_all_mutators"),
        "cycles_verified": sum(r["cycles"] for r in runs if r.get("verify")),
        "conflicts": per_thread("conflicts"),
        "injected_aborts": per_thread("injected_aborts"),
        "injected_panics": per_thread("injected_panics"),
        "injected_tmgc_faults": per_thread("injected_faults"),
        "faults_rolled_forward": per_thread("faults_rolled_forward"),
        "checks": per_thread("checks"),
        "seeds": sorted({r["seed"] for r in runs}),
        "threads": sorted({len(r["threads"]) for r in runs}),
        "markers": sorted({r["marker"] for r in runs}),
        "generational_runs": sum("--generational" in r.get("args", []) for r in runs),
        "all_ok": ok,
    }
    if short:
        last = runs[-1]
        print(
            f"run {len(runs)}: {'ok' if last.get('ok') else 'FAILED'} ({' '.join(last.get('args', []))}); "
            f"totals: {totals['objects_allocated']:.3g} objects, {totals['transactions']:.3g} transactions, "
            f"{totals['cycles_verified']} cycles verified, {totals['injected_tmgc_faults']} tmgc faults"
        )
        return
    seeds = totals.pop("seeds")
    totals["seeds"] = f"{seeds[0]}..{seeds[-1]}" if seeds else ""
    for k, v in totals.items():
        print(f"{k:>24}: {v:,.2f}" if isinstance(v, float) else f"{k:>24}: {v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{k:>24}: {v}")


if __name__ == "__main__":
    main()
