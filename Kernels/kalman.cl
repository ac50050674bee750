// kalman.cl — batched linear-Gaussian filtering, RTS smoothing and the Kalman-LDM reverse pass (docs/mathematics.md §5).
//
// The covariances of a filter do not depend on the observations, so they are computed once per *group* of
// sequences sharing F, H, Q, R, P0 (one group when the noises are shared, one per sequence when not):
//     kalman_covariance_forward   P⁻ = F·P·Fᵀ + Q, S = H·P⁻·Hᵀ + R (Cholesky with the docs/mathematics.md §9 jitter),
//                                 K = P⁻·Hᵀ·S⁻¹ (solves), P = (I − KH)·P⁻·(I − KH)ᵀ + K·R·Kᵀ symmetrised
//     kalman_covariance_smoother  G_t = P_t·Fᵀ·(P⁻_{t+1})⁻¹, P^s_t = P_t + G_t·(P^s_{t+1} − P⁻_{t+1})·G_tᵀ
//     kalman_ldm_covariance_backward  the reverse pass of the covariance recursion (D = [I 0], diagonal Q,
//                                 log-diagonal R), seeded per step by sums over the group's sequences
// Those run one work-group of KF_WG items per group, stepping through time; within a step the items share the
// matrix products entry by entry, the Cholesky factorisation row by row (left-looking, column by column) and the
// solves one right-hand side each, with barriers between the stages. Their working matrices live in a global
// scratch buffer (one slice per group), so any state dimension fits.
// The means run one work-item per sequence over the whole time loop, the state in private arrays of KF_N (state)
// and KF_M (observation) floats:
//     kalman_mean_forward         h⁻ = F·ĥ + c, e = z − H·h⁻, r = S⁻¹e, ĥ = h⁻ + K·e, log-likelihood
//     kalman_mean_smoother        m^s_t = m_t + G_t·(m^s_{t+1} − m⁻_{t+1})
//     kalman_ldm_mean_backward    ē = Kᵀh̄, ∂/∂z, w = ē + ½r, h̄⁻ = h̄ − Dᵀ(ē + r), h̄_{t−1} = Aᵀh̄⁻
// With one group (shared noises) and larger states the launcher runs the means as products instead: a work-group
// advances KF_ROWS sequences through time together, their states in local memory, each item computing entries
// (sequence, coordinate) of a step's [KF_ROWS, n] × [n, n] products, so a step's F, K, G and S⁻¹ are read once
// per work-group rather than once per sequence, and no state lives in private arrays:
//     kalman_innovation_inverse   S_t⁻¹ from its Cholesky factor (whitening becomes a product)
//     kalman_log_likelihood       per-sequence log-likelihoods from step-major innovations (time-parallel means)
//     kalman_mean_forward_rows, kalman_mean_smoother_rows, kalman_ldm_mean_backward_rows
// Layouts (row-major): per-group [T, G, …]; user-facing per-sequence [B, T, …]; reverse-pass intermediates
// [T, B, …]. Sequence q uses group q / (B / G).
// Tunables: KF_WG (work-group size of the per-group and rows kernels), KF_N and KF_M (set by the launcher to n
// and m), KF_ROWS (sequences per work-group of the rows kernels, sized by the launcher to the local memory).
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

