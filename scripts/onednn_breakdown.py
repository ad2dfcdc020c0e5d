#!/usr/bin/python3
"""Where one forward pass's oneDNN time goes: runs nst-bench-infer once per variant with
ONEDNN_VERBOSE=1 and sums the verbose lines of the timed run by primitive (convolution, reorder,
...), with their propagation kind and implementation.

  scripts/onednn_breakdown.py [--size 512x512] [--variants bf16-module,bf16] [--build build]

Variants are nst-bench-infer --precisions entries: fp32, bf16, and the same with -module (the
module's forward, which reorders activations around every convolution). Run it on an idle machine.
"""
import argparse
import collections
import os
import subprocess
import sys


def breakdown(build, size, variant):
    env = dict(os.environ, ONEDNN_VERBOSE="1", OMP_WAIT_POLICY="PASSIVE")
    run = subprocess.run([f"{build}/bin/nst-bench-infer", "--sizes", size, "--precisions", variant, "--repeats", "1"],
                         env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"onednn_breakdown: nst-bench-infer failed for {variant}: {run.stderr.strip()[-400:]}")
    lines, wall = [], None
    for line in run.stdout.splitlines():
        if line.startswith(("onednn_verbose,exec,", "dnnl_verbose,exec,")):
            lines.append(line.split(","))
        elif line.startswith(f"| {size} |"):
            wall = float(line.split("|")[2])
    # The bench runs the forward twice, a warm-up and the timed run: the second half is the timed one.
    lines = lines[len(lines) // 2:]
    totals = collections.defaultdict(lambda: [0, 0.0])
    for fields in lines:
        kind, impl, prop = fields[3], fields[4], fields[5]
        key = (kind, prop, impl)
        totals[key][0] += 1
        totals[key][1] += float(fields[-1])
    return totals, wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="512x512")
    parser.add_argument("--variants", default="bf16-module,bf16")
    parser.add_argument("--build", default="build")
    args = parser.parse_args()
    print(f"| variant | primitive | propagation | implementation | calls | ms | share of the forward |")
    print("|---|---|---|---|---|---|---|")
    for variant in args.variants.split(","):
        totals, wall = breakdown(args.build, args.size, variant)
        total_ms = sum(ms for _, ms in totals.values())
        for (kind, prop, impl), (calls, ms) in sorted(totals.items(), key=lambda item: -item[1][1]):
            share = f"{100 * ms / (wall * 1000):.0f}%" if wall else "?"
            print(f"| {variant} {args.size} | {kind} | {prop} | {impl} | {calls} | {ms:.1f} | {share} |")
        if wall:
            print(f"| {variant} {args.size} | all oneDNN | | | | {total_ms:.1f} | {100 * total_ms / (wall * 1000):.0f}% "
                  f"of {wall * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
