// strided_copy.cl — copies `blocks × rows` runs of `width` contiguous floats between two strided layouts: the
// sliding windows, shifted slices and their gradients of a batch of sequences stored [B, T, d] (CPC's contexts
// z_{t−m+1..t} and targets z_{t+k}, and the scatter of their gradients back onto z):
//     dst[d0 + b·dB + r·dR + j]  =  src[s0 + b·sB + r·sR + j]     (ACCUMULATE 0)
//     dst[d0 + b·dB + r·dR + j] +=  src[s0 + b·sB + r·sR + j]     (ACCUMULATE 1)
// for b < blocks, r < rows, j < width. Source runs may overlap (windows); destination runs may not (the launcher
// checks it), so every work-item owns its output element and accumulation needs no atomics. With ACCUMULATE 0
// the destination is never read. Work-items: one per element, flattened (b, r, j), guarded. Tunables: ACCUMULATE.
#ifndef ACCUMULATE
#define ACCUMULATE 0
#endif

__kernel void strided_copy(const int blocks, const int rows, const int width,
                           const int s0, const int sB, const int sR, const int d0, const int dB, const int dR,
                           __global const float *src, __global float *dst) {
    const int e = get_global_id(0);
    if (e >= blocks * rows * width) return;
    const int j = e % width;
    const int r = (e / width) % rows;
    const int b = e / (width * rows);
    const long from = (long)s0 + (long)b * sB + (long)r * sR + j;
    const long to = (long)d0 + (long)b * dB + (long)r * dR + j;
#if ACCUMULATE
    dst[to] += src[from];
#else
    dst[to] = src[from];
#endif
}
