//===- host_collectives.cc - the CPU backend's collectives over MPI -------===//
//
// Collectives along an arbitrary dimension are the transport's flat
// collectives plus packing: the dimension is moved outermost (one piece per
// device, back to back) before sending and back after receiving. When every
// dimension before it has size 1 the pieces are already contiguous and the
// buffers are used as they are. bf16 reductions reduce in f32.
//
//===----------------------------------------------------------------------===//

#include "host/host_device.h"

#include "api/context.h"
#include "base/bf16.h"
#include "base/layout.h"
#include "base/trace.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstring>

namespace palmrt {
namespace {

/// Accounts the enclosing collective to the step and traces it.
class CollectiveScope {
public:
  CollectiveScope(palmrt_context *ctx, const char *name, int32_t group,
                  int64_t bytes)
      : ctx(ctx), name(name), group(group), bytes(bytes), start(nowSeconds()) {}
  ~CollectiveScope() {
    double end = nowSeconds();
    ctx->collectiveSeconds += end - start;
    ++ctx->collectiveCalls;
    if (Tracer *tracer = activeTracer())
      tracer->complete(
          name, "collective", start, end,
          absl::StrCat("\"group\":", group, ",\"bytes\":", bytes,
                       ",\"group_size\":", ctx->groups[group].size));
  }

private:
  palmrt_context *ctx;
  const char *name;
  int32_t group;
  int64_t bytes;
  double start;
};

/// The shape with `dim` scaled by `mul` and divided by `div`.
std::vector<int64_t> reshaped(int32_t rank, const int64_t *shape, int32_t dim,
                              int64_t mul, int64_t div) {
  std::vector<int64_t> out(shape, shape + rank);
  out[dim] = out[dim] * mul / div;
  return out;
}

/// Copies piece j (of `pieces` along `dim`) of `whole` into consecutive
/// buffers of `pieceShape` in `packed`, or back with `unpack`.
void movePieces(const void *whole, void *packed, int32_t rank,
                const std::vector<int64_t> &wholeShape,
                const std::vector<int64_t> &pieceShape, int32_t dim,
                int64_t pieces, int64_t elemBytes, bool unpack) {
  int64_t pieceBytes = product(pieceShape.data(), 0, rank) * elemBytes;
  std::vector<int64_t> offsets(rank, 0);
  for (int64_t j = 0; j < pieces; ++j) {
    offsets[dim] = j * pieceShape[dim];
    char *piece = static_cast<char *>(packed) + j * pieceBytes;
    if (unpack)
      copyBlock(piece, pieceShape.data(), nullptr, const_cast<void *>(whole),
                wholeShape.data(), offsets.data(), pieceShape.data(), rank,
                elemBytes);
    else
      copyBlock(whole, wholeShape.data(), offsets.data(), piece,
                pieceShape.data(), nullptr, pieceShape.data(), rank, elemBytes);
  }
}

/// The group and sizes of a collective over an `inShape` tensor.
struct Shaped {
  palmrt_context::Group &g;
  int32_t rank;
  int64_t elemBytes, count;
};

Shaped shaped(palmrt_context *ctx, int32_t group,
              const std::vector<int64_t> &inShape, int32_t dtype) {
  int32_t rank = static_cast<int32_t>(inShape.size());
  return {ctx->group(group), rank, dtypeBytes(dtype),
          product(inShape.data(), 0, rank)};
}

/// A group of one device: the collective is a copy, made here.
bool copiedAlone(const palmrt_context::Group &g, const void *in, void *out,
                 int64_t bytes) {
  if (g.size != 1)
    return false;
  std::memmove(out, in, bytes);
  return true;
}

void reduceScatterImpl(palmrt_context *ctx, const void *in, void *out,
                       int32_t rank, const int64_t *in_shape, int32_t dim,
                       int32_t dtype, int32_t reduction,
                       palmrt_context::Group &g) {
  int64_t elemBytes = dtypeBytes(dtype);
  std::vector<int64_t> whole(in_shape, in_shape + rank);
  std::vector<int64_t> piece = reshaped(rank, in_shape, dim, 1, g.size);
  int64_t pieceCount = product(piece.data(), 0, rank);
  const void *send = in;
  if (product(in_shape, 0, dim) != 1) {
    void *packed =
        ctx->scratch(ctx->scratchIn, pieceCount * g.size * elemBytes);
    movePieces(in, packed, rank, whole, piece, dim, g.size, elemBytes, false);
    send = packed;
  }
  g.transport->reduceScatter(send, out, pieceCount, dtype, reduction);
}

} // namespace

void HostDevice::allReduce(int32_t group, const void *in, void *out,
                           int64_t count, int32_t dtype, int32_t reduction) {
  palmrt_context::Group &g = ctx->group(group);
  int64_t bytes = count * dtypeBytes(dtype);
  CollectiveScope scope(ctx, "all_reduce", group, bytes);
  if (in != out)
    std::memmove(out, in, bytes);
  if (g.size == 1 || count == 0)
    return;
  if (dtype == PALMRT_BF16) {
    std::vector<float> wide = widenBf16(out, count);
    g.transport->allReduce(wide.data(), count, PALMRT_F32, reduction);
    narrowToBf16(wide.data(), out, count);
    return;
  }
  g.transport->allReduce(out, count, dtype, reduction);
}

void HostDevice::allGather(int32_t group, const void *in, void *out,
                           const std::vector<int64_t> &inShape, int32_t dim,
                           int32_t dtype) {
  auto [g, rank, elemBytes, count] = shaped(ctx, group, inShape, dtype);
  CollectiveScope scope(ctx, "all_gather", group, count * elemBytes);
  if (copiedAlone(g, in, out, count * elemBytes))
    return;
  if (product(inShape.data(), 0, dim) == 1) {
    g.transport->allGather(in, out, count, dtype);
    return;
  }
  void *gathered = ctx->scratch(ctx->scratchOut, count * g.size * elemBytes);
  g.transport->allGather(in, gathered, count, dtype);
  std::vector<int64_t> whole = reshaped(rank, inShape.data(), dim, g.size, 1);
  movePieces(out, gathered, rank, whole, inShape, dim, g.size, elemBytes, true);
}

void HostDevice::reduceScatter(int32_t group, const void *in, void *out,
                               const std::vector<int64_t> &inShape, int32_t dim,
                               int32_t dtype, int32_t reduction) {
  auto [g, rank, elemBytes, count] = shaped(ctx, group, inShape, dtype);
  CollectiveScope scope(ctx, "reduce_scatter", group, count * elemBytes);
  if (copiedAlone(g, in, out, count * elemBytes))
    return;
  if (dtype == PALMRT_BF16) {
    std::vector<float> wide = widenBf16(in, count);
    std::vector<float> result(count / g.size);
    reduceScatterImpl(ctx, wide.data(), result.data(), rank, inShape.data(),
                      dim, PALMRT_F32, reduction, g);
    narrowToBf16(result.data(), out, count / g.size);
    return;
  }
  reduceScatterImpl(ctx, in, out, rank, inShape.data(), dim, dtype, reduction,
                    g);
}

void HostDevice::allToAll(int32_t group, const void *in, void *out,
                          const std::vector<int64_t> &inShape, int32_t splitDim,
                          int32_t concatDim, int32_t dtype) {
  auto [g, rank, elemBytes, count] = shaped(ctx, group, inShape, dtype);
  CollectiveScope scope(ctx, "all_to_all", group, count * elemBytes);
  if (copiedAlone(g, in, out, count * elemBytes))
    return;
  std::vector<int64_t> piece =
      reshaped(rank, inShape.data(), splitDim, 1, g.size);
  std::vector<int64_t> outShape =
      reshaped(rank, piece.data(), concatDim, g.size, 1);
  int64_t pieceCount = count / g.size;
  const void *send = in;
  if (product(inShape.data(), 0, splitDim) != 1 || in == out) {
    void *packed = ctx->scratch(ctx->scratchIn, count * elemBytes);
    movePieces(in, packed, rank, inShape, piece, splitDim, g.size, elemBytes,
               false);
    send = packed;
  }
  if (product(piece.data(), 0, concatDim) == 1) {
    g.transport->allToAll(send, out, pieceCount, dtype);
    return;
  }
  void *received = ctx->scratch(ctx->scratchOut, count * elemBytes);
  g.transport->allToAll(send, received, pieceCount, dtype);
  movePieces(out, received, rank, outShape, piece, concatDim, g.size, elemBytes,
             true);
}

void HostDevice::permute(int32_t group, const void *in, void *out,
                         int64_t count, int32_t dtype,
                         const std::vector<int64_t> &sendTo, int64_t recvFrom) {
  palmrt_context::Group &g = ctx->group(group);
  int64_t bytes = count * dtypeBytes(dtype);
  CollectiveScope scope(ctx, "collective_permute", group, bytes);
  bool selfCopy = recvFrom == g.index;
  int64_t remoteFrom = selfCopy ? -1 : recvFrom;
  if (selfCopy && in != out)
    std::memmove(out, in, bytes);
  if (remoteFrom >= 0 || !sendTo.empty()) {
    // Receiving into the buffer being sent would corrupt the send.
    void *target = in == out && remoteFrom >= 0
                       ? ctx->scratch(ctx->scratchOut, bytes)
                       : out;
    g.transport->permute(in, target, count, dtype, sendTo, remoteFrom);
    if (target != out)
      std::memcpy(out, target, bytes);
  }
  if (recvFrom < 0)
    std::memset(out, 0, bytes);
}

void HostDevice::allSlice(int32_t group, const void *in, void *out,
                          const std::vector<int64_t> &inShape, int32_t dim,
                          int32_t dtype) {
  palmrt_context::Group &g = ctx->group(group);
  TraceScope trace("all_slice", "data");
  int32_t rank = static_cast<int32_t>(inShape.size());
  int64_t elemBytes = dtypeBytes(dtype);
  int64_t extent = inShape[dim];
  int64_t local = (extent + g.size - 1) / g.size;
  int64_t start = g.index * local;
  std::vector<int64_t> outShape = inShape;
  outShape[dim] = local;
  int64_t outBytes = product(outShape.data(), 0, rank) * elemBytes;
  int64_t inBytes = product(inShape.data(), 0, rank) * elemBytes;
  if (in == out) {
    if (g.size == 1)
      return;
    void *copy = ctx->scratch(ctx->scratchIn, inBytes);
    std::memcpy(copy, in, inBytes);
    in = copy;
  }
  std::vector<int64_t> block = outShape;
  block[dim] = std::clamp<int64_t>(extent - start, 0, local);
  std::vector<int64_t> offsets(rank, 0);
  offsets[dim] = start;
  if (block[dim] < local)
    std::memset(out, 0, outBytes);
  copyBlock(in, inShape.data(), offsets.data(), out, outShape.data(), nullptr,
            block.data(), rank, elemBytes);
}

} // namespace palmrt
