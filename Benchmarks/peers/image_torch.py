#!/usr/bin/env python3
"""PyTorch CPU peer of `ldm bench image-step`, in the same script: one training step of `ldm train image`'s
reference recipe as a PyTorch user writes it, on 2 threads (torch.set_num_threads(2)), channels-last off (PyTorch's
default NCHW). Per step: index a batch of 256 from 60 000 images, two views each by random resized crop (scale
0.5-1, aspect 3/4-4/3) + horizontal flip as per-image affine grids through F.grid_sample (bilinear), Gaussian noise
0.05, normalisation; encoder conv 3x3 -> 32, conv 3x3 s2 -> 64, conv 3x3 s2 -> 128 with ReLU, global average pool;
projector 128 -> 128 -> 64; NT-Xent at tau = 0.5 over the 512 views; Adam 1e-3. Prints the two medians and the
ratio as a Markdown table. Usage: python3 Benchmarks/peers/image_torch.py [path/to/ldm] [--min-seconds S].
Not run in CI."""
import json
import math
import subprocess
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from timing import median_time

BATCH, TAU = 256, 0.5


def augment(images, generator):
    """Two views per image: random resized crop + flip through an affine grid, noise, normalisation."""
    n = images.shape[0]
    x = images.repeat(2, 1, 1, 1)
    scale = torch.empty(2 * n).uniform_(0.5, 1.0, generator=generator)
    log_ratio = torch.empty(2 * n).uniform_(math.log(3 / 4), math.log(4 / 3), generator=generator)
    ratio = log_ratio.exp()
    w = (scale * ratio).sqrt().clamp(max=1.0)
    h = (scale / ratio).sqrt().clamp(max=1.0)
    cx = (torch.rand(2 * n, generator=generator) * 2 - 1) * (1 - w)
    cy = (torch.rand(2 * n, generator=generator) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(2 * n, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(2 * n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    views = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    views = views + 0.05 * torch.randn(views.shape, generator=generator)
    return (views - 0.286) / 0.353


def nt_xent(z):
    z = F.normalize(z, dim=1)
    logits = z @ z.t() / TAU
    logits.fill_diagonal_(float("-inf"))
    n = z.shape[0] // 2
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, targets)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ldm = args[0] if args else ".build/release/ldm"
    min_seconds = float(sys.argv[sys.argv.index("--min-seconds") + 1]) if "--min-seconds" in sys.argv else 5.0
    torch.set_num_threads(2)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    data = torch.rand(60_000, 1, 28, 28)
    encoder = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
                            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    projector = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 64))
    optimizer = torch.optim.Adam(list(encoder.parameters()) + list(projector.parameters()), lr=1e-3)

    def step():
        batch = data[torch.randint(0, data.shape[0], (BATCH,), generator=generator)]
        with torch.no_grad():
            views = augment(batch, generator)
        loss = nt_xent(projector(encoder(views)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    peer = median_time(step, min_seconds)
    rows = json.loads(subprocess.run([ldm, "bench", "image-step", "--backend", "cpu", "--json", "--min-seconds", str(min_seconds)],
                                     check=True, capture_output=True, text=True).stdout)
    ours = rows[0]["seconds_median"]
    print("| training step (batch 256, 2 threads) | ldm cpu s | PyTorch CPU s | speed-up |")
    print("|---|---|---|---|")
    print(f"| {rows[0]['shape']} | {ours:.4f} | {peer:.4f} | {peer / ours:.2f}x |")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
