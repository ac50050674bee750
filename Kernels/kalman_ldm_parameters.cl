// kalman_ldm_parameters.cl — the Kalman-LDM model's parameters packed in one device vector
// θ = [A (n², row-major) | b (n) | a (n) | s], so a training step never moves them through the host:
//     kalman_ldm_unpack:          A, Q = e^s·diag(e^a) (n × n), and the offset c = b − A·b of h⁻ = A·ĥ + c
//     kalman_ldm_shift_log_noise: ℓ'_e = ℓ_e + s (or s alone without per-step noise), the log-variances of
//                                 Σ_D = diag(exp ℓ'), so the covariance kernels need no host copy of s
//     kalman_ldm_pack_gradient:   the packed gradient θ̄ from the reverse pass's sums, over B sequences:
//         Ā = (M − v·bᵀ + Σ_g C_g)/B,  b̄ = (v − Aᵀ·v)/B,  ā_i = Σ_g q_gi/B,  s̄ = Σ_i ā_i + ρ/B
//     with v = Σ h̄⁻ (n), M = Σ h̄⁻·(ĥ − b)ᵀ (n × n), C_g and q_g the covariance pass's ∂/∂A and ∂/∂log Q_ii of
//     group g, and ρ = Σ ∂/∂ℓ' (already summed).
// Work-items: one per output element, guarded. The sizes are tiny (n ≤ 64); these kernels exist so that the
// parameters and their gradient stay on the device, not for throughput.

__kernel void kalman_ldm_unpack(const int n, __global const float *theta, __global float *A, __global float *Q,
                                __global float *offset) {
    const int e = get_global_id(0);
    if (e >= n * n) return;
    const int i = e / n, j = e % n;
    const float s = theta[n * n + 2 * n];
    A[e] = theta[e];
    Q[e] = i == j ? exp(s + theta[n * n + n + i]) : 0.0f;
    if (j == 0) {
        float v = theta[n * n + i];
        for (int k = 0; k < n; k++) v -= theta[i * n + k] * theta[n * n + k];
        offset[i] = v;
    }
}

__kernel void kalman_ldm_shift_log_noise(const int count, const int n, const int hasNoise,
                                         __global const float *theta, __global const float *logNoise,
                                         __global float *out) {
    const int e = get_global_id(0);
    if (e >= count) return;
    out[e] = (hasNoise ? logNoise[e] : 0.0f) + theta[n * n + 2 * n];
}

__kernel void kalman_ldm_pack_gradient(const int n, const int groups, const float inverseB,
                                       __global const float *theta, __global const float *v,
                                       __global const float *M, __global const float *C,
                                       __global const float *q, __global const float *rho,
                                       __global float *gradient) {
    const int e = get_global_id(0);
    if (e > n * n + 2 * n) return;
    if (e < n * n) {
        const int i = e / n, j = e % n;
        float total = M[e] - v[i] * theta[n * n + j];
        for (int g = 0; g < groups; g++) total += C[(long)g * n * n + e];
        gradient[e] = total * inverseB;
    } else if (e < n * n + n) {
        const int i = e - n * n;
        float total = v[i];
        for (int j = 0; j < n; j++) total -= theta[j * n + i] * v[j];
        gradient[e] = total * inverseB;
    } else if (e < n * n + 2 * n) {
        const int i = e - n * n - n;
        float total = 0.0f;
        for (int g = 0; g < groups; g++) total += q[(long)g * n + i];
        gradient[e] = total * inverseB;
    } else {
        float total = rho[0];
        for (int i = 0; i < n; i++) for (int g = 0; g < groups; g++) total += q[(long)g * n + i];
        gradient[e] = total * inverseB;
    }
}
