#!/usr/bin/env python3
"""JAX and PyTorch peers of the fused pairwise objectives, on the same arrays, timed in one process beside ldm:

- NT-Xent (SimCLR), B = 8192 pairs, d = 256, τ = 0.1: normalise both views, the 2B × 2B similarity matrix with the
  self-pairs masked out, cross-entropy against the positives; forward + backward with respect to both views.
  ldm: the `seconds` of `ldm objective --preset simclr --temperature 0.1 --repeats N --json` on the same .npy files
  (one evaluation with gradients, median of --repeats evaluations in one process; its loss is checked against both
  peers first).
- Gaussian-kernel KDE entropy, B = 8192, d = 256: −mean_i logsumexp_{j≠i}(−c·‖z_i − z_j‖²), c = 5/d, and its gradient.
- Two-view InfoNCE, B = 8192, d = 256, τ = 0.1, unit rows: mean_i logsumexp_j(⟨z1_i, z2_j⟩/τ) with separate rows
  and columns, and its gradient with respect to both views (the part of the InfoNCE loss that costs anything).
  ldm: the rows of `ldm bench lse` that time the same forward + backward (one set for KDE, two views for InfoNCE).

JAX runs `jit(value_and_grad)`; PyTorch runs eagerly with autograd, as their users write them (both materialise the
n × n matrix). The last column is ldm's time over the matrix-product floor: the products the objective cannot
avoid (one set: the similarity of each unordered pair forward, its recomputation and two gradient products
backward, 4·n²/2·d multiply-adds for n rows; two views: 4·B²·d) at the 2048³ rate of `ldm bench matmul`, measured
in the same script. A peer that is not installed is left out. With --cuda, PyTorch runs on the GPU (TF32 off),
ldm on its OpenCL device, and JAX on its default platform.
Usage: python3 Benchmarks/peers/lse_peers.py [path/to/ldm] [--repeats 5] [--cuda] (pip install jax torch).
Not run in CI.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

from timing import median_time

B, D, TAU = 8192, 256, 0.1
KDE_SCALE = 5.0 / D

try:
    import jax
    import jax.numpy as jnp
except ImportError:
    jax = None
try:
    import torch
except ImportError:
    torch = None


def jax_peers(z1, z2, u1, u2):
    """Seconds of each case under `jit(value_and_grad)`, and the NT-Xent loss."""
    def nt_xent(a, b):
        z = jnp.concatenate([a, b])
        z = z / jnp.linalg.norm(z, axis=1, keepdims=True)
        logits = jnp.where(jnp.eye(2 * B, dtype=bool), -jnp.inf, z @ z.T / TAU)
        positives = jnp.concatenate([jnp.arange(B, 2 * B), jnp.arange(0, B)])
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[jnp.arange(2 * B), positives])

    def kde_entropy(z):
        squared = jnp.sum(z * z, axis=1)
        distances = squared[:, None] + squared[None, :] - 2 * z @ z.T
        logits = jnp.where(jnp.eye(B, dtype=bool), -jnp.inf, -KDE_SCALE * distances)
        return -jnp.mean(jax.nn.logsumexp(logits, axis=1))

    def two_view(a, b):
        return jnp.mean(jax.nn.logsumexp(a @ b.T / TAU, axis=1))

    j1, j2, k1, k2 = (jnp.asarray(v) for v in (z1, z2, u1, u2))
    steps = {"nt_xent": (jax.jit(jax.value_and_grad(nt_xent, argnums=(0, 1))), (j1, j2)),
             "kde": (jax.jit(jax.value_and_grad(kde_entropy)), (j1,)),
             "two_view": (jax.jit(jax.value_and_grad(two_view, argnums=(0, 1))), (k1, k2))}
    loss = float(steps["nt_xent"][0](j1, j2)[0])
    seconds = {name: median_time(lambda: jax.block_until_ready(step(*args)), 1.0, 3) for name, (step, args) in steps.items()}
    return seconds, loss


def torch_peers(z1, z2, u1, u2, device):
    """Seconds of each case with autograd on `device`, and the NT-Xent loss."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    t1, t2, v1, v2 = (torch.from_numpy(v).to(device) for v in (z1, z2, u1, u2))
    mask = torch.eye(2 * B, dtype=torch.bool, device=device)
    positives = torch.cat([torch.arange(B, 2 * B), torch.arange(0, B)]).to(device)

    def nt_xent():
        a, b = t1.detach().requires_grad_(True), t2.detach().requires_grad_(True)
        z = torch.nn.functional.normalize(torch.cat([a, b]), dim=1)
        logits = (z @ z.T / TAU).masked_fill(mask, float("-inf"))
        loss = torch.nn.functional.cross_entropy(logits, positives)
        loss.backward()
        return loss.detach()

    def kde():
        z = t1.detach().requires_grad_(True)
        squared = (z * z).sum(dim=1)
        distances = squared[:, None] + squared[None, :] - 2 * z @ z.T
        logits = (-KDE_SCALE * distances).masked_fill(mask[:B, :B], float("-inf"))
        (-torch.logsumexp(logits, dim=1).mean()).backward()

    def two_view():
        a, b = v1.detach().requires_grad_(True), v2.detach().requires_grad_(True)
        torch.logsumexp(a @ b.T / TAU, dim=1).mean().backward()

    loss = float(nt_xent())
    seconds = {name: median_time(step, 1.0, 3, sync) for name, step in (("nt_xent", nt_xent), ("kde", kde),
                                                                      ("two_view", two_view))}
    return seconds, loss


