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
//
// CPU devices (PoCL) run the register-blocked kernels at the end of this file instead: one work-item per block of
// LSE_BR rows, 16-lane vectors across the columns (see "Register-blocked kernels").
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

// ---------------------------------------------------------------------------------------------------------------
// Register-blocked kernels for CPU devices. Work-groups of one work-item; each owns LSE_BR rows ("own") and walks
// the other operand in blocks of 32 rows. The products of a block are a small matrix product kept in registers,
// LSE_BR × 32 as 2·LSE_BR 16-lane vectors: for each k, LSE_BR broadcasts of own[r][k] times two vector loads of the
// other operand transposed and padded (Pt, d × padded, zeros past its rows), so the compiler's vectors run across
// columns and no horizontal sums are needed. For the squared distance s = −c·(‖o‖² + ‖p‖² − 2⟨o, p⟩), with ‖p‖²
// precomputed (zeros in the padding) and a row's distance to itself set to exactly 0 when both sides are one set.
// The forward keeps a running (max, sum) per row and lane; the backward turns each block into weights in private
// memory and accumulates LSE_BR gradient rows of LSE_DP floats (d rounded up to 32) from Pp, the other operand's
// rows padded to LSE_DP columns. Launch: global [ceil(own / LSE_BR)], local [1]; the helpers below prepare Pt, ‖p‖²
// and Pp. Tunables: LSE_BR (default 8), LSE_DP (d rounded up to 32).
#ifndef LSE_BR
#define LSE_BR 8
#endif
#ifndef LSE_DP
#define LSE_DP 32
#endif

// Pt[k][c] = P[c][k] for c < count, 0 up to `padded`. Global [padded, d].
__kernel void lse_transpose_pad(const int count, const int d, const int padded, __global const float *P,
                                __global float *Pt) {
    const int c = get_global_id(0), k = get_global_id(1);
    if (c >= padded || k >= d) return;
    Pt[(long)k * padded + c] = c < count ? P[(long)c * d + k] : 0.0f;
}

// norms[c] = ‖P[c]‖² for c < count, 0 up to `padded`; Pp[c] = P[c] padded with zeros to LSE_DP columns when
// `writeRows` (Pp has `count` rows). Global [padded].
__kernel void lse_prepare_rows(const int count, const int d, const int padded, const int writeRows,
                               __global const float *P, __global float *norms, __global float *Pp) {
    const int c = get_global_id(0);
    if (c >= padded) return;
    float total = 0.0f;
    for (int k = 0; k < d && c < count; k++) {
        const float v = P[(long)c * d + k];
        total = fma(v, v, total);
        if (writeRows) Pp[(long)c * LSE_DP + k] = v;
    }
    if (writeRows && c < count)
        for (int k = d; k < LSE_DP; k++) Pp[(long)c * LSE_DP + k] = 0.0f;
    norms[c] = total;
}

// acc[r][h] = ⟨own row o0 + r, other rows c0 + 16h .. c0 + 16h + 15⟩ (own rows past the end repeat the last).
static void block_products(__global const float *O, const int ownCount, const int o0, __global const float *Pt,
                           const int padded, const int c0, const int d, float16 acc[LSE_BR][2]) {
    int base[LSE_BR];
    for (int r = 0; r < LSE_BR; r++) {
        base[r] = min(o0 + r, ownCount - 1) * d;
        acc[r][0] = (float16)(0.0f);
        acc[r][1] = (float16)(0.0f);
    }
    for (int k = 0; k < d; k++) {
        const float16 p0 = vload16(0, Pt + (long)k * padded + c0), p1 = vload16(0, Pt + (long)k * padded + c0 + 16);
        for (int r = 0; r < LSE_BR; r++) {
            const float16 x = (float16)(O[base[r] + k]);
            acc[r][0] = fma(x, p0, acc[r][0]);
            acc[r][1] = fma(x, p1, acc[r][1]);
        }
    }
}

