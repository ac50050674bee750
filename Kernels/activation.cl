// activation.cl — pointwise non-linearities and their derivatives on flat float32 arrays of n elements:
//     activation:          y[i]  = act(x[i])
//     activation_backward: dx[i] = act'(x[i]) · dy[i]
// act is chosen by the ACT define: 0 relu (derivative 0 at 0, as PyTorch), 1 tanh, 2 gelu (exact: x·Φ(x)),
// 3 absolute value (derivative sign(x), 0 at 0: the positive weights of the noise network), 4 log(x + 1e-5) (the
// floor the noise network adds to a variance before the filter takes its log; x must be > −1e-5).
// Outputs may alias inputs. Work-items: one per element, guarded. Tunables: ACT.
#ifndef ACT
#define ACT 0
#endif

static float act(const float x) {
#if ACT == 0
    return fmax(x, 0.0f);
#elif ACT == 1
    return tanh(x);
#elif ACT == 2
    return 0.5f * x * (1.0f + erf(x * 0.70710678118654752f));
#elif ACT == 3
    return fabs(x);
#else
    return log(x + 1e-5f);
#endif
}

static float act_derivative(const float x) {
#if ACT == 0
    return x > 0.0f ? 1.0f : 0.0f;
#elif ACT == 1
    const float t = tanh(x);
    return 1.0f - t * t;
#elif ACT == 2
    return 0.5f * (1.0f + erf(x * 0.70710678118654752f)) + x * 0.39894228040143268f * exp(-0.5f * x * x);
#elif ACT == 3
    return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
#else
    return 1.0f / (x + 1e-5f);
#endif
}

__kernel void activation(const int n, __global const float *x, __global float *y) {
    const int i = get_global_id(0);
    if (i < n) y[i] = act(x[i]);
}

__kernel void activation_backward(const int n, __global const float *x, __global const float *dy,
                                  __global float *dx) {
    const int i = get_global_id(0);
    if (i < n) dx[i] = act_derivative(x[i]) * dy[i];
}
