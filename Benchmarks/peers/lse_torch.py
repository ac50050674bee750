#!/usr/bin/env python3
"""PyTorch peers of `ldm bench lse`, timed in the same script as ldm (same run, same machine):

- InfoNCE: normalize -> matmul -> cross_entropy -> backward, B = 8192, d = 256 (logits B x B are materialised).
- Gaussian-kernel KDE entropy: cdist -> square -> logsumexp (diagonal left out) -> backward, B = 8192, d = 256.

Usage: python3 Benchmarks/peers/lse_torch.py [path/to/ldm] [--min-seconds 1] [--cuda]. With --cuda, PyTorch runs
on the GPU with TF32 off (strict FP32) and ldm on its OpenCL device. Not run in CI.
"""
import json
import subprocess
import sys
import time

import torch

from timing import median_time

B, D = 8192, 256


def infonce_step(z, temperature=0.1):
    labels = torch.arange(B, device=z.device)

    def step():
        x = z.detach().requires_grad_(True)
        n = torch.nn.functional.normalize(x, dim=1)
        logits = n @ n.T / temperature
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
    return step


def kde_step(z, scale=5.0 / D):
    mask = torch.eye(B, dtype=torch.bool, device=z.device)

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
    cuda = "--cuda" in sys.argv
    device = "cuda" if cuda else "cpu"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    z = torch.randn(B, D, device=device)
    peers = {"dot": median_time(infonce_step(z), min_seconds, 3, sync),
             "squaredDistance": median_time(kde_step(z), min_seconds, 3, sync)}
    backend = "opencl" if cuda else "cpu"
    out = subprocess.run([ldm, "bench", "lse", "--backend", backend, "--json", "--min-seconds", str(min_seconds)],
                         check=True, capture_output=True, text=True).stdout
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name() if cuda else f'{torch.get_num_threads()} CPU threads'}")
    print(f"| case | ldm {backend} s | PyTorch s | speed-up |")
    print("|---|---|---|---|")
    for row in json.loads(out):
        kernel = "dot" if " dot " in row["shape"] else "squaredDistance"
        name = "InfoNCE (dot, τ = 0.1)" if kernel == "dot" else "Gaussian KDE entropy"
        print(f"| {name} | {row['seconds_median']:.3f} | {peers[kernel]:.3f} | {peers[kernel] / row['seconds_median']:.2f}x |")


if __name__ == "__main__":
    main()
