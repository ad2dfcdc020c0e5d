#!/usr/bin/python3
"""Do two nst-train runs follow the same loss curve? Prints, per window of iterations, the mean total,
content and style loss of each run (RUN_DIR/log.jsonl) and their relative difference, then the same
over all windows after the first. Used to check that a faster build trains the same way (docs/training.md,
"Training speed"): runs with the same config and seed differ only by rounding then.

  scripts/compare_runs.py RUN_A RUN_B [--window 50]
"""
import argparse
import json
import os
import sys


def losses(run_dir):
    path = os.path.join(run_dir, "log.jsonl")
    try:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as error:
        sys.exit(f"compare_runs: error: {path}: {error}")
    by_iteration = {r["iteration"]: r for r in rows if "total" in r and "iteration" in r}
    if not by_iteration:
        sys.exit(f"compare_runs: error: {path}: no training losses logged")
    return by_iteration


def mean(rows, key):
    return sum(r[key] for r in rows) / len(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--window", type=int, default=50, help="iterations per window (default 50)")
    args = parser.parse_args()
    a, b = losses(args.run_a), losses(args.run_b)
    common = sorted(set(a) & set(b))
    if not common:
        sys.exit("compare_runs: error: the runs logged no common iterations")
    keys = ("total", "content", "style")
    print("| iterations | " + " | ".join(f"{k} A / B (diff)" for k in keys) + " |")
    print("| --- |" + " ---: |" * len(keys))
    sums = {k: [0.0, 0.0] for k in keys}
    for start in range(common[0], common[-1] + 1, args.window):
        window = [i for i in common if start <= i < start + args.window]
        if not window:
            continue
        cells = []
        for k in keys:
            ma, mb = mean([a[i] for i in window], k), mean([b[i] for i in window], k)
            cells.append(f"{ma:.4g} / {mb:.4g} ({(mb - ma) / ma:+.1%})")
            if start > common[0]:
                sums[k][0] += ma * len(window)
                sums[k][1] += mb * len(window)
        print(f"| {window[0]}-{window[-1]} | " + " | ".join(cells) + " |")
    if all(sa for sa, _ in sums.values()):
        print("after the first window: " + ", ".join(f"{k} {(sb - sa) / sa:+.2%}" for k, (sa, sb) in sums.items()))


if __name__ == "__main__":
    main()
