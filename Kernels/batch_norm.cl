// batch_norm.cl — batch normalisation over the rows of x [N, C] (PyTorch's BatchNorm1d on a batch of vectors):
//     training:  μ_j = (1/N)·Σ_i x_ij,  σ²_j = (1/N)·Σ_i (x_ij − μ_j)²                (batch_norm_statistics)
//     both:      x̂_ij = (x_ij − μ_j)/√(σ²_j + ε),  y_ij = γ_j·x̂_ij + β_j               (batch_norm_apply)
// In evaluation mode μ and σ² are the running statistics, passed in. The training-mode backward, for dy:
//     dβ_j = Σ_i dy_ij,  dγ_j = Σ_i dy_ij·x̂_ij                                          (batch_norm_sums)
//     dx_ij = γ_j/√(σ²_j + ε)·(dy_ij − dβ_j/N − x̂_ij·dγ_j/N)                            (batch_norm_input_gradient)
// (the last two terms are the gradient through μ and σ², which depend on the whole column).
// Work-items: one per column in the two column kernels, which walk the rows with neighbouring items reading
// neighbouring addresses; one per element in the others. Two-pass variance; accumulation in float32.

__kernel void batch_norm_statistics(const int rows, const int columns, __global const float *x,
                                    __global float *mean, __global float *variance) {
    const int j = get_global_id(0);
    if (j >= columns) return;
    float sum = 0.0f;
    for (int i = 0; i < rows; ++i) sum += x[(size_t)i * columns + j];
    const float m = sum / (float)rows;
    float squares = 0.0f;
    for (int i = 0; i < rows; ++i) {
        const float c = x[(size_t)i * columns + j] - m;
        squares += c * c;
    }
    mean[j] = m;
    variance[j] = squares / (float)rows;
}

__kernel void batch_norm_apply(const int rows, const int columns, const float epsilon, __global const float *x,
                               __global const float *gamma, __global const float *beta, __global const float *mean,
                               __global const float *variance, __global float *y) {
    const int e = get_global_id(0);
    if (e >= rows * columns) return;
    const int j = e % columns;
    y[e] = gamma[j] * (x[e] - mean[j]) * rsqrt(variance[j] + epsilon) + beta[j];
}

__kernel void batch_norm_sums(const int rows, const int columns, const float epsilon, __global const float *x,
                              __global const float *dy, __global const float *mean, __global const float *variance,
                              __global float *dGamma, __global float *dBeta) {
    const int j = get_global_id(0);
    if (j >= columns) return;
    const float inverse = rsqrt(variance[j] + epsilon);
    float sumG = 0.0f, sumGX = 0.0f;
    for (int i = 0; i < rows; ++i) {
        const size_t e = (size_t)i * columns + j;
        sumG += dy[e];
        sumGX += dy[e] * (x[e] - mean[j]) * inverse;
    }
    dGamma[j] = sumGX;
    dBeta[j] = sumG;
}

__kernel void batch_norm_input_gradient(const int rows, const int columns, const float epsilon,
                                        __global const float *x, __global const float *dy,
                                        __global const float *gamma, __global const float *mean,
                                        __global const float *variance, __global const float *dGamma,
                                        __global const float *dBeta, __global float *dx) {
    const int e = get_global_id(0);
    if (e >= rows * columns) return;
    const int j = e % columns;
    const float inverse = rsqrt(variance[j] + epsilon);
    const float normalised = (x[e] - mean[j]) * inverse;
    const float n = (float)rows;
    dx[e] = gamma[j] * inverse * (dy[e] - dBeta[j] / n - normalised * dGamma[j] / n);
}
