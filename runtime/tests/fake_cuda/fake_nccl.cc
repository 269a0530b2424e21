//===- fake_nccl.cc - a libnccl.so.2 over MPI on the host, for tests ------===//
//
// Runs the cuda backend's NCCL calls between the processes of an mpirun job
// on "device memory" that is host memory (fake_driver.cc). Each
// communicator is an MPI communicator split from MPI_COMM_WORLD: the unique
// id names its root's world rank and a counter, which every member learns
// through the id the backend broadcasts, so all members pick the same color.
// (Splitting is collective over the world; the backend makes its
// communicators in the same order on every rank, as NCCL needs too.)
// Reductions gather every contribution and reduce in the group's order;
// bf16 reduces in f32 and rounds once. MPI is the one palmrt loaded.
//
//===----------------------------------------------------------------------===//

#include "base/bf16.h"
#include "fake_device_memory.h"

#include <nccl.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <vector>

using MpiHandle = void *;

/// A communicator: the MPI communicator of its members.
struct ncclComm {
  MpiHandle mpi;
  int ranks, rank;
};

namespace {

struct Mpi {
  int (*Comm_split)(MpiHandle, int, int, MpiHandle *);
  int (*Comm_free)(MpiHandle *);
  int (*Comm_rank)(MpiHandle, int *);
  int (*Comm_size)(MpiHandle, int *);
  int (*Allgather)(const void *, int, MpiHandle, void *, int, MpiHandle,
                   MpiHandle);
  int (*Isend)(const void *, int, MpiHandle, int, int, MpiHandle, MpiHandle *);
  int (*Irecv)(void *, int, MpiHandle, int, int, MpiHandle, MpiHandle *);
  int (*Waitall)(int, MpiHandle *, void *);
  MpiHandle world, byte;
};

[[noreturn]] void fail(const char *message) {
  std::fprintf(stderr, "fake libnccl: %s\n", message);
  std::fflush(stderr);
  std::abort();
}

const Mpi &mpi() {
  static const Mpi m = [] {
    Mpi m{};
    auto get = [](const char *name) {
      void *symbol = dlsym(RTLD_DEFAULT, name);
      if (!symbol)
        fail("MPI is not loaded (run under mpirun)");
      return symbol;
    };
    m.Comm_split =
        reinterpret_cast<decltype(m.Comm_split)>(get("MPI_Comm_split"));
    m.Comm_free = reinterpret_cast<decltype(m.Comm_free)>(get("MPI_Comm_free"));
    m.Comm_rank = reinterpret_cast<decltype(m.Comm_rank)>(get("MPI_Comm_rank"));
    m.Comm_size = reinterpret_cast<decltype(m.Comm_size)>(get("MPI_Comm_size"));
    m.Allgather = reinterpret_cast<decltype(m.Allgather)>(get("MPI_Allgather"));
    m.Isend = reinterpret_cast<decltype(m.Isend)>(get("MPI_Isend"));
    m.Irecv = reinterpret_cast<decltype(m.Irecv)>(get("MPI_Irecv"));
    m.Waitall = reinterpret_cast<decltype(m.Waitall)>(get("MPI_Waitall"));
    m.world = get("ompi_mpi_comm_world");
    m.byte = get("ompi_mpi_byte");
    return m;
  }();
  return m;
}

void checkRange(const void *p, size_t bytes, const char *what) {
  checkDeviceRange("fake libnccl", p, bytes, what);
}

struct IdContents {
  char magic[16];
  int root, counter;
};

int gIdsMade = 0;
int gGroupDepth = 0;

struct PendingOp {
  bool send;
  void *buffer;
  int bytes, peer;
  ncclComm_t comm;
};
std::vector<PendingOp> gPending;

size_t typeBytes(ncclDataType_t type) {
  switch (type) {
  case ncclInt32:
  case ncclFloat32:
    return 4;
  case ncclInt64:
    return 8;
  case ncclBfloat16:
    return 2;
  default:
    fail("unsupported data type");
  }
}

using palmrt::bf16ToFloat;
using palmrt::floatToBf16;

/// out[i] = reduce over r of in[r * stride + i], i < count.
void reduce(const char *in, size_t stride, int ranks, void *out, size_t count,
            ncclDataType_t type, ncclRedOp_t op) {
  if (op != ncclSum && op != ncclMax)
    fail("unsupported reduction");
  bool sum = op == ncclSum;
  size_t e = typeBytes(type);
  for (size_t i = 0; i < count; ++i) {
    auto at = [&](int r) { return in + (r * stride + i) * e; };
    char *dst = static_cast<char *>(out) + i * e;
    if (type == ncclInt32 || type == ncclInt64) {
      int64_t acc = 0;
      for (int r = 0; r < ranks; ++r) {
        int64_t v = 0;
        if (type == ncclInt32) {
          int32_t x;
          std::memcpy(&x, at(r), 4);
          v = x;
        } else {
          std::memcpy(&v, at(r), 8);
        }
        acc = r == 0 ? v : sum ? acc + v : std::max(acc, v);
      }
      if (type == ncclInt32) {
        int32_t x = static_cast<int32_t>(acc);
        std::memcpy(dst, &x, 4);
      } else {
        std::memcpy(dst, &acc, 8);
      }
      continue;
    }
    float acc = 0;
    for (int r = 0; r < ranks; ++r) {
      float v;
      if (type == ncclBfloat16) {
        uint16_t x;
        std::memcpy(&x, at(r), 2);
        v = bf16ToFloat(x);
      } else {
        std::memcpy(&v, at(r), 4);
      }
      acc = r == 0 ? v : sum ? acc + v : std::max(acc, v);
    }
    if (type == ncclBfloat16) {
      uint16_t x = floatToBf16(acc);
      std::memcpy(dst, &x, 2);
    } else {
      std::memcpy(dst, &acc, 4);
    }
  }
}

void runPending() {
  std::vector<MpiHandle> requests(gPending.size());
  // Receives first, so that every send finds its receive posted.
  size_t n = 0;
  for (bool sends : {false, true})
    for (const PendingOp &op : gPending) {
      if (op.send != sends)
        continue;
      MpiHandle comm = op.comm->mpi;
      int rc = op.send ? mpi().Isend(op.buffer, op.bytes, mpi().byte, op.peer,
                                     11, comm, &requests[n])
                       : mpi().Irecv(op.buffer, op.bytes, mpi().byte, op.peer,
                                     11, comm, &requests[n]);
      if (rc != 0)
        fail("MPI_Isend/MPI_Irecv failed");
      ++n;
    }
  if (n && mpi().Waitall(static_cast<int>(n), requests.data(), nullptr) != 0)
    fail("MPI_Waitall failed");
  gPending.clear();
}

} // namespace

