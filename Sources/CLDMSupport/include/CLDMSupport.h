// C helpers for the CPU backend: things Swift cannot say directly (CPU feature tests, OpenBLAS's kernel
// table, hand-vectorised peak loops).
#ifndef LDM_CLDMSUPPORT_H
#define LDM_CLDMSUPPORT_H

#include "CLDMLSE.h"

/// 1 when the CPU has AVX-512 F/BW/DQ/VL (what OpenBLAS's SkylakeX kernels need), else 0.
int ldm_cpu_has_avx512(void);

/// 1 when the CPU has AVX2 and FMA, else 0.
int ldm_cpu_has_avx2_fma(void);

/// The CPUs this process may run on (its affinity mask: mpirun binds each rank to its cores), or 0 if unknown.
int ldm_cpu_available(void);

/// Makes OpenBLAS use the widest kernels the CPU can run when it does not recognise the CPU (OpenBLAS 0.3.21,
/// Debian 12's, takes AMD Zen 5 for Haswell, halving SGEMM speed, and a virtualised Xeon of a GPU host for
/// Prescott): SkylakeX with AVX-512, Haswell with AVX2+FMA. Leaves the choice alone when the user set
/// OPENBLAS_CORETYPE. Must run before any other thread calls OpenBLAS.
/// Returns OpenBLAS's core name after the choice.
const char *ldm_openblas_select_kernels(void);

/// Runs independent fused multiply-adds on this thread for about `seconds` and returns the FLOP/s reached
/// (2 per FMA lane), using the widest vectors the CPU has. Call on every core at once for the machine's peak.
double ldm_fma_peak_flops(double seconds);

#endif
