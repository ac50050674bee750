// kalman.cl — batched linear-Gaussian filtering, RTS smoothing and the Kalman-LDM reverse pass (docs/mathematics.md §5).
//
// The covariances of a filter do not depend on the observations, so they are computed once per *group* of
// sequences sharing F, H, Q, R, P0 (one group when the noises are shared, one per sequence when not):
//     kalman_covariance_forward   P⁻ = F·P·Fᵀ + Q, S = H·P⁻·Hᵀ + R (Cholesky with the docs/mathematics.md §9 jitter),
//                                 K = P⁻·Hᵀ·S⁻¹ (solves), P = (I − KH)·P⁻·(I − KH)ᵀ + K·R·Kᵀ symmetrised
//     kalman_covariance_smoother  G_t = P_t·Fᵀ·(P⁻_{t+1})⁻¹, P^s_t = P_t + G_t·(P^s_{t+1} − P⁻_{t+1})·G_tᵀ
//     kalman_ldm_covariance_backward  the reverse pass of the covariance recursion (D = [I 0], diagonal Q,
//                                 log-diagonal R), seeded per step by sums over the group's sequences
// kalman_covariance_forward and kalman_ldm_covariance_backward may also split the steps into chunks, one
// work-group per (chunk, group), each chunk from its start (the time-parallel form: kalman_scan.cl computes the
// forward's starting P and the backward's starting P̄; the backward's `fold` mode gives the latter its inputs).
// Those run one work-group of KF_WG items per group, stepping through time; within a step the items share the
// matrix products entry by entry, the Cholesky factorisation row by row (left-looking, column by column) and the
// solves one right-hand side each, with barriers between the stages. Their working matrices live in a global
// scratch buffer (one slice per group), so any state dimension fits.
// The means run one work-item per sequence over the whole time loop, the state in private arrays of KF_N (state)
// and KF_M (observation) floats:
//     kalman_mean_forward         h⁻ = F·ĥ + c, e = z − H·h⁻, r = S⁻¹e, ĥ = h⁻ + K·e, log-likelihood
//     kalman_mean_smoother        m^s_t = m_t + G_t·(m^s_{t+1} − m⁻_{t+1})
//     kalman_ldm_mean_backward    ē = Kᵀh̄, ∂/∂z, w = ē + ½r, h̄⁻ = h̄ − Dᵀ(ē + r), h̄_{t−1} = Aᵀh̄⁻
// With one group (shared noises) the means may run as products instead: kalman_rows.cl.
// Layouts (row-major): per-group [T, G, …]; user-facing per-sequence [B, T, …]; reverse-pass intermediates
// [T, B, …]. Sequence q uses group q / (B / G).
// Tunables: KF_WG (work-group size of the per-group and rows kernels), KF_N and KF_M (set by the launcher to n
// and m), KF_ROWS (sequences per work-group of the rows kernels, sized by the launcher to the local memory).
#include "kalman_common.cl"

