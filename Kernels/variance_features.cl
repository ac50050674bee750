// variance_features.cl — the first stage of the per-step observation-noise network (the "inferred noise"
// configuration of docs/mathematics.md §6: Σ_D,t predicted from the frame x_t). For rows x_i of length f and per-feature weights w:
//     u_ij = w_j·x_ij,   m_i = (1/f)·Σ_j u_ij,   y_ij = (u_ij − m_i)²           (variance_features: y and m)
// and, for dy = ∂L/∂y, the gradients with respect to w and (when the caller asks; the training frames are data
// and need none) x:
//     h_ij = 2·(u_ij − m_i)·dy_ij,   r_i = (1/f)·Σ_j h_ij                        (variance_features_rows: r)
//     dw_j = Σ_i x_ij·(h_ij − r_i)                                              (variance_features_weights)
//     dx_ij = w_j·(h_ij − r_i)                                                  (variance_features_inputs)
// A frame's squared deviations from its own mean respond to how noisy the frame is, whatever the blob's position.
// Work-items: one per row in the row kernels (rows are short, f = 100 for the videos), one per feature j in
// variance_features_weights, which walks all rows (neighbouring items read neighbouring addresses). Accumulation in float32.

__kernel void variance_features(const int rows, const int f, __global const float *x, __global const float *w,
                                __global float *y, __global float *m) {
    const int i = get_global_id(0);
    if (i >= rows) return;
    __global const float *xi = x + (size_t)i * f;
    float sum = 0.0f;
    for (int j = 0; j < f; ++j) sum += w[j] * xi[j];
    const float mean = sum / (float)f;
    m[i] = mean;
    __global float *yi = y + (size_t)i * f;
    for (int j = 0; j < f; ++j) {
        const float c = w[j] * xi[j] - mean;
        yi[j] = c * c;
    }
}

__kernel void variance_features_rows(const int rows, const int f, __global const float *x, __global const float *w,
                                     __global const float *m, __global const float *dy, __global float *r) {
    const int i = get_global_id(0);
    if (i >= rows) return;
    __global const float *xi = x + (size_t)i * f;
    __global const float *gi = dy + (size_t)i * f;
    float sum = 0.0f;
    for (int j = 0; j < f; ++j) sum += 2.0f * (w[j] * xi[j] - m[i]) * gi[j];
    r[i] = sum / (float)f;
}

__kernel void variance_features_weights(const int rows, const int f, __global const float *x, __global const float *w,
                                        __global const float *m, __global const float *dy, __global const float *r,
                                        __global float *dw) {
    const int j = get_global_id(0);
    if (j >= f) return;
    float sum = 0.0f;
    for (int i = 0; i < rows; ++i) {
        const float xij = x[(size_t)i * f + j];
        const float h = 2.0f * (w[j] * xij - m[i]) * dy[(size_t)i * f + j];
        sum += xij * (h - r[i]);
    }
    dw[j] = sum;
}

__kernel void variance_features_inputs(const int rows, const int f, __global const float *x, __global const float *w,
                                       __global const float *m, __global const float *dy, __global const float *r,
                                       __global float *dx) {
    const int i = get_global_id(0);
    if (i >= rows) return;
    __global const float *xi = x + (size_t)i * f;
    __global const float *gi = dy + (size_t)i * f;
    __global float *di = dx + (size_t)i * f;
    for (int j = 0; j < f; ++j) di[j] = w[j] * (2.0f * (w[j] * xi[j] - m[i]) * gi[j] - r[i]);
}
