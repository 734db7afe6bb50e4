#!/usr/bin/env python3
"""p50 and p99 per iteration from criterion's raw samples (issue 7, part 2, in process).

Criterion prints a mean and a confidence interval, not percentiles. Each of its samples is
`iters[i]` back-to-back iterations that took `times[i]` ns in all
(`<criterion dir>/<group>/<bench>/new/sample.json`), so one sample gives one time per
iteration, `times[i] / iters[i]`: the mean of that sample's iterations. p50 is the median of
those, p99 the nearest-rank 99th percentile (with 10 samples: the slowest; with 100: the
second slowest). A p99 of sample means is smoother than a p99 of single calls; the `evaluate`
bench prints single-call p50/p99 for the Rust and Go modules after its groups.

    python3 bench/criterion_pct.py                        # $CARGO_TARGET_DIR/criterion
    python3 bench/criterion_pct.py DIR [FILTER...]        # only ids containing a FILTER
"""

import json
import math
import os
import sys
from pathlib import Path


def pct(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}" if ns < 100 * scale else f"{ns / scale:.0f} {unit}"
    return f"{ns:.0f} ns"


def main():
    args = sys.argv[1:]
    if args and Path(args[0]).is_dir():
        root = Path(args.pop(0))
    else:
        target = os.environ.get("CARGO_TARGET_DIR") or "target"
        root = Path(target) / "criterion"
    if not root.is_dir():
        sys.exit(f"criterion_pct: no criterion results in {root}: run `cargo bench` first "
                 "(with the same CARGO_TARGET_DIR) or pass the criterion dir as the first argument")
    rows = []
    for sample in sorted(root.glob("**/new/sample.json")):
        bench = json.loads((sample.parent / "benchmark.json").read_text())
        name = bench.get("full_id") or bench.get("title") or str(sample.parent.parent)
        if args and not any(f in name for f in args):
            continue
        data = json.loads(sample.read_text())
        per_iter = [t / n for t, n in zip(data["times"], data["iters"]) if n]
        if not per_iter:
            continue
        rows.append((name, len(per_iter), int(sum(data["iters"])), pct(per_iter, 50), pct(per_iter, 99)))
    if not rows:
        sys.exit(f"criterion_pct: no sample.json under {root} matched {args or 'anything'}")
    print("| benchmark | samples | iterations | p50 | p99 |")
    print("|---|---|---|---|---|")
    for name, n, iters, p50, p99 in rows:
        print(f"| {name} | {n} | {iters} | {fmt(p50)} | {fmt(p99)} |")


if __name__ == "__main__":
    main()
