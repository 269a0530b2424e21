//===- cuda_collectives.cc - the cuda backend's collectives over NCCL -----===//
//
// One NCCL communicator per group of several devices, made at start-up:
// rank 0 asks NCCL for an id and broadcasts it over MPI, every device joins
// a communicator of the whole job (ncclCommInitRank), and each group's is
// split from it (ncclCommSplit: color = which group over those axes, key =
// index in it). With an NCCL older than 2.18 (no ncclCommSplit) each group
// bootstraps its own over its MPI communicator instead. Groups of one
// device need no NCCL, so a single process runs without it.
//
// Every collective runs on the comm stream, after the compute stream's
// earlier work (an event), and the compute stream waits for it. Along a
// dimension other than the outermost, pieces are packed contiguously on the
// device around the NCCL call (block_copy.cu), into scratch buffers that
// only comm-stream work and fenced compute work use. bf16 reduces in NCCL's
// bf16 (rounding at each step of its ring, unlike the host backend).
//
// While a step runs, a CollectiveWatchdog polls the communicators for
// errors and ends the process when the step outlives
// PALMRT_COLLECTIVE_TIMEOUT (collective_watchdog.h).
//
//===----------------------------------------------------------------------===//

#include "api/context.h"
#include "base/layout.h"
#include "cuda/cuda_device.h"
#include "job/process.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstdlib>

