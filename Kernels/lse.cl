// lse.cl — fused pairwise log-sum-exp, the core of the KDE entropy and InfoNCE, and its backward.
//     lse_forward:          lse[i] = log Σ_j exp(s_ij),  s_ij = scale·<x_i, y_j>          (LSE_KERNEL 0)
//                                                        s_ij = −scale·‖x_i − y_j‖²       (LSE_KERNEL 1)
//                           leaving out j = i when excludeDiagonal != 0.
//     lse_backward_rows:    dx_i = a·Σ_j w_ij·(y_j − [kernel 1]·x_i),  w_ij = g_i·exp(s_ij − lse_i)
//     lse_backward_columns: dy_j = a·Σ_i w_ij·(x_i − [kernel 1]·y_j),  a = scale (0) or 2·scale (1)
// X is rows×d, Y is cols×d, row-major. The rows×cols matrix of s is never stored: every pass recomputes its
// tiles, the backward as a row pass and a column pass so each gradient row has one writer (no atomics).
//
// Work-items: TILE×TILE work-groups. The similarity helper computes, for work-item (lx, ly), s between row
// aBase+ly of A and row bBase+lx of B, staging TILE-wide slices of both in local memory. In the forward and the
// row pass A = X (a work-group owns TILE rows) and B = Y (all column blocks in turn); in the column pass A = Y
// (a work-group owns TILE columns) and B = X. In the forward each work-item keeps a running (max, sum) over its
// columns lx, lx+TILE, ...; the TILE partial results of a row are combined at the end. In the backward passes
// each work-item accumulates dimensions k = lx, lx+TILE, ... of its row's gradient in LSE_DCHUNKS registers.
// Global sizes are padded to whole tiles; loads are guarded and every barrier is reached by the whole group.
//
// Tunables: TILE (default 16), LSE_KERNEL (0 dot, 1 squared distance), LSE_DCHUNKS (≥ ceil(d / TILE)).
#ifndef TILE
#define TILE 16
#endif
#ifndef LSE_KERNEL
#define LSE_KERNEL 0
#endif
#ifndef LSE_DCHUNKS
#define LSE_DCHUNKS 16
#endif

// s between A[aBase + ly] and B[bBase + lx] (rows past aCount / bCount read zeros; the caller masks them).
static float pair_similarity(__global const float *A, const int aCount, const int aBase,
                             __global const float *B, const int bCount, const int bBase,
                             const int d, const float scale,
                             __local float As[TILE][TILE + 1], __local float Bs[TILE][TILE + 1]) {
    const int lx = get_local_id(0);
    const int ly = get_local_id(1);
    float acc = 0.0f;
    for (int k0 = 0; k0 < d; k0 += TILE) {
        const int k = k0 + lx;
        As[ly][lx] = (aBase + ly < aCount && k < d) ? A[(long)(aBase + ly) * d + k] : 0.0f;
        Bs[ly][lx] = (bBase + ly < bCount && k < d) ? B[(long)(bBase + ly) * d + k] : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int p = 0; p < TILE; p++) {
#if LSE_KERNEL == 0
            acc = fma(As[ly][p], Bs[lx][p], acc);
#else
            const float difference = As[ly][p] - Bs[lx][p];
            acc = fma(difference, difference, acc);
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#if LSE_KERNEL == 0
    return scale * acc;
#else
    return -scale * acc;
#endif
}

__kernel __attribute__((reqd_work_group_size(TILE, TILE, 1)))
void lse_forward(const int rows, const int cols, const int d, const float scale, const int excludeDiagonal,
                 __global const float *X, __global const float *Y, __global float *lse) {
    __local float As[TILE][TILE + 1];
    __local float Bs[TILE][TILE + 1];
    __local float Ms[TILE][TILE + 1];
    __local float Ss[TILE][TILE + 1];
    const int lx = get_local_id(0);
    const int ly = get_local_id(1);
    const int rowBase = get_group_id(1) * TILE;
    const int row = rowBase + ly;
    float m = -INFINITY, s = 0.0f;
    for (int colBase = 0; colBase < cols; colBase += TILE) {
        const int col = colBase + lx;
        const float v = pair_similarity(X, rows, rowBase, Y, cols, colBase, d, scale, As, Bs);
        if (row < rows && col < cols && !(excludeDiagonal && row == col)) {
            if (v > m) {
                s = s * exp(m - v) + 1.0f;
                m = v;
            } else {
                s += exp(v - m);
            }
        }
    }
    Ms[ly][lx] = m;
    Ss[ly][lx] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lx == 0 && row < rows) {
        float top = -INFINITY;
        for (int l = 0; l < TILE; l++) top = fmax(top, Ms[ly][l]);
        float total = 0.0f;
        for (int l = 0; l < TILE; l++)
            if (Ms[ly][l] > -INFINITY) total += Ss[ly][l] * exp(Ms[ly][l] - top);
        lse[row] = top + log(total);
    }
}