def ldm_json(ldm, *arguments):
    return json.loads(subprocess.run([ldm, *arguments, "--json"], check=True, capture_output=True, text=True).stdout)


def unit_rows(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--") and not a.isdigit()]
    ldm = args[0] if args else ".build/release/ldm"
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 5
    cuda = "--cuda" in sys.argv
    backend = "opencl" if cuda else "cpu"
    rng = np.random.default_rng(0)
    z1, z2 = rng.standard_normal((B, D), dtype=np.float32), rng.standard_normal((B, D), dtype=np.float32)
    u1, u2 = unit_rows(rng.standard_normal((B, D))), unit_rows(rng.standard_normal((B, D)))

    with tempfile.TemporaryDirectory() as directory:
        paths = [os.path.join(directory, name) for name in ("z1.npy", "z2.npy")]
        np.save(paths[0], z1)
        np.save(paths[1], z2)
        run = ldm_json(ldm, "objective", "--backend", backend, "--z1", paths[0], "--z2", paths[1], "--preset", "simclr",
                       "--temperature", str(TAU), "--repeats", str(repeats))
    ldm_seconds, ldm_loss = {"nt_xent": run["seconds"]}, run["loss"]
    for row in ldm_json(ldm, "bench", "lse", "--backend", backend):
        name = "two_view" if row["shape"].endswith("two-view") else "kde" if "squaredDistance" in row["shape"] else None
        if name:
            ldm_seconds[name] = row["seconds_median"]
    # ldm is timed before the peers load: PyTorch's idle worker threads spin for a while after each call and would
    # slow whatever runs next.
    matmul = ldm_json(ldm, "bench", "matmul", "--backend", backend)
    rate = next(row["gflops"] for row in matmul if row["shape"].startswith("2048x2048x2048")) * 1e9

    peers = {}
    if jax is not None:
        peers[f"JAX {jax.__version__} ({jax.devices()[0].platform})"] = jax_peers(z1, z2, u1, u2)
    if torch is not None:
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = False
        device = "cuda" if cuda else "cpu"
        label = torch.cuda.get_device_name() if cuda else f"{torch.get_num_threads()} threads"
        peers[f"PyTorch {torch.__version__} ({label})"] = torch_peers(z1, z2, u1, u2, device)
    for label, (_, loss) in peers.items():
        assert abs(loss - ldm_loss) <= 1e-4 * abs(loss), (label, loss, ldm_loss)

    floors = {"nt_xent": 4 * (2 * B) ** 2 / 2 * D * 2 / rate, "kde": 4 * B * B / 2 * D * 2 / rate,
              "two_view": 4 * B * B * D * 2 / rate}
    names = {"nt_xent": f"NT-Xent, B = {B}, d = {D}, τ = {TAU}", "kde": f"Gaussian KDE entropy, B = {B}, d = {D}",
             "two_view": f"two-view InfoNCE, B = {B}, d = {D}, τ = {TAU}"}
    print(f"{os.cpu_count()} CPUs; ldm {backend}; matmul 2048³ {rate / 1e9:.1f} GFLOP/s; NT-Xent loss {ldm_loss:.6f}")
    print("| objective (forward + backward) | ldm s | " + " | ".join(f"{label} s | ratio" for label in peers)
          + " | ldm / matrix-product floor |")
    print("|---|---|" + "---|---|" * len(peers) + "---|")
    for key, name in names.items():
        cells = [f"{seconds[key]:.3f} | {seconds[key] / ldm_seconds[key]:.2f}x" for seconds, _ in peers.values()]
        print(f"| {name} | {ldm_seconds[key]:.3f} | " + " | ".join(cells) + f" | {ldm_seconds[key] / floors[key]:.2f} |")


if __name__ == "__main__":
    main()
