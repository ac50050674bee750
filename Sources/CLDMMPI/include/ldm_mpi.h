// ldm_mpi.h — Open MPI loaded at run time. `ldm` links no MPI library: a plain run never touches MPI, and a run
// started by mpirun loads libmpi.so.40 with dlopen and calls it through these functions. Each collective starts
// non-blocking and is polled until it completes or `timeout` seconds pass, so a rank whose peer died or hangs
// returns an error instead of waiting for ever.
#ifndef LDM_MPI_H
#define LDM_MPI_H

#include <stddef.h>

/// Element types of the collectives.
enum { LDM_MPI_FLOAT = 0, LDM_MPI_DOUBLE = 1, LDM_MPI_BYTE = 2 };
/// Reductions.
enum { LDM_MPI_SUM = 0, LDM_MPI_MAX = 1, LDM_MPI_MIN = 2 };
/// Returned when a collective did not complete within its timeout (MPI's own error codes are positive).
enum { LDM_MPI_TIMEOUT = -1, LDM_MPI_NOT_LOADED = -2 };

/// Loads libmpi (the first of `library` or libmpi.so.40, libmpi.so) and resolves what ldm calls; 0 on success,
/// otherwise writes why into `message`.
int ldm_mpi_load(const char *library, char *message, size_t capacity);
/// MPI_Init_thread (serialized) and the world's rank and size; 0 or an MPI error code.
int ldm_mpi_init(int *rank, int *size);
int ldm_mpi_finalize(void);
/// Ends every rank of the job with `code` (MPI_Abort on the world).
void ldm_mpi_abort(int code);
/// In-place all-reduce of `count` elements.
int ldm_mpi_allreduce(void *buffer, int count, int type, int op, double timeout);
/// Every rank's `count` elements of `send`, rank by rank, into `receive` (size × count elements).
int ldm_mpi_allgather(const void *send, void *receive, int count, int type, double timeout);
/// `root`'s `count` elements of `buffer` to every rank.
int ldm_mpi_broadcast(void *buffer, int count, int type, int root, double timeout);
int ldm_mpi_barrier(double timeout);
/// MPI's text for an error code.
void ldm_mpi_error_string(int code, char *message, size_t capacity);

#endif
