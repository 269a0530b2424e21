//===- mpi_transport.cc - the host backend's collectives over MPI ---------===//

#include "api/context.h"

#include "absl/strings/str_cat.h"

#include <climits>

namespace palmrt {
namespace {

class MpiTransport final : public Transport {
public:
  MpiTransport(MpiLibrary *mpi, mpi::Comm comm) : mpi(mpi), comm(comm) {}
  ~MpiTransport() override {
    // After MPI_Finalize communicators are gone with it.
    int initialized = 0;
    if (mpi->Initialized(&initialized) == mpi::kSuccess && initialized &&
        process().mpi)
      mpi->Comm_free(&comm);
  }

  void allReduce(void *buffer, int64_t count, int32_t dtype,
                 int32_t reduction) override {
    // MPI counts are ints: reduce in pieces.
    constexpr int64_t kPiece = INT_MAX / 2;
    char *bytes = static_cast<char *>(buffer);
    for (int64_t done = 0; done < count; done += kPiece) {
      int n = static_cast<int>(std::min(kPiece, count - done));
      check("MPI_Allreduce",
            mpi->Allreduce(mpi::kInPlace, bytes + done * dtypeBytes(dtype), n,
                           type(dtype), op(reduction), comm));
    }
  }

  void allGather(const void *in, void *out, int64_t count,
                 int32_t dtype) override {
    int n = intCount(count, "all_gather");
    check("MPI_Allgather",
          mpi->Allgather(in, n, type(dtype), out, n, type(dtype), comm));
  }

  void reduceScatter(const void *in, void *out, int64_t count, int32_t dtype,
                     int32_t reduction) override {
    int n = intCount(count, "reduce_scatter");
    check("MPI_Reduce_scatter_block",
          mpi->Reduce_scatter_block(in, out, n, type(dtype), op(reduction),
                                    comm));
  }

  void allToAll(const void *in, void *out, int64_t count,
                int32_t dtype) override {
    int n = intCount(count, "all_to_all");
    check("MPI_Alltoall",
          mpi->Alltoall(in, n, type(dtype), out, n, type(dtype), comm));
  }

  void permute(const void *in, void *out, int64_t count, int32_t dtype,
               const std::vector<int64_t> &sendTo, int64_t recvFrom) override {
    int n = intCount(count, "collective_permute");
    std::vector<mpi::Request> requests;
    requests.reserve(sendTo.size() + 1);
    if (recvFrom >= 0) {
      requests.emplace_back();
      check("MPI_Irecv",
            mpi->Irecv(out, n, type(dtype), static_cast<int>(recvFrom), kTag,
                       comm, &requests.back()));
    }
    for (int64_t to : sendTo) {
      requests.emplace_back();
      check("MPI_Isend", mpi->Isend(in, n, type(dtype), static_cast<int>(to),
                                    kTag, comm, &requests.back()));
    }
    if (!requests.empty())
      check("MPI_Waitall", mpi->Waitall(static_cast<int>(requests.size()),
                                        requests.data(), mpi::kStatusesIgnore));
  }

  void broadcast(void *buffer, int64_t bytes, int64_t root) override {
    int n = intCount(bytes, "broadcast");
    check("MPI_Bcast",
          mpi->Bcast(buffer, n, mpi->typeByte, static_cast<int>(root), comm));
  }

private:
  static constexpr int kTag = 7;
  MpiLibrary *mpi;
  mpi::Comm comm;

  mpi::Datatype type(int32_t dtype) const {
    switch (dtype) {
    case PALMRT_F32:
      return mpi->typeFloat;
    case PALMRT_BF16:
      return mpi->typeUint16;
    case PALMRT_I32:
      return mpi->typeInt32;
    default:
      return mpi->typeInt64;
    }
  }

  mpi::Op op(int32_t reduction) const {
    return reduction == PALMRT_MAX ? mpi->opMax : mpi->opSum;
  }

  static int intCount(int64_t count, const char *what) {
    if (count > INT_MAX)
      fatal(absl::StrCat(what, " of ", count,
                         " elements per device exceeds what one MPI call "
                         "moves (2^31 - 1)"));
    return static_cast<int>(count);
  }

  void check(const char *call, int rc) const {
    if (rc != mpi::kSuccess)
      fatal(absl::StrCat(call, " failed: ", mpi->errorString(rc)));
  }
};

} // namespace

std::unique_ptr<Transport> makeMpiTransport(MpiLibrary *mpi, int64_t color,
                                            int64_t key) {
  mpi::Comm comm = nullptr;
  int rc = mpi->Comm_split(mpi->commWorld, static_cast<int>(color),
                           static_cast<int>(key), &comm);
  if (rc != mpi::kSuccess)
    fatal(absl::StrCat("MPI_Comm_split failed: ", mpi->errorString(rc)));
  return std::make_unique<MpiTransport>(mpi, comm);
}

} // namespace palmrt
