// transpose.cl — batched transpose of row-major rows×columns matrices: out[b][j][i] = x[b][i][j];
// out[b] is columns×rows. Batch b starts at b·rows·columns in both arrays.
// Work-items: a TILE×TILE work-group moves one tile through local memory (padded by one column so the
// transposed read has no bank conflicts): dimension 0 runs over columns of x, 1 over rows, 2 over the batch.
// The global size is padded to whole tiles; loads and stores are guarded, the barrier is uniform.
// Tunables: TILE (default 16).
#ifndef TILE
#define TILE 16
#endif

__kernel __attribute__((reqd_work_group_size(TILE, TILE, 1)))
void transpose(const int rows, const int columns, __global const float *x, __global float *out) {
    __local float tile[TILE][TILE + 1];
    const int lx = get_local_id(0);
    const int ly = get_local_id(1);
    const long offset = (long)get_global_id(2) * rows * columns;
    const int j = get_group_id(0) * TILE + lx;
    const int i = get_group_id(1) * TILE + ly;
    tile[ly][lx] = (i < rows && j < columns) ? x[offset + (long)i * columns + j] : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    const int oj = get_group_id(0) * TILE + ly;   // row of out
    const int oi = get_group_id(1) * TILE + lx;   // column of out
    if (oj < columns && oi < rows) out[offset + (long)oj * rows + oi] = tile[lx][ly];
}
