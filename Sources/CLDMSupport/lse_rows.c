// Row passes of the fused pairwise log-sum-exp; see CLDMLSE.h.
//
// Written with clang vector types of 16 floats so partial maxima and sums live in registers (one AVX-512
// register, two AVX2 ones); each function is compiled for AVX-512, x86-64-v3 (AVX2 with FMA) and baseline x86-64
// and picked at run time. The exp is branch-free: range reduction x = n·ln2 + f with ln2 split in two
// (Cody–Waite), exp(f) by the degree-6 minimax polynomial of Cephes' expf (relative error about 1e-7), 2^n from
// the exponent bits.
#include "CLDMLSE.h"
#include <math.h>

// No fused multiply-adds for a·s + bias: with distances, the CPU's one-set path relies on 2c·n − c·n − c·n
// cancelling exactly for a row's similarity to itself, which rounding a·s before the add guarantees.
#pragma STDC FP_CONTRACT OFF
#include <stdint.h>
#include <string.h>

typedef float vf __attribute__((ext_vector_type(16)));
typedef int32_t vi __attribute__((ext_vector_type(16)));
#define LANES 16
#define CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))

// Helpers are macros (GNU statement expressions), not functions: a function taking or returning a 16-float
// vector has a different calling convention in each clone, which the compiler refuses.

// The reduction and the polynomial use explicit fused multiply-adds (the pragma above keeps the compiler from
// contracting anything else): half the instructions of separate products and sums, and the exp is what bounds
// the folds (about one AVX-512 instruction per element at 30 per 16 lanes).
#define FMA(a, b, c) __builtin_elementwise_fma((a), (b), (c))
#define VEXP(input) ({                                                                          \
    vf x_ = __builtin_elementwise_max(__builtin_elementwise_min((input), (vf)88.0f), (vf)-87.0f); \
    const vf n_ = __builtin_elementwise_roundeven(x_ * 1.44269504088896341f);                 \
    const vf f_ = FMA(n_, (vf)2.12194440e-4f, FMA(n_, (vf)-0.693359375f, x_));                 \
    vf p_ = (vf)1.9875691500e-4f;                                                               \
    p_ = FMA(p_, f_, (vf)1.3981999507e-3f);                                                     \
    p_ = FMA(p_, f_, (vf)8.3334519073e-3f);                                                     \
    p_ = FMA(p_, f_, (vf)4.1665795894e-2f);                                                     \
    p_ = FMA(p_, f_, (vf)1.6666665459e-1f);                                                     \
    p_ = FMA(p_, f_, (vf)5.0000001201e-1f);                                                     \
    p_ = FMA(p_, f_ * f_, f_ + 1.0f);                                                           \
    const vi bits_ = (__builtin_convertvector(n_, vi) + 127) << 23;                             \
    p_ * __builtin_bit_cast(vf, bits_);                                                         \
})

/// v = a·s + bias for lanes j..j+15.
#define VALUES(s, j, a, bias) ({                                                                \
    vf v_;                                                                                      \
    memcpy(&v_, (s) + (j), sizeof v_);                                                          \
    v_ *= (a);                                                                                  \
    if (bias) { vf b_; memcpy(&b_, (bias) + (j), sizeof b_); v_ += b_; }                        \
    v_;                                                                                         \
})

/// `v` in lanes whose column is not `skip`, `otherwise` in the skipped one.
#define MASKED(v, j, skip, otherwise) ({                                                        \
    const vi keep_ = ((vi){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15} + (j)) != (skip); \
    __builtin_bit_cast(vf, (__builtin_bit_cast(vi, (v)) & keep_) |                              \
                           (__builtin_bit_cast(vi, (vf)(otherwise)) & ~keep_));                \
})

/// exp of one float through the vector code (lane 0), for the tail of a row.
#define SEXP(x) (VEXP((vf)(x))[0])

CLONES
void ldm_lse_block(const float *s, int n, float a, const float *bias, int skip, float *max, float *sum) {
    vf lane_max = (vf)-INFINITY;
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        lane_max = __builtin_elementwise_max(lane_max, MASKED(VALUES(s, j, a, bias), j, skip, -INFINITY));
    float block_max = -INFINITY;
    for (int l = 0; l < LANES; l++) block_max = lane_max[l] > block_max ? lane_max[l] : block_max;
    for (int t = j; t < n; t++) {
        const float v = a * s[t] + (bias ? bias[t] : 0.0f);
        block_max = (t != skip && v > block_max) ? v : block_max;
    }
    if (block_max == -INFINITY) return;   // nothing (or only the skipped column) in this block
    const float new_max = block_max > *max ? block_max : *max;

    vf lane_sum = (vf)0.0f;
    for (j = 0; j + LANES <= n; j += LANES)
        lane_sum += MASKED(VEXP(VALUES(s, j, a, bias) - new_max), j, skip, 0.0f);
    float total = 0.0f;
    for (int l = 0; l < LANES; l++) total += lane_sum[l];
    for (int t = j; t < n; t++)
        if (t != skip) total += SEXP(a * s[t] + (bias ? bias[t] : 0.0f) - new_max);

    *sum = (*max == -INFINITY ? 0.0f : *sum * SEXP(*max - new_max)) + total;
    *max = new_max;
}

