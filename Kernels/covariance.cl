// covariance.cl — the covariance-based surrogates' device work (VICReg penalty, Taylor log-det; SPEC §3.4–3.5).
//     column_means:   mean[k] = (1/rows)·Σ_i z[i, k]                      (one work-item per column)
//     center_columns: out[i, k] = z[i, k] − mean[k]                      (one work-item per element)
//     surrogate_rows: for row k of the covariance C (d × d), part[k] = that row's share of f(C) and
//                     W[k, :] = 2·∂f/∂C[k, :], so that ∂f/∂X = X̃·W/(rows − 1) (W = M + Mᵀ for a symmetric M).
//         SURROGATE 0, VICReg:  f = VW·(1/d)·Σ_k ReLU(1 − sqrt(C_kk + 1e-4)) + CW·(1/d)·Σ_{k≠l} C_kl²
//         SURROGATE 1, Taylor:  f = (Σ_k log C_kk − ½·Σ_{k≠l} (C_kl²/(C_kk·C_ll))²)/d
//         (the Taylor diagonal gathers 2·Σ_{l≠k} r_kl²/C_kk from both orders of each pair, all in row k)
// Work-items: one per column, element or covariance row, padded to whole groups and guarded; no barriers.
// Tunables: SURROGATE (0 or 1), VW and CW (VICReg weights, defaults 25 and 1).
#ifndef SURROGATE
#define SURROGATE 0
#endif
#ifndef VW
#define VW 25.0f
#endif
#ifndef CW
#define CW 1.0f
#endif

__kernel void column_means(const int rows, const int d, __global const float *z, __global float *mean) {
    const int k = get_global_id(0);
    if (k >= d) return;
    float total = 0.0f;
    for (int i = 0; i < rows; i++) total += z[(long)i * d + k];
    mean[k] = total / (float)rows;
}

__kernel void center_columns(const int count, const int d, __global const float *z, __global const float *mean,
                             __global float *out) {
    const int e = get_global_id(0);
    if (e < count) out[e] = z[e] - mean[e % d];
}

__kernel void surrogate_rows(const int d, __global const float *C, __global float *W, __global float *part) {
    const int k = get_global_id(0);
    if (k >= d) return;
    const float inverseD = 1.0f / (float)d;
    float value = 0.0f;
#if SURROGATE == 0
    for (int l = 0; l < d; l++) {
        const float c = C[(long)k * d + l];
        if (l == k) {
            const float sd = sqrt(c + 1e-4f);
            value += VW * fmax(0.0f, 1.0f - sd) * inverseD;
            W[(long)k * d + l] = sd < 1.0f ? 2.0f * (-VW / (2.0f * sd) * inverseD) : 0.0f;
        } else {
            value += CW * c * c * inverseD;
            W[(long)k * d + l] = 2.0f * (CW * 2.0f * c * inverseD);
        }
    }
#else
    const float ckk = C[(long)k * d + k];
    float diagonal = 0.0f;
    value += log(ckk);
    for (int l = 0; l < d; l++) {
        if (l == k) continue;
        const float c = C[(long)k * d + l], cll = C[(long)l * d + l];
        const float r = c * c / (ckk * cll);
        value -= 0.5f * r * r;
        W[(long)k * d + l] = 2.0f * (-2.0f * r * c / (ckk * cll) * inverseD);
        diagonal += 2.0f * r * r / ckk;
    }
    W[(long)k * d + k] = 2.0f * ((1.0f / ckk + diagonal) * inverseD);
    value *= inverseD;
#endif
    part[k] = value;
}
