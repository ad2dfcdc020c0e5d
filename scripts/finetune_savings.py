#!/usr/bin/python3
"""How many iterations `model.init` (fine-tuning from a trained model) saves: compares the training
loss of two nst-train runs of one config, one from scratch and one started from a model, and
prints, for several iterations of the fine-tune, the first iteration at which the run from scratch
reaches the same loss (both smoothed over a window of logged steps).

  scripts/finetune_savings.py RUN_FROM_SCRATCH RUN_FINE_TUNED [--window 5] [--key total]

Both runs should log at the same interval (train.log_every). Figures: docs/training.md.
"""
import argparse
import json
import os
import sys


def curve(run, key):
    path = os.path.join(run, "log.jsonl") if os.path.isdir(run) else run
    points = []
    try:
        with open(path) as log:
            for line in log:
                entry = json.loads(line)
                if key in entry and "iteration" in entry and entry.get("event") is None:
                    points.append((entry["iteration"], float(entry[key])))
    except (OSError, json.JSONDecodeError) as error:
        sys.exit(f"finetune_savings: {path}: {error}")
    if not points:
        sys.exit(f"finetune_savings: {path}: no training lines with '{key}'")
    return points


def smoothed(points, window):
    out = []
    for i in range(len(points)):
        chunk = points[max(0, i - window + 1): i + 1]
        out.append((points[i][0], sum(v for _, v in chunk) / len(chunk)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scratch")
    parser.add_argument("fine_tuned")
    parser.add_argument("--window", type=int, default=5, help="logged steps averaged (default 5)")
    parser.add_argument("--key", default="total", help="log.jsonl loss to compare (default total)")
    args = parser.parse_args()
    scratch = smoothed(curve(args.scratch, args.key), args.window)
    tuned = smoothed(curve(args.fine_tuned, args.key), args.window)
    print(f"| fine-tune iteration | its {args.key} loss | from scratch reaches it at | iterations saved |")
    print("|---|---|---|---|")
    marks = sorted({tuned[len(tuned) * k // 8 - 1][0] for k in range(1, 9)} | {tuned[-1][0]})
    for iteration, loss in tuned:
        if iteration not in marks:
            continue
        reached = next((it for it, value in scratch if value <= loss), None)
        if reached is None:
            print(f"| {iteration} | {loss:.4g} | not within its {scratch[-1][0]} iterations "
                  f"(last {scratch[-1][1]:.4g}) | > {scratch[-1][0] - iteration} |")
        else:
            print(f"| {iteration} | {loss:.4g} | {reached} | {reached - iteration} |")


if __name__ == "__main__":
    main()
