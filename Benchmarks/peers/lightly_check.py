#!/usr/bin/env python3
"""Checks `ldm objective --preset simclr`, `vicreg` and `barlow` against lightly's NTXentLoss, VICRegLoss and
BarlowTwinsLoss
constructions, written out in PyTorch (float64), and prints the relative differences of the loss and of both
gradients. NT-Xent: normalise, the four B x B logit blocks / tau, self-similarities removed, cross-entropy against
the partner. VICReg: 25 * MSE + 25 * 0.5 * (variance hinge of each view) + 1 * (off-diagonal covariance of each).

Usage: python3 Benchmarks/peers/lightly_check.py [path/to/ldm] [--temperature 0.2] [--backend cpu|opencl]
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F


def lightly_ntxent(z0, z1, t):
    o0, o1 = F.normalize(z0, dim=1), F.normalize(z1, dim=1)
    b = o0.shape[0]
    off = ~torch.eye(b, dtype=torch.bool)
    l00, l01 = (o0 @ o0.T / t)[off].view(b, -1), o0 @ o1.T / t
    l10, l11 = o1 @ o0.T / t, (o1 @ o1.T / t)[off].view(b, -1)
    logits = torch.cat([torch.cat([l01, l00], 1), torch.cat([l10, l11], 1)], 0)
    return F.cross_entropy(logits, torch.arange(b).repeat(2))


def lightly_vicreg(za, zb, lam=25.0, mu=25.0, nu=1.0, eps=1e-4):
    def variance(x):
        return F.relu(1.0 - torch.sqrt(x.var(dim=0) + eps)).mean()

    def covariance(x):
        x = x - x.mean(dim=0)
        b, d = x.shape
        cov = x.T @ x / (b - 1)
        return (cov.pow(2).sum() - cov.diagonal().pow(2).sum()) / d

    return lam * F.mse_loss(za, zb) + mu * 0.5 * (variance(za) + variance(zb)) + nu * (covariance(za) + covariance(zb))


def lightly_barlow(za, zb, lam=5e-3):
    a = (za - za.mean(0)) / za.std(0)
    b = (zb - zb.mean(0)) / zb.std(0)
    c = a.T @ b / za.shape[0]
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on + lam * off


def check(ldm, preset, extra, reference, a, b, d):
    out = subprocess.run([ldm, "objective", "--z1", os.path.join(d, "a.npy"), "--z2", os.path.join(d, "b.npy"),
                          "--preset", preset, "--json", "--grad-dir", d] + extra,
                         check=True, capture_output=True, text=True).stdout
    ours = json.loads(out)
    z0 = torch.tensor(a.astype(np.float32), dtype=torch.float64, requires_grad=True)
    z1 = torch.tensor(b.astype(np.float32), dtype=torch.float64, requires_grad=True)
    loss = reference(z0, z1)
    loss.backward()
    rel = lambda x, y: np.linalg.norm(x - y) / np.linalg.norm(y)
    print(f"{preset}: loss ldm {ours['loss']:.8f}, lightly construction {loss.item():.8f}, "
          f"relative difference {abs(ours['loss'] - loss.item()) / abs(loss.item()):.2e}; "
          f"dz1 relative L2 {rel(np.load(os.path.join(d, 'dz1.npy')), z0.grad.numpy()):.2e}, "
          f"dz2 relative L2 {rel(np.load(os.path.join(d, 'dz2.npy')), z1.grad.numpy()):.2e}")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--") and not a.replace(".", "").isdigit()
            and a not in ("cpu", "opencl")]
    ldm = args[0] if args else ".build/release/ldm"
    t = float(sys.argv[sys.argv.index("--temperature") + 1]) if "--temperature" in sys.argv else 0.2
    backend = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "cpu"
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        a, b = rng.standard_normal((256, 128)), rng.standard_normal((256, 128))
        np.save(os.path.join(d, "a.npy"), a.astype(np.float32))
        np.save(os.path.join(d, "b.npy"), b.astype(np.float32))
        check(ldm, "simclr", [f"--temperature={t}", "--backend", backend], lambda x, y: lightly_ntxent(x, y, t), a, b, d)
        check(ldm, "vicreg", ["--backend", backend], lightly_vicreg, a, b, d)
        check(ldm, "barlow", ["--backend", backend], lightly_barlow, a, b, d)


if __name__ == "__main__":
    main()
