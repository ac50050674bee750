// optimizer.cl — one optimiser update per parameter element, in place:
//     adam: g ← grad + wd·p (coupled) or p ← p − lr·wd·p (decoupled, AdamW); m ← β1·m + (1 − β1)·g;
//           v ← β2·v + (1 − β2)·g²; p ← p − lr·(m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)
//     sgd:  v ← μ·v + grad + wd·p; p ← p − lr·v   (PyTorch's momentum form)
// The bias corrections 1 − β^t are computed on the host and passed in. Work-items: one per element, guarded.
// Tunables: none.

__kernel void adam(const int n, const float lr, const float beta1, const float beta2, const float epsilon,
                   const float weightDecay, const int decoupled, const float correction1, const float correction2,
                   __global float *p, __global const float *grad, __global float *m, __global float *v) {
    const int i = get_global_id(0);
    if (i >= n) return;
    float value = p[i], g = grad[i];
    if (decoupled) value -= lr * weightDecay * value; else g += weightDecay * value;
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] = value - lr * (mi / correction1) / (sqrt(vi / correction2) + epsilon);
}

__kernel void sgd(const int n, const float lr, const float momentum, const float weightDecay,
                  __global float *p, __global const float *grad, __global float *velocity) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float vi = momentum * velocity[i] + grad[i] + weightDecay * p[i];
    velocity[i] = vi;
    p[i] -= lr * vi;
}
