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
// Operations post non-blocking MPI calls and test them until they finish or
// their communicator is aborted: ncclCommAbort, from any thread, only sets a
// flag, so that a call blocked on a peer returns ncclSystemError, like a
// real one whose kernels the abort stops. Aborted communicators are never
// freed (a call may still be inside one; the process ends soon after).
//
// Faults for the tests of palmrt's collective watchdog, counted in
// operations of this process (each collective, each send or receive outside
// a group, each group of them; 1-based, over all communicators):
//   FAKE_NCCL_HANG=R@N         world rank R's N-th operation posts nothing
//                              and waits until its communicator is aborted
//                              (a GPU stuck on a peer that hangs);
//   FAKE_NCCL_ASYNC_ERROR=R@N  the same, and ncclCommGetAsyncError reports
//                              ncclRemoteError on that communicator from
//                              then on (NCCL's proxy seeing a peer vanish).
//
//===----------------------------------------------------------------------===//

#include "base/bf16.h"
#include "fake_device_memory.h"

#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <sched.h>
#include <thread>
#include <vector>

using MpiHandle = void *;

/// A communicator: the MPI communicator of its members.
struct ncclComm {
  MpiHandle mpi;
  int ranks, rank;
  // Read and written from any thread.
  std::atomic<bool> aborted{false};
  std::atomic<int> asyncError{ncclSuccess};
  /// What ncclGetLastError says: a string literal.
  std::atomic<const char *> lastError{""};
};

