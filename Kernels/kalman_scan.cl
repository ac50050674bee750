// kalman_scan.cl — the passes of the time-parallel covariance recursion and of its Kalman-LDM reverse pass that
// kalman.cl's kernels do not run (docs/mathematics.md §5, "Time-parallel covariances"; Särkkä & García-Fernández
// 2021, covariance part). Step t of the filter is the
// element (A_t, C_t, J_t):
//     S = H·Pm·Hᵀ + R_t, K = Pm·Hᵀ·S⁻¹, A = (I − K·H)·Fe, C = Pm − K·H·Pm, J = (H·Fe)ᵀ·S⁻¹·(H·Fe)
// with Pm = Q, Fe = F for t ≥ 1 and Pm = F·P0·Fᵀ + Q, Fe = 0 for t = 0; elements combine associatively (i before
// j), with U·Uᵀ = C_i and E = U·(I + Uᵀ·J_j·U)⁻¹·Uᵀ:
//     A = A_j·(I − E·J_j)·A_i, C = A_j·E·A_jᵀ + C_j, J = A_iᵀ·(J_j − J_j·E·J_j)·A_i + J_i
// (only C_i, which needs a positive definite Q, and I + Uᵀ·J_j·U ≥ I are factored).
//     kalman_scan_fold   one work-item per (chunk k < count − 1, group g), item k·G + g: the chunk's elements
//                        folded in order into folded[item] (chunk 0's is a posterior: A = J = 0, C = P at its end)
//     kalman_scan_carry  one work-item per group: starts[k] = P before chunk k's first step, in order:
//                        starts[1] = C of fold 0, starts[k] = C of (0, starts[k−1], 0) ⊗ fold k−1
// The third pass is kalman_covariance_forward with a chunk per work-group, each from its start.
// The Kalman-LDM reverse pass through the covariances splits the same way, being affine in its adjoint:
//     kalman_ldm_covariance_backward (kalman.cl) with `fold`: chunks 1 … count − 1 from P̄ = 0, each leaving its
//                        final P̄ (X) and Ψ = Φ_end···Φ_first in folded [count, G, 2, n, n]
//     kalman_scan_reverse_carry  one work-item per group: starts[count − 1] = 0, then from the last chunk back
//                        starts[k − 1] = Ψ_kᵀ·starts[k]·Ψ_k + X_k
// and kalman_ldm_covariance_backward again, every chunk from its start.
// Layouts: the forward's folded [count − 1, G, 3, n, n] (A, C, J); starts [count, G, n, n]; status [items, 3] = (0, or 1 for an
// S that did not factor, 2 for a combination; the step; the largest jitter). Working matrices live in a global
// scratch slice of `slice` floats per work-item (sized by the launcher: an element, then an element's or a
// combination's working matrices). One work-item per item and no barriers, unlike kalman_covariance_forward's
// work-groups: PoCL took over ten minutes to compile the same passes written with work-group products (a barrier
// region per product stage), and the items of this pass number chunks × groups, enough to fill a GPU.
// Tunables: none.
#include "kalman_common.cl"

// c (r × cols) = a (r × k)·b (k × cols), or a·bᵀ (b stored cols × k).
static void item_product(__global const float *a, __global const float *b, __global float *c, const int r, const int k,
                         const int cols, const int transB) {
    for (int i = 0; i < r; i++) {
        for (int j = 0; j < cols; j++) {
            float v = 0.0f;
            for (int p = 0; p < k; p++) v += a[i * k + p] * (transB ? b[j * k + p] : b[p * cols + j]);
            c[i * cols + j] = v;
        }
    }
}

// c (r × cols) = aᵀ·b for a (k × r) and b (k × cols).
static void item_product_tn(__global const float *a, __global const float *b, __global float *c, const int k, const int r,
                            const int cols) {
    for (int i = 0; i < r; i++) {
        for (int j = 0; j < cols; j++) {
            float v = 0.0f;
            for (int p = 0; p < k; p++) v += a[p * r + i] * b[p * cols + j];
            c[i * cols + j] = v;
        }
    }
}

// x ← ½(x + xᵀ) (+ add, a symmetric matrix, when given).
static void item_symmetrize(__global float *x, __global const float *add, const int n) {
    for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) {
            const float v = 0.5f * (x[i * n + j] + x[j * n + i]) + (add ? add[i * n + j] : 0.0f);
            x[i * n + j] = v;
            x[j * n + i] = v;
        }
    }
}

