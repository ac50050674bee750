// Row passes of the fused pairwise log-sum-exp (Kernels/lse.cl's CPU twin): given one block of raw products
// s[j] = <x_i, y_j> of a row i, the similarity is v[j] = a*s[j] + bias[j] (bias may be NULL), and column `skip`
// (or -1 for none) is left out. Vectorised for AVX-512 / AVX2 with a portable fallback, chosen at run time.
#ifndef LDM_CLDMLSE_H
#define LDM_CLDMLSE_H

/// Folds one block into a running log-sum-exp: afterwards *max + log(*sum) = log Σ exp(v) over every block so
/// far. Start with *max = -INFINITY and *sum = 0.
void ldm_lse_block(const float *s, int n, float a, const float *bias, int skip, float *max, float *sum);

/// Backward weights, in place: s[j] <- g * exp(v[j] + shift) (0 at `skip`), shift = row constant - lse.
/// Returns Σ_j of the new s[j].
float ldm_lse_weights(float *s, int n, float a, const float *bias, int skip, float shift, float g);

/// Folds the columns of a rows × columns block (row stride `ld`) into running log-sum-exps, as ldm_lse_block folds
/// the rows of its transpose: column c holds v[r] = a*s[r][c] + bias[r] (bias may be NULL); afterwards
/// max[c] + log(sum[c]) = log Σ exp over every block so far. `scratch` holds 2 * columns floats. No column is
/// skipped (a block of rows against themselves is folded by rows).
void ldm_lse_columns(const float *s, int rows, int columns, int ld, float a, const float *bias, float *max, float *sum,
                     float *scratch);

/// Backward weights of a block and of its transpose together, in place (the one-set path's M = W_IJ + W_JIᵀ):
/// s[r][c] <- row_g[r]*exp(a*s + column_bias[c] + row_shift[r]) + column_g[c]*exp(a*s + row_bias[r] + column_shift[c]),
/// with 0 in column skip_offset + r of row r when skip_offset >= 0 (self-pairs left out). Biases may be NULL.
void ldm_lse_pair_weights(float *s, int rows, int columns, int ld, float a, const float *row_bias,
                          const float *column_bias, const float *row_shift, const float *column_shift, const float *row_g,
                          const float *column_g, int skip_offset);

/// ldm_lse_pair_weights with one exponential per entry, for blocks whose rows' and columns' log-sum-exps lie close
/// together: s[r][c] <- exp(a*s + column_bias[c] + row_bias[r] - shift) * (row_factor[r] + column_factor[c]) with
/// factor_m = g_m*exp(shift - lse_m), which equals the two-exponential form up to rounding; 0 in column
/// skip_offset + r of row r when skip_offset >= 0. Biases may be NULL.
void ldm_lse_pair_weights_shared(float *s, int rows, int columns, int ld, float a, const float *row_bias,
                                 const float *column_bias, float shift, const float *row_factor,
                                 const float *column_factor, int skip_offset);

#endif
