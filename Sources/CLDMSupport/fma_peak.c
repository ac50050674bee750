// The machine's measured FP32 peak: independent FMA chains, enough of them to cover the FMA latency on two
// pipes. Each variant is compiled for its own instruction set and chosen at run time.
#include "CLDMSupport.h"
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define CHAINS 12
#define INNER 4096

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static double peak_avx512(double seconds, float *sink) {
    __m512 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps(1.0f + 0.001f * (float)c);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    long iterations = 0;
    double start = now_seconds(), elapsed;
    do {
        for (int i = 0; i < INNER; i++)
            for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
        iterations += INNER;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);
    __m512 total = acc[0];
    for (int c = 1; c < CHAINS; c++) total = _mm512_add_ps(total, acc[c]);
    *sink = _mm512_reduce_add_ps(total);
    return (double)iterations * CHAINS * 16 * 2 / elapsed;
}

__attribute__((target("avx2,fma")))
static double peak_avx2(double seconds, float *sink) {
    __m256 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps(1.0f + 0.001f * (float)c);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    long iterations = 0;
    double start = now_seconds(), elapsed;
    do {
        for (int i = 0; i < INNER; i++)
            for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
        iterations += INNER;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);
    float lanes[8];
    __m256 total = acc[0];
    for (int c = 1; c < CHAINS; c++) total = _mm256_add_ps(total, acc[c]);
    _mm256_storeu_ps(lanes, total);
    *sink = lanes[0] + lanes[7];
    return (double)iterations * CHAINS * 8 * 2 / elapsed;
}
#endif

static double peak_scalar(double seconds, float *sink) {
    float acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = 1.0f + 0.001f * (float)c;
    long iterations = 0;
    double start = now_seconds(), elapsed;
    do {
        for (int i = 0; i < INNER; i++)
            for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * 0.999999f + 1e-7f;
        iterations += INNER;
        elapsed = now_seconds() - start;
    } while (elapsed < seconds);
    *sink = acc[0];
    return (double)iterations * CHAINS * 2 / elapsed;
}

double ldm_fma_peak_flops(double seconds) {
    volatile float keep;
    float sink = 0;
    double flops;
#if defined(__x86_64__)
    if (ldm_cpu_has_avx512()) flops = peak_avx512(seconds, &sink);
    else if (ldm_cpu_has_avx2_fma()) flops = peak_avx2(seconds, &sink);
    else flops = peak_scalar(seconds, &sink);
#else
    flops = peak_scalar(seconds, &sink);
#endif
    keep = sink;
    (void)keep;
    return flops;
}