extern "C" {

ncclResult_t ncclGetVersion(int *version) {
  *version = NCCL_VERSION_CODE;
  return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
  IdContents contents{};
  std::snprintf(contents.magic, sizeof(contents.magic), "palmrt-fake");
  mpi().Comm_rank(mpi().world, &contents.root);
  contents.counter = gIdsMade++;
  std::memset(id, 0, sizeof(*id));
  std::memcpy(id->internal, &contents, sizeof(contents));
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int ranks, ncclUniqueId id,
                              int rank) {
  IdContents contents;
  std::memcpy(&contents, id.internal, sizeof(contents));
  if (std::strcmp(contents.magic, "palmrt-fake") != 0)
    return ncclInvalidArgument;
  int worldSize;
  mpi().Comm_size(mpi().world, &worldSize);
  auto *c = new ncclComm{nullptr, ranks, rank};
  if (mpi().Comm_split(mpi().world,
                       contents.counter * worldSize + contents.root, rank,
                       &c->mpi) != 0)
    return ncclSystemError;
  int size, me;
  mpi().Comm_size(c->mpi, &size);
  mpi().Comm_rank(c->mpi, &me);
  if (size != ranks || me != rank)
    fail("ncclCommInitRank: the members disagree on the communicator");
  *comm = c;
  return ncclSuccess;
}

/// The members of `parent` with the same color, ordered by key; like NCCL's,
/// collective over the parent.
ncclResult_t ncclCommSplit(ncclComm_t parent, int color, int key,
                           ncclComm_t *comm, ncclConfig_t *config) {
  if (config)
    fail("ncclCommSplit with a configuration");
  if (color < 0)
    fail("ncclCommSplit without a color (palmrt gives every rank one)");
  auto *c = new ncclComm{nullptr, 0, 0};
  if (mpi().Comm_split(parent->mpi, color, key, &c->mpi) != 0)
    return ncclSystemError;
  mpi().Comm_size(c->mpi, &c->ranks);
  mpi().Comm_rank(c->mpi, &c->rank);
  if (std::getenv("PALMRT_FAKE_CUDA_LOG"))
    std::fprintf(stderr, "fake libnccl: split color %d: rank %d of %d\n",
                 color, c->rank, c->ranks);
  *comm = c;
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  // MPI may already be finalized when the backend lets go of its comms.
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) { return ncclCommDestroy(comm); }

ncclResult_t ncclCommGetAsyncError(ncclComm_t, ncclResult_t *error) {
  *error = ncclSuccess;
  return ncclSuccess;
}

const char *ncclGetErrorString(ncclResult_t) { return "fake NCCL error"; }

const char *ncclGetLastError(ncclComm_t) { return ""; }

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count,
                           ncclDataType_t type, ncclRedOp_t op, ncclComm_t comm,
                           cudaStream_t stream) {
  if (!stream || gGroupDepth)
    fail("ncclAllReduce without a stream or inside a group");
  size_t bytes = count * typeBytes(type);
  checkRange(send, bytes, "ncclAllReduce send");
  checkRange(recv, bytes, "ncclAllReduce recv");
  std::vector<char> all(bytes * comm->ranks);
  if (mpi().Allgather(send, static_cast<int>(bytes), mpi().byte, all.data(),
                      static_cast<int>(bytes), mpi().byte, comm->mpi) != 0)
    return ncclSystemError;
  reduce(all.data(), count, comm->ranks, recv, count, type, op);
  return ncclSuccess;
}

