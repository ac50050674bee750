#!/usr/bin/env python3
"""JAX CPU peers of the fused pairwise objectives, timed in the same script as ldm on the same arrays:

- NT-Xent (SimCLR), B = 8192 pairs, d = 256, τ = 0.1: normalise both views, the 2B × 2B similarity matrix, the
  self-pairs masked out, cross-entropy against the positives; `jit(value_and_grad)` with respect to both views.
  ldm: `ldm objective --z1 --z2 --preset simclr --temperature 0.1 --json` on the same .npy files (its `seconds`,
  one evaluation with gradients, median of --repeats runs).
- Gaussian-kernel KDE entropy, B = 8192, d = 256: −mean_i logsumexp_{j≠i}(−c·‖z_i − z_j‖²) with c = 5/d, and its
  gradient; ldm: the squared-distance row of `ldm bench lse` (which times the same forward + backward).

The values are compared before anything is timed (ldm's loss against JAX's). The last column is ldm's time over
the matrix-product floor: the products the objective cannot avoid (the similarity of each unordered pair forward,
its recomputation and two gradient products backward: 4·n²/2·d multiply-adds for n rows) at the 2048³ rate of
`ldm bench matmul`, measured in the same script. Usage:
python3 Benchmarks/peers/lse_jax.py [path/to/ldm] [--repeats 3] (pip install jax). Not run in CI.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from timing import median_time

B, D, TAU = 8192, 256, 0.1


def nt_xent(z1, z2):
    z = jnp.concatenate([z1, z2]) / jnp.linalg.norm(jnp.concatenate([z1, z2]), axis=1, keepdims=True)
    logits = z @ z.T / TAU
    n = z.shape[0]
    logits = jnp.where(jnp.eye(n, dtype=bool), -jnp.inf, logits)
    positives = jnp.concatenate([jnp.arange(B, 2 * B), jnp.arange(0, B)])
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[jnp.arange(n), positives])


def kde_entropy(z, scale=5.0 / D):
    squared = jnp.sum(z * z, axis=1)
    distances = squared[:, None] + squared[None, :] - 2 * z @ z.T
    logits = jnp.where(jnp.eye(z.shape[0], dtype=bool), -jnp.inf, -scale * distances)
    return -jnp.mean(jax.nn.logsumexp(logits, axis=1))


def ldm_objective_seconds(ldm, z1_path, z2_path, repeats):
    """The `seconds` of `ldm objective` (one evaluation with gradients) over `repeats` runs, and its loss."""
    seconds, loss = [], None
    for _ in range(repeats):
        out = subprocess.run([ldm, "objective", "--z1", z1_path, "--z2", z2_path, "--preset", "simclr",
                              "--temperature", str(TAU), "--json"], check=True, capture_output=True, text=True).stdout
        result = json.loads(out)
        seconds.append(result["seconds"])
        loss = result["loss"]
    return statistics.median(seconds), loss


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ldm = args[0] if args else ".build/release/ldm"
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3
    rng = np.random.default_rng(0)
    z1, z2 = rng.standard_normal((B, D), dtype=np.float32), rng.standard_normal((B, D), dtype=np.float32)
    with tempfile.TemporaryDirectory() as directory:
        paths = [os.path.join(directory, name) for name in ("z1.npy", "z2.npy")]
        np.save(paths[0], z1)
        np.save(paths[1], z2)
        ldm_seconds, ldm_loss = ldm_objective_seconds(ldm, paths[0], paths[1], repeats)

    nt_xent_step = jax.jit(jax.value_and_grad(nt_xent, argnums=(0, 1)))
    j1, j2 = jnp.asarray(z1), jnp.asarray(z2)
    jax_loss = float(nt_xent_step(j1, j2)[0])
    assert abs(jax_loss - ldm_loss) <= 1e-4 * abs(jax_loss), (jax_loss, ldm_loss)
    jax_nt_xent = median_time(lambda: jax.block_until_ready(nt_xent_step(j1, j2)), 1.0, repeats)

    kde_step = jax.jit(jax.value_and_grad(kde_entropy))
    jax_kde = median_time(lambda: jax.block_until_ready(kde_step(j1)), 1.0, repeats)
    rows = json.loads(subprocess.run([ldm, "bench", "lse", "--backend", "cpu", "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    ldm_kde = next(row["seconds_median"] for row in rows if "squaredDistance" in row["shape"])

    matmul = json.loads(subprocess.run([ldm, "bench", "matmul", "--backend", "cpu", "--json"], check=True,
                                       capture_output=True, text=True).stdout)
    rate = next(row["gflops"] for row in matmul if row["shape"].startswith("2048x2048x2048")) * 1e9
    floor = {n: 4 * n * n / 2 * D * 2 / rate for n in (2 * B, B)}
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs; matmul 2048³ {rate / 1e9:.1f} GFLOP/s")
    print("| objective (forward + backward) | ldm cpu s | JAX jit s | ratio | ldm / matrix-product floor |")
    print("|---|---|---|---|---|")
    print(f"| NT-Xent, B = {B}, d = {D}, τ = {TAU} | {ldm_seconds:.3f} | {jax_nt_xent:.3f} | {jax_nt_xent / ldm_seconds:.2f}x "
          f"| {ldm_seconds / floor[2 * B]:.2f} |")
    print(f"| Gaussian KDE entropy, B = {B}, d = {D} | {ldm_kde:.3f} | {jax_kde:.3f} | {jax_kde / ldm_kde:.2f}x "
          f"| {ldm_kde / floor[B]:.2f} |")


if __name__ == "__main__":
    main()
