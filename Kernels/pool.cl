// pool.cl — window pooling and global average pooling of NHWC tensors (layouts in ImageKernelShapes.swift). For
// x [N, H, W, C], a window × window window at stride s, padded by p (p ≤ window/2, so every window holds inputs):
//     pool_forward (MAX 1): y[n, i, j, c] = max over the window's inputs x[n, i·s − p + u, j·s − p + v, c]
//     pool_forward (MAX 0): y[n, i, j, c] = (Σ over the window's inputs) / window²   (padding counts as zeros)
//     pool_backward:        dx[n, y, x, c] = Σ over the windows holding (y, x) of dy[n, i, j, c] · (max: 1 when
//                           (y, x) is the window's first maximal input in row-major order; average: 1/window²)
// The backward is a gather: each input value finds the windows holding it (and, for max, the window's maximum
// again from x), so no two work-items write one address. Global average pooling of x [N, P, C] (P = H·W):
//     global_average_pool:          y[n, c] = (1/P)·Σ_p x[n, p, c]
//     global_average_pool_backward: dx[n, p, c] = dy[n, c] / P
// Work-items: one per output element (per input element in the backwards), guarded. Tunables: MAX.
#ifndef MAX
#define MAX 1
#endif

__kernel void pool_forward(const int batch, const int height, const int width, const int channels, const int window,
                           const int stride, const int padding, const int outHeight, const int outWidth,
                           __global const float *x, __global float *y) {
    const int e = get_global_id(0);
    if (e >= batch * outHeight * outWidth * channels) return;
    const int c = e % channels, t = e / channels;
    const int j = t % outWidth, ni = t / outWidth;
    const int i = ni % outHeight, n = ni / outHeight;
#if MAX
    float best = -INFINITY;
#else
    float sum = 0.0f;
#endif
    for (int u = 0; u < window; ++u) {
        const int yy = i * stride - padding + u;
        if (yy < 0 || yy >= height) continue;
        for (int v = 0; v < window; ++v) {
            const int xx = j * stride - padding + v;
            if (xx < 0 || xx >= width) continue;
            const float value = x[((n * height + yy) * width + xx) * channels + c];
#if MAX
            if (value > best) best = value;
#else
            sum += value;
#endif
        }
    }
#if MAX
    y[e] = best;
#else
    y[e] = sum / (float)(window * window);
#endif
}

#if MAX
// The input (row-major offset u·window + v) holding the first maximum of window (i, j), channel c.
static int first_maximum(__global const float *x, const int n, const int i, const int j, const int c, const int height,
                         const int width, const int channels, const int window, const int stride, const int padding) {
    float best = -INFINITY;
    int where = -1;
    for (int u = 0; u < window; ++u) {
        const int yy = i * stride - padding + u;
        if (yy < 0 || yy >= height) continue;
        for (int v = 0; v < window; ++v) {
            const int xx = j * stride - padding + v;
            if (xx < 0 || xx >= width) continue;
            const float value = x[((n * height + yy) * width + xx) * channels + c];
            if (where < 0 || value > best) { best = value; where = u * window + v; }
        }
    }
    return where;
}
#endif

__kernel void pool_backward(const int batch, const int height, const int width, const int channels, const int window,
                            const int stride, const int padding, const int outHeight, const int outWidth,
                            __global const float *x, __global const float *dy, __global float *dx) {
    const int e = get_global_id(0);
    if (e >= batch * height * width * channels) return;
    const int c = e % channels, t = e / channels;
    const int xx = t % width, ny = t / width;
    const int yy = ny % height, n = ny / height;
    float sum = 0.0f;
    for (int u = 0; u < window; ++u) {
        const int is = yy + padding - u;
        if (is < 0 || is % stride != 0) continue;
        const int i = is / stride;
        if (i >= outHeight) continue;
        for (int v = 0; v < window; ++v) {
            const int js = xx + padding - v;
            if (js < 0 || js % stride != 0) continue;
            const int j = js / stride;
            if (j >= outWidth) continue;
            const float g = dy[((n * outHeight + i) * outWidth + j) * channels + c];
#if MAX
            if (first_maximum(x, n, i, j, c, height, width, channels, window, stride, padding) == u * window + v) sum += g;
#else
            sum += g;
#endif
        }
    }
#if MAX
    dx[e] = sum;
#else
    dx[e] = sum / (float)(window * window);
#endif
}

__kernel void global_average_pool(const int batch, const int positions, const int channels, __global const float *x,
                                  __global float *y) {
    const int e = get_global_id(0);
    if (e >= batch * channels) return;
    const int c = e % channels, n = e / channels;
    float sum = 0.0f;
    for (int p = 0; p < positions; ++p) sum += x[((size_t)n * positions + p) * channels + c];
    y[e] = sum / (float)positions;
}

__kernel void global_average_pool_backward(const int batch, const int positions, const int channels,
                                           __global const float *dy, __global float *dx) {
    const int e = get_global_id(0);
    if (e >= batch * positions * channels) return;
    const int c = e % channels, n = e / (positions * channels);
    dx[e] = dy[n * channels + c] / (float)positions;
}
