// covariance.cl — the covariance-based surrogates' device work (VICReg penalty, Taylor log-det; docs/mathematics.md §3.4–3.5).
//     column_means:   mean[k] = (1/rows)·Σ_i z[i, k]                      (one work-item per column)
//     center_columns: out[i, k] = z[i, k] − mean[k]                      (one work-item per element)
//     surrogate_rows: for row k of the covariance C (d × d), part[k] = that row's share of f(C) and
//                     W[k, :] = 2·∂f/∂C[k, :], so that ∂f/∂X = X̃·W/(rows − 1) (W = M + Mᵀ for a symmetric M).
//         SURROGATE 0, VICReg:  f = VW·(1/d)·Σ_k ReLU(1 − sqrt(C_kk + 1e-4)) + CW·(1/d)·Σ_{k≠l} C_kl²
//         SURROGATE 1, Taylor:  f = (Σ_k log C_kk − ½·Σ_{k≠l} (C_kl²/(C_kk·C_ll))²)/d
//         (the Taylor diagonal gathers 2·Σ_{l≠k} r_kl²/C_kk from both orders of each pair, all in row k)
//     column_std:     std[k] = sqrt(Σ_i X̃[i, k]² / (rows − 1)) of centred columns       (one per column)
//     divide_columns: out[i, k] = x[i, k] / std[k]                                      (one per element)
//     barlow_terms:   for the cross-correlation c (d × d): part[e] = (c_kk − 1)² or λ·c_kl², G[e] = ∂/∂c
//     standardization_backward: out[:, k] = (g − mean(g) − a·Σ_i g_i·a_i/(rows − 1))/std[k] for a column of
//                     the standardised view a with upstream gradient g (the Barlow Twins backward)
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

__kernel void column_std(const int rows, const int d, __global const float *centred, __global float *std) {
    const int k = get_global_id(0);
    if (k >= d) return;
    float total = 0.0f;
    for (int i = 0; i < rows; i++) total = fma(centred[(long)i * d + k], centred[(long)i * d + k], total);
    std[k] = sqrt(total / (float)(rows - 1));
}

__kernel void divide_columns(const int count, const int d, __global const float *x, __global const float *std,
                             __global float *out) {
    const int e = get_global_id(0);
    if (e < count) out[e] = x[e] / std[e % d];
}

__kernel void barlow_terms(const int d, const float lambda, __global const float *c, __global float *G,
                           __global float *part) {
    const int e = get_global_id(0);
    if (e >= d * d) return;
    const float value = c[e];
    if (e / d == e % d) {
        part[e] = (value - 1.0f) * (value - 1.0f);
        G[e] = 2.0f * (value - 1.0f);
    } else {
        part[e] = lambda * value * value;
        G[e] = 2.0f * lambda * value;
    }
}

__kernel void standardization_backward(const int rows, const int d, __global const float *g,
                                       __global const float *a, __global const float *std, __global float *out) {
    const int k = get_global_id(0);
    if (k >= d) return;
    float meanG = 0.0f, dot = 0.0f;
    for (int i = 0; i < rows; i++) {
        meanG += g[(long)i * d + k];
        dot = fma(g[(long)i * d + k], a[(long)i * d + k], dot);
    }
    meanG /= (float)rows;
    for (int i = 0; i < rows; i++) {
        const long at = (long)i * d + k;
        out[at] = (g[at] - meanG - a[at] * dot / (float)(rows - 1)) / std[k];
    }
}
