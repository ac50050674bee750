// CPU feature tests and OpenBLAS kernel selection. See CLDMSupport.h.
#define _GNU_SOURCE
#include "CLDMSupport.h"
#include <sched.h>
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);

int ldm_cpu_has_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

int ldm_cpu_has_avx2_fma(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/// 1 when `name` is one of OpenBLAS's kernel sets in `list` (a NULL-terminated array).
static int is_one_of(const char *name, const char *const *list) {
    for (; *list != NULL; list++)
        if (name != NULL && strcmp(name, *list) == 0) return 1;
    return 0;
}

const char *ldm_openblas_select_kernels(void) {
    const char *current = openblas_get_corename();
    if (getenv("OPENBLAS_CORETYPE") != NULL) return current;   // the user's explicit choice wins
    // Kernel sets at least as wide as what the CPU can run; anything else is a fallback to upgrade from.
    static const char *const avx512_sets[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    static const char *const avx2_sets[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    const char *wanted = NULL;
    if (ldm_cpu_has_avx512() && !is_one_of(current, avx512_sets)) wanted = "SkylakeX";
    else if (!ldm_cpu_has_avx512() && ldm_cpu_has_avx2_fma() && !is_one_of(current, avx2_sets)) wanted = "Haswell";
    if (wanted == NULL) return current;
    // gotoblas_dynamic_init() reads OPENBLAS_CORETYPE (OpenBLAS's documented override) and fills the table.
    gotoblas_dynamic_quit();
    setenv("OPENBLAS_CORETYPE", wanted, 1);
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
    return openblas_get_corename();
}

int ldm_cpu_available(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}