// L ← the lower Cholesky factor of a + jitter·I with the docs/mathematics.md §9 policy (1e-6·mean diagonal, ×10 per
// try, five tries); returns the jitter, or −1 when even the last try fails.
static float item_factor_with_jitter(__global const float *a, __global float *L, const int n) {
    float meanDiagonal = 0.0f;
    for (int i = 0; i < n; i++) meanDiagonal += a[i * n + i] / (float)n;
    for (int attempt = 0; attempt <= 5; attempt++) {
        const float jitter = attempt == 0 ? 0.0f : 1e-6f * meanDiagonal * pown(10.0f, attempt - 1);
        int ok = 1;
        for (int j = 0; j < n && ok; j++) {
            float p = a[j * n + j] + jitter;
            for (int q = 0; q < j; q++) p -= L[j * n + q] * L[j * n + q];
            if (!(p > 0.0f)) { ok = 0; break; }
            const float root = sqrt(p);
            L[j * n + j] = root;
            for (int i = j + 1; i < n; i++) {
                float v = a[i * n + j];
                for (int q = 0; q < j; q++) v -= L[i * n + q] * L[j * n + q];
                L[i * n + j] = v / root;
            }
            for (int i = 0; i < j; i++) L[i * n + j] = 0.0f;
        }
        if (ok) return jitter;
    }
    return -1.0f;
}

// Element t into e (3n²; scratch w of n² + 2m² + 4nm floats); returns the jitter S needed, or −1.
static float scan_element(const int first, const int n, const int m, __global const float *F, __global const float *H,
                          __global const float *P0, __global const float *q, __global const float *rAt,
                          const int logDiagonal, const float extra, __global float *e, __global float *w) {
    const int nn = n * n;
    __global float *A = e, *C = e + nn, *J = e + 2 * nn;
    __global float *pm = w, *s = pm + nn, *L = s + m * m, *hpt = L + m * m, *yt = hpt + 2 * n * m;
    if (first) {
        item_product(F, P0, C, n, n, n, 0);   // C as a temporary
        item_product(C, F, pm, n, n, n, 1);
        for (int x = 0; x < nn; x++) pm[x] += q[x];
    } else {
        for (int x = 0; x < nn; x++) pm[x] = q[x];
    }
    // hpt (2n × m) = [H·Pm | H·Fe]ᵀ (kept in yt too), S = H·Pm·Hᵀ + R.
    for (int x = 0; x < 2 * n * m; x++) {
        const int c = x / m, p = x % m;
        float v = 0.0f;
        if (c < n) {
            for (int k = 0; k < n; k++) v += H[p * n + k] * pm[k * n + c];
        } else if (!first) {
            for (int k = 0; k < n; k++) v += H[p * n + k] * F[k * n + c - n];
        }
        hpt[x] = v;
        yt[x] = v;
    }
    for (int x = 0; x < m * m; x++) {
        const int i = x / m, j = x % m;
        float v = noise_entry(rAt, logDiagonal, extra, m, i, j);
        for (int k = 0; k < n; k++) v += hpt[k * m + i] * H[j * n + k];
        s[x] = v;
    }
    const float jitter = item_factor_with_jitter(s, L, m);
    if (jitter < 0.0f) return -1.0f;
    // yt's rows ← S⁻¹ times them: [Kᵀ | S⁻¹·H·Fe] transposed.
    for (int c = 0; c < 2 * n; c++) solve_global(L, m, yt + c * m);
    for (int x = 0; x < nn; x++) {
        const int i = x / n, k = x % n;
        float cv = pm[x], av = first ? 0.0f : F[x], jv = 0.0f;
        for (int p = 0; p < m; p++) {
            cv -= hpt[i * m + p] * yt[k * m + p];
            av -= yt[i * m + p] * hpt[(n + k) * m + p];
            jv += hpt[(n + i) * m + p] * yt[(n + k) * m + p];
        }
        C[x] = cv;
        A[x] = first ? 0.0f : av;
        J[x] = jv;
    }
    item_symmetrize(C, 0, n);
    item_symmetrize(J, 0, n);
    return jitter;
}

// out ← i ⊗ j (out may be i or j: it is written last; scratch w of 11n² floats). With `posterior`, i is (0, C_i, 0): its A and J are not
// read and only C is written. Returns the larger jitter of the two factorisations, or −1.
static float scan_combine(__global const float *i, __global const float *j, __global float *out, const int posterior,
                          const int n, __global float *w) {
    const int nn = n * n;
    __global const float *ai = i, *ci = i + nn, *ji = i + 2 * nn, *aj = j, *cj = j + nn, *jj = j + 2 * nn;
    __global float *u = w, *wm = u + nn, *lw = wm + nn, *zt = lw + nn, *e = zt + nn, *t1 = e + nn, *t2 = t1 + nn;
    __global float *t3 = t2 + nn, *nA = t3 + nn, *nC = nA + nn, *nJ = nC + nn;
    const float jitterC = item_factor_with_jitter(ci, u, n);
    if (jitterC < 0.0f) return -1.0f;
    // W = I + Uᵀ·J_j·U; E = U·W⁻¹·Uᵀ, whose column r is U·W⁻¹·(row r of U).
    item_product(jj, u, t1, n, n, n, 0);
    item_product_tn(u, t1, wm, n, n, n);
    for (int d = 0; d < n; d++) wm[d * n + d] += 1.0f;
    const float jitterW = item_factor_with_jitter(wm, lw, n);
    if (jitterW < 0.0f) return -1.0f;
    for (int r = 0; r < n; r++) {
        for (int c = 0; c < n; c++) zt[r * n + c] = u[r * n + c];
        solve_global(lw, n, zt + r * n);
    }
    item_product(u, zt, e, n, n, n, 1);
    item_symmetrize(e, 0, n);
    // C = A_j·E·A_jᵀ + C_j
    item_product(aj, e, t1, n, n, n, 0);
    item_product(t1, aj, nC, n, n, n, 1);
    item_symmetrize(nC, cj, n);
    if (!posterior) {
        // A = A_j·(A_i − E·J_j·A_i); J = A_iᵀ·(J_j − J_j·E·J_j)·A_i + J_i
        item_product(e, jj, t1, n, n, n, 0);
        item_product(t1, ai, t2, n, n, n, 0);
        item_product(jj, t1, t3, n, n, n, 0);
        for (int x = 0; x < nn; x++) { t2[x] = ai[x] - t2[x]; t3[x] = jj[x] - t3[x]; }
        item_product(aj, t2, nA, n, n, n, 0);
        item_product(t3, ai, zt, n, n, n, 0);
        item_product_tn(ai, zt, nJ, n, n, n);
        item_symmetrize(nJ, ji, n);
        for (int x = 0; x < nn; x++) { out[x] = nA[x]; out[2 * nn + x] = nJ[x]; }
    }
    for (int x = 0; x < nn; x++) out[nn + x] = nC[x];
    return fmax(jitterC, jitterW);
}