// One backward pass. `own` are the rows this work-group writes the gradient of (X in the row pass, Y in the
// column pass), `other` the rows it sums over. Only the row pass knows lse and g per `own` row; the column pass
// reads them per `other` row.
static void backward_pass(const int ownCount, const int otherCount, const int d, const float scale,
                          const int excludeDiagonal, const int rowPass,
                          __global const float *own, __global const float *other,
                          __global const float *lse, __global const float *g, __global float *grad,
                          __local float As[TILE][TILE + 1], __local float Bs[TILE][TILE + 1],
                          __local float Ws[TILE][TILE + 1]) {
    const int lx = get_local_id(0);
    const int ly = get_local_id(1);
    const int ownBase = get_group_id(1) * TILE;
    const int mine = ownBase + ly;
    float acc[LSE_DCHUNKS];
    for (int c = 0; c < LSE_DCHUNKS; c++) acc[c] = 0.0f;
    float weightSum = 0.0f;
    const float ownLse = (rowPass && mine < ownCount) ? lse[mine] : 0.0f;
    const float ownG = (rowPass && mine < ownCount) ? g[mine] : 0.0f;
    for (int otherBase = 0; otherBase < otherCount; otherBase += TILE) {
        const int theirs = otherBase + lx;
        const float v = pair_similarity(own, ownCount, ownBase, other, otherCount, otherBase, d, scale, As, Bs);
        float w = 0.0f;
        if (mine < ownCount && theirs < otherCount && !(excludeDiagonal && mine == theirs)) {
            // w_ij uses lse_i and g_i of the x row i: `mine` in the row pass, `theirs` in the column pass.
            w = rowPass ? ownG * exp(v - ownLse) : g[theirs] * exp(v - lse[theirs]);
        }
        Ws[ly][lx] = w;
        weightSum += w;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int c = 0; c < LSE_DCHUNKS; c++) {
            const int k = c * TILE + lx;
            if (k < d) {
                float sum = 0.0f;
                for (int t = 0; t < TILE; t++)
                    if (otherBase + t < otherCount) sum = fma(Ws[ly][t], other[(long)(otherBase + t) * d + k], sum);
                acc[c] += sum;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    Ws[ly][lx] = weightSum;
    barrier(CLK_LOCAL_MEM_FENCE);
    float totalWeight = 0.0f;
    for (int l = 0; l < TILE; l++) totalWeight += Ws[ly][l];
#if LSE_KERNEL == 0
    const float a = scale;
#else
    const float a = 2.0f * scale;
#endif
    for (int c = 0; c < LSE_DCHUNKS; c++) {
        const int k = c * TILE + lx;
        if (mine < ownCount && k < d) {
#if LSE_KERNEL == 0
            grad[(long)mine * d + k] = a * acc[c];
#else
            grad[(long)mine * d + k] = a * (acc[c] - totalWeight * own[(long)mine * d + k]);
#endif
        }
    }
}

__kernel __attribute__((reqd_work_group_size(TILE, TILE, 1)))
void lse_backward_rows(const int rows, const int cols, const int d, const float scale, const int excludeDiagonal,
                       __global const float *X, __global const float *Y, __global const float *lse,
                       __global const float *g, __global float *dx) {
    __local float As[TILE][TILE + 1];
    __local float Bs[TILE][TILE + 1];
    __local float Ws[TILE][TILE + 1];
    backward_pass(rows, cols, d, scale, excludeDiagonal, 1, X, Y, lse, g, dx, As, Bs, Ws);
}

__kernel __attribute__((reqd_work_group_size(TILE, TILE, 1)))
void lse_backward_columns(const int rows, const int cols, const int d, const float scale, const int excludeDiagonal,
                          __global const float *X, __global const float *Y, __global const float *lse,
                          __global const float *g, __global float *dy) {
    __local float As[TILE][TILE + 1];
    __local float Bs[TILE][TILE + 1];
    __local float Ws[TILE][TILE + 1];
    backward_pass(cols, rows, d, scale, excludeDiagonal, 0, Y, X, lse, g, dy, As, Bs, Ws);
}
