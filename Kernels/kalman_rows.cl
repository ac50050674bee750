// kalman_rows.cl — the kalman family's means as products, for one group (shared noises) and larger states: a
// work-group advances KF_ROWS sequences through time together, their states in local memory, each item computing
// entries (sequence, coordinate) of a step's [KF_ROWS, n] × [n, n] products, so a step's F, K, G and S⁻¹ are read
// once per work-group rather than once per sequence, and no state lives in private arrays; and what the
// time-parallel means (Backend+KalmanTimeParallel.swift) add to the products:
//     kalman_innovation_inverse   S_t⁻¹ from its Cholesky factor (whitening becomes a product)
//     kalman_log_likelihood       per-sequence log-likelihoods from step-major innovations
//     kalman_mean_forward_rows, kalman_mean_smoother_rows, kalman_ldm_mean_backward_rows
// Layouts and tunables as in kalman.cl.
#include "kalman_common.cl"

// The log-likelihood of each sequence from its innovations e_t and whitened innovations r_t = S_t⁻¹e_t, both
// step-major [T, B, KF_M] (the time-parallel means): −½·Σ_t (e_t·r_t + log det S_t + m·log 2π), log det S_t of the
// sequence's noise group (logDets [T, G], sequence q in group q / (B/G)), summed with compensation. One work-item
// per sequence.
__kernel void kalman_log_likelihood(const int B, const int T, const int G, __global const float *innovations,
                                    __global const float *whitened, __global const float *logDets,
                                    __global float *logLikelihood) {
    const int q = get_global_id(0);
    if (q >= B) return;
    const int group = q / (B / G);
    const float logTwoPi = 1.8378770664093453f;
    float total = 0.0f, compensation = 0.0f;
    for (int t = 0; t < T; t++) {
        const long slot = ((long)t * B + q) * KF_M;
        float quadratic = 0.0f;
        for (int i = 0; i < KF_M; i++) quadratic += innovations[slot + i] * whitened[slot + i];
        kf_accumulate(&total, &compensation, -0.5f * (quadratic + logDets[(long)t * G + group] + (float)KF_M * logTwoPi));
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
