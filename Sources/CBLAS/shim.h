// OpenBLAS's CBLAS interface (Debian: libopenblas-dev), plus the few OpenBLAS-specific entry points we use
// to pick its kernel set at run time (see CLDMSupport/openblas_setup.c).
#ifndef LDM_CBLAS_SHIM_H
#define LDM_CBLAS_SHIM_H
#include <cblas.h>
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);
// LAPACK's Cholesky factorisation (Fortran interface; OpenBLAS bundles LAPACK). Column-major.
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
// LAPACK's general eigenvalue routine (column-major), for the learned transition's eigenvalues.
void dgeev_(const char *jobvl, const char *jobvr, const int *n, double *a, const int *lda, double *wr, double *wi,
            double *vl, const int *ldvl, double *vr, const int *ldvr, double *work, const int *lwork, int *info);
#endif
