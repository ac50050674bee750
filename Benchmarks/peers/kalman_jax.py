#!/usr/bin/env python3
"""JAX CPU peer of `ldm bench kalman`, in the same script: the Kalman-LDM loss (stop-gradient) with the reference
structure written as `jax.lax.scan` over time (batched covariances, jnp.linalg.inv), `jax.jit(jax.value_and_grad)`
with respect to z, A, b, a and s, float32, for the cases of `ldm bench kalman`.
Usage: python3 Benchmarks/peers/kalman_jax.py [path/to/ldm]  (pip install jax). Not run in CI."""
import sys

import jax
import jax.numpy as jnp
import numpy as np

from timing import compare_with_ldm, median_time

CASES = [(32, 100, 2), (32, 100, 10), (256, 100, 64), (4096, 100, 4)]


def loss(z, A, b, a, s):
    batch, _, d = z.shape
    eye = jnp.eye(d, dtype=z.dtype)

    def step(carry, zt):
        h, P, total = carry
        hm = (h - b) @ A.T + b
        Pm = A @ P @ A.T + jnp.diag(jnp.exp(s + a))
        S = Pm + jnp.exp(s) * eye
        Si = jnp.linalg.inv(S)
        residual = jax.lax.stop_gradient(zt) - hm
        _, logdet = jnp.linalg.slogdet(S)
        total = total + 0.5 * logdet + 0.5 * jnp.einsum('bi,bij,bj->b', residual, Si, residual)
        K = Pm @ Si
        h = hm + jnp.einsum('bij,bj->bi', K, zt - hm)
        P = Pm - K @ S @ jnp.swapaxes(K, 1, 2)
        return (h, P, total), None

    init = (jnp.zeros((batch, d), z.dtype), jnp.broadcast_to(eye, (batch, d, d)), jnp.zeros(batch, z.dtype))
    (_, _, total), _ = jax.lax.scan(step, init, jnp.swapaxes(z, 0, 1))
    return total.mean()


def step_function(batch, steps, d):
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.standard_normal((batch, steps, d)), jnp.float32)
    A = jnp.asarray(0.9 * np.eye(d) + 0.1 * rng.standard_normal((d, d)) / d ** 0.5, jnp.float32)
    b, a, s = jnp.zeros(d, jnp.float32), jnp.zeros(d, jnp.float32), jnp.float32(-1.0)
    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3, 4)))

    def step():
        jax.block_until_ready(value_and_grad(z, A, b, a, s))
    return step


def main():
    ldm = sys.argv[1] if len(sys.argv) > 1 else ".build/release/ldm"
    peers = {f"{b}x{t}x{d}": median_time(step_function(b, t, d), 1.0, 3) for b, t, d in CASES}
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    compare_with_ldm(ldm, "kalman", peers, "JAX jit")


if __name__ == "__main__":
    main()
