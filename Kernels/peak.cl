// peak.cl — the device's measured FP32 peak, for reporting kernels as a share of it.
//     fma_peak: each work-item runs PEAK_CHAINS independent chains of PEAK_ITERATIONS fused multiply-adds
//     (x = x·a + b) and stores their sum so nothing is optimised away; FLOPs = global size · chains · iters · 2.
// Work-items: one-dimensional, any size. Tunables: PEAK_ITERATIONS (default 2048), PEAK_CHAINS fixed at 8.
#ifndef PEAK_ITERATIONS
#define PEAK_ITERATIONS 2048
#endif

__kernel void fma_peak(const float a, const float b, __global float *out) {
    const float seed = (float)get_global_id(0) * 1e-9f;
    float x0 = seed, x1 = seed + 0.1f, x2 = seed + 0.2f, x3 = seed + 0.3f;
    float x4 = seed + 0.4f, x5 = seed + 0.5f, x6 = seed + 0.6f, x7 = seed + 0.7f;
    for (int i = 0; i < PEAK_ITERATIONS; i++) {
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x2 = fma(x2, a, b); x3 = fma(x3, a, b);
        x4 = fma(x4, a, b); x5 = fma(x5, a, b); x6 = fma(x6, a, b); x7 = fma(x7, a, b);
    }
    out[get_global_id(0)] = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7));
}