// x ← (L·Lᵀ)⁻¹·x for one vector, by one work-item.
static void solve_global(__global const float *L, const int n, __global float *x) {
    for (int i = 0; i < n; i++) {
        float v = x[i];
        for (int p = 0; p < i; p++) v -= L[i * n + p] * x[p];
        x[i] = v / L[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        float v = x[i];
        for (int p = i + 1; p < n; p++) v -= L[p * n + i] * x[p];
        x[i] = v / L[i * n + i];
    }
}

// The same substitution on a private vector of KF_M floats (OpenCL 1.2 has no generic address space).
static void solve_private(__global const float *L, float *x) {
    for (int i = 0; i < KF_M; i++) {
        float v = x[i];
        for (int p = 0; p < i; p++) v -= L[i * KF_M + p] * x[p];
        x[i] = v / L[i * KF_M + i];
    }
    for (int i = KF_M - 1; i >= 0; i--) {
        float v = x[i];
        for (int p = i + 1; p < KF_M; p++) v -= L[p * KF_M + i] * x[p];
        x[i] = v / L[i * KF_M + i];
    }
}

// R_{g,t}[i][j]: full matrices, or diag(exp(ℓ_i)) + extra·I from log-variances.
static float noise_entry(__global const float *R, const int logDiagonal, const float extra,
                         const int m, const int i, const int j) {
    if (!logDiagonal) return R[i * m + j];
    return i == j ? exp(R[i]) + extra : 0.0f;
}

__kernel __attribute__((reqd_work_group_size(KF_WG, 1, 1)))
void kalman_covariance_forward(const int n, const int m, const int T, const int G,
                               __global const float *F, __global const float *H,
                               __global const float *Q, const int qStride,
                               __global const float *R, const int rgStride, const int rtStride,
                               const int logDiagonal, const float extra,
                               __global const float *P0,
                               __global float *predicted, __global float *filtered, __global float *innovation,
                               __global float *factors, __global float *gains, __global float *logDets,
                               __global float *status, __global float *scratch) {
    const int g = get_group_id(0), lid = get_local_id(0);
    __global float *tmp = scratch + (long)g * (3 * n * n + 2 * n * m + m * m);
    __global float *ikh = tmp + n * n, *joseph = ikh + n * n, *pht = joseph + n * n, *kr = pht + n * m;
    __global float *rg = kr + n * m;
    __global const float *qg = Q + (long)g * qStride;
    __local int fail, differs;
    __local float meanDiagonal;
    float maxJitter = 0.0f;
    for (int t = 0; t < T; t++) {
        const long at = (long)t * G + g;
        __global const float *prev = t == 0 ? P0 : filtered + (at - G) * n * n;
        __global float *pred = predicted + at * n * n, *s = innovation + at * m * m, *L = factors + at * m * m;
        __global float *K = gains + at * n * m, *P = filtered + at * n * n;
        __global const float *rAt = R + (long)g * rgStride + (long)t * rtStride;
        wg_product(F, prev, tmp, n, n, n, 0);
        for (int e = lid; e < m * m; e += KF_WG) rg[e] = noise_entry(rAt, logDiagonal, extra, m, e / m, e % m);
        barrier(FENCE);
        wg_product(tmp, F, pred, n, n, n, 1);
        barrier(FENCE);
        for (int e = lid; e < n * n; e += KF_WG) pred[e] += qg[e];
        barrier(FENCE);
        wg_product(pred, H, pht, n, n, m, 1);
        barrier(FENCE);
        wg_product(H, pht, s, m, n, m, 0);
        barrier(FENCE);
        for (int e = lid; e < m * m; e += KF_WG) s[e] += rg[e];
        barrier(FENCE);
        if (lid == 0) {
            float total = 0.0f;
            for (int i = 0; i < m; i++) total += s[i * m + i] / (float)m;
            meanDiagonal = total;
        }
        // Factor S, adding 1e-6·mean(diag)·10^k on the diagonal after each failure (docs/mathematics.md §9).
        int factored = 0;
        float jitter = 0.0f;
        for (int attempt = 0; attempt <= 5 && !factored; attempt++) {
            barrier(FENCE);
            jitter = attempt == 0 ? 0.0f : 1e-6f * meanDiagonal * pown(10.0f, attempt - 1);
            for (int e = lid; e < m * m; e += KF_WG) L[e] = s[e] + (e / m == e % m ? jitter : 0.0f);
            factored = wg_cholesky(L, m, &fail);
        }
        if (!factored) {
            if (lid == 0) { status[2 * g] = (float)t; status[2 * g + 1] = maxJitter; }
            return;
        }
        maxJitter = fmax(maxJitter, jitter);
        if (lid == 0) {
            float logDet = 0.0f;
            for (int i = 0; i < m; i++) logDet += 2.0f * log(L[i * m + i]);
            logDets[at] = logDet;
        }
        // Row i of K solves S·kᵢ = (P⁻Hᵀ)ᵢ (S symmetric).
        for (int i = lid; i < n; i += KF_WG) {
            for (int j = 0; j < m; j++) K[i * m + j] = pht[i * m + j];
            solve_global(L, m, K + i * m);
        }
        barrier(FENCE);
        wg_product(K, H, ikh, n, m, n, 0);
        wg_product(K, rg, kr, n, m, m, 0);
        barrier(FENCE);
        for (int e = lid; e < n * n; e += KF_WG) ikh[e] = (e / n == e % n ? 1.0f : 0.0f) - ikh[e];
        barrier(FENCE);
        wg_product(ikh, pred, tmp, n, n, n, 0);
        barrier(FENCE);
        wg_product(tmp, ikh, joseph, n, n, n, 1);
        barrier(FENCE);
        // joseph += K·R·Kᵀ, then P = ½(joseph + josephᵀ).
        for (int e = lid; e < n * n; e += KF_WG) {
            const int i = e / n, j = e % n;
            float v = 0.0f;
            for (int p = 0; p < m; p++) v += kr[i * m + p] * K[j * m + p];
            tmp[e] = joseph[e] + v;
        }
        barrier(FENCE);
        for (int e = lid; e < n * n; e += KF_WG) P[e] = 0.5f * (tmp[e] + tmp[(e % n) * n + e / n]);
        barrier(FENCE);
        // With R the same at every step (Q always is), a step is a fixed function of P_{t−1}. Once P_t equals P_{t−p}
        // bit for bit (p = 1, or 2 where rounding alternates), step s computes exactly what step s − p did for every
        // later s, so the rest of the tape is copies, in order.
        int period = 0;
        for (int p = 1; p <= 2 && p <= t && rtStride == 0 && period == 0; p++) {
            __global const float *earlier = filtered + (at - (long)p * G) * n * n;
            if (lid == 0) differs = 0;
            barrier(FENCE);
            for (int e = lid; e < n * n; e += KF_WG) {
                if (as_uint(P[e]) != as_uint(earlier[e])) differs = 1;
            }
            barrier(FENCE);
            if (!differs) period = p;
            barrier(FENCE);
        }
        if (period > 0) {
            for (int later = t + 1; later < T; later++) {
                const long to = (long)later * G + g, from = to - (long)period * G;
                for (int e = lid; e < n * n; e += KF_WG) {
                    predicted[to * n * n + e] = predicted[from * n * n + e];
                    filtered[to * n * n + e] = filtered[from * n * n + e];
                }
                for (int e = lid; e < m * m; e += KF_WG) {
                    innovation[to * m * m + e] = innovation[from * m * m + e];
                    factors[to * m * m + e] = factors[from * m * m + e];
                }
                for (int e = lid; e < n * m; e += KF_WG) gains[to * n * m + e] = gains[from * n * m + e];
                if (lid == 0) logDets[to] = logDets[from];
                barrier(FENCE);
            }
            break;
        }
    }
    if (lid == 0) { status[2 * g] = -1.0f; status[2 * g + 1] = maxJitter; }
}

// Adds x to the compensated (Kahan) sum (*sum, *compensation): a log-likelihood summed over thousands of steps keeps
// float32's precision (summed plainly, T = 10 000 steps lost 3e-5 of it).
inline void kf_accumulate(float *sum, float *compensation, const float x) {
    const float y = x - *compensation, t = *sum + y;
    *compensation = (t - *sum) - y;
    *sum = t;
}

__kernel void kalman_mean_forward(const int B, const int T, const int G, __global const float *z,
                                  __global const float *F, __global const float *c, __global const float *H,
                                  __global const float *m0, __global const float *factors,
                                  __global const float *gains, __global const float *logDets,
                                  __global float *predictedMeans, __global float *filteredMeans,
                                  __global float *previousMeans, __global float *whitened,
                                  __global float *logLikelihood) {
    const int q = get_global_id(0);
    if (q >= B) return;
    const int group = q / (B / G);
    float h[KF_N], hp[KF_N], e[KF_M], r[KF_M];
    for (int i = 0; i < KF_N; i++) h[i] = m0[i];
    float total = 0.0f, compensation = 0.0f;
    const float logTwoPi = 1.8378770664093453f;
    for (int t = 0; t < T; t++) {
        const long at = (long)t * G + group, row = (long)q * T + t, slot = (long)t * B + q;
        for (int i = 0; i < KF_N; i++) previousMeans[slot * KF_N + i] = h[i];
        for (int i = 0; i < KF_N; i++) {
            float v = c[i];
            for (int j = 0; j < KF_N; j++) v += F[i * KF_N + j] * h[j];
            hp[i] = v;
            predictedMeans[row * KF_N + i] = v;
        }
        for (int i = 0; i < KF_M; i++) {
            float v = z[row * KF_M + i];
            for (int j = 0; j < KF_N; j++) v -= H[i * KF_N + j] * hp[j];
            e[i] = v;
            r[i] = v;
        }
        solve_private(factors + at * KF_M * KF_M, r);
        float quadratic = 0.0f;
        for (int i = 0; i < KF_M; i++) {
            quadratic += e[i] * r[i];
            whitened[slot * KF_M + i] = r[i];
        }
        kf_accumulate(&total, &compensation, -0.5f * (quadratic + logDets[at] + (float)KF_M * logTwoPi));
        __global const float *K = gains + at * KF_N * KF_M;
        for (int i = 0; i < KF_N; i++) {
            float v = hp[i];
            for (int j = 0; j < KF_M; j++) v += K[i * KF_M + j] * e[j];
            h[i] = v;
            filteredMeans[row * KF_N + i] = v;
        }
    }
    logLikelihood[q] = total;
}

__kernel __attribute__((reqd_work_group_size(KF_WG, 1, 1)))
void kalman_covariance_smoother(const int n, const int T, const int G, __global const float *F,
                                __global const float *predicted, __global const float *filtered,
                                __global float *smootherGains, __global float *smoothed,
                                __global float *status, __global float *scratch) {
    const int g = get_group_id(0), lid = get_local_id(0);
    __global float *factor = scratch + (long)g * 3 * n * n, *fp = factor + n * n, *tmp = fp + n * n;
    __local int fail;
    const long last = (long)(T - 1) * G + g;
    for (int e = lid; e < n * n; e += KF_WG) {
        smoothed[last * n * n + e] = filtered[last * n * n + e];
        smootherGains[last * n * n + e] = 0.0f;
    }
    for (int t = T - 2; t >= 0; t--) {
        const long now = (long)t * G + g, next = now + G;
        __global float *gain = smootherGains + now * n * n;
        barrier(FENCE);
        for (int e = lid; e < n * n; e += KF_WG) factor[e] = predicted[next * n * n + e];
        wg_product(F, filtered + now * n * n, fp, n, n, n, 0);
        if (!wg_cholesky(factor, n, &fail)) {
            if (lid == 0) status[g] = (float)(t + 1);
            return;
        }
        // Row j of G = column j of Gᵀ = (P⁻_{t+1})⁻¹·(F·P_t)'s column j.
        for (int j = lid; j < n; j += KF_WG) {
            for (int i = 0; i < n; i++) gain[j * n + i] = fp[i * n + j];
            solve_global(factor, n, gain + j * n);
        }
        barrier(FENCE);
        for (int e = lid; e < n * n; e += KF_WG) fp[e] = smoothed[next * n * n + e] - predicted[next * n * n + e];
        barrier(FENCE);
        wg_product(gain, fp, tmp, n, n, n, 0);
        barrier(FENCE);
        for (int e = lid; e < n * n; e += KF_WG) {
            const int i = e / n, j = e % n;
            float v = filtered[now * n * n + e];
            for (int p = 0; p < n; p++) v += tmp[i * n + p] * gain[j * n + p];
            smoothed[now * n * n + e] = v;
        }
    }
    if (lid == 0) status[g] = -1.0f;
}

__kernel void kalman_mean_smoother(const int B, const int T, const int G, __global const float *filteredMeans,
                                   __global const float *predictedMeans, __global const float *smootherGains,
                                   __global float *smoothedMeans) {
    const int q = get_global_id(0);
    if (q >= B) return;
    const int group = q / (B / G);
    const long last = (long)q * T + T - 1;
    for (int i = 0; i < KF_N; i++) smoothedMeans[last * KF_N + i] = filteredMeans[last * KF_N + i];
    for (int t = T - 2; t >= 0; t--) {
        const long row = (long)q * T + t;
        __global const float *gain = smootherGains + ((long)t * G + group) * KF_N * KF_N;
        float step[KF_N];
        for (int j = 0; j < KF_N; j++) step[j] = smoothedMeans[(row + 1) * KF_N + j] - predictedMeans[(row + 1) * KF_N + j];
        for (int i = 0; i < KF_N; i++) {
            float v = filteredMeans[row * KF_N + i];
            for (int j = 0; j < KF_N; j++) v += gain[i * KF_N + j] * step[j];
            smoothedMeans[row * KF_N + i] = v;
        }
    }
}

__kernel void kalman_ldm_mean_backward(const int B, const int T, const int G, __global const float *A,
                                       __global const float *gains, __global const float *whitened,
                                       const float gradientScale, const int stopGradient,
                                       __global float *gradZ, __global float *hBarOut,
                                       __global float *hBarMinusOut, __global float *wOut) {
    const int q = get_global_id(0);
    if (q >= B) return;
    const int group = q / (B / G);
    float hBar[KF_N], hMinus[KF_N], eBar[KF_M];
    for (int i = 0; i < KF_N; i++) hBar[i] = 0.0f;
    for (int t = T - 1; t >= 0; t--) {
        const long slot = (long)t * B + q;
        __global const float *K = gains + ((long)t * G + group) * KF_N * KF_M, *r = whitened + slot * KF_M;
        for (int i = 0; i < KF_N; i++) hBarOut[slot * KF_N + i] = hBar[i];
        for (int j = 0; j < KF_M; j++) {
            float v = 0.0f;
            for (int i = 0; i < KF_N; i++) v += K[i * KF_M + j] * hBar[i];
            eBar[j] = v;
            gradZ[((long)q * T + t) * KF_M + j] = gradientScale * (stopGradient ? v : v + r[j]);
            wOut[slot * KF_M + j] = v + 0.5f * r[j];
        }
        for (int i = 0; i < KF_N; i++) hMinus[i] = hBar[i] - (i < KF_M ? eBar[i] + r[i] : 0.0f);
        for (int i = 0; i < KF_N; i++) hBarMinusOut[slot * KF_N + i] = hMinus[i];
        for (int j = 0; j < KF_N; j++) {
            float v = 0.0f;
            for (int i = 0; i < KF_N; i++) v += A[i * KF_N + j] * hMinus[i];
            hBar[j] = v;
        }
    }
}

__kernel __attribute__((reqd_work_group_size(KF_WG, 1, 1)))
void kalman_ldm_covariance_backward(const int n, const int m, const int T, const int G, __global const float *A,
                                    __global const float *Q, const int qStride,
                                    __global const float *R, const int rgStride, const int rtStride,
                                    __global const float *P0,
                                    __global const float *filtered, __global const float *factors,
                                    __global const float *gains, __global const float *seedC,
                                    __global const float *seedS, const float halfCount,
                                    __global float *gradA, __global float *gradQ, __global float *gradR,
                                    __global float *scratch) {
    const int g = get_group_id(0), lid = get_local_id(0);
    __global float *pBar = scratch + (long)g * (5 * n * n + n * m + m * m);
    __global float *pMinusBar = pBar + n * n, *ap = pMinusBar + n * n, *pa = ap + n * n, *sym = pa + n * n;
    __global float *x2 = sym + n * n, *sInverse = x2 + n * m;
    __global float *aBar = gradA + (long)g * n * n, *qBar = gradQ + (long)g * n;
    __global const float *qg = Q + (long)g * qStride;
    for (int e = lid; e < n * n; e += KF_WG) { pBar[e] = 0.0f; aBar[e] = 0.0f; }
    for (int i = lid; i < n; i += KF_WG) qBar[i] = 0.0f;
    barrier(FENCE);
    for (int t = T - 1; t >= 0; t--) {
        const long at = (long)t * G + g;
        __global const float *K = gains + at * n * m, *L = factors + at * m * m;
        __global const float *prev = t == 0 ? P0 : filtered + (at - G) * n * n;
        __global const float *rAt = R + (long)g * rgStride + (long)t * rtStride;
        wg_product(pBar, K, x2, n, n, m, 0);
        wg_product(A, prev, ap, n, n, n, 0);
        // Row j of S⁻¹ (symmetric) solves S·x = e_j.
        for (int j = lid; j < m; j += KF_WG) {
            for (int i = 0; i < m; i++) sInverse[j * m + i] = i == j ? 1.0f : 0.0f;
            solve_global(L, m, sInverse + j * m);
        }
        barrier(FENCE);
        // P̄⁻ = P̄ + [C̄ 0] + [S̄ 0; 0 0], C̄ = C̄₀ − P̄·K − P̄ᵀ·K, S̄ = S̄₀ + Kᵀ·P̄·K + halfCount·S⁻¹.
        for (int e = lid; e < n * n; e += KF_WG) {
            const int i = e / n, j = e % n;
            float v = pBar[e];
            if (j < m) {
                float cb = seedC[at * n * m + i * m + j] - x2[i * m + j];
                for (int l = 0; l < n; l++) cb -= pBar[l * n + i] * K[l * m + j];
                v += cb;
                if (i < m) {
                    float sb = seedS[at * m * m + i * m + j] + halfCount * sInverse[i * m + j];
                    for (int l = 0; l < n; l++) sb += K[l * m + i] * x2[l * m + j];
                    v += sb;
                    if (i == j) gradR[((long)g * T + t) * m + i] = sb * exp(rAt[i]);
                }
            }
            pMinusBar[e] = v;
        }
        barrier(FENCE);
        for (int e = lid; e < n * n; e += KF_WG) sym[e] = pMinusBar[e] + pMinusBar[(e % n) * n + e / n];
        for (int i = lid; i < n; i += KF_WG) qBar[i] += pMinusBar[i * n + i] * qg[i * n + i];
        barrier(FENCE);
        // Only P̄⁻'s symmetric part carries gradient (P⁻ is symmetric), so P̄_{t−1} is built from ½(P̄⁻ + P̄⁻ᵀ).
        // Propagating P̄⁻ itself would carry an antisymmetric part that grows by ~(1 + ‖K‖²) per step and, after
        // ~70 steps, swamps the symmetric part in float32 rounding (the gradients of A, a, s and ℓ went wrong).
        wg_product(sym, A, pa, n, n, n, 0);
        barrier(FENCE);
        // Ā += (P̄⁻ + P̄⁻ᵀ)·A·P_{t−1};  P̄_{t−1} = Aᵀ·(½(P̄⁻ + P̄⁻ᵀ)·A).
        for (int e = lid; e < n * n; e += KF_WG) {
            const int i = e / n, j = e % n;
            float v = 0.0f, w = 0.0f;
            for (int p = 0; p < n; p++) {
                v += sym[i * n + p] * ap[p * n + j];
                w += A[p * n + i] * pa[p * n + j];
            }
            aBar[e] += v;
            pBar[e] = 0.5f * w;
        }
        barrier(FENCE);
    }
}

// The log-likelihood of each sequence of one noise group from its innovations e_t and whitened innovations
// r_t = S_t⁻¹e_t, both step-major [T, B, KF_M] (the time-parallel means): −½·Σ_t (e_t·r_t + log det S_t + m·log 2π),
// summed with compensation. One work-item per sequence.
__kernel void kalman_log_likelihood(const int B, const int T, __global const float *innovations,
                                    __global const float *whitened, __global const float *logDets,
                                    __global float *logLikelihood) {
    const int q = get_global_id(0);
    if (q >= B) return;
    const float logTwoPi = 1.8378770664093453f;
    float total = 0.0f, compensation = 0.0f;
    for (int t = 0; t < T; t++) {
        const long slot = ((long)t * B + q) * KF_M;
        float quadratic = 0.0f;
        for (int i = 0; i < KF_M; i++) quadratic += innovations[slot + i] * whitened[slot + i];
        kf_accumulate(&total, &compensation, -0.5f * (quadratic + logDets[t] + (float)KF_M * logTwoPi));
    }
    logLikelihood[q] = total;
}

// S_t⁻¹ for every step, one column per work-item: row j of inverses[t] is S⁻¹·e_j (column j of the symmetric S⁻¹).
__kernel void kalman_innovation_inverse(const int T, __global const float *factors, __global float *inverses) {
    const int id = get_global_id(0);
    if (id >= T * KF_M) return;
    const int t = id / KF_M, j = id % KF_M;
    __global float *x = inverses + ((long)t * KF_M + j) * KF_M;
    for (int i = 0; i < KF_M; i++) x[i] = i == j ? 1.0f : 0.0f;
    solve_global(factors + (long)t * KF_M * KF_M, KF_M, x);
}

// The rows kernels keep their local arrays coordinate-major, [coordinate][sequence], and give consecutive items
// consecutive sequences: a step's matrix entry is the same for all of them (one broadcast read) and their states
// are contiguous (one vector read), on a GPU's warps as in PoCL's work-item vectorisation.
#define KF_AT(i, r) ((i) * KF_ROWS + (r))
// One item per (coordinate, sequence) of the larger dimension: each loop over x below runs at most once.
#define KF_RWG (KF_ROWS * (KF_N > KF_M ? KF_N : KF_M))

// Σ_j a[j·stride]·x[j·KF_ROWS] (a matrix row or column, a local state column) in four partial sums: independent
// multiply-add chains instead of one latency-bound chain.
static float kf_dot(__global const float *a, const int stride, __local const float *x, const int count) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int j = 0;
    for (; j + 3 < count; j += 4) {
        s0 += a[j * stride] * x[j * KF_ROWS];
        s1 += a[(j + 1) * stride] * x[(j + 1) * KF_ROWS];
        s2 += a[(j + 2) * stride] * x[(j + 2) * KF_ROWS];
        s3 += a[(j + 3) * stride] * x[(j + 3) * KF_ROWS];
    }
    for (; j < count; j++) s0 += a[j * stride] * x[j * KF_ROWS];
    return (s0 + s1) + (s2 + s3);
}

