#!/usr/bin/python3
"""Polyphase form of the transform net's 9x9 stride-1 convolutions, checked and timed (docs/training.md,
"Training speed", session 11): the padded input's 2x2 phases as channels (pixel_unshuffle), one 5x5
convolution with 4x the channels each way, the output phases interleaved (pixel_shuffle).

  scripts/bench_polyphase.py [--threads 1] [--reps 5]

Prints the largest difference to conv2d (double), then ms per forward and forward + backward, batch 4,
264^2 padded input, for conv1 (3->16) and deconv3 (16->3), fp32 and bf16. Needs Debian's python3-torch.
"""
import argparse
import time

import torch
import torch.nn.functional as F


def polyphase_weight(w):  # [Co, Ci, k, k], k odd -> [4 Co, 4 Ci, (k+1)/2, (k+1)/2]
    co, ci, k, _ = w.shape
    half = (k + 1) // 2
    padded = F.pad(w, (1, 1, 1, 1))  # tap t at index t + 1
    rows = []
    for py in (0, 1):  # output row 2Y + py reads input row 2(Y + a) + b: tap t = 2a + b - py
        taps = padded[:, :, 1 - py:1 - py + 2 * half, :].reshape(co, ci, half, 2, k + 2)
        rows.append(torch.stack([taps[..., 1 - px:1 - px + 2 * half].reshape(co, ci, half, 2, half, 2)
                                 for px in (0, 1)], 1))
    return torch.stack(rows, 1).permute(0, 1, 2, 3, 5, 7, 4, 6).reshape(co * 4, ci * 4, half, half)


def polyphase_conv(x, w, b):
    return F.pixel_shuffle(F.conv2d(F.pixel_unshuffle(x, 2), polyphase_weight(w), b.repeat_interleave(4)), 2)


def timed(f, reps):
    for _ in range(2):
        f().sum().backward()
    forward = total = 0.0
    for _ in range(reps):
        start = time.perf_counter()
        y = f()
        forward += time.perf_counter() - start
        y.sum().backward()
        total += time.perf_counter() - start
    return 1e3 * forward / reps, 1e3 * total / reps


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, w, b = (torch.randn(s, dtype=torch.double) for s in ((2, 5, 40, 30), (3, 5, 9, 9), (3,)))
    print(f"largest difference to conv2d (double): {(F.conv2d(x, w, b) - polyphase_conv(x, w, b)).abs().max().item():.2e}")
    for dtype in (torch.float32, torch.bfloat16):
        for ci, co in ((3, 16), (16, 3)):
            x = torch.randn(4, ci, 264, 264, dtype=dtype, requires_grad=ci > 3)  # the net's input needs no gradient
            w = torch.randn(co, ci, 9, 9, dtype=dtype, requires_grad=True)
            b = torch.randn(co, dtype=dtype, requires_grad=True)
            direct = timed(lambda: F.conv2d(x, w, b), args.reps)
            poly = timed(lambda: polyphase_conv(x, w, b), args.reps)
            print(f"{ci}->{co} 9x9 {str(dtype)[6:]}: conv2d {direct[0]:.1f} / {direct[1]:.1f} ms, "
                  f"polyphase {poly[0]:.1f} / {poly[1]:.1f} ms (forward / forward + backward)")


if __name__ == "__main__":
    main()
