//===- collectives.cc - palmrt's collectives over a group -----------------===//
//
// Collectives along an arbitrary dimension are the transport's flat
// collectives plus packing: the dimension is moved outermost (one piece per
// device, back to back) before sending and back after receiving. When every
// dimension before it has size 1 the pieces are already contiguous and the
// buffers are used as they are. bf16 reductions reduce in f32.
//
// A context with a Device (a cuda program) hands every collective, once its
// arguments are checked, to the device, which times and traces it itself.
//
//===----------------------------------------------------------------------===//

#include "bf16.h"
#include "context.h"
#include "layout.h"
#include "trace.h"

#include "absl/strings/str_cat.h"

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

int64_t elemBytesOf(int32_t dtype, const char *what) {
  int64_t bytes = dtypeBytes(dtype);
  if (bytes == 0)
    fatal(absl::StrCat(what, ": unknown dtype ", dtype));
  return bytes;
}

void checkReduction(int32_t dtype, int32_t reduction, const char *what) {
  if (reduction != PALMRT_SUM && reduction != PALMRT_MAX)
    fatal(absl::StrCat(what, ": unknown reduction ", reduction));
  (void)elemBytesOf(dtype, what);
}

void checkDim(int32_t rank, int32_t dim, const char *what) {
  if (dim < 0 || dim >= rank)
    fatal(absl::StrCat(what, ": dimension ", dim, " of a rank-", rank,
                       " tensor"));
}

std::vector<float> toFloat(const void *in, int64_t count) {
  std::vector<float> out(count);
  const auto *src = static_cast<const uint16_t *>(in);
  for (int64_t i = 0; i < count; ++i)
    out[i] = bf16ToFloat(src[i]);
  return out;
}

void fromFloat(const float *in, void *out, int64_t count) {
  auto *dst = static_cast<uint16_t *>(out);
  for (int64_t i = 0; i < count; ++i)
    dst[i] = floatToBf16(in[i]);
}

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
} // namespace palmrt

using namespace palmrt;

