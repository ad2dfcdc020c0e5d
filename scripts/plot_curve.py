#!/usr/bin/python3
"""Summarize and plot an nst-optimize loss curve (the JSON lines of output.curve=FILE).

  scripts/plot_curve.py CURVE.jsonl [-o OUT.png] [--label TEXT]

Prints the time per iteration, evaluations per iteration, and how many iterations the total loss
needed to come within 5% and 1% of its final value ("iterations to converge"). Writes a PNG (default:
CURVE.png): total, content and style loss against iterations (left, log y, convergence points marked;
dotted lines mark coarse-to-fine level changes) and against seconds (right). Needs Debian's
python3-matplotlib (/usr/bin/python3). For nst-train logs use scripts/plot_log.py.
"""
import argparse
import json
import os
import sys


def read_curve(path):
    points = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                points.append(json.loads(line))
            except json.JSONDecodeError:
                sys.exit(f"plot_curve: error: {path}:{number}: not JSON")
    if not points or "total" not in points[0]:
        sys.exit(f"plot_curve: error: {path}: not an nst-optimize curve (no 'total')")
    return points


def summarize(points):
    last = points[-1]
    final_level = [p for p in points if p["level"] == last["level"]]
    first = final_level[0]
    iterations = last["iteration"] - first["iteration"]
    seconds = last["seconds"] - first["seconds"]
    evaluations = last["evaluations"] - first["evaluations"]
    summary = {
        "size": f"{last['height']}x{last['width']}",
        "iterations": last["iteration"],
        "seconds": last["seconds"],
        "seconds_per_iteration": seconds / iterations if iterations else float("nan"),
        "evaluations_per_iteration": evaluations / iterations if iterations else float("nan"),
        "initial_total": points[0]["total"],
        "final_total": last["total"],
    }
    for tolerance in (0.05, 0.01):
        reached = next(p for p in final_level if p["total"] <= last["total"] * (1 + tolerance))
        summary[f"iterations_to_{round(tolerance * 100)}pct"] = reached["iteration"]
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("curve")
    parser.add_argument("-o", "--output", help="PNG to write (default: CURVE.png)")
    parser.add_argument("--label", default="", help="title text (e.g. the images and settings)")
    args = parser.parse_args()
    if not os.path.isfile(args.curve):
        sys.exit(f"plot_curve: error: {args.curve}: no such file")
    points = read_curve(args.curve)
    summary = summarize(points)
    print(json.dumps(summary))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output = args.output or os.path.splitext(args.curve)[0] + ".png"
    figure, (by_iteration, by_time) = plt.subplots(1, 2, figsize=(13, 4.8))
    colours = {"total": "black", "content": "tab:blue", "style": "tab:red", "tv": "tab:green"}
    for key, colour in colours.items():
        if not any(p[key] > 0 for p in points):
            continue
        for axis, x in ((by_iteration, "iteration"), (by_time, "seconds")):
            # zero (e.g. the content loss of the content image itself) has no place on a log axis
            axis.plot([p[x] for p in points], [p[key] if p[key] > 0 else float("nan") for p in points],
                      color=colour, label=key)
    for tolerance in ("5", "1"):
        n = summary[f"iterations_to_{tolerance}pct"]
        total = next(p["total"] for p in points if p["iteration"] == n)
        by_iteration.scatter([n], [total], color="black", zorder=3)
        by_iteration.annotate(f"within {tolerance}% of final: it {n}", (n, total), textcoords="offset points",
                              xytext=(8, 8 if tolerance == "5" else 20), fontsize=8)
    for level_start in (p for i, p in enumerate(points) if i and p["level"] != points[i - 1]["level"]):
        by_iteration.axvline(level_start["iteration"], color="grey", linestyle=":")
    for axis, label in ((by_iteration, "iteration"), (by_time, "seconds")):
        axis.set_yscale("log")
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    by_iteration.set_title("loss per iteration")
    by_time.set_title(f"loss over time ({summary['seconds_per_iteration']:.2f} s/iteration at {summary['size']})")
    figure.suptitle(args.label or os.path.basename(args.curve))
    figure.tight_layout()
    tmp = output + ".tmp.png"
    figure.savefig(tmp, dpi=100)
    os.replace(tmp, output)  # atomic, like everything the project writes
    print(output, file=sys.stderr)


if __name__ == "__main__":
    main()
