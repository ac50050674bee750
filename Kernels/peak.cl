// peak.cl — the device's measured FP32 peak, for reporting kernels as a share of it.
//     fma_peak: each work-item runs PEAK_CHAINS independent chains of PEAK_ITERATIONS fused multiply-adds
//     (x = x·a + b), each chain PEAK_LANES wide, and stores the sum of every chain and lane so nothing is optimised
//     away; FLOPs = global size · chains · lanes · iters · 2. Chain c, lane l starts at id·1e-9 + 0.1·c + 1e-3·l
//     (distinct lanes, so a compiler cannot fold a vector chain into one scalar).
// Work-items: one-dimensional, any size. Tunables: PEAK_ITERATIONS (default 2048), PEAK_LANES (1, the default,
// for GPUs, whose work-items are the lanes; 16 for CPU devices, whose compilers vectorise explicit vectors far
// better than work-item loops), PEAK_CHAINS fixed at 8.
#ifndef PEAK_ITERATIONS
#define PEAK_ITERATIONS 2048
#endif
#ifndef PEAK_LANES
#define PEAK_LANES 1
#endif

#if PEAK_LANES == 1
typedef float peak_t;
#define PEAK_LANE_OFFSETS 0.0f
#elif PEAK_LANES == 16
typedef float16 peak_t;
#define PEAK_LANE_OFFSETS (1e-3f * (float16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#else
#error "PEAK_LANES must be 1 or 16"
#endif

__kernel void fma_peak(const float a, const float b, __global float *out) {
    const peak_t seed = (peak_t)((float)get_global_id(0) * 1e-9f) + PEAK_LANE_OFFSETS;
    const peak_t va = (peak_t)(a), vb = (peak_t)(b);
    peak_t x0 = seed, x1 = seed + 0.1f, x2 = seed + 0.2f, x3 = seed + 0.3f;
    peak_t x4 = seed + 0.4f, x5 = seed + 0.5f, x6 = seed + 0.6f, x7 = seed + 0.7f;
    for (int i = 0; i < PEAK_ITERATIONS; i++) {
        x0 = fma(x0, va, vb); x1 = fma(x1, va, vb); x2 = fma(x2, va, vb); x3 = fma(x3, va, vb);
        x4 = fma(x4, va, vb); x5 = fma(x5, va, vb); x6 = fma(x6, va, vb); x7 = fma(x7, va, vb);
    }
    const peak_t sum = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7));
#if PEAK_LANES == 1
    out[get_global_id(0)] = sum;
#else
    float lanes[PEAK_LANES];
    vstore16(sum, 0, lanes);
    float total = 0.0f;
    for (int l = 0; l < PEAK_LANES; l++) total += lanes[l];
    out[get_global_id(0)] = total;
#endif
}