// kalman_mean_forward for G = 1, KF_ROWS sequences per work-group (see the header).
__kernel __attribute__((reqd_work_group_size(KF_RWG, 1, 1)))
void kalman_mean_forward_rows(const int B, const int T, __global const float *z, __global const float *F,
                              __global const float *c, __global const float *H, __global const float *m0,
                              __global const float *inverses, __global const float *gains,
                              __global const float *logDets, __global float *predictedMeans,
                              __global float *filteredMeans, __global float *previousMeans,
                              __global float *whitened, __global float *logLikelihood) {
    __local float h[KF_N * KF_ROWS], hp[KF_N * KF_ROWS], e[KF_M * KF_ROWS], w[KF_M * KF_ROWS];
    const int lid = get_local_id(0), q0 = get_group_id(0) * KF_ROWS, rows = min(KF_ROWS, B - q0);
    const float logTwoPi = 1.8378770664093453f;
    float total = 0.0f, compensation = 0.0f;   // the log-likelihood of sequence q0 + lid, for lid < rows
    for (int x = lid; x < KF_N * KF_ROWS; x += KF_RWG) h[x] = m0[x / KF_ROWS];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = 0; t < T; t++) {
        // h⁻ = F·ĥ + c
        for (int x = lid; x < KF_N * KF_ROWS; x += KF_RWG) {
            const int i = x / KF_ROWS, r = x % KF_ROWS;
            if (r >= rows) continue;
            previousMeans[((long)t * B + q0 + r) * KF_N + i] = h[x];
            const float v = c[i] + kf_dot(F + i * KF_N, 1, h + r, KF_N);
            hp[x] = v;
            predictedMeans[((long)(q0 + r) * T + t) * KF_N + i] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        // e = z − H·h⁻
        for (int x = lid; x < KF_M * KF_ROWS; x += KF_RWG) {
            const int i = x / KF_ROWS, r = x % KF_ROWS;
            if (r >= rows) continue;
            e[x] = z[((long)(q0 + r) * T + t) * KF_M + i] - kf_dot(H + i * KF_N, 1, hp + r, KF_N);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        // r = S⁻¹·e
        __global const float *inverse = inverses + (long)t * KF_M * KF_M;
        for (int x = lid; x < KF_M * KF_ROWS; x += KF_RWG) {
            const int i = x / KF_ROWS, r = x % KF_ROWS;
            if (r >= rows) continue;
            const float v = kf_dot(inverse + i * KF_M, 1, e + r, KF_M);
            w[x] = v;
            whitened[((long)t * B + q0 + r) * KF_M + i] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < rows) {
            float quadratic = 0.0f;
            for (int i = 0; i < KF_M; i++) quadratic += e[KF_AT(i, lid)] * w[KF_AT(i, lid)];
            kf_accumulate(&total, &compensation, -0.5f * (quadratic + logDets[t] + (float)KF_M * logTwoPi));
        }
        // ĥ = h⁻ + K·e
        __global const float *K = gains + (long)t * KF_N * KF_M;
        for (int x = lid; x < KF_N * KF_ROWS; x += KF_RWG) {
            const int i = x / KF_ROWS, r = x % KF_ROWS;
            if (r >= rows) continue;
            const float v = hp[x] + kf_dot(K + i * KF_M, 1, e + r, KF_M);
            h[x] = v;
            filteredMeans[((long)(q0 + r) * T + t) * KF_N + i] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid < rows) logLikelihood[q0 + lid] = total;
}

// kalman_mean_smoother for G = 1, KF_ROWS sequences per work-group.
__kernel __attribute__((reqd_work_group_size(KF_RWG, 1, 1)))
void kalman_mean_smoother_rows(const int B, const int T, __global const float *filteredMeans,
                               __global const float *predictedMeans, __global const float *smootherGains,
                               __global float *smoothedMeans) {
    __local float next[KF_N * KF_ROWS], step[KF_N * KF_ROWS];
    const int lid = get_local_id(0), q0 = get_group_id(0) * KF_ROWS, rows = min(KF_ROWS, B - q0);
    for (int x = lid; x < KF_N * KF_ROWS; x += KF_RWG) {
        const int i = x / KF_ROWS, r = x % KF_ROWS;
        if (r >= rows) continue;
        const long at = ((long)(q0 + r) * T + T - 1) * KF_N + i;
        next[x] = filteredMeans[at];
        smoothedMeans[at] = next[x];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = T - 2; t >= 0; t--) {
        for (int x = lid; x < KF_N * KF_ROWS; x += KF_RWG) {
            const int i = x / KF_ROWS, r = x % KF_ROWS;
            if (r >= rows) continue;
            step[x] = next[x] - predictedMeans[((long)(q0 + r) * T + t + 1) * KF_N + i];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        __global const float *gain = smootherGains + (long)t * KF_N * KF_N;
        for (int x = lid; x < KF_N * KF_ROWS; x += KF_RWG) {
            const int i = x / KF_ROWS, r = x % KF_ROWS;
            if (r >= rows) continue;
            const long at = ((long)(q0 + r) * T + t) * KF_N + i;
            const float v = filteredMeans[at] + kf_dot(gain + i * KF_N, 1, step + r, KF_N);
            next[x] = v;
            smoothedMeans[at] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

// kalman_ldm_mean_backward for G = 1, KF_ROWS sequences per work-group.
__kernel __attribute__((reqd_work_group_size(KF_RWG, 1, 1)))
void kalman_ldm_mean_backward_rows(const int B, const int T, __global const float *A, __global const float *gains,
                                   __global const float *whitened, const float gradientScale, const int stopGradient,
                                   __global float *gradZ, __global float *hBarOut, __global float *hBarMinusOut,
                                   __global float *wOut) {
    __local float hBar[KF_N * KF_ROWS], hMinus[KF_N * KF_ROWS], eBar[KF_M * KF_ROWS];
    const int lid = get_local_id(0), q0 = get_group_id(0) * KF_ROWS, rows = min(KF_ROWS, B - q0);
    for (int x = lid; x < KF_N * KF_ROWS; x += KF_RWG) hBar[x] = 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = T - 1; t >= 0; t--) {
        __global const float *K = gains + (long)t * KF_N * KF_M;
        // ē = Kᵀ·h̄, ∂/∂z and w = ē + ½r
        for (int x = lid; x < KF_N * KF_ROWS; x += KF_RWG) {
            const int i = x / KF_ROWS, r = x % KF_ROWS;
            if (r < rows) hBarOut[((long)t * B + q0 + r) * KF_N + i] = hBar[x];
        }
        for (int x = lid; x < KF_M * KF_ROWS; x += KF_RWG) {
            const int j = x / KF_ROWS, r = x % KF_ROWS;
            if (r >= rows) continue;
            const float v = kf_dot(K + j, KF_M, hBar + r, KF_N);
            eBar[x] = v;
            const long slot = (long)t * B + q0 + r;
            const float rj = whitened[slot * KF_M + j];
            gradZ[((long)(q0 + r) * T + t) * KF_M + j] = gradientScale * (stopGradient ? v : v + rj);
            wOut[slot * KF_M + j] = v + 0.5f * rj;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        // h̄⁻ = h̄ − Dᵀ(ē + r)
        for (int x = lid; x < KF_N * KF_ROWS; x += KF_RWG) {
            const int i = x / KF_ROWS, r = x % KF_ROWS;
            if (r >= rows) continue;
            const long slot = (long)t * B + q0 + r;
            const float v = hBar[x] - (i < KF_M ? eBar[KF_AT(i, r)] + whitened[slot * KF_M + i] : 0.0f);
            hMinus[x] = v;
            hBarMinusOut[slot * KF_N + i] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        // h̄_{t−1} = Aᵀ·h̄⁻
        for (int x = lid; x < KF_N * KF_ROWS; x += KF_RWG) {
            const int j = x / KF_ROWS, r = x % KF_ROWS;
            if (r >= rows) continue;
            hBar[x] = kf_dot(A + j, KF_N, hMinus + r, KF_N);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
