// conv2d.cl — the pieces of a 2-D convolution on NHWC tensors (layouts in ImageKernelShapes.swift). With
// x [N, H, W, Cin], a square K × K filter bank w [Cout, K, K, Cin], stride s and zero padding p:
//     conv2d_im2col:       columns[r, q] = x[n, i·s − p + u, j·s − p + v, c]   (0 outside the image)
//                          r = (n·Ho + i)·Wo + j,  q = (u·K + v)·Cin + c
// so y = columns · wᵀ (the backend's matmul) is the convolution [N·Ho·Wo, Cout]. Its adjoint:
//     conv2d_col2im:       dx[n, y, x, c] = Σ_{u, v : y = i·s − p + u, x = j·s − p + v} dcolumns[r(n, i, j), q(u, v, c)]
// written as a gather (one work-item per input value sums the entries it was copied to), so no two work-items write
// one address and the sum's order is fixed. The bias and its gradient on the [rows, C] view:
//     conv2d_add_bias:     y[r, c] += b[c]
//     conv2d_channel_sums: db[c] = Σ_r dy[r, c]
// Work-items: one per output element, guarded, except channel sums (one per channel, walking the rows with
// neighbouring items on neighbouring addresses). 32-bit indices (the checked entry points bound every tensor).

__kernel void conv2d_im2col(const int batch, const int height, const int width, const int channels,
                            const int kernelSize, const int stride, const int padding, const int outHeight,
                            const int outWidth, __global const float *x, __global float *columns) {
    const int patch = kernelSize * kernelSize * channels;
    const int e = get_global_id(0);
    if (e >= batch * outHeight * outWidth * patch) return;
    const int q = e % patch, r = e / patch;
    const int c = q % channels, uv = q / channels;
    const int u = uv / kernelSize, v = uv % kernelSize;
    const int j = r % outWidth, ni = r / outWidth;
    const int i = ni % outHeight, n = ni / outHeight;
    const int y = i * stride - padding + u, xx = j * stride - padding + v;
    columns[e] = (y >= 0 && y < height && xx >= 0 && xx < width) ? x[((n * height + y) * width + xx) * channels + c] : 0.0f;
}

__kernel void conv2d_col2im(const int batch, const int height, const int width, const int channels,
                            const int kernelSize, const int stride, const int padding, const int outHeight,
                            const int outWidth, __global const float *columns, __global float *dx) {
    const int e = get_global_id(0);
    if (e >= batch * height * width * channels) return;
    const int c = e % channels, t = e / channels;
    const int xx = t % width, ny = t / width;
    const int y = ny % height, n = ny / height;
    const int patch = kernelSize * kernelSize * channels;
    float sum = 0.0f;
    for (int u = 0; u < kernelSize; ++u) {
        const int is = y + padding - u;
        if (is < 0 || is % stride != 0) continue;
        const int i = is / stride;
        if (i >= outHeight) continue;
        for (int v = 0; v < kernelSize; ++v) {
            const int js = xx + padding - v;
            if (js < 0 || js % stride != 0) continue;
            const int j = js / stride;
            if (j >= outWidth) continue;
            sum += columns[((n * outHeight + i) * outWidth + j) * patch + (u * kernelSize + v) * channels + c];
        }
    }
    dx[e] = sum;
}

__kernel void conv2d_add_bias(const int rows, const int channels, __global const float *bias, __global float *y) {
    const int e = get_global_id(0);
    if (e >= rows * channels) return;
    y[e] += bias[e % channels];
}

__kernel void conv2d_channel_sums(const int rows, const int channels, __global const float *x, __global float *sums) {
    const int c = get_global_id(0);
    if (c >= channels) return;
    float sum = 0.0f;
    for (int r = 0; r < rows; ++r) sum += x[(size_t)r * channels + c];
    sums[c] = sum;
}
