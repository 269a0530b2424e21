//===- mpi_library.h - MPI loaded at run time -------------------*- C++ -*-===//
//
// The runtime never links against MPI: an executable must run as one process
// on a machine without it. When launched by mpirun we dlopen Open MPI's
// libmpi.so.40 and resolve the few entry points and predefined handles we use.
// Open MPI's ABI makes every handle a pointer to an opaque struct, and a
// predefined handle (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM) is the address of an
// exported global, so dlsym of that global's name yields the handle itself.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_JOB_MPI_LIBRARY_H
#define PALMRT_SRC_JOB_MPI_LIBRARY_H

#include "absl/status/statusor.h"

#include <memory>
#include <string>

namespace palmrt {

namespace mpi {
// Open MPI 4.x handle types and constants (mpi.h), restated so that nothing
// here needs MPI's headers.
using Comm = struct ompi_communicator_t *;
using Datatype = struct ompi_datatype_t *;
using Op = struct ompi_op_t *;
using Request = struct ompi_request_t *;
struct Status {
  int source, tag, error, cancelled;
  size_t ucount;
};
inline constexpr int kSuccess = 0;
inline void *const kInPlace = reinterpret_cast<void *>(1);
inline Status *const kStatusesIgnore = nullptr;
} // namespace mpi

/// The subset of the MPI API the runtime uses, resolved from a dlopen'ed
/// libmpi. Function pointers mirror the C prototypes exactly.
struct MpiLibrary {
  int (*Init)(int *, char ***);
  int (*Initialized)(int *);
  int (*Finalize)();
  int (*Abort)(mpi::Comm, int);
  int (*Comm_rank)(mpi::Comm, int *);
  int (*Comm_size)(mpi::Comm, int *);
  int (*Comm_split)(mpi::Comm, int, int, mpi::Comm *);
  int (*Comm_free)(mpi::Comm *);
  int (*Barrier)(mpi::Comm);
  int (*Bcast)(void *, int, mpi::Datatype, int, mpi::Comm);
  int (*Allreduce)(const void *, void *, int, mpi::Datatype, mpi::Op,
                   mpi::Comm);
  int (*Allgather)(const void *, int, mpi::Datatype, void *, int, mpi::Datatype,
                   mpi::Comm);
  int (*Reduce_scatter_block)(const void *, void *, int, mpi::Datatype, mpi::Op,
                              mpi::Comm);
  int (*Alltoall)(const void *, int, mpi::Datatype, void *, int, mpi::Datatype,
                  mpi::Comm);
  int (*Isend)(const void *, int, mpi::Datatype, int, int, mpi::Comm,
               mpi::Request *);
  int (*Irecv)(void *, int, mpi::Datatype, int, int, mpi::Comm, mpi::Request *);
  int (*Waitall)(int, mpi::Request *, mpi::Status *);
  int (*Error_string)(int, char *, int *);

  mpi::Comm commWorld;
  mpi::Datatype typeFloat, typeDouble, typeInt32, typeInt64, typeUint16,
      typeByte;
  mpi::Op opSum, opMax;

  /// dlopens `soname` (RTLD_NOW | RTLD_GLOBAL: Open MPI's plugins resolve
  /// symbols against it) and resolves every member, or says what is missing.
  static absl::StatusOr<std::unique_ptr<MpiLibrary>>
  load(const char *soname = "libmpi.so.40");

  /// Describes an MPI error code.
  std::string errorString(int code) const;

private:
  void *handle = nullptr;
};

} // namespace palmrt

#endif // PALMRT_SRC_JOB_MPI_LIBRARY_H
