//===- mpi_library.cc - MPI loaded at run time ----------------------------===//

#include "job/mpi_library.h"

#include "absl/strings/str_cat.h"

#include <dlfcn.h>

namespace palmrt {

absl::StatusOr<std::unique_ptr<MpiLibrary>>
MpiLibrary::load(const char *soname) {
  void *handle = dlopen(soname, RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    const char *why = dlerror();
    return absl::UnavailableError(
        absl::StrCat("cannot load ", soname, ": ", why ? why : "unknown"));
  }
  auto lib = std::make_unique<MpiLibrary>();
  lib->handle = handle;
  std::string missing;
  auto resolve = [&](auto &slot, const char *name) {
    void *sym = dlsym(handle, name);
    if (!sym)
      absl::StrAppend(&missing, missing.empty() ? "" : ", ", name);
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(sym);
  };
  resolve(lib->Init, "MPI_Init");
  resolve(lib->Initialized, "MPI_Initialized");
  resolve(lib->Finalize, "MPI_Finalize");
  resolve(lib->Abort, "MPI_Abort");
  resolve(lib->Comm_rank, "MPI_Comm_rank");
  resolve(lib->Comm_size, "MPI_Comm_size");
  resolve(lib->Comm_split, "MPI_Comm_split");
  resolve(lib->Comm_free, "MPI_Comm_free");
  resolve(lib->Barrier, "MPI_Barrier");
  resolve(lib->Bcast, "MPI_Bcast");
  resolve(lib->Allreduce, "MPI_Allreduce");
  resolve(lib->Allgather, "MPI_Allgather");
  resolve(lib->Reduce_scatter_block, "MPI_Reduce_scatter_block");
  resolve(lib->Alltoall, "MPI_Alltoall");
  resolve(lib->Isend, "MPI_Isend");
  resolve(lib->Irecv, "MPI_Irecv");
  resolve(lib->Waitall, "MPI_Waitall");
  resolve(lib->Error_string, "MPI_Error_string");
  resolve(lib->commWorld, "ompi_mpi_comm_world");
  resolve(lib->typeFloat, "ompi_mpi_float");
  resolve(lib->typeDouble, "ompi_mpi_double");
  resolve(lib->typeInt32, "ompi_mpi_int32_t");
  resolve(lib->typeInt64, "ompi_mpi_int64_t");
  resolve(lib->typeUint16, "ompi_mpi_uint16_t");
  resolve(lib->typeByte, "ompi_mpi_byte");
  resolve(lib->opSum, "ompi_mpi_op_sum");
  resolve(lib->opMax, "ompi_mpi_op_max");
  if (!missing.empty()) {
    // Symbols already bound stay valid while the library is loaded; keeping it
    // loaded is harmless, unloading an MPI is not.
    return absl::UnavailableError(absl::StrCat(
        soname, " is not Open MPI 4 (missing symbols: ", missing, ")"));
  }
  return lib;
}

std::string MpiLibrary::errorString(int code) const {
  char text[512];
  int len = 0;
  if (Error_string && Error_string(code, text, &len) == mpi::kSuccess)
    return std::string(text, len);
  return absl::StrCat("MPI error ", code);
}

} // namespace palmrt
