// plugin.cl — the elementwise part of the categorical plug-in entropy (docs/mathematics.md §3.6): for probabilities P
// (the batch joint z1ᵀz2/B, or the batch marginal),
//     plugin_terms: part[e] = −P[e]·log P[e] (0 where P[e] = 0) and G[e] = ∂H/∂P[e] = −(log max(P[e], 1e-30) + 1).
// The products that form P and carry G back to z1 and z2 run in CLBlast. One work-item per element, padded and
// guarded. Tunables: none.

__kernel void plugin_terms(const int count, __global const float *P, __global float *G, __global float *part) {
    const int e = get_global_id(0);
    if (e >= count) return;
    const float p = P[e];
    part[e] = p > 0.0f ? -p * log(p) : 0.0f;
    G[e] = -(log(fmax(p, 1e-30f)) + 1.0f);
}
