// reduce.cl — reductions along each row of a row-major rows×columns matrix x, and their backward.
//     reduce_rows:          out[i] = max_j x[i,j]  |  Σ_j x[i,j]  |  sqrt(Σ_j x[i,j]²)      (REDUCE_OP 0|1|2)
//     reduce_rows_backward: gx[i,j] = ∂(Σ_i gy[i]·y[i]) / ∂x[i,j], given x, y = reduce_rows(x) and gy:
//                           max → gy[i] at the first j with x[i,j] == y[i], else 0;
//                           sum → gy[i];  norm → gy[i]·x[i,j]/y[i] (0 when y[i] == 0).
//     normalize_rows:          out[i,:] = x[i,:] / max(‖x[i,:]‖, 1e-12), norms[i] = ‖x[i,:]‖ (torch's F.normalize)
//     normalize_rows_backward: dx[i,:] = (g − out·<out, g>) / ‖x‖, or g / 1e-12 where ‖x‖ ≤ 1e-12
//     softmax_rows:            y[i,j] = exp(a·x[i,j] − m_i) / Σ_l exp(a·x[i,l] − m_i), m_i = max_l a·x[i,l] (the
//                              running maximum: never a raw exp, finite for any finite input)
//     softmax_rows_backward:   dx[i,:] = a·y[i,:] ⊙ (dy[i,:] − <y[i,:], dy[i,:]>)
// The norm is computed as m·sqrt(Σ (x/m)²) with m = max |x|, so x² can neither overflow nor underflow.
// Work-items: one work-group of REDUCE_WG items per row (dimension 0 = row·REDUCE_WG + lane); each lane
// strides over the row, then a tree reduction in local memory. Every barrier is reached by the whole group.
// Tunables: REDUCE_OP (0 max, 1 sum, 2 norm; one program per op; the normalize and softmax kernels ignore it), REDUCE_WG
// (default 128, a power of two).
#ifndef REDUCE_OP
#define REDUCE_OP 1
#endif
#ifndef REDUCE_WG
#define REDUCE_WG 128
#endif

static float group_max(__local float *scratch, float v) {
    const int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = REDUCE_WG / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float result = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return result;
}

static float group_sum(__local float *scratch, float v) {
    const int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = REDUCE_WG / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float result = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return result;
}

static int group_min_int(__local int *scratch, int v) {
    const int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = REDUCE_WG / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] = min(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const int result = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return result;
}

// The Euclidean norm of a row of `columns` floats, by the whole work-group (overflow-free, see the header).
static float group_norm(__local float *scratch, __global const float *r, const int columns) {
    const int lid = get_local_id(0);
    float m = 0.0f;
    for (int j = lid; j < columns; j += REDUCE_WG) m = fmax(m, fabs(r[j]));
    m = group_max(scratch, m);
    float s = 0.0f;
    if (m > 0.0f) {
        const float inv = 1.0f / m;
        for (int j = lid; j < columns; j += REDUCE_WG) {
            const float v = r[j] * inv;
            s = fma(v, v, s);
        }
    }
    return m * sqrt(group_sum(scratch, s));
}

#define NORMALIZE_EPS 1e-12f

__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void normalize_rows(const int columns, __global const float *x, __global float *out, __global float *norms) {
    __local float scratch[REDUCE_WG];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    __global const float *r = x + (long)row * columns;
    const float norm = group_norm(scratch, r, columns);
    const float inv = 1.0f / fmax(norm, NORMALIZE_EPS);
    for (int j = lid; j < columns; j += REDUCE_WG) out[(long)row * columns + j] = r[j] * inv;
    if (lid == 0) norms[row] = norm;
}

__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void normalize_rows_backward(const int columns, __global const float *out, __global const float *norms,
                             __global const float *g, __global float *dx) {
    __local float scratch[REDUCE_WG];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const long base = (long)row * columns;
    float partial = 0.0f;
    for (int j = lid; j < columns; j += REDUCE_WG) partial = fma(out[base + j], g[base + j], partial);
    const float dot = group_sum(scratch, partial);
    const float norm = norms[row];
    for (int j = lid; j < columns; j += REDUCE_WG)
        dx[base + j] = norm > NORMALIZE_EPS ? (g[base + j] - out[base + j] * dot) / norm : g[base + j] / NORMALIZE_EPS;
}

__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void reduce_rows(const int columns, __global const float *x, __global float *out) {
    __local float scratch[REDUCE_WG];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    __global const float *r = x + (long)row * columns;
#if REDUCE_OP == 0
    float m = -INFINITY;
    for (int j = lid; j < columns; j += REDUCE_WG) m = fmax(m, r[j]);
    const float result = group_max(scratch, m);
#elif REDUCE_OP == 1
    float s = 0.0f;
    for (int j = lid; j < columns; j += REDUCE_WG) s += r[j];
    const float result = group_sum(scratch, s);
#else
    const float result = group_norm(scratch, r, columns);
#endif
    if (lid == 0) out[row] = result;
}

__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void reduce_rows_backward(const int columns, __global const float *x, __global const float *y,
                          __global const float *gy, __global float *gx) {
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    __global const float *r = x + (long)row * columns;
    __global float *g = gx + (long)row * columns;
    const float yi = y[row];
    const float gi = gy[row];
#if REDUCE_OP == 0
    __local int scratch[REDUCE_WG];
    int first = columns;
    for (int j = lid; j < columns; j += REDUCE_WG) if (r[j] == yi) first = min(first, j);
    first = group_min_int(scratch, first);
    for (int j = lid; j < columns; j += REDUCE_WG) g[j] = (j == first) ? gi : 0.0f;
#elif REDUCE_OP == 1
    for (int j = lid; j < columns; j += REDUCE_WG) g[j] = gi;
#else
    const float s = yi > 0.0f ? gi / yi : 0.0f;
    for (int j = lid; j < columns; j += REDUCE_WG) g[j] = s * r[j];
#endif
}

// The softmax of a·x over each row; y may not alias x (each lane rereads only the elements it wrote itself).
__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void softmax_rows(const int columns, const float a, __global const float *x, __global float *y) {
    __local float scratch[REDUCE_WG];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const long base = (long)row * columns;
    float m = -INFINITY;
    for (int j = lid; j < columns; j += REDUCE_WG) m = fmax(m, a * x[base + j]);
    m = group_max(scratch, m);
    float s = 0.0f;
    for (int j = lid; j < columns; j += REDUCE_WG) {
        const float e = exp(a * x[base + j] - m);
        y[base + j] = e;
        s += e;
    }
    const float inv = 1.0f / group_sum(scratch, s);
    for (int j = lid; j < columns; j += REDUCE_WG) y[base + j] *= inv;
}

__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void softmax_rows_backward(const int columns, const float a, __global const float *y, __global const float *dy,
                           __global float *dx) {
    __local float scratch[REDUCE_WG];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const long base = (long)row * columns;
    float partial = 0.0f;
    for (int j = lid; j < columns; j += REDUCE_WG) partial = fma(y[base + j], dy[base + j], partial);
    const float dot = group_sum(scratch, partial);
    for (int j = lid; j < columns; j += REDUCE_WG) dx[base + j] = a * y[base + j] * (dy[base + j] - dot);
}
