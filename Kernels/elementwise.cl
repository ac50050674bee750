// elementwise.cl — the elementwise primitives on flat float32 arrays of n elements:
//     add:   out[i] = a[i] + b[i]
//     scale: out[i] = alpha · x[i]
//     axpy:  y[i]   = alpha · x[i] + y[i]
// Outputs may alias inputs (each element is read before it is written by the same work-item).
// Work-items: one per element, dimension 0; the global size is padded to whole work-groups and guarded.
// Tunables: none (the host picks the work-group size).

__kernel void add(const int n, __global const float *a, __global const float *b, __global float *out) {
    const int i = get_global_id(0);
    if (i < n) out[i] = a[i] + b[i];
}

__kernel void scale(const int n, const float alpha, __global const float *x, __global float *out) {
    const int i = get_global_id(0);
    if (i < n) out[i] = alpha * x[i];
}

__kernel void axpy(const int n, const float alpha, __global const float *x, __global float *y) {
    const int i = get_global_id(0);
    if (i < n) y[i] = fma(alpha, x[i], y[i]);
}
