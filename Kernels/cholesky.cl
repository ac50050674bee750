// cholesky.cl — Cholesky factorisation of a batch of symmetric positive definite n × n matrices, in place, and
// the small helpers the log-det estimators need around it.
//     cholesky_lower: A[b] = L·Lᵀ, L written over the lower triangle of A[b] and the strict upper triangle
//                     zeroed; info[b] = 0, or j + 1 if the pivot of column j was not positive (then A[b] is
//                     partly overwritten and must be restored before a retry with jitter, docs/mathematics.md §9).
//     add_diagonal:   A[b][j][j] += value           diagonal: out[b·n + j] = A[b][j][j]
//     log_diagonal:   out[b·n + j] = log A[b][j][j] (the factor's; their sum is ½·log det)
// Work-items: cholesky_lower runs one work-group of CHOL_WG items per matrix (group id = batch index) and steps
// through the columns right-looking: scale column j below the pivot, then update the trailing lower triangle,
// with barriers between the stages. Every item reads the same pivot after a barrier, so the early exit on a
// failed pivot is taken by the whole group. The helpers run one work-item per diagonal entry (dimension 0) and
// batch (dimension 1).
// Tunables: CHOL_WG (default 128).
#ifndef CHOL_WG
#define CHOL_WG 128
#endif

__kernel __attribute__((reqd_work_group_size(CHOL_WG, 1, 1)))
void cholesky_lower(const int n, __global float *A, __global float *info) {
    const int lid = get_local_id(0);
    __global float *a = A + (long)get_group_id(0) * n * n;
    __local float pivot;
    for (int j = 0; j < n; j++) {
        if (lid == 0) pivot = a[(long)j * n + j];
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        const float p = pivot;
        if (!(p > 0.0f)) {   // uniform: every item read the same pivot
            if (lid == 0) info[get_group_id(0)] = (float)(j + 1);
            return;
        }
        const float root = sqrt(p);
        for (int i = j + 1 + lid; i < n; i += CHOL_WG) a[(long)i * n + j] /= root;
        barrier(CLK_GLOBAL_MEM_FENCE);
        if (lid == 0) a[(long)j * n + j] = root;
        // Trailing update of the lower triangle: a[i][k] −= a[i][j]·a[k][j] for j < k ≤ i.
        const int m = n - j - 1;
        for (long e = lid; e < (long)m * (m + 1) / 2; e += CHOL_WG) {
            // Unrank e into (i, k) with 0 ≤ k ≤ i < m, row-major over the lower triangle.
            int i = (int)((sqrt(8.0f * (float)e + 1.0f) - 1.0f) * 0.5f);
            while ((long)i * (i + 1) / 2 > e) i--;
            while ((long)(i + 1) * (i + 2) / 2 <= e) i++;
            const int k = (int)(e - (long)i * (i + 1) / 2);
            const int row = j + 1 + i, column = j + 1 + k;
            a[(long)row * n + column] -= a[(long)row * n + j] * a[(long)column * n + j];
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
    for (long e = lid; e < (long)n * n; e += CHOL_WG)
        if (e % n > e / n) a[e] = 0.0f;   // the strict upper triangle, so the factor is exactly L
    if (lid == 0) info[get_group_id(0)] = 0.0f;
}

__kernel void add_diagonal(const int n, const float value, __global float *A) {
    const int j = get_global_id(0);
    if (j < n) A[(long)get_global_id(1) * n * n + (long)j * n + j] += value;
}

__kernel void diagonal(const int n, __global const float *A, __global float *out) {
    const int j = get_global_id(0);
    if (j < n) out[(long)get_global_id(1) * n + j] = A[(long)get_global_id(1) * n * n + (long)j * n + j];
}

__kernel void log_diagonal(const int n, __global const float *A, __global float *out) {
    const int j = get_global_id(0);
    if (j < n) out[(long)get_global_id(1) * n + j] = log(A[(long)get_global_id(1) * n * n + (long)j * n + j]);
}