ncclResult_t ncclAllGather(const void *send, void *recv, size_t count,
                           ncclDataType_t type, ncclComm_t comm,
                           cudaStream_t stream) {
  if (!stream || gGroupDepth)
    fail("ncclAllGather without a stream or inside a group");
  size_t bytes = count * typeBytes(type);
  checkRange(send, bytes, "ncclAllGather send");
  checkRange(recv, bytes * comm->ranks, "ncclAllGather recv");
  if (mpi().Allgather(send, static_cast<int>(bytes), mpi().byte, recv,
                      static_cast<int>(bytes), mpi().byte, comm->mpi) != 0)
    return ncclSystemError;
  return ncclSuccess;
}

ncclResult_t ncclReduceScatter(const void *send, void *recv, size_t count,
                               ncclDataType_t type, ncclRedOp_t op,
                               ncclComm_t comm, cudaStream_t stream) {
  if (!stream || gGroupDepth)
    fail("ncclReduceScatter without a stream or inside a group");
  size_t e = typeBytes(type), whole = count * comm->ranks * e;
  checkRange(send, whole, "ncclReduceScatter send");
  checkRange(recv, count * e, "ncclReduceScatter recv");
  std::vector<char> all(whole * comm->ranks);
  if (mpi().Allgather(send, static_cast<int>(whole), mpi().byte, all.data(),
                      static_cast<int>(whole), mpi().byte, comm->mpi) != 0)
    return ncclSystemError;
  reduce(all.data() + comm->rank * count * e, count * comm->ranks, comm->ranks,
         recv, count, type, op);
  return ncclSuccess;
}

ncclResult_t ncclSend(const void *send, size_t count, ncclDataType_t type,
                      int peer, ncclComm_t comm, cudaStream_t stream) {
  size_t bytes = count * typeBytes(type);
  if (!stream || peer < 0 || peer >= comm->ranks)
    return ncclInvalidArgument;
  checkRange(send, bytes, "ncclSend");
  gPending.push_back(
      {true, const_cast<void *>(send), static_cast<int>(bytes), peer, comm});
  if (!gGroupDepth)
    runPending();
  return ncclSuccess;
}

ncclResult_t ncclRecv(void *recv, size_t count, ncclDataType_t type, int peer,
                      ncclComm_t comm, cudaStream_t stream) {
  size_t bytes = count * typeBytes(type);
  if (!stream || peer < 0 || peer >= comm->ranks)
    return ncclInvalidArgument;
  checkRange(recv, bytes, "ncclRecv");
  gPending.push_back({false, recv, static_cast<int>(bytes), peer, comm});
  if (!gGroupDepth)
    runPending();
  return ncclSuccess;
}

ncclResult_t ncclGroupStart() {
  ++gGroupDepth;
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd() {
  if (gGroupDepth == 0)
    return ncclInvalidUsage;
  if (--gGroupDepth == 0)
    runPending();
  return ncclSuccess;
}

} // extern "C"
