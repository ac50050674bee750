// matmul.cl — batched single-precision matrix product, row-major:
//     C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b],   b = 0 .. batch-1
// op(A) is M×K (A stored M×K, or K×M when transA != 0, row length lda); op(B) is K×N (B stored K×N, or N×K
// when transB != 0, row length ldb); C is M×N with row length ldc. Batch b of each operand starts at
// b·stride elements (a stride of 0 shares the operand). beta == 0 never reads C.
//
// The engine's default OpenCL matmul is CLBlast (tuned per device); this kernel is the portable fallback
// (LDM_MATMUL=kernel, or a device where CLBlast fails) and the second opinion the parity tests use.
//
// Work-items: a TILE×TILE work-group computes a TILE×TILE block of C, one entry per work-item; dimension 0
// runs over columns n, dimension 1 over rows m, dimension 2 over the batch. Each step stages a TILE-wide
// slice of op(A) and op(B) in local memory. The global size is padded to whole tiles; out-of-range loads
// read 0 and out-of-range stores are skipped, so barriers stay in uniform control flow.
//
// Tunables: TILE (default 16).
#ifndef TILE
#define TILE 16
#endif

__kernel __attribute__((reqd_work_group_size(TILE, TILE, 1)))
void matmul(const int M, const int N, const int K, const int transA, const int transB,
            const float alpha, const float beta,
            __global const float *A, const int strideA, const int lda,
            __global const float *B, const int strideB, const int ldb,
            __global float *C, const int strideC, const int ldc) {
    const int col = get_global_id(0);
    const int row = get_global_id(1);
    const int batch = get_global_id(2);
    const int lc = get_local_id(0);
    const int lr = get_local_id(1);
    __local float As[TILE][TILE + 1];   // As[lr][p] = op(A)[row][t + p]
    __local float Bs[TILE][TILE + 1];   // Bs[p][lc] = op(B)[t + p][col]
    A += (long)batch * strideA;
    B += (long)batch * strideB;
    C += (long)batch * strideC;

    float acc = 0.0f;
    for (int t = 0; t < K; t += TILE) {
        const int ak = t + lc;
        As[lr][lc] = (row < M && ak < K) ? (transA ? A[(long)ak * lda + row] : A[(long)row * lda + ak]) : 0.0f;
        const int bk = t + lr;
        Bs[lr][lc] = (col < N && bk < K) ? (transB ? B[(long)col * ldb + bk] : B[(long)bk * ldb + col]) : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int p = 0; p < TILE; p++) acc = fma(As[lr][p], Bs[p][lc], acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (row < M && col < N) {
        const long at = (long)row * ldc + col;
        C[at] = beta == 0.0f ? alpha * acc : fma(alpha, acc, beta * C[at]);
    }
}
