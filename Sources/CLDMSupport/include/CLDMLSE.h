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

#endif
