// augment.cl — two augmented views of each image of a batch, made on the device from a counter-based generator
// (the definition, with the order of the steps, is AugmentShape in ImageKernelShapes.swift). Images [B, H, W, C]
// with values in [0, 1]; view v < B is image v's first view, view B + v its second.
//     augment_parameters: per view, 8 values: crop corner x₀, y₀, crop width w and height h (a random resized crop:
//                         area share s ~ U(scale), log aspect ~ U(log ratio), up to 10 attempts, else the whole
//                         image), flip (0 or 1), brightness factor b, contrast factor c, the source image's mean m̄
//     augment_apply:      views[v, i, j, ch] = normalise(noise(contrast(brightness(bilinear(crop, flip)))))
// The generator: uniform(seed, counter, stream = view, draw) = 24 bits of three SplitMix64 rounds (CounterRandom in
// Swift computes the identical bits), so no random numbers travel to the device and every backend makes the same
// views. Draws 0–19: crop attempts; 20, 21: corner; 22: flip; 23: brightness; 24: contrast; 32 + 2·e, 33 + 2·e:
// the Box–Muller pair of output value e of the view. Work-items: one per view, then one per output value.
// A batch that is one rank's share of a larger batch (images firstImage… of totalBatch) draws from the larger
// batch's streams: image i's first view is stream firstImage + i, its second totalBatch + firstImage + i.

static ulong mix64(ulong z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    return z ^ (z >> 31);
}

static float uniform(const ulong seed, const ulong counter, const uint stream, const uint draw) {
    ulong z = mix64(seed + 0x9E3779B97F4A7C15UL * (counter + 1UL));
    z = mix64(z ^ ((ulong)stream * 0xD1B54A32D192ED03UL + 1UL));
    z = mix64(z + (ulong)draw * 0x8CB92BA72F3D8DD7UL);
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

/// The generator stream of view `view` of this batch (see above).
static uint stream_of(const int view, const int batch, const int firstImage, const int totalBatch) {
    return (uint)(view + firstImage + (view >= batch ? totalBatch - batch : 0));
}

__kernel void augment_parameters(const int batch, const int height, const int width, const int channels,
                                 const int firstImage, const int totalBatch,
                                 const float scaleLow, const float scaleHigh, const float logRatioLow,
                                 const float logRatioHigh, const float flipProbability, const float brightness,
                                 const float contrast, const uint seedLow, const uint seedHigh, const uint counterLow,
                                 const uint counterHigh, __global const float *images, __global float *parameters) {
    const int view = get_global_id(0);
    if (view >= 2 * batch) return;
    const ulong seed = ((ulong)seedHigh << 32) | seedLow, counter = ((ulong)counterHigh << 32) | counterLow;
    const uint stream = stream_of(view, batch, firstImage, totalBatch);
    const float area = (float)height * (float)width;
    float w = (float)width, h = (float)height;
    for (int attempt = 0; attempt < 10; ++attempt) {
        const float s = scaleLow + (scaleHigh - scaleLow) * uniform(seed, counter, stream, 2 * attempt);
        const float r = exp(logRatioLow + (logRatioHigh - logRatioLow) * uniform(seed, counter, stream, 2 * attempt + 1));
        const float cw = sqrt(s * area * r), ch = sqrt(s * area / r);
        if (cw <= (float)width && ch <= (float)height) { w = cw; h = ch; break; }
    }
    const int image = view % batch, count = height * width * channels;
    float sum = 0.0f;
    for (int k = 0; k < count; ++k) sum += images[(size_t)image * count + k];
    __global float *p = parameters + view * 8;
    p[0] = uniform(seed, counter, stream, 20) * ((float)width - w);
    p[1] = uniform(seed, counter, stream, 21) * ((float)height - h);
    p[2] = w;
    p[3] = h;
    p[4] = uniform(seed, counter, stream, 22) < flipProbability ? 1.0f : 0.0f;
    p[5] = 1.0f + brightness * (2.0f * uniform(seed, counter, stream, 23) - 1.0f);
    p[6] = 1.0f + contrast * (2.0f * uniform(seed, counter, stream, 24) - 1.0f);
    p[7] = sum / (float)count;
}

__kernel void augment_apply(const int batch, const int height, const int width, const int channels,
                            const int outHeight, const int outWidth, const int firstImage, const int totalBatch,
                            const float noise, const float mean,
                            const float standardDeviation, const uint seedLow, const uint seedHigh,
                            const uint counterLow, const uint counterHigh, __global const float *images,
                            __global const float *parameters, __global float *views) {
    const int e = get_global_id(0);
    const int perView = outHeight * outWidth * channels;
    if (e >= 2 * batch * perView) return;
    const int view = e / perView, within = e % perView;
    const int c = within % channels, t = within / channels;
    const int j = t % outWidth, i = t / outWidth;
    __global const float *p = parameters + view * 8;
    const int column = p[4] > 0.5f ? outWidth - 1 - j : j;
    const float sx = clamp(p[0] + ((float)column + 0.5f) * p[2] / (float)outWidth - 0.5f, 0.0f, (float)(width - 1));
    const float sy = clamp(p[1] + ((float)i + 0.5f) * p[3] / (float)outHeight - 0.5f, 0.0f, (float)(height - 1));
    const int x0 = (int)floor(sx), y0 = (int)floor(sy);
    const int x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1);
    const float fx = sx - (float)x0, fy = sy - (float)y0;
    __global const float *image = images + (size_t)(view % batch) * height * width * channels;
    const float top = (1.0f - fx) * image[(y0 * width + x0) * channels + c] + fx * image[(y0 * width + x1) * channels + c];
    const float bottom = (1.0f - fx) * image[(y1 * width + x0) * channels + c] + fx * image[(y1 * width + x1) * channels + c];
    float value = (1.0f - fy) * top + fy * bottom;
    value = clamp(value * p[5], 0.0f, 1.0f);
    value = clamp(p[6] * value + (1.0f - p[6]) * p[5] * p[7], 0.0f, 1.0f);
    if (noise > 0.0f) {
        const ulong seed = ((ulong)seedHigh << 32) | seedLow, counter = ((ulong)counterHigh << 32) | counterLow;
        const uint draw = 32u + 2u * (uint)within;
        const uint stream = stream_of(view, batch, firstImage, totalBatch);
        const float u1 = 1.0f - uniform(seed, counter, stream, draw);
        const float u2 = uniform(seed, counter, stream, draw + 1u);
        value += noise * sqrt(-2.0f * log(u1)) * cos(6.283185307179586f * u2);
    }
    views[e] = (value - mean) / standardDeviation;
}
