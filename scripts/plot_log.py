#!/usr/bin/python3
"""Plot the loss curves of an nst-train run (RUN_DIR/log.jsonl) into a PNG.

  scripts/plot_log.py RUN_DIR [-o OUT.png] [--smooth N]

Left: total, content, style and TV losses per iteration (thin: as logged; thick: moving average of N
logged points) with the validation losses as markers. Right: the per-layer style and content losses
(weighted, before the global weight). Log-scale y. Needs Debian's python3-matplotlib (/usr/bin/python3).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_log(path):
    train, validation = [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                print(f"plot_log: warning: {path}:{number}: not JSON, skipped", file=sys.stderr)
                continue
            if "total" in entry:
                train.append(entry)
            elif entry.get("phase") == "validation":
                validation.append(entry)
    return train, validation


def moving_average(values, n):
    out, window = [], []
    for v in values:
        window.append(v)
        if len(window) > n:
            window.pop(0)
        out.append(sum(window) / len(window))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run directory or its log.jsonl")
    parser.add_argument("-o", "--output", help="PNG to write (default: RUN_DIR/loss.png)")
    parser.add_argument("--smooth", type=int, default=10, help="moving-average window in logged points (default 10)")
    args = parser.parse_args()

    log = os.path.join(args.run, "log.jsonl") if os.path.isdir(args.run) else args.run
    if not os.path.isfile(log):
        sys.exit(f"plot_log: error: {log}: no such file")
    train, validation = read_log(log)
    if not train:
        sys.exit(f"plot_log: error: {log}: no training steps logged yet")
    output = args.output or os.path.join(os.path.dirname(os.path.abspath(log)), "loss.png")

    iterations = [e["iteration"] for e in train]
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    colours = {"total": "black", "content": "tab:blue", "style": "tab:red", "tv": "tab:green"}
    for key, colour in colours.items():
        values = [max(e[key], 1e-12) for e in train]
        left.plot(iterations, values, color=colour, alpha=0.25, linewidth=0.8)
        left.plot(iterations, moving_average(values, args.smooth), color=colour, linewidth=1.8, label=key)
        val_key = "val_" + key
        points = [(e["iteration"], e[val_key]) for e in validation if val_key in e and e[val_key] > 0]
        if points:
            left.scatter(*zip(*points), color=colour, marker="o", edgecolors="white", zorder=3, s=28)
    left.set_yscale("log")
    left.set_xlabel("iteration")
    left.set_title("losses (lines: training, dots: validation)")
    left.legend()
    left.grid(alpha=0.3)

    layer_keys = sorted({k for e in train for k in e if k.startswith(("style_", "content_"))})
    for key in layer_keys:
        values = [max(e.get(key, 0.0), 1e-12) for e in train]
        right.plot(iterations, moving_average(values, args.smooth), label=key,
                   linestyle="--" if key.startswith("content_") else "-")
    right.set_yscale("log")
    right.set_xlabel("iteration")
    right.set_title("per-layer losses (layer weight applied, global weight not)")
    right.legend(fontsize=8, ncol=2)
    right.grid(alpha=0.3)

    last = train[-1]
    figure.suptitle(f"{os.path.dirname(os.path.abspath(log))}: iteration {last['iteration']}, "
                    f"total {last['total']:.4g}, {last.get('it_per_s', 0):.2f} it/s")
    figure.tight_layout()
    tmp = output + ".tmp.png"
    figure.savefig(tmp, dpi=100)
    os.replace(tmp, output)  # atomic, like everything the project writes
    print(output)


if __name__ == "__main__":
    main()