CLONES
float ldm_lse_weights(float *s, int n, float a, const float *bias, int skip, float shift, float g) {
    vf lane_sum = (vf)0.0f;
    int j = 0;
    for (; j + LANES <= n; j += LANES) {
        const vf w = MASKED(VEXP(VALUES(s, j, a, bias) + shift) * g, j, skip, 0.0f);
        memcpy(s + j, &w, sizeof w);
        lane_sum += w;
    }
    float total = 0.0f;
    for (int l = 0; l < LANES; l++) total += lane_sum[l];
    for (int t = j; t < n; t++) {
        const float w = (t == skip) ? 0.0f : g * SEXP(a * s[t] + (bias ? bias[t] : 0.0f) + shift);
        s[t] = w;
        total += w;
    }
    return total;
}

CLONES
void ldm_lse_columns(const float *s, int rows, int columns, int ld, float a, const float *bias, float *max, float *sum,
                     float *scratch) {
    float *block_max = scratch, *total = scratch + columns;
    for (int c = 0; c < columns; c++) { block_max[c] = -INFINITY; total[c] = 0.0f; }
    for (int r = 0; r < rows; r++) {
        const float *row = s + (long)r * ld, b = bias ? bias[r] : 0.0f;
        int c = 0;
        for (; c + LANES <= columns; c += LANES) {
            vf v, m;
            memcpy(&v, row + c, sizeof v);
            memcpy(&m, block_max + c, sizeof m);
            m = __builtin_elementwise_max(m, v * a + b);
            memcpy(block_max + c, &m, sizeof m);
        }
        for (; c < columns; c++) {
            const float v = a * row[c] + b;
            block_max[c] = v > block_max[c] ? v : block_max[c];
        }
    }
    for (int c = 0; c < columns; c++) block_max[c] = block_max[c] > max[c] ? block_max[c] : max[c];
    for (int r = 0; r < rows; r++) {
        const float *row = s + (long)r * ld, b = bias ? bias[r] : 0.0f;
        int c = 0;
        for (; c + LANES <= columns; c += LANES) {
            vf v, m, t;
            memcpy(&v, row + c, sizeof v);
            memcpy(&m, block_max + c, sizeof m);
            memcpy(&t, total + c, sizeof t);
            t += VEXP(v * a + b - m);
            memcpy(total + c, &t, sizeof t);
        }
        for (; c < columns; c++) total[c] += SEXP(a * row[c] + b - block_max[c]);
    }
    for (int c = 0; c < columns; c++) {
        sum[c] = (max[c] == -INFINITY ? 0.0f : sum[c] * SEXP(max[c] - block_max[c])) + total[c];
        max[c] = block_max[c];
    }
}

CLONES
void ldm_lse_pair_weights(float *s, int rows, int columns, int ld, float a, const float *row_bias,
                          const float *column_bias, const float *row_shift, const float *column_shift, const float *row_g,
                          const float *column_g, int skip_offset) {
    for (int r = 0; r < rows; r++) {
        float *row = s + (long)r * ld;
        const float rb = row_bias ? row_bias[r] : 0.0f, rs = row_shift[r], rg = row_g[r];
        const int skip = skip_offset < 0 ? -1 : skip_offset + r;
        int c = 0;
        for (; c + LANES <= columns; c += LANES) {
            vf v, cb = (vf)0.0f, cs, cg;
            memcpy(&v, row + c, sizeof v);
            if (column_bias) memcpy(&cb, column_bias + c, sizeof cb);
            memcpy(&cs, column_shift + c, sizeof cs);
            memcpy(&cg, column_g + c, sizeof cg);
            const vf scaled = v * a;
            const vf w = VEXP(scaled + cb + rs) * rg + VEXP(scaled + rb + cs) * cg;
            const vf kept = MASKED(w, c, skip, 0.0f);
            memcpy(row + c, &kept, sizeof kept);
        }
        for (; c < columns; c++) {
            const float scaled = a * row[c];
            const float w = rg * SEXP(scaled + (column_bias ? column_bias[c] : 0.0f) + rs)
                          + column_g[c] * SEXP(scaled + rb + column_shift[c]);
            row[c] = c == skip ? 0.0f : w;
        }
    }
}

CLONES
void ldm_lse_pair_weights_shared(float *s, int rows, int columns, int ld, float a, const float *row_bias,
                                 const float *column_bias, float shift, const float *row_factor,
                                 const float *column_factor, int skip_offset) {
    for (int r = 0; r < rows; r++) {
        float *row = s + (long)r * ld;
        const float rf = row_factor[r], rb = (row_bias ? row_bias[r] : 0.0f) - shift;
        const int skip = skip_offset < 0 ? -1 : skip_offset + r;
        int c = 0;
        for (; c + LANES <= columns; c += LANES) {
            vf cf;
            memcpy(&cf, column_factor + c, sizeof cf);
            const vf w = MASKED(VEXP(VALUES(row, c, a, column_bias) + rb) * (cf + rf), c, skip, 0.0f);
            memcpy(row + c, &w, sizeof w);
        }
        for (; c < columns; c++) {
            const float v = a * row[c] + (column_bias ? column_bias[c] : 0.0f) + rb;
            row[c] = c == skip ? 0.0f : SEXP(v) * (column_factor[c] + rf);
        }
    }
}