// ‖O[row]‖² for the squared distance (0 for the dot product, where it is not used).
static float own_norm(__global const float *O, const int row, const int d) {
#if LSE_KERNEL == 1
    float total = 0.0f;
    for (int k = 0; k < d; k++) total = fma(O[(long)row * d + k], O[(long)row * d + k], total);
    return total;
#else
    return 0.0f;
#endif
}

// The similarities of own row `row` against the 16 other rows from `column`, −INFINITY where left out (past the
// end, or the row itself when excludeDiagonal); exactly 0 for the row itself when both sides are one set.
static float16 block_similarities(const float16 products, const float ownNorm, __global const float *otherNorms,
                                  const int row, const int column, const int otherCount, const float scale,
                                  const int excludeDiagonal, const int sameSet) {
    const int16 index = (int16)(column) + (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#if LSE_KERNEL == 0
    float16 v = scale * products;
#else
    float16 v = -scale * (ownNorm + vload16(0, otherNorms + column) - 2.0f * products);
    v = select(v, (float16)(0.0f), (index == (int16)(row)) & (int16)(sameSet ? -1 : 0));
#endif
    const int16 left = (index >= (int16)(otherCount)) | ((index == (int16)(row)) & (int16)(excludeDiagonal ? -1 : 0));
    return select(v, (float16)(-INFINITY), left);
}

__kernel void lse_forward_blocked(const int rows, const int cols, const int d, const float scale,
                                  const int excludeDiagonal, const int sameSet, const int padded,
                                  __global const float *X, __global const float *Yt, __global const float *yNorms,
                                  __global float *lse) {
    const int r0 = get_global_id(0) * LSE_BR;
    if (r0 >= rows) return;
    float16 m[LSE_BR], s[LSE_BR];
    float norms[LSE_BR];
    for (int r = 0; r < LSE_BR; r++) {
        m[r] = (float16)(-INFINITY);
        s[r] = (float16)(0.0f);
        norms[r] = own_norm(X, min(r0 + r, rows - 1), d);
    }
    float16 acc[LSE_BR][2];
    for (int c0 = 0; c0 < cols; c0 += 32) {
        block_products(X, rows, r0, Yt, padded, c0, d, acc);
        for (int r = 0; r < LSE_BR; r++) {
            const float16 v0 = block_similarities(acc[r][0], norms[r], yNorms, r0 + r, c0, cols, scale, excludeDiagonal, sameSet);
            const float16 v1 = block_similarities(acc[r][1], norms[r], yNorms, r0 + r, c0 + 16, cols, scale, excludeDiagonal, sameSet);
            const float16 top = fmax(m[r], fmax(v0, v1));
            // Lanes that have seen nothing yet keep (−∞, 0): exp(−∞ − −∞) would be NaN.
            const int16 empty = top == (float16)(-INFINITY);
            const float16 total = s[r] * exp(m[r] - top) + exp(v0 - top) + exp(v1 - top);
            s[r] = select(total, (float16)(0.0f), empty);
            m[r] = top;
        }
    }
    for (int r = 0; r < LSE_BR && r0 + r < rows; r++) {
        float top = -INFINITY;
        for (int l = 0; l < 16; l++) top = fmax(top, m[r][l]);
        float total = 0.0f;
        for (int l = 0; l < 16; l++)
            if (m[r][l] > -INFINITY) total += s[r][l] * exp(m[r][l] - top);
        lse[r0 + r] = top + log(total);
    }
}

// One backward pass for LSE_BR own rows: grad[own] = a·Σ_other w·(p − [distance]·o), w = g·exp(s − lse) with g and
// lse of the own row in the row pass (own = X) and of the other row in the column pass (own = Y, other = X).
__kernel void lse_backward_blocked(const int ownCount, const int otherCount, const int d, const float scale,
                                   const int excludeDiagonal, const int sameSet, const int rowPass, const int padded,
                                   __global const float *O, __global const float *Pt, __global const float *otherNorms,
                                   __global const float *Pp, __global const float *lse, __global const float *g,
                                   __global float *grad) {
    const int o0 = get_global_id(0) * LSE_BR;
    if (o0 >= ownCount) return;
    float gradient[LSE_BR][LSE_DP];
    float norms[LSE_BR], ownLse[LSE_BR], ownG[LSE_BR];
    float16 weightSums[LSE_BR];
    for (int r = 0; r < LSE_BR; r++) {
        const int row = min(o0 + r, ownCount - 1);
        for (int k = 0; k < LSE_DP; k++) gradient[r][k] = 0.0f;
        norms[r] = own_norm(O, row, d);
        ownLse[r] = rowPass ? lse[row] : 0.0f;
        ownG[r] = rowPass && o0 + r < ownCount ? g[row] : 0.0f;
        weightSums[r] = (float16)(0.0f);
    }
    float16 acc[LSE_BR][2];
    float weights[LSE_BR][32];
    float otherLse[32], otherG[32];
    for (int c0 = 0; c0 < otherCount; c0 += 32) {
        const int count = min(32, otherCount - c0);
        for (int c = 0; c < 32; c++) {
            const int j = min(c0 + c, otherCount - 1);
            otherLse[c] = rowPass ? 0.0f : lse[j];
            otherG[c] = rowPass ? 0.0f : g[j];
        }
        block_products(O, ownCount, o0, Pt, padded, c0, d, acc);
        for (int r = 0; r < LSE_BR; r++) {
            for (int h = 0; h < 2; h++) {
                const float16 v = block_similarities(acc[r][h], norms[r], otherNorms, o0 + r, c0 + 16 * h, otherCount, scale,
                                                     excludeDiagonal, sameSet);
                const float16 shift = rowPass ? (float16)(ownLse[r]) : vload16(0, otherLse + 16 * h);
                const float16 factor = rowPass ? (float16)(ownG[r]) : vload16(0, otherG + 16 * h);
                // Left-out lanes weigh 0 (also when lse is −∞ itself); rows past the end are never written.
                const float16 w = select(factor * exp(v - shift), (float16)(0.0f), v == (float16)(-INFINITY));
                vstore16(w, 0, &weights[r][16 * h]);
                weightSums[r] += w;
            }
        }
        for (int k0 = 0; k0 < LSE_DP; k0 += 32) {
            float16 part[LSE_BR][2];
            for (int r = 0; r < LSE_BR; r++) {
                part[r][0] = vload16(0, &gradient[r][k0]);
                part[r][1] = vload16(0, &gradient[r][k0 + 16]);
            }
            for (int c = 0; c < count; c++) {
                const float16 p0 = vload16(0, Pp + (long)(c0 + c) * LSE_DP + k0);
                const float16 p1 = vload16(0, Pp + (long)(c0 + c) * LSE_DP + k0 + 16);
                for (int r = 0; r < LSE_BR; r++) {
                    part[r][0] = fma((float16)(weights[r][c]), p0, part[r][0]);
                    part[r][1] = fma((float16)(weights[r][c]), p1, part[r][1]);
                }
            }
            for (int r = 0; r < LSE_BR; r++) {
                vstore16(part[r][0], 0, &gradient[r][k0]);
                vstore16(part[r][1], 0, &gradient[r][k0 + 16]);
            }
        }
    }
#if LSE_KERNEL == 0
    const float a = scale;
#else
    const float a = 2.0f * scale;
#endif
    for (int r = 0; r < LSE_BR && o0 + r < ownCount; r++) {
        float totalWeight = 0.0f;
        for (int l = 0; l < 16; l++) totalWeight += weightSums[r][l];
        for (int k = 0; k < d; k++) {
#if LSE_KERNEL == 0
            grad[(long)(o0 + r) * d + k] = a * gradient[r][k];
#else
            grad[(long)(o0 + r) * d + k] = a * (gradient[r][k] - totalWeight * O[(long)(o0 + r) * d + k]);
#endif
        }
    }
}
