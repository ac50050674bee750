// kalman_common.cl — what the two files of the kalman family share (included by kalman.cl and kalman_rows.cl;
// docs/kernels.md): the tunables' defaults, the work-group matrix product and Cholesky factorisation, the
// triangular solves, the noise entries and the compensated sum. No kernels.
#ifndef KF_WG
#define KF_WG 64
#endif
#ifndef KF_N
#define KF_N 1
#endif
#ifndef KF_M
#define KF_M 1
#endif
#ifndef KF_ROWS
#define KF_ROWS 1
#endif

#define FENCE (CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE)

// c (r × cols) = a (r × k) · b (k × cols), or · bᵀ (b stored cols × k); entries shared among the group's items.
static void wg_product(__global const float *a, __global const float *b, __global float *c, const int r,
                       const int k, const int cols, const int transB) {
    for (int e = get_local_id(0); e < r * cols; e += KF_WG) {
        const int i = e / cols, j = e % cols;
        float v = 0.0f;
        for (int p = 0; p < k; p++) v += a[i * k + p] * (transB ? b[j * k + p] : b[p * cols + j]);
        c[e] = v;
    }
}

// In-place lower Cholesky factor of the n × n matrix a (strict upper triangle zeroed); 0 when a pivot is not
// positive. Every item reads the same flag after a barrier, so all return together.
static int wg_cholesky(__global float *a, const int n, __local int *fail) {
    const int lid = get_local_id(0);
    barrier(FENCE);
    if (lid == 0) *fail = 0;
    barrier(FENCE);
    for (int j = 0; j < n; j++) {
        if (lid == 0) {
            float p = a[j * n + j];
            for (int q = 0; q < j; q++) p -= a[j * n + q] * a[j * n + q];
            if (p > 0.0f) a[j * n + j] = sqrt(p); else *fail = 1;
        }
        barrier(FENCE);
        if (*fail) return 0;
        const float root = a[j * n + j];
        for (int i = j + 1 + lid; i < n; i += KF_WG) {
            float v = a[i * n + j];
            for (int q = 0; q < j; q++) v -= a[i * n + q] * a[j * n + q];
            a[i * n + j] = v / root;
        }
        barrier(FENCE);
    }
    for (int e = lid; e < n * n; e += KF_WG) if (e % n > e / n) a[e] = 0.0f;
    barrier(FENCE);
    return 1;
}

// x ← (L·Lᵀ)⁻¹·x for one vector of n, by one work-item: forward then backward substitution. Written once as a
// macro for the two address spaces x may live in (OpenCL 1.2 has no generic address space).
#define KF_CHOLESKY_SOLVE(L, n, x)                                                                            \
    for (int i = 0; i < (n); i++) {                                                                           \
        float v = (x)[i];                                                                                     \
        for (int p = 0; p < i; p++) v -= (L)[i * (n) + p] * (x)[p];                                           \
        (x)[i] = v / (L)[i * (n) + i];                                                                        \
    }                                                                                                         \
    for (int i = (n) - 1; i >= 0; i--) {                                                                      \
        float v = (x)[i];                                                                                     \
        for (int p = i + 1; p < (n); p++) v -= (L)[p * (n) + i] * (x)[p];                                     \
        (x)[i] = v / (L)[i * (n) + i];                                                                        \
    }

static void solve_global(__global const float *L, const int n, __global float *x) { KF_CHOLESKY_SOLVE(L, n, x) }

// The same on a private vector of KF_M floats.
static void solve_private(__global const float *L, float *x) { KF_CHOLESKY_SOLVE(L, KF_M, x) }

// R_{g,t}[i][j]: full matrices, or diag(exp(ℓ_i)) + extra·I from log-variances.
static float noise_entry(__global const float *R, const int logDiagonal, const float extra,
                         const int m, const int i, const int j) {
    if (!logDiagonal) return R[i * m + j];
    return i == j ? exp(R[i]) + extra : 0.0f;
}

// Adds x to the compensated (Kahan) sum (*sum, *compensation): a log-likelihood summed over thousands of steps keeps
// float32's precision (summed plainly, T = 10 000 steps lost 3e-5 of it).
inline void kf_accumulate(float *sum, float *compensation, const float x) {
    const float y = x - *compensation, t = *sum + y;
    *compensation = (t - *sum) - y;
    *sum = t;
}