namespace palmrt {
namespace {

int ncclType(int32_t dtype) {
  switch (dtype) {
  case PALMRT_F32:
    return nccl::kFloat32;
  case PALMRT_BF16:
    return nccl::kBfloat16;
  case PALMRT_I32:
    return nccl::kInt32;
  default:
    return nccl::kInt64;
  }
}

int ncclOp(int32_t reduction) {
  return reduction == PALMRT_MAX ? nccl::kMax : nccl::kSum;
}

/// Row-major element stride of dimension `dim` of `shape`.
int64_t strideOf(const std::vector<int64_t> &shape, int32_t dim) {
  return product(shape.data(), dim + 1, static_cast<int32_t>(shape.size()));
}

int64_t count(const std::vector<int64_t> &shape) {
  return product(shape.data(), 0, static_cast<int32_t>(shape.size()));
}

const char *offset(const void *base, int64_t bytes) {
  return static_cast<const char *>(base) + bytes;
}

} // namespace

struct CudaDevice::CommSpan {
  cu::Event start = nullptr;
  const char *name;
  int32_t group;
  int64_t bytes;
};

/// An NCCL communicator over the devices of `transport`: device 0 makes the
/// id and broadcasts it, every member then joins as `index` of `size`.
absl::Status CudaDevice::initComm(Transport &transport, int64_t size,
                                  int64_t index, const std::string &what,
                                  nccl::Comm *comm) {
  struct {
    int32_t ok;
    nccl::UniqueId id;
  } message{};
  std::string why;
  if (index == 0) {
    nccl::Result r = nccl->GetUniqueId(&message.id);
    message.ok = r == nccl::kSuccess;
    if (!message.ok)
      why = nccl->errorString(r, nullptr);
  }
  transport.broadcast(&message, sizeof(message), 0);
  if (!message.ok)
    return absl::UnavailableError(absl::StrCat(
        "NCCL cannot make an id for the communicator of ", what,
        why.empty() ? " (see the message of its device 0)"
                    : absl::StrCat(": ", why)));
  nccl::Result r = nccl->CommInitRank(comm, static_cast<int>(size), message.id,
                                      static_cast<int>(index));
  if (r != nccl::kSuccess)
    return absl::UnavailableError(absl::StrCat("NCCL cannot connect the ",
                                               size, " devices of ", what, ": ",
                                               nccl->errorString(r, *comm)));
  return absl::OkStatus();
}

absl::Status CudaDevice::connect(palmrt_context &context) {
  ctx = &context;
  // Read by every cuda program, so that a bad value fails on one device too.
  absl::StatusOr<double> timeout =
      parseCollectiveTimeout(std::getenv(kCollectiveTimeoutVariable));
  if (!timeout.ok())
    return timeout.status();
  groupComms.assign(context.groups.size(), nullptr);
  check(cu.CtxSetCurrent(this->context), "cuCtxSetCurrent");
  bool several = false;
  for (size_t id = 0; id < context.groups.size(); ++id) {
    const palmrt_context::Group &g = context.groups[id];
    if (g.size == 1)
      continue;
    if (!nccl || !g.transport)
      return absl::InternalError(
          absl::StrCat("group ", id, " has ", g.size,
                       " devices but NCCL or MPI is not loaded"));
    several = true;
  }
  if (!several)
    return absl::OkStatus();
  if (absl::Status s = makeComms(context); !s.ok())
    return s;
  std::vector<CollectiveWatchdog::Watched> watched;
  for (size_t id = 0; id < groupComms.size(); ++id)
    if (groupComms[id])
      watched.push_back({groupComms[id], absl::StrCat("group ", id)});
  if (worldComm)
    watched.push_back({worldComm, "the job"});
  CollectiveWatchdog::Options options;
  options.timeoutSeconds = *timeout;
  watchdog =
      std::make_unique<CollectiveWatchdog>(*nccl, std::move(watched), options);
  return absl::OkStatus();
}

absl::Status CudaDevice::makeComms(palmrt_context &context) {
  // One bootstrap for the job, then each group's communicator split from
  // it (ranks of a group share its color; the key orders them). Without
  // ncclCommSplit (NCCL before 2.18), or with PALMRT_NCCL_NO_SPLIT set,
  // every group bootstraps its own.
  const char *noSplit = std::getenv("PALMRT_NCCL_NO_SPLIT");
  if (nccl->CommSplit && context.world && !(noSplit && *noSplit)) {
    int64_t devices = context.info.numDevices();
    if (absl::Status s = initComm(*context.world, devices, context.rank,
                                  "the job", &worldComm);
        !s.ok())
      return s;
    for (size_t id = 0; id < context.groups.size(); ++id) {
      const palmrt_context::Group &g = context.groups[id];
      if (g.size == 1)
        continue;
      nccl::Result r =
          nccl->CommSplit(worldComm, static_cast<int>(g.color),
                          static_cast<int>(g.index), &groupComms[id], nullptr);
      if (r != nccl::kSuccess)
        return absl::UnavailableError(absl::StrCat(
            "NCCL cannot split the communicator of group ", id, " (", g.size,
            " devices): ", nccl->errorString(r, worldComm)));
    }
    return absl::OkStatus();
  }
  for (size_t id = 0; id < context.groups.size(); ++id) {
    palmrt_context::Group &g = context.groups[id];
    if (g.size == 1)
      continue;
    if (absl::Status s = initComm(*g.transport, g.size, g.index,
                                  absl::StrCat("group ", id), &groupComms[id]);
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

nccl::Comm CudaDevice::comm(int32_t group) const { return groupComms[group]; }

void CudaDevice::checkNccl(nccl::Result result, const char *call,
                           int32_t group) const {
  if (result == nccl::kSuccess)
    return;
  waitIfWatchdogFired();
  fatal(absl::StrCat(call, " on group ", group,
                     " failed: ", nccl->errorString(result, comm(group))));
}

void *CudaDevice::scratch(int which, int64_t bytes) {
  Scratch &s = scratchBuffers[which];
  if (s.bytes >= bytes)
    return reinterpret_cast<void *>(static_cast<uintptr_t>(s.pointer));
  // Earlier collectives may still read the old buffer.
  check(cu.StreamSynchronize(comms), "cuStreamSynchronize");
  check(cu.StreamSynchronize(compute), "cuStreamSynchronize");
  if (s.pointer)
    check(cu.MemFree(s.pointer), "cuMemFree");
  s.pointer = 0;
  s.bytes = 0;
  int64_t rounded = (bytes + (1 << 20) - 1) >> 20 << 20;
  cu::Result r = cu.MemAlloc(&s.pointer, static_cast<size_t>(rounded));
  if (r != cu::kSuccess)
    fatal(absl::StrCat("cannot allocate ", rounded, " bytes of scratch on ",
                       describe(), ": ", cu.errorString(r)));
  s.bytes = rounded;
  return reinterpret_cast<void *>(static_cast<uintptr_t>(s.pointer));
}

CudaDevice::CommSpan CudaDevice::beginCollective(const char *name,
                                                 int32_t group, int64_t bytes) {
  check(cu.EventRecord(computeReady, compute), "cuEventRecord");
  check(cu.StreamWaitEvent(comms, computeReady, 0), "cuStreamWaitEvent");
  if (watchdog && ctx->groups[group].size > 1)
    watchdog->issued(name, group);
  CommSpan span{nullptr, name, group, bytes};
  if (inStep) {
    span.start = timingEvent();
    check(cu.EventRecord(span.start, comms), "cuEventRecord");
  }
  return span;
}

void CudaDevice::endCollective(CommSpan &span) {
  if (span.start) {
    cu::Event end = timingEvent();
    check(cu.EventRecord(end, comms), "cuEventRecord");
    recordSpan(span.start, end, span.name, "collective",
               absl::StrCat("\"group\":", span.group, ",\"bytes\":", span.bytes,
                            ",\"group_size\":", ctx->groups[span.group].size),
               true);
  }
  check(cu.EventRecord(commsDone, comms), "cuEventRecord");
  check(cu.StreamWaitEvent(compute, commsDone, 0), "cuStreamWaitEvent");
}

void CudaDevice::copyOnComms(void *dst, const void *src, int64_t bytes) {
  if (dst == src)
    return;
  check(cu.MemcpyDtoDAsync(reinterpret_cast<uintptr_t>(dst),
                           reinterpret_cast<uintptr_t>(src),
                           static_cast<size_t>(bytes), comms),
        "cuMemcpyDtoDAsync");
}

void CudaDevice::splitPieces(const void *whole, void *pieces,
                             const std::vector<int64_t> &shape, int32_t dim,
                             int64_t size, int64_t elemBytes) {
  BlockCopy c;
  c.src = whole;
  c.dst = pieces;
  c.srcShape = shape;
  c.dstShape = shape;
  c.dstShape[dim] /= size;
  c.block = c.dstShape;
  c.pieces = size;
  c.srcPieceStride = c.dstShape[dim] * strideOf(shape, dim);
  c.dstPieceStride = count(shape) / size;
  c.elemBytes = elemBytes;
  blockCopy(comms, c);
}

void CudaDevice::joinPieces(const void *pieces, void *whole,
                            const std::vector<int64_t> &pieceShape,
                            int32_t dim, int64_t size, int64_t elemBytes) {
  BlockCopy c;
  c.src = pieces;
  c.dst = whole;
  c.srcShape = pieceShape;
  c.dstShape = pieceShape;
  c.dstShape[dim] *= size;
  c.block = pieceShape;
  c.pieces = size;
  c.srcPieceStride = count(pieceShape);
  c.dstPieceStride = pieceShape[dim] * strideOf(c.dstShape, dim);
  c.elemBytes = elemBytes;
  blockCopy(comms, c);
}

void CudaDevice::allReduce(int32_t group, const void *in, void *out,
                           int64_t count, int32_t dtype, int32_t reduction) {
  int64_t bytes = count * dtypeBytes(dtype);
  CommSpan span = beginCollective("all_reduce", group, bytes);
  if (count > 0) {
    if (ctx->groups[group].size == 1) {
      copyOnComms(out, in, bytes);
    } else {
      checkNccl(nccl->AllReduce(in, out, static_cast<size_t>(count),
                                ncclType(dtype), ncclOp(reduction), comm(group),
                                comms),
                "ncclAllReduce", group);
    }
  }
  endCollective(span);
}

void CudaDevice::allGather(int32_t group, const void *in, void *out,
                           const std::vector<int64_t> &inShape, int32_t dim,
                           int32_t dtype) {
  int64_t elemBytes = dtypeBytes(dtype), n = count(inShape);
  int64_t size = ctx->groups[group].size;
  CommSpan span = beginCollective("all_gather", group, n * elemBytes);
  if (n > 0 && size == 1) {
    copyOnComms(out, in, n * elemBytes);
  } else if (n > 0) {
    bool contiguous = product(inShape.data(), 0, dim) == 1;
    void *gathered = contiguous ? out : scratch(1, n * size * elemBytes);
    checkNccl(nccl->AllGather(in, gathered, static_cast<size_t>(n),
                              ncclType(dtype), comm(group), comms),
              "ncclAllGather", group);
    if (!contiguous)
      joinPieces(gathered, out, inShape, dim, size, elemBytes);
  }
  endCollective(span);
}

void CudaDevice::reduceScatter(int32_t group, const void *in, void *out,
                               const std::vector<int64_t> &inShape, int32_t dim,
                               int32_t dtype, int32_t reduction) {
  int64_t elemBytes = dtypeBytes(dtype), n = count(inShape);
  int64_t size = ctx->groups[group].size;
  CommSpan span = beginCollective("reduce_scatter", group, n * elemBytes);
  if (n > 0 && size == 1) {
    copyOnComms(out, in, n * elemBytes);
  } else if (n > 0) {
    const void *send = in;
    if (product(inShape.data(), 0, dim) != 1) {
      void *packed = scratch(0, n * elemBytes);
      splitPieces(in, packed, inShape, dim, size, elemBytes);
      send = packed;
    }
    checkNccl(nccl->ReduceScatter(send, out, static_cast<size_t>(n / size),
                                  ncclType(dtype), ncclOp(reduction),
                                  comm(group), comms),
              "ncclReduceScatter", group);
  }
  endCollective(span);
}

void CudaDevice::allToAll(int32_t group, const void *in, void *out,
                          const std::vector<int64_t> &inShape, int32_t splitDim,
                          int32_t concatDim, int32_t dtype) {
  int64_t elemBytes = dtypeBytes(dtype), n = count(inShape);
  int64_t size = ctx->groups[group].size;
  CommSpan span = beginCollective("all_to_all", group, n * elemBytes);
  if (n > 0 && size == 1) {
    copyOnComms(out, in, n * elemBytes);
  } else if (n > 0) {
    std::vector<int64_t> piece = inShape;
    piece[splitDim] /= size;
    int64_t pieceCount = n / size, pieceBytes = pieceCount * elemBytes;
    const void *send = in;
    // Received pieces must not land on the input being sent.
    if (product(inShape.data(), 0, splitDim) != 1 || in == out) {
      void *packed = scratch(0, n * elemBytes);
      splitPieces(in, packed, inShape, splitDim, size, elemBytes);
      send = packed;
    }
    bool contiguous = product(piece.data(), 0, concatDim) == 1;
    void *recv = contiguous ? out : scratch(1, n * elemBytes);
    checkNccl(nccl->GroupStart(), "ncclGroupStart", group);
    for (int64_t j = 0; j < size; ++j) {
      checkNccl(nccl->Send(offset(send, j * pieceBytes),
                           static_cast<size_t>(pieceCount), ncclType(dtype),
                           static_cast<int>(j), comm(group), comms),
                "ncclSend", group);
      checkNccl(nccl->Recv(const_cast<char *>(offset(recv, j * pieceBytes)),
                           static_cast<size_t>(pieceCount), ncclType(dtype),
                           static_cast<int>(j), comm(group), comms),
                "ncclRecv", group);
    }
    checkNccl(nccl->GroupEnd(), "ncclGroupEnd", group);
    if (!contiguous)
      joinPieces(recv, out, piece, concatDim, size, elemBytes);
  }
  endCollective(span);
}

void CudaDevice::permute(int32_t group, const void *in, void *out,
                         int64_t count, int32_t dtype,
                         const std::vector<int64_t> &sendTo, int64_t recvFrom) {
  int64_t bytes = count * dtypeBytes(dtype);
  int64_t index = ctx->groups[group].index;
  CommSpan span = beginCollective("collective_permute", group, bytes);
  auto copyOn = [&](void *dst, const void *src) {
    copyOnComms(dst, src, bytes);
  };
  if (bytes > 0) {
    bool selfCopy = recvFrom == index;
    int64_t remoteFrom = selfCopy ? -1 : recvFrom;
    if (selfCopy && in != out)
      copyOn(out, in);
    if (remoteFrom >= 0 || !sendTo.empty()) {
      // Receiving into the buffer being sent would corrupt the send.
      void *target = in == out && remoteFrom >= 0 ? scratch(1, bytes) : out;
      checkNccl(nccl->GroupStart(), "ncclGroupStart", group);
      for (int64_t to : sendTo)
        checkNccl(nccl->Send(in, static_cast<size_t>(count), ncclType(dtype),
                             static_cast<int>(to), comm(group), comms),
                  "ncclSend", group);
      if (remoteFrom >= 0)
        checkNccl(nccl->Recv(target, static_cast<size_t>(count),
                             ncclType(dtype), static_cast<int>(remoteFrom),
                             comm(group), comms),
                  "ncclRecv", group);
      checkNccl(nccl->GroupEnd(), "ncclGroupEnd", group);
      if (target != out)
        copyOn(out, target);
    }
    if (recvFrom < 0)
      check(cu.MemsetD8Async(reinterpret_cast<uintptr_t>(out), 0, bytes, comms),
            "cuMemsetD8Async");
  }
  endCollective(span);
}

void CudaDevice::allSlice(int32_t group, const void *in, void *out,
                          const std::vector<int64_t> &inShape, int32_t dim,
                          int32_t dtype) {
  // No communication: data movement on the compute stream.
  palmrt_context::Group &g = ctx->groups[group];
  int64_t elemBytes = dtypeBytes(dtype), n = count(inShape);
  int64_t extent = inShape[dim];
  int64_t local = (extent + g.size - 1) / g.size;
  int64_t start = g.index * local;
  std::vector<int64_t> outShape = inShape;
  outShape[dim] = local;
  int64_t outBytes = count(outShape) * elemBytes;
  if (n == 0 || outBytes == 0 || (in == out && g.size == 1))
    return;
  cu::Event traced = traceStart();
  if (in == out) {
    void *copy = scratch(0, n * elemBytes);
    check(cu.MemcpyDtoDAsync(reinterpret_cast<uintptr_t>(copy),
                             reinterpret_cast<uintptr_t>(in), n * elemBytes,
                             compute),
          "cuMemcpyDtoDAsync");
    in = copy;
  }
  BlockCopy c;
  c.src = in;
  c.dst = out;
  c.srcShape = inShape;
  c.dstShape = outShape;
  c.block = outShape;
  c.block[dim] = std::clamp<int64_t>(extent - start, 0, local);
  c.srcAt.assign(inShape.size(), 0);
  c.srcAt[dim] = start;
  c.elemBytes = elemBytes;
  if (c.block[dim] < local)
    check(cu.MemsetD8Async(reinterpret_cast<uintptr_t>(out), 0, outBytes,
                           compute),
          "cuMemsetD8Async");
  blockCopy(compute, c);
  traceEnd(traced, "all_slice", "data", "");
}

} // namespace palmrt
