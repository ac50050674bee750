#!/usr/bin/env python3
"""JAX CPU peers of `ldm bench kalman`, in the same script: the Kalman-LDM loss (stop-gradient) as
`jax.jit(jax.value_and_grad)` with respect to z, A, b, a and s, float32, for the cases of `ldm bench kalman`, in two
structures:
- `reference`: the paper's structure, `jax.lax.scan` over time with a covariance per sequence and jnp.linalg.inv;
- `shared`: what a JAX user who knows the structure writes: the covariances (shared by every sequence) once per
  batch by a scan with Cholesky solves, and only the means batched, [B, d] products per step.
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


def loss_shared(z, A, b, a, s):
    batch, _, d = z.shape
    eye = jnp.eye(d, dtype=z.dtype)
    Q, R = jnp.diag(jnp.exp(s + a)), jnp.exp(s) * eye

    def covariance_step(P, _):
        Pm = A @ P @ A.T + Q
        S = Pm + R
        L = jnp.linalg.cholesky(S)
        K = jax.scipy.linalg.cho_solve((L, True), Pm).T      # P⁻·S⁻¹ (both symmetric)
        P = Pm - K @ S @ K.T
        return P, (L, K, 2 * jnp.sum(jnp.log(jnp.diag(L))))

    _, (factors, gains, logdets) = jax.lax.scan(covariance_step, eye, None, length=z.shape[1])

    def mean_step(h, inputs):
        zt, L, K = inputs
        hm = (h - b) @ A.T + b
        residual = jax.lax.stop_gradient(zt) - hm
        whitened = jax.scipy.linalg.cho_solve((L, True), residual.T).T
        h = hm + (zt - hm) @ K.T
        return h, jnp.sum(residual * whitened)

    _, quadratics = jax.lax.scan(mean_step, jnp.zeros((batch, d), z.dtype), (jnp.swapaxes(z, 0, 1), factors, gains))
    return 0.5 * (batch * jnp.sum(logdets) + jnp.sum(quadratics)) / batch


def step_function(batch, steps, d, form=loss):
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.standard_normal((batch, steps, d)), jnp.float32)
    A = jnp.asarray(0.9 * np.eye(d) + 0.1 * rng.standard_normal((d, d)) / d ** 0.5, jnp.float32)
    b, a, s = jnp.zeros(d, jnp.float32), jnp.zeros(d, jnp.float32), jnp.float32(-1.0)
    value_and_grad = jax.jit(jax.value_and_grad(form, argnums=(0, 1, 2, 3, 4)))

    def step():
        jax.block_until_ready(value_and_grad(z, A, b, a, s))
    return step


def main():
    ldm = sys.argv[1] if len(sys.argv) > 1 else ".build/release/ldm"
    forms = {"reference": loss, "shared": loss_shared}
    check_forms_agree(forms)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    for name, form in forms.items():
        peers = {f"{b}x{t}x{d}": median_time(step_function(b, t, d, form), 1.0, 3) for b, t, d in CASES}
        compare_with_ldm(ldm, "kalman", peers, f"JAX jit, {name} structure", row_kernel="kalman.forward+backward")


def check_forms_agree(forms):
    """The two structures compute one loss and one gradient: checked on a small case before anything is timed."""
    rng = np.random.default_rng(1)
    d = 3
    z = jnp.asarray(rng.standard_normal((4, 20, d)), jnp.float32)
    A = jnp.asarray(0.9 * np.eye(d) + 0.1 * rng.standard_normal((d, d)), jnp.float32)
    args = (z, A, jnp.full(d, 0.1, jnp.float32), jnp.full(d, -0.2, jnp.float32), jnp.float32(-1.0))
    values = [jax.value_and_grad(form, argnums=(0, 1, 2, 3, 4))(*args) for form in forms.values()]
    (v0, g0), (v1, g1) = values
    assert abs(float(v0 - v1)) <= 1e-4 * abs(float(v0)), (v0, v1)
    for x, y in zip(g0, g1):
        assert float(jnp.max(jnp.abs(x - y))) <= 1e-3 * (1 + float(jnp.max(jnp.abs(x)))), (x, y)


if __name__ == "__main__":
    main()
