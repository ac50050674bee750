#!/usr/bin/env python3
"""PyTorch CPU peers of `ldm bench lse`, timed in the same script as ldm (same session, same machine):

- InfoNCE: normalize -> matmul -> cross_entropy -> backward, B = 8192, d = 256 (logits B x B are materialised).
- Gaussian-kernel KDE entropy: cdist -> square -> logsumexp (diagonal left out) -> backward, B = 8192, d = 256.

Usage: python3 Benchmarks/peers/lse_torch.py [path/to/ldm] [--min-seconds 1]. Not run in CI.
"""
import json
import subprocess
import sys
import time

import torch

B, D = 8192, 256


def median_time(step, min_seconds):
    step()
    samples, total = [], 0.0
    while total < min_seconds or len(samples) < 3:
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
        total += samples[-1]
    samples.sort()
    return samples[len(samples) // 2]


def infonce_step(z, temperature=0.1):
    def step():
        x = z.detach().requires_grad_(True)
        n = torch.nn.functional.normalize(x, dim=1)
        logits = n @ n.T / temperature
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(B))
        loss.backward()
    return step


def kde_step(z, scale=5.0 / D):
    mask = torch.eye(B, dtype=torch.bool)

    def step():
        x = z.detach().requires_grad_(True)
        distances = torch.cdist(x, x).square()
        logits = (-scale * distances).masked_fill(mask, float("-inf"))
        entropy = -torch.logsumexp(logits, dim=1).mean()
        entropy.backward()
    return step


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ldm = args[0] if args else ".build/release/ldm"
    min_seconds = float(sys.argv[sys.argv.index("--min-seconds") + 1]) if "--min-seconds" in sys.argv else 1.0
    torch.manual_seed(0)
    z = torch.randn(B, D)
    peers = {"dot": median_time(infonce_step(z), min_seconds), "squaredDistance": median_time(kde_step(z), min_seconds)}
    out = subprocess.run([ldm, "bench", "lse", "--backend", "cpu", "--json", "--min-seconds", str(min_seconds)],
                         check=True, capture_output=True, text=True).stdout
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| case | ldm cpu s | PyTorch s | speed-up |")
    print("|---|---|---|---|")
    for row in json.loads(out):
        kernel = "dot" if " dot " in row["shape"] else "squaredDistance"
        name = "InfoNCE (dot, τ = 0.1)" if kernel == "dot" else "Gaussian KDE entropy"
        print(f"| {name} | {row['seconds_median']:.3f} | {peers[kernel]:.3f} | {peers[kernel] / row['seconds_median']:.2f}x |")


if __name__ == "__main__":
    main()