__kernel __attribute__((reqd_work_group_size(KF_WG, 1, 1)))
void kalman_covariance_forward(const int n, const int m, const int T, const int G, const int length,
                               __global const float *F, __global const float *H,
                               __global const float *Q, const int qStride,
                               __global const float *R, const int rgStride, const int rtStride,
                               const int logDiagonal, const float extra,
                               __global const float *P0, __global const float *starts,
                               __global float *predicted, __global float *filtered, __global float *innovation,
                               __global float *factors, __global float *gains, __global float *logDets,
                               __global float *status, __global float *scratch) {
    // Work-group item = k·G + g runs chunk k (steps k·length …) of group g, from P0 or starts[item].
    const int item = get_group_id(0), g = item % G, lid = get_local_id(0);
    const int first = (item / G) * length, end = min(T, first + length);
    __global float *tmp = scratch + (long)item * (3 * n * n + 2 * n * m + m * m);
    __global float *ikh = tmp + n * n, *joseph = ikh + n * n, *pht = joseph + n * n, *kr = pht + n * m;
    __global float *rg = kr + n * m;
    __global const float *qg = Q + (long)g * qStride;
    __local int fail, differs;
    __local float meanDiagonal;
    float maxJitter = 0.0f;
    for (int t = first; t < end; t++) {
        const long at = (long)t * G + g;
        __global const float *prev = t == 0 ? P0 : t == first ? starts + (long)item * n * n : filtered + (at - G) * n * n;
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
        // (Kept inline: moved into a helper function with its barriers, PoCL 3.1 produced wrong tapes.)
        int factored = 0;
        float jitter = 0.0f;
        for (int attempt = 0; attempt <= 5 && !factored; attempt++) {
            barrier(FENCE);
            jitter = attempt == 0 ? 0.0f : 1e-6f * meanDiagonal * pown(10.0f, attempt - 1);
            for (int e = lid; e < m * m; e += KF_WG) L[e] = s[e] + (e / m == e % m ? jitter : 0.0f);
            factored = wg_cholesky(L, m, &fail);
        }
        if (!factored) {
            if (lid == 0) { status[2 * item] = (float)t; status[2 * item + 1] = maxJitter; }
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
        for (int p = 1; p <= 2 && p <= t - first && rtStride == 0 && period == 0; p++) {
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
            for (int later = t + 1; later < end; later++) {
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
    if (lid == 0) { status[2 * item] = -1.0f; status[2 * item + 1] = maxJitter; }
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
void kalman_ldm_covariance_backward(const int n, const int m, const int T, const int G, const int length,
                                    const int firstChunk, const int fold, __global const float *A,
                                    __global const float *Q, const int qStride,
                                    __global const float *R, const int rgStride, const int rtStride,
                                    __global const float *P0,
                                    __global const float *filtered, __global const float *factors,
                                    __global const float *gains, __global const float *seedC,
                                    __global const float *seedS, const float halfCount, __global const float *starts,
                                    __global float *gradA, __global float *gradQ, __global float *gradR,
                                    __global float *folded, __global float *scratch) {
    // Work-group item = k·G + g (k from firstChunk) runs chunk k of group g backwards from starts[item] (from zero
    // for the last chunk, which starts[] is then not read for), adding into gradA[item] and gradQ[item]; with `fold`
    // it runs from zero, writes no ∂/∂log R and leaves its final P̄ and Ψ = Φ_end···Φ_first (Φ_t = A − K_t·(D·A))
    // in folded[item] (the time-parallel reverse pass).
    const int item = get_group_id(0) + firstChunk * G, g = item % G, lid = get_local_id(0);
    const int first = (item / G) * length, end = min(T, first + length), fromZero = fold || end == T;
    __global float *pBar = scratch + (long)get_group_id(0) * (8 * n * n + n * m + m * m);
    __global float *pMinusBar = pBar + n * n, *ap = pMinusBar + n * n, *pa = ap + n * n, *sym = pa + n * n;
    __global float *x2 = sym + n * n, *sInverse = x2 + n * m, *phi = sInverse + m * m, *psi = phi + n * n;
    __global float *product = psi + n * n;
    __global float *aBar = gradA + (long)item * n * n, *qBar = gradQ + (long)item * n;
    __global const float *qg = Q + (long)g * qStride;
    for (int e = lid; e < n * n; e += KF_WG) {
        pBar[e] = fromZero ? 0.0f : starts[(long)item * n * n + e];
        psi[e] = e / n == e % n ? 1.0f : 0.0f;
        aBar[e] = 0.0f;
    }
    for (int i = lid; i < n; i += KF_WG) qBar[i] = 0.0f;
    barrier(FENCE);
    for (int t = end - 1; t >= first; t--) {
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
                    if (i == j && !fold) gradR[((long)g * T + t) * m + i] = sb * exp(rAt[i]);
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
        if (fold) {
            // Ψ ← Ψ·Φ_t, Φ_t = A − K_t·(A's first m rows).
            for (int e = lid; e < n * n; e += KF_WG) {
                const int i = e / n, j = e % n;
                float v = A[e];
                for (int p = 0; p < m; p++) v -= K[i * m + p] * A[p * n + j];
                phi[e] = v;
            }
            barrier(FENCE);
            wg_product(psi, phi, product, n, n, n, 0);
            barrier(FENCE);
            for (int e = lid; e < n * n; e += KF_WG) psi[e] = product[e];
            barrier(FENCE);
        }
    }
    if (fold) {
        for (int e = lid; e < n * n; e += KF_WG) {
            folded[(long)item * 2 * n * n + e] = pBar[e];
            folded[(long)item * 2 * n * n + n * n + e] = psi[e];
        }
    }
}
