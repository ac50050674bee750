// mpi_loader.c — see ldm_mpi.h. The handles are Open MPI's: MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM... are the
// addresses of its predefined objects (ompi_mpi_comm_world, ...), MPI_STATUS_IGNORE is NULL, MPI_SUCCESS is 0 and
// MPI_THREAD_SERIALIZED is 2 (mpi.h of Open MPI 4.x and 5.x), so nothing here needs mpi.h at build time.
#include "ldm_mpi.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef void *Handle;

static struct {
    void *library;
    Handle world, types[3], ops[3];
    int (*init_thread)(int *, char ***, int, int *);
    int (*initialized)(int *);
    int (*finalize)(void);
    int (*abort)(Handle, int);
    int (*rank)(Handle, int *);
    int (*size)(Handle, int *);
    int (*iallreduce)(const void *, void *, int, Handle, Handle, Handle, Handle *);
    int (*iallgather)(const void *, int, Handle, void *, int, Handle, Handle, Handle *);
    int (*ibcast)(void *, int, Handle, int, Handle, Handle *);
    int (*ibarrier)(Handle, Handle *);
    int (*test)(Handle *, int *, void *);
    int (*error_string)(int, char *, int *);
} mpi;

static int resolve(void **slot, const char *name, char *message, size_t capacity) {
    *slot = dlsym(mpi.library, name);
    if (*slot == NULL) {
        snprintf(message, capacity, "%s has no symbol %s (ldm needs Open MPI 4 or later)", "libmpi", name);
        return 1;
    }
    return 0;
}

int ldm_mpi_load(const char *library, char *message, size_t capacity) {
    if (mpi.library != NULL) return 0;
    const char *candidates[] = {library, "libmpi.so.40", "libmpi.so"};
    for (size_t i = 0; i < 3 && mpi.library == NULL; ++i) {
        // RTLD_GLOBAL: Open MPI's own plugins, loaded later, resolve libmpi's symbols through the global scope.
        if (candidates[i] != NULL) mpi.library = dlopen(candidates[i], RTLD_NOW | RTLD_GLOBAL);
    }
    if (mpi.library == NULL) {
        const char *why = dlerror();
        snprintf(message, capacity, "cannot load Open MPI's libmpi.so.40 (%s); install openmpi-bin and libopenmpi-dev",
                 why ? why : "not found");
        return 1;
    }
    int failed = 0;
    failed |= resolve(&mpi.world, "ompi_mpi_comm_world", message, capacity);
    failed |= resolve(&mpi.types[LDM_MPI_FLOAT], "ompi_mpi_float", message, capacity);
    failed |= resolve(&mpi.types[LDM_MPI_DOUBLE], "ompi_mpi_double", message, capacity);
    failed |= resolve(&mpi.types[LDM_MPI_BYTE], "ompi_mpi_byte", message, capacity);
    failed |= resolve(&mpi.ops[LDM_MPI_SUM], "ompi_mpi_op_sum", message, capacity);
    failed |= resolve(&mpi.ops[LDM_MPI_MAX], "ompi_mpi_op_max", message, capacity);
    failed |= resolve(&mpi.ops[LDM_MPI_MIN], "ompi_mpi_op_min", message, capacity);
    failed |= resolve((void **)&mpi.init_thread, "MPI_Init_thread", message, capacity);
    failed |= resolve((void **)&mpi.initialized, "MPI_Initialized", message, capacity);
    failed |= resolve((void **)&mpi.finalize, "MPI_Finalize", message, capacity);
    failed |= resolve((void **)&mpi.abort, "MPI_Abort", message, capacity);
    failed |= resolve((void **)&mpi.rank, "MPI_Comm_rank", message, capacity);
    failed |= resolve((void **)&mpi.size, "MPI_Comm_size", message, capacity);
    failed |= resolve((void **)&mpi.iallreduce, "MPI_Iallreduce", message, capacity);
    failed |= resolve((void **)&mpi.iallgather, "MPI_Iallgather", message, capacity);
    failed |= resolve((void **)&mpi.ibcast, "MPI_Ibcast", message, capacity);
    failed |= resolve((void **)&mpi.ibarrier, "MPI_Ibarrier", message, capacity);
    failed |= resolve((void **)&mpi.test, "MPI_Test", message, capacity);
    failed |= resolve((void **)&mpi.error_string, "MPI_Error_string", message, capacity);
    if (failed) {
        dlclose(mpi.library);
        mpi.library = NULL;
        return 1;
    }
    return 0;
}

