#!/usr/bin/env python3
"""PyTorch CPU peer of `ldm bench logdet`, in the same script: 0.5 * logdet(cov(z) + eps I) -> backward,
B = 8192, d = 512. Usage: python3 Benchmarks/peers/logdet_torch.py [path/to/ldm] [--min-seconds 1]. Not run in CI."""
import json
import subprocess
import sys

import torch

from timing import median_time

B, D, EPS = 8192, 512, 1e-8


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ldm = args[0] if args else ".build/release/ldm"
    min_seconds = float(sys.argv[sys.argv.index("--min-seconds") + 1]) if "--min-seconds" in sys.argv else 1.0
    torch.manual_seed(0)
    z = torch.randn(B, D)
    eye = torch.eye(D)

    def step():
        x = z.detach().requires_grad_(True)
        (0.5 * torch.logdet(torch.cov(x.T) + EPS * eye)).backward()

    peer = median_time(step, min_seconds)
    rows = json.loads(subprocess.run([ldm, "bench", "logdet", "--backend", "cpu", "--json", "--min-seconds",
                                      str(min_seconds)], check=True, capture_output=True, text=True).stdout)
    ours = rows[0]["seconds_median"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"| log-det B={B} d={D} | ldm cpu {ours:.4f} s | PyTorch {peer:.4f} s | speed-up {peer / ours:.2f}x |")


if __name__ == "__main__":
    main()
