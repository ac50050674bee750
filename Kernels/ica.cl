// ica.cl — the elementwise part of the ICA objective's generalised-Gaussian prior on the sources s = x·Wᵀ:
//     generalized_gaussian: part[e] = |s[e]|^β and D[e] = α·β·|s[e]|^(β−1)·sign(s[e])/N,
//     the derivative of the loss's α·mean_i Σ_k |s_ik|^β with respect to s. (Products, the Cholesky factor of
//     W·Wᵀ and the solves for (W·Wᵀ)⁻¹W run in CLBlast and cholesky.cl.)
// Work-items: one per element, dimension 0, padded and guarded. Tunables: none.

__kernel void generalized_gaussian(const int count, const float alpha, const float beta, const float inverseN,
                                   __global const float *s, __global float *D, __global float *part) {
    const int e = get_global_id(0);
    if (e >= count) return;
    const float magnitude = fabs(s[e]);
    part[e] = pow(magnitude, beta);
    const float slope = alpha * beta * pow(magnitude, beta - 1.0f) * inverseN;
    D[e] = s[e] < 0.0f ? -slope : slope;
}