extern "C" {

int64_t palmrt_group_index(palmrt_context *ctx, int32_t group) {
  return ctx->group(group).index;
}

int64_t palmrt_group_size(palmrt_context *ctx, int32_t group) {
  return ctx->group(group).size;
}

void palmrt_all_reduce(palmrt_context *ctx, const void *in, void *out,
                       int64_t count, int32_t dtype, int32_t reduction,
                       int32_t group) {
  checkReduction(dtype, reduction, "palmrt_all_reduce");
  palmrt_context::Group &g = ctx->group(group);
  if (ctx->device)
    return ctx->device->allReduce(group, in, out, count, dtype, reduction);
  int64_t bytes = count * dtypeBytes(dtype);
  CollectiveScope scope(ctx, "all_reduce", group, bytes);
  if (in != out)
    std::memmove(out, in, bytes);
  if (g.size == 1 || count == 0)
    return;
  if (dtype == PALMRT_BF16) {
    std::vector<float> wide = toFloat(out, count);
    g.transport->allReduce(wide.data(), count, PALMRT_F32, reduction);
    fromFloat(wide.data(), out, count);
    return;
  }
  g.transport->allReduce(out, count, dtype, reduction);
}

void palmrt_all_gather(palmrt_context *ctx, const void *in, void *out,
                       int32_t rank, const int64_t *in_shape, int32_t dim,
                       int32_t dtype, int32_t group) {
  const char *what = "palmrt_all_gather";
  int64_t elemBytes = elemBytesOf(dtype, what);
  checkDim(rank, dim, what);
  palmrt_context::Group &g = ctx->group(group);
  if (ctx->device)
    return ctx->device->allGather(
        group, in, out, std::vector<int64_t>(in_shape, in_shape + rank), dim,
        dtype);
  int64_t count = product(in_shape, 0, rank);
  CollectiveScope scope(ctx, "all_gather", group, count * elemBytes);
  if (g.size == 1) {
    std::memmove(out, in, count * elemBytes);
    return;
  }
  if (product(in_shape, 0, dim) == 1) {
    g.transport->allGather(in, out, count, dtype);
    return;
  }
  void *gathered = ctx->scratch(ctx->scratchOut, count * g.size * elemBytes);
  g.transport->allGather(in, gathered, count, dtype);
  std::vector<int64_t> piece(in_shape, in_shape + rank);
  std::vector<int64_t> whole = reshaped(rank, in_shape, dim, g.size, 1);
  movePieces(out, gathered, rank, whole, piece, dim, g.size, elemBytes, true);
}

void palmrt_reduce_scatter(palmrt_context *ctx, const void *in, void *out,
                           int32_t rank, const int64_t *in_shape, int32_t dim,
                           int32_t dtype, int32_t reduction, int32_t group) {
  const char *what = "palmrt_reduce_scatter";
  checkReduction(dtype, reduction, what);
  checkDim(rank, dim, what);
  palmrt_context::Group &g = ctx->group(group);
  if (in_shape[dim] % g.size != 0)
    fatal(absl::StrCat(what, ": dimension ", dim, " of size ", in_shape[dim],
                       " does not split over ", g.size, " devices"));
  if (ctx->device)
    return ctx->device->reduceScatter(
        group, in, out, std::vector<int64_t>(in_shape, in_shape + rank), dim,
        dtype, reduction);
  int64_t count = product(in_shape, 0, rank);
  CollectiveScope scope(ctx, "reduce_scatter", group,
                        count * dtypeBytes(dtype));
  if (g.size == 1) {
    std::memmove(out, in, count * dtypeBytes(dtype));
    return;
  }
  if (dtype == PALMRT_BF16) {
    std::vector<float> wide = toFloat(in, count);
    std::vector<float> result(count / g.size);
    reduceScatterImpl(ctx, wide.data(), result.data(), rank, in_shape, dim,
                      PALMRT_F32, reduction, g);
    fromFloat(result.data(), out, count / g.size);
    return;
  }
  reduceScatterImpl(ctx, in, out, rank, in_shape, dim, dtype, reduction, g);
}

void palmrt_all_to_all(palmrt_context *ctx, const void *in, void *out,
                       int32_t rank, const int64_t *in_shape, int32_t split_dim,
                       int32_t concat_dim, int32_t dtype, int32_t group) {
  const char *what = "palmrt_all_to_all";
  int64_t elemBytes = elemBytesOf(dtype, what);
  checkDim(rank, split_dim, what);
  checkDim(rank, concat_dim, what);
  palmrt_context::Group &g = ctx->group(group);
  if (in_shape[split_dim] % g.size != 0)
    fatal(absl::StrCat(what, ": dimension ", split_dim, " of size ",
                       in_shape[split_dim], " does not split over ", g.size,
                       " devices"));
  if (ctx->device)
    return ctx->device->allToAll(
        group, in, out, std::vector<int64_t>(in_shape, in_shape + rank),
        split_dim, concat_dim, dtype);
  int64_t count = product(in_shape, 0, rank);
  CollectiveScope scope(ctx, "all_to_all", group, count * elemBytes);
  if (g.size == 1) {
    std::memmove(out, in, count * elemBytes);
    return;
  }
  std::vector<int64_t> whole(in_shape, in_shape + rank);
  std::vector<int64_t> piece = reshaped(rank, in_shape, split_dim, 1, g.size);
  std::vector<int64_t> outShape =
      reshaped(rank, piece.data(), concat_dim, g.size, 1);
  int64_t pieceCount = count / g.size;
  const void *send = in;
  if (product(in_shape, 0, split_dim) != 1 || in == out) {
    void *packed = ctx->scratch(ctx->scratchIn, count * elemBytes);
    movePieces(in, packed, rank, whole, piece, split_dim, g.size, elemBytes,
               false);
    send = packed;
  }
  if (product(piece.data(), 0, concat_dim) == 1) {
    g.transport->allToAll(send, out, pieceCount, dtype);
    return;
  }
  void *received = ctx->scratch(ctx->scratchOut, count * elemBytes);
  g.transport->allToAll(send, received, pieceCount, dtype);
  movePieces(out, received, rank, outShape, piece, concat_dim, g.size,
             elemBytes, true);
}

void palmrt_collective_permute(palmrt_context *ctx, const void *in, void *out,
                               int64_t count, int32_t dtype, int32_t group,
                               int64_t num_pairs, const int64_t *pairs) {
  const char *what = "palmrt_collective_permute";
  int64_t elemBytes = elemBytesOf(dtype, what);
  palmrt_context::Group &g = ctx->group(group);
  int64_t bytes = count * elemBytes;
  std::vector<int64_t> sendTo;
  int64_t recvFrom = -1;
  for (int64_t i = 0; i < num_pairs; ++i) {
    int64_t from = pairs[2 * i], to = pairs[2 * i + 1];
    if (from < 0 || from >= g.size || to < 0 || to >= g.size)
      fatal(absl::StrCat(what, ": pair (", from, ", ", to,
                         ") is outside a group of ", g.size));
    if (to == g.index) {
      if (recvFrom >= 0)
        fatal(absl::StrCat(what, ": device ", to, " receives twice"));
      recvFrom = from;
    }
    if (from == g.index && to != g.index)
      sendTo.push_back(to);
  }
  if (ctx->device)
    return ctx->device->permute(group, in, out, count, dtype, sendTo, recvFrom);
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

void palmrt_all_slice(palmrt_context *ctx, const void *in, void *out,
                      int32_t rank, const int64_t *in_shape, int32_t dim,
                      int32_t dtype, int32_t group) {
  const char *what = "palmrt_all_slice";
  int64_t elemBytes = elemBytesOf(dtype, what);
  checkDim(rank, dim, what);
  palmrt_context::Group &g = ctx->group(group);
  if (ctx->device)
    return ctx->device->allSlice(
        group, in, out, std::vector<int64_t>(in_shape, in_shape + rank), dim,
        dtype);
  TraceScope trace("all_slice", "data");
  int64_t extent = in_shape[dim];
  int64_t local = (extent + g.size - 1) / g.size;
  int64_t start = g.index * local;
  std::vector<int64_t> outShape(in_shape, in_shape + rank);
  outShape[dim] = local;
  int64_t outBytes = product(outShape.data(), 0, rank) * elemBytes;
  if (in == out) {
    if (g.size == 1)
      return;
    void *copy =
        ctx->scratch(ctx->scratchIn, product(in_shape, 0, rank) * elemBytes);
    std::memcpy(copy, in, product(in_shape, 0, rank) * elemBytes);
    in = copy;
  }
  std::vector<int64_t> block = outShape;
  block[dim] = std::clamp<int64_t>(extent - start, 0, local);
  std::vector<int64_t> offsets(rank, 0);
  offsets[dim] = start;
  if (block[dim] < local)
    std::memset(out, 0, outBytes);
  copyBlock(in, in_shape, offsets.data(), out, outShape.data(), nullptr,
            block.data(), rank, elemBytes);
}

} // extern "C"