int ldm_mpi_init(int *rank, int *size) {
    if (mpi.library == NULL) return LDM_MPI_NOT_LOADED;
    int initialized = 0, provided = 0, code = mpi.initialized(&initialized);
    if (code == 0 && !initialized) code = mpi.init_thread(NULL, NULL, 2 /* MPI_THREAD_SERIALIZED */, &provided);
    if (code == 0) code = mpi.rank(mpi.world, rank);
    if (code == 0) code = mpi.size(mpi.world, size);
    return code;
}

int ldm_mpi_finalize(void) { return mpi.library == NULL ? LDM_MPI_NOT_LOADED : mpi.finalize(); }

void ldm_mpi_abort(int code) {
    if (mpi.library != NULL) mpi.abort(mpi.world, code);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/// Polls `request` until it completes or `timeout` seconds pass: a short spin (collectives between ranks on one
/// host finish in microseconds), then sleeps growing to 1 ms so a rank waiting for a slow peer leaves the cores
/// to it.
static int wait_for(Handle request, double timeout) {
    const double deadline = now() + timeout;
    long sleep = 0;
    for (int polls = 0;; ++polls) {
        int done = 0, code = mpi.test(&request, &done, NULL);
        if (code != 0) return code;
        if (done) return 0;
        if (polls > 1000) {
            if (now() > deadline) return LDM_MPI_TIMEOUT;
            sleep = sleep < 1000000 ? sleep + 20000 : 1000000;
            struct timespec pause = {0, sleep};
            nanosleep(&pause, NULL);
        }
    }
}

int ldm_mpi_allreduce(void *buffer, int count, int type, int op, double timeout) {
    if (mpi.library == NULL) return LDM_MPI_NOT_LOADED;
    Handle request = NULL;
    int code = mpi.iallreduce((const void *)1 /* MPI_IN_PLACE */, buffer, count, mpi.types[type], mpi.ops[op], mpi.world, &request);
    return code != 0 ? code : wait_for(request, timeout);
}

int ldm_mpi_allgather(const void *send, void *receive, int count, int type, double timeout) {
    if (mpi.library == NULL) return LDM_MPI_NOT_LOADED;
    Handle request = NULL;
    int code = mpi.iallgather(send, count, mpi.types[type], receive, count, mpi.types[type], mpi.world, &request);
    return code != 0 ? code : wait_for(request, timeout);
}

int ldm_mpi_broadcast(void *buffer, int count, int type, int root, double timeout) {
    if (mpi.library == NULL) return LDM_MPI_NOT_LOADED;
    Handle request = NULL;
    int code = mpi.ibcast(buffer, count, mpi.types[type], root, mpi.world, &request);
    return code != 0 ? code : wait_for(request, timeout);
}

int ldm_mpi_barrier(double timeout) {
    if (mpi.library == NULL) return LDM_MPI_NOT_LOADED;
    Handle request = NULL;
    int code = mpi.ibarrier(mpi.world, &request);
    return code != 0 ? code : wait_for(request, timeout);
}

void ldm_mpi_error_string(int code, char *message, size_t capacity) {
    if (code == LDM_MPI_TIMEOUT) { snprintf(message, capacity, "timed out"); return; }
    if (code == LDM_MPI_NOT_LOADED || mpi.library == NULL) { snprintf(message, capacity, "Open MPI is not loaded"); return; }
    char text[512];
    int length = 0;
    if (mpi.error_string(code, text, &length) != 0) length = snprintf(text, sizeof text, "MPI error %d", code);
    snprintf(message, capacity, "%.*s", length, text);
}
