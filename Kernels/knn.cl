// knn.cl — the Kozachenko–Leonenko entropy's device work: each row's k-th nearest other row, and the gradient.
//     knn_neighbours: for row i of z (rows × d), the k-th smallest squared distance to another row, exactly as
//                     Σ (z_i − z_j)² (no expansion), and that row's index: rho2[i], neighbour[i].
//     knn_gradient:   given ρ_i = sqrt(rho2[i]), the detached cap and c/B, writes for every row j
//                     g_j = [ρ_j ≤ cap] w_j (z_j − z_n(j)) − Σ_{i: n(i) = j, ρ_i ≤ cap} w_i (z_i − z_j),
//                     w_i = (c/B) / ((ρ_i + 1e-8)·ρ_i), so each gradient row has one writer (no atomics).
// Work-items: one per row (dimension 0, padded to whole groups of KNN_WG and guarded). knn_neighbours stages
// blocks of KNN_TILE rows × KNN_TILE dimensions of z in local memory; every work-item of the group takes part in
// every load and barrier. knn_gradient loops over all rows to find those whose neighbour it is (O(B²) index
// compares, small beside the O(B²·d) distance pass).
// Tunables: KNN_K (k, ≤ 32), KNN_TILE (default 16), KNN_WG (work-group size, default 64).
#ifndef KNN_K
#define KNN_K 3
#endif
#ifndef KNN_TILE
#define KNN_TILE 16
#endif
#ifndef KNN_WG
#define KNN_WG 64
#endif

__kernel __attribute__((reqd_work_group_size(KNN_WG, 1, 1)))
void knn_neighbours(const int rows, const int d, __global const float *z, __global float *rho2,
                    __global int *neighbour) {
    __local float block[KNN_TILE][KNN_TILE + 1];   // block[t][k] = z[base + t][k0 + k]
    const int i = get_global_id(0);
    const int lid = get_local_id(0);
    float best[KNN_K];
    int bestIndex[KNN_K];
    for (int s = 0; s < KNN_K; s++) {
        best[s] = INFINITY;
        bestIndex[s] = -1;
    }
    for (int base = 0; base < rows; base += KNN_TILE) {
        float acc[KNN_TILE];
        for (int t = 0; t < KNN_TILE; t++) acc[t] = 0.0f;
        for (int k0 = 0; k0 < d; k0 += KNN_TILE) {
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int e = lid; e < KNN_TILE * KNN_TILE; e += KNN_WG) {
                const int t = e / KNN_TILE, k = e % KNN_TILE;
                block[t][k] = (base + t < rows && k0 + k < d) ? z[(long)(base + t) * d + k0 + k] : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            if (i < rows) {
                for (int k = 0; k < KNN_TILE && k0 + k < d; k++) {
                    const float mine = z[(long)i * d + k0 + k];
                    for (int t = 0; t < KNN_TILE; t++) {
                        const float difference = mine - block[t][k];
                        acc[t] = fma(difference, difference, acc[t]);
                    }
                }
            }
        }
        if (i < rows) {
            for (int t = 0; t < KNN_TILE; t++) {
                const int j = base + t;
                if (j >= rows || j == i || !(acc[t] < best[KNN_K - 1])) continue;
                int slot = KNN_K - 1;   // insertion into the sorted top k
                while (slot > 0 && best[slot - 1] > acc[t]) {
                    best[slot] = best[slot - 1];
                    bestIndex[slot] = bestIndex[slot - 1];
                    slot--;
                }
                best[slot] = acc[t];
                bestIndex[slot] = j;
            }
        }
    }
    if (i < rows) {
        rho2[i] = best[KNN_K - 1];
        neighbour[i] = bestIndex[KNN_K - 1];
    }
}

__kernel __attribute__((reqd_work_group_size(KNN_WG, 1, 1)))
void knn_gradient(const int rows, const int d, const float cap, const float scaleOverRows,
                  __global const float *z, __global const float *rho2, __global const int *neighbour,
                  __global float *gradient) {
    const int j = get_global_id(0);
    if (j >= rows) return;
    for (int k = 0; k < d; k++) gradient[(long)j * d + k] = 0.0f;
    const float rhoJ = sqrt(rho2[j]);
    if (rhoJ <= cap && rhoJ > 0.0f) {
        const int n = neighbour[j];
        const float w = scaleOverRows / ((rhoJ + 1e-8f) * rhoJ);
        for (int k = 0; k < d; k++) gradient[(long)j * d + k] += w * (z[(long)j * d + k] - z[(long)n * d + k]);
    }
    for (int i = 0; i < rows; i++) {
        if (neighbour[i] != j) continue;
        const float rhoI = sqrt(rho2[i]);
        if (!(rhoI <= cap && rhoI > 0.0f)) continue;
        const float w = scaleOverRows / ((rhoI + 1e-8f) * rhoI);
        for (int k = 0; k < d; k++) gradient[(long)j * d + k] -= w * (z[(long)i * d + k] - z[(long)j * d + k]);
    }
}
