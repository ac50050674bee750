#!/usr/bin/env python3
"""PyTorch CPU peer of `ldm bench kalman`, in the same script: the Kalman-LDM loss (stop-gradient) written with the
reference code's structure, a Python loop over time with torch.inverse, forward + backward (gradients with respect
to z, A, b, a and s, as ldm computes), float32, for the cases of `ldm bench kalman`. Usage: python3 Benchmarks/peers/kalman_torch.py [path/to/ldm]. Not run in CI."""
import sys

import torch

from timing import compare_with_ldm, median_time

CASES = [(32, 100, 2), (32, 100, 10), (256, 100, 64), (4096, 100, 4)]


def step_function(batch, steps, d):
    torch.manual_seed(0)
    observations = torch.randn(batch, steps, d)
    base = 0.9 * torch.eye(d) + 0.1 * torch.randn(d, d) / d ** 0.5

    def step():
        z = observations.clone().requires_grad_(True)   # ldm returns ∂/∂z too
        A = base.clone().requires_grad_(True)
        b = torch.zeros(d, requires_grad=True)
        a = torch.zeros(d, requires_grad=True)
        s = torch.tensor(-1.0, requires_grad=True)
        h = torch.zeros(batch, d)
        P = torch.eye(d).expand(batch, d, d)
        loss = 0.0
        for t in range(steps):
            hm = (h - b) @ A.T + b
            Pm = A @ P @ A.T + torch.diag(torch.exp(s + a))
            S = Pm + torch.exp(s) * torch.eye(d)
            Si = torch.inverse(S)
            residual = z[:, t].detach() - hm
            loss = loss + 0.5 * torch.logdet(S) + 0.5 * torch.einsum('bi,bij,bj->b', residual, Si, residual)
            K = Pm @ Si
            h = hm + torch.einsum('bij,bj->bi', K, z[:, t] - hm)
            P = Pm - K @ S @ K.transpose(1, 2)
        loss.mean().backward()
    return step


def main():
    ldm = sys.argv[1] if len(sys.argv) > 1 else ".build/release/ldm"
    peers = {f"{b}x{t}x{d}": median_time(step_function(b, t, d), 1.0, 3) for b, t, d in CASES}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    compare_with_ldm(ldm, "kalman", peers, "PyTorch", row_kernel="kalman.forward+backward")


if __name__ == "__main__":
    main()