namespace {

struct Mpi {
  int (*Comm_split)(MpiHandle, int, int, MpiHandle *);
  int (*Comm_free)(MpiHandle *);
  int (*Comm_rank)(MpiHandle, int *);
  int (*Comm_size)(MpiHandle, int *);
  int (*Isend)(const void *, int, MpiHandle, int, int, MpiHandle, MpiHandle *);
  int (*Irecv)(void *, int, MpiHandle, int, int, MpiHandle, MpiHandle *);
  int (*Iallgather)(const void *, int, MpiHandle, void *, int, MpiHandle,
                    MpiHandle, MpiHandle *);
  int (*Testall)(int, MpiHandle *, int *, void *);
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
    m.Isend = reinterpret_cast<decltype(m.Isend)>(get("MPI_Isend"));
    m.Irecv = reinterpret_cast<decltype(m.Irecv)>(get("MPI_Irecv"));
    m.Iallgather =
        reinterpret_cast<decltype(m.Iallgather)>(get("MPI_Iallgather"));
    m.Testall = reinterpret_cast<decltype(m.Testall)>(get("MPI_Testall"));
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
int gOperations = 0;

/// A fault of FAKE_NCCL_HANG or FAKE_NCCL_ASYNC_ERROR for this process.
struct Fault {
  int operation = 0; // 0: none
  bool asyncError = false;
};

const Fault &fault() {
  static const Fault f = [] {
    Fault f;
    int me = -1;
    for (const char *name : {"FAKE_NCCL_HANG", "FAKE_NCCL_ASYNC_ERROR"}) {
      const char *text = std::getenv(name);
      if (!text || !*text)
        continue;
      int rank, operation;
      char end;
      if (std::sscanf(text, "%d@%d%c", &rank, &operation, &end) != 2 ||
          operation < 1)
        fail("FAKE_NCCL_HANG/FAKE_NCCL_ASYNC_ERROR: expected RANK@OPERATION");
      if (me < 0)
        mpi().Comm_rank(mpi().world, &me);
      if (rank == me) {
        f.operation = operation;
        f.asyncError = std::strcmp(name, "FAKE_NCCL_ASYNC_ERROR") == 0;
      }
    }
    return f;
  }();
  return f;
}

ncclResult_t aborted(ncclComm_t comm) {
  comm->lastError = "the communicator was aborted (ncclCommAbort)";
  return ncclSystemError;
}

/// Counts an operation on `comm`. An error when the communicator is aborted,
/// or when a fault stops this operation (after waiting for the abort).
ncclResult_t startOperation(ncclComm_t comm) {
  if (comm->aborted)
    return aborted(comm);
  const Fault &f = fault();
  if (++gOperations != f.operation)
    return ncclSuccess;
  if (std::getenv("PALMRT_FAKE_CUDA_LOG"))
    std::fprintf(stderr, "fake libnccl: operation %d hangs\n", gOperations);
  if (f.asyncError) {
    comm->lastError = "a peer is unreachable (FAKE_NCCL_ASYNC_ERROR)";
    comm->asyncError = ncclRemoteError;
  }
  while (!comm->aborted)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return aborted(comm);
}

/// Waits for `requests` of `comm` to complete, or the communicator to be
/// aborted (their buffers then stay MPI's; the process is ending).
ncclResult_t finish(ncclComm_t comm, MpiHandle *requests, int count) {
  for (;;) {
    int done = 0;
    if (mpi().Testall(count, requests, &done, nullptr) != 0)
      return ncclSystemError;
    if (done)
      return ncclSuccess;
    if (comm->aborted)
      return aborted(comm);
    sched_yield();
  }
}

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

ncclResult_t runPending() {
  std::vector<PendingOp> ops;
  ops.swap(gPending);
  // Every operation of palmrt's groups is on one communicator.
  ncclComm_t comm = ops.empty() ? nullptr : ops.front().comm;
  if (!comm)
    return ncclSuccess;
  if (ncclResult_t r = startOperation(comm); r != ncclSuccess)
    return r;
  std::vector<MpiHandle> requests(ops.size());
  // Receives first, so that every send finds its receive posted.
  size_t n = 0;
  for (bool sends : {false, true})
    for (const PendingOp &op : ops) {
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
  return finish(comm, requests.data(), static_cast<int>(n));
}

/// An allgather of `bytes` from every member of `comm`.
ncclResult_t allGather(const void *send, void *recv, size_t bytes,
                       ncclComm_t comm) {
  if (ncclResult_t r = startOperation(comm); r != ncclSuccess)
    return r;
  MpiHandle request;
  if (mpi().Iallgather(send, static_cast<int>(bytes), mpi().byte, recv,
                       static_cast<int>(bytes), mpi().byte, comm->mpi,
                       &request) != 0)
    return ncclSystemError;
  return finish(comm, &request, 1);
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

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  comm->aborted = true;
  return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *error) {
  *error = static_cast<ncclResult_t>(comm->asyncError.load());
  return ncclSuccess;
}

/// NCCL's own texts.
const char *ncclGetErrorString(ncclResult_t result) {
  switch (result) {
  case ncclSuccess:
    return "no error";
  case ncclUnhandledCudaError:
    return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
  case ncclSystemError:
    return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
  case ncclInternalError:
    return "internal error - please report this issue to the NCCL developers";
  case ncclInvalidArgument:
    return "invalid argument (run with NCCL_DEBUG=WARN for details)";
  case ncclInvalidUsage:
    return "invalid usage (run with NCCL_DEBUG=WARN for details)";
  case ncclRemoteError:
    return "remote process exited or there was a network error";
  case ncclInProgress:
    return "NCCL operation in progress";
  default:
    return "unknown result code";
  }
}

const char *ncclGetLastError(ncclComm_t comm) {
  return comm ? comm->lastError.load() : "";
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count,
                           ncclDataType_t type, ncclRedOp_t op, ncclComm_t comm,
                           cudaStream_t stream) {
  if (!stream || gGroupDepth)
    fail("ncclAllReduce without a stream or inside a group");
  size_t bytes = count * typeBytes(type);
  checkRange(send, bytes, "ncclAllReduce send");
  checkRange(recv, bytes, "ncclAllReduce recv");
  std::vector<char> all(bytes * comm->ranks);
  if (ncclResult_t r = allGather(send, all.data(), bytes, comm);
      r != ncclSuccess)
    return r;
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
  return allGather(send, recv, bytes, comm);
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
  if (ncclResult_t r = allGather(send, all.data(), whole, comm);
      r != ncclSuccess)
    return r;
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
  return gGroupDepth ? ncclSuccess : runPending();
}

ncclResult_t ncclRecv(void *recv, size_t count, ncclDataType_t type, int peer,
                      ncclComm_t comm, cudaStream_t stream) {
  size_t bytes = count * typeBytes(type);
  if (!stream || peer < 0 || peer >= comm->ranks)
    return ncclInvalidArgument;
  checkRange(recv, bytes, "ncclRecv");
  gPending.push_back({false, recv, static_cast<int>(bytes), peer, comm});
  return gGroupDepth ? ncclSuccess : runPending();
}

ncclResult_t ncclGroupStart() {
  ++gGroupDepth;
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd() {
  if (gGroupDepth == 0)
    return ncclInvalidUsage;
  return --gGroupDepth ? ncclSuccess : runPending();
}

} // extern "C"
