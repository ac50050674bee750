// affine_scan.cl — the linear recursion x_t = A_t·x_{t−1} + u_t for B rows of n through T steps, the rows in G
// groups of B/G that share the step's n × n matrix (the Kalman filter's means, one group per noise group, its
// smoother, the Kalman-LDM adjoint), split over time so that a GPU runs it with B·chunks work-items instead of B:
//     affine_scan_local   one work-item per (chunk, row): the chunk's steps from zero (the first chunk from the
//                         initial state); rows B … B+G·n−1 of each later chunk run from each group's unit vectors with
//                         u = 0, which makes row j of products[t][g] column j of Π_t = A_t···A_s for group g (s the
//                         chunk's first step)
//     affine_scan_carry   one work-item per row: the chunks' end states in order,
//                         carry_1 = x(end of chunk 0), carry_k = x_local(end of chunk k−1) + Π·carry_{k−1}
//     affine_scan_fixup   one work-item per (step of a later chunk, row, coordinate): x_t += Π_t·carry_k
// Layouts (row-major): u, x [T, B, n]; A and products [T, G, n, n]; initial [B, n]; carries [chunks, B, n]; row q
// belongs to group q / (B/G).
// REVERSE runs the steps backwards (step τ of the scan is t = T−1−τ, from x_T = initial); TRANSPOSED uses A_tᵀ.
// Indices are formed in 64 bits; the launcher checks the counts fit 32-bit arguments. Tunables: none.

inline int scan_step(const int tau, const int T, const int reverse) { return reverse ? T - 1 - tau : tau; }

inline float scan_entry(__global const float *a, const int n, const int i, const int j, const int transposed) {
    return transposed ? a[j * n + i] : a[i * n + j];
}

__kernel void affine_scan_local(const int T, const int B, const int n, const int length, const int chunks,
                                const int reverse, const int transposed, const int hasInitial, const int G,
                                __global const float *u, __global const float *A, __global const float *initial,
                                __global float *x, __global float *products) {
    const int id = get_global_id(0);
    if (id >= chunks * (B + G * n)) return;
    const int k = id / (B + G * n), r = id % (B + G * n);
    const int product = r >= B;
    if (product && k == 0) return;
    // A product row is unit vector `unit` of group `group`, row group·n + unit of the [T, G·n, n] products.
    const int row = product ? r - B : r, rows = product ? G * n : B;
    const int group = product ? row / n : row / (B / G), unit = row % n;
    __global float *states = product ? products : x;
    const int first = k * length, end = min(T, first + length);
    for (int tau = first; tau < end; ++tau) {
        const int t = scan_step(tau, T, reverse);
        __global const float *a = A + ((long)t * G + group) * n * n;
        __global float *out = states + ((long)t * rows + row) * n;
        __global const float *previous = tau == first ? 0 : states + ((long)scan_step(tau - 1, T, reverse) * rows + row) * n;
        for (int i = 0; i < n; ++i) {
            float v = product ? 0.0f : u[((long)t * B + row) * n + i];
            if (previous) {
                for (int j = 0; j < n; ++j) v += scan_entry(a, n, i, j, transposed) * previous[j];
            } else if (product) {
                v = scan_entry(a, n, i, unit, transposed);
            } else if (k == 0 && hasInitial) {
                for (int j = 0; j < n; ++j) v += scan_entry(a, n, i, j, transposed) * initial[(long)row * n + j];
            }
            out[i] = v;
        }
    }
}

__kernel void affine_scan_carry(const int T, const int B, const int n, const int length, const int chunks, const int reverse,
                                const int G, __global const float *x, __global const float *products,
                                __global float *carries) {
    const int q = get_global_id(0);
    if (q >= B) return;
    const int group = q / (B / G);
    for (int k = 1; k < chunks; ++k) {
        const int last = scan_step(k * length - 1, T, reverse);
        __global const float *local_ = x + ((long)last * B + q) * n;
        __global const float *before = carries + ((long)(k - 1) * B + q) * n;
        __global const float *pi = products + ((long)last * G + group) * n * n;
        __global float *carry = carries + ((long)k * B + q) * n;
        for (int i = 0; i < n; ++i) {
            float v = local_[i];
            if (k > 1) {
                for (int j = 0; j < n; ++j) v += before[j] * pi[j * n + i];
            }
            carry[i] = v;
        }
    }
}

__kernel void affine_scan_fixup(const int T, const int B, const int n, const int length, const int reverse, const int G,
                                __global const float *products, __global const float *carries, __global float *x) {
    const long e = get_global_id(0);
    if (e >= (long)(T - length) * B * n) return;
    const int i = (int)(e % n), q = (int)((e / n) % B), tau = length + (int)(e / ((long)n * B));
    const int t = scan_step(tau, T, reverse);
    __global const float *carry = carries + ((long)(tau / length) * B + q) * n;
    __global const float *pi = products + ((long)t * G + q / (B / G)) * n * n;
    float v = 0.0f;
    for (int j = 0; j < n; ++j) v += carry[j] * pi[j * n + i];
    x[((long)t * B + q) * n + i] += v;
}