// Records the outcome (kind 0: done, 1: an S did not factor, 2: a combination did not) at step t and the jitter.
static void scan_status(__global float *status, const long item, const int kind, const int t, const float jitter) {
    status[3 * item] = (float)kind;
    status[3 * item + 1] = (float)t;
    status[3 * item + 2] = jitter;
}

__kernel void kalman_scan_fold(const int n, const int m, const int T, const int G, const int length, const int items,
                               const int slice,
                               __global const float *F, __global const float *H, __global const float *Q, const int qStride,
                               __global const float *R, const int rgStride, const int rtStride, const int logDiagonal,
                               const float extra, __global const float *P0, __global float *folded, __global float *status,
                               __global float *scratch) {
    const int item = get_global_id(0);
    if (item >= items) return;
    const int g = item % G, k = item / G, nn = n * n;
    const int first = k * length, end = min(T, first + length);
    __global float *element = scratch + (long)item * slice, *work = element + 3 * nn, *total = folded + (long)item * 3 * nn;
    float maxJitter = 0.0f;
    for (int t = first; t < end; t++) {
        __global float *into = t == first ? total : element;
        const float jitter = scan_element(t == 0, n, m, F, H, P0, Q + (long)g * qStride,
                                          R + (long)g * rgStride + (long)t * rtStride, logDiagonal, extra, into, work);
        if (jitter < 0.0f) { scan_status(status, item, 1, t, maxJitter); return; }
        maxJitter = fmax(maxJitter, jitter);
        if (t == first) continue;
        const float combined = scan_combine(total, element, total, k == 0, n, work);
        if (combined < 0.0f) { scan_status(status, item, 2, t, maxJitter); return; }
        maxJitter = fmax(maxJitter, combined);
    }
    scan_status(status, item, 0, 0, maxJitter);
}

__kernel void kalman_scan_carry(const int n, const int G, const int length, const int count, const int slice,
                                __global const float *folded,
                                __global float *starts, __global float *status, __global float *scratch) {
    const int g = get_global_id(0), nn = n * n;
    if (g >= G) return;
    __global float *posterior = scratch + (long)g * slice, *work = posterior + 3 * nn;
    float maxJitter = 0.0f;
    for (int x = 0; x < nn; x++) starts[((long)G + g) * nn + x] = folded[(long)g * 3 * nn + nn + x];
    for (int k = 2; k < count; k++) {
        for (int x = 0; x < nn; x++) posterior[nn + x] = starts[((long)(k - 1) * G + g) * nn + x];
        const float jitter = scan_combine(posterior, folded + ((long)(k - 1) * G + g) * 3 * nn, posterior, 1, n, work);
        if (jitter < 0.0f) { scan_status(status, g, 2, k * length - 1, maxJitter); return; }
        maxJitter = fmax(maxJitter, jitter);
        for (int x = 0; x < nn; x++) starts[((long)k * G + g) * nn + x] = posterior[nn + x];
    }
    scan_status(status, g, 0, 0, maxJitter);
}

__kernel void kalman_scan_reverse_carry(const int n, const int G, const int count, __global const float *folded,
                                        __global float *starts, __global float *scratch) {
    const int g = get_global_id(0), nn = n * n;
    if (g >= G) return;
    __global float *tmp = scratch + (long)g * nn;
    for (int x = 0; x < nn; x++) starts[((long)(count - 1) * G + g) * nn + x] = 0.0f;
    for (int k = count - 1; k >= 1; k--) {
        __global const float *start = starts + ((long)k * G + g) * nn, *x = folded + ((long)k * G + g) * 2 * nn;
        __global const float *psi = x + nn;
        __global float *into = starts + ((long)(k - 1) * G + g) * nn;
        item_product(start, psi, tmp, n, n, n, 0);
        item_product_tn(psi, tmp, into, n, n, n);
        item_symmetrize(into, x, n);
    }
}
