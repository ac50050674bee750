#!/usr/bin/env python3
"""PyTorch CPU peer of `ldm bench knn`, in the same script: the Kozachenko-Leonenko entropy as PyTorch users
write it, cdist -> topk (k+1 smallest, self included) -> clamp at the detached 0.9 quantile -> log -> mean ->
backward, B = 4096, d = 128, k = 3. Usage: python3 Benchmarks/peers/knn_torch.py [path/to/ldm]. Not run in CI."""
import json
import subprocess
import sys

import torch

from timing import median_time

B, D, K = 4096, 128, 3


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ldm = args[0] if args else ".build/release/ldm"
    torch.manual_seed(0)
    z = torch.randn(B, D)

    def step():
        x = z.detach().requires_grad_(True)
        rho = torch.cdist(x, x).topk(K + 1, dim=1, largest=False).values[:, K]
        cap = torch.quantile(rho.detach(), 0.9)
        torch.log(rho.clamp(0, cap) + 1e-8).mean().backward()

    peer = median_time(step, 1.0)
    rows = json.loads(subprocess.run([ldm, "bench", "knn", "--backend", "cpu", "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    ours = rows[0]["seconds_median"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"| kNN entropy B={B} d={D} k={K} | ldm cpu {ours:.4f} s | PyTorch {peer:.4f} s | speed-up {peer / ours:.2f}x |")


if __name__ == "__main__":
    main()
