//===- collectives.cc - palmrt's collectives: checks, then the device ----===//
//
// The C entry points check what every backend relies on (dtypes,
// reductions, dimensions, groups, splits, permutation pairs) and hand the
// collective to the context's device, which accounts and traces it.
// `ctx->group(id)` is the group check: a bad id is fatal.
//
//===----------------------------------------------------------------------===//

#include "api/context.h"

#include "absl/strings/str_cat.h"

namespace palmrt {
namespace {

void checkDtype(int32_t dtype, const char *what) {
  if (dtypeBytes(dtype) == 0)
    fatal(absl::StrCat(what, ": unknown dtype ", dtype));
}

void checkReduction(int32_t dtype, int32_t reduction, const char *what) {
  if (reduction != PALMRT_SUM && reduction != PALMRT_MAX)
    fatal(absl::StrCat(what, ": unknown reduction ", reduction));
  checkDtype(dtype, what);
}

void checkDim(int32_t rank, int32_t dim, const char *what) {
  if (dim < 0 || dim >= rank)
    fatal(absl::StrCat(what, ": dimension ", dim, " of a rank-", rank,
                       " tensor"));
}

/// The checks of a collective along dimension `dim` of an `in_shape`
/// tensor, and that shape.
std::vector<int64_t> checkedShape(palmrt_context *ctx, const char *what,
                                  int32_t dtype, int32_t rank,
                                  const int64_t *in_shape, int32_t dim,
                                  int32_t group) {
  checkDtype(dtype, what);
  checkDim(rank, dim, what);
  (void)ctx->group(group);
  return std::vector<int64_t>(in_shape, in_shape + rank);
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
  (void)ctx->group(group);
  ctx->device->allReduce(group, in, out, count, dtype, reduction);
}

void palmrt_all_gather(palmrt_context *ctx, const void *in, void *out,
                       int32_t rank, const int64_t *in_shape, int32_t dim,
                       int32_t dtype, int32_t group) {
  std::vector<int64_t> shape =
      checkedShape(ctx, "palmrt_all_gather", dtype, rank, in_shape, dim, group);
  ctx->device->allGather(group, in, out, shape, dim, dtype);
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
  ctx->device->reduceScatter(group, in, out,
                             std::vector<int64_t>(in_shape, in_shape + rank),
                             dim, dtype, reduction);
}

void palmrt_all_to_all(palmrt_context *ctx, const void *in, void *out,
                       int32_t rank, const int64_t *in_shape, int32_t split_dim,
                       int32_t concat_dim, int32_t dtype, int32_t group) {
  const char *what = "palmrt_all_to_all";
  checkDtype(dtype, what);
  checkDim(rank, split_dim, what);
  checkDim(rank, concat_dim, what);
  palmrt_context::Group &g = ctx->group(group);
  if (in_shape[split_dim] % g.size != 0)
    fatal(absl::StrCat(what, ": dimension ", split_dim, " of size ",
                       in_shape[split_dim], " does not split over ", g.size,
                       " devices"));
  ctx->device->allToAll(group, in, out,
                        std::vector<int64_t>(in_shape, in_shape + rank),
                        split_dim, concat_dim, dtype);
}

void palmrt_collective_permute(palmrt_context *ctx, const void *in, void *out,
                               int64_t count, int32_t dtype, int32_t group,
                               int64_t num_pairs, const int64_t *pairs) {
  const char *what = "palmrt_collective_permute";
  checkDtype(dtype, what);
  palmrt_context::Group &g = ctx->group(group);
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
  ctx->device->permute(group, in, out, count, dtype, sendTo, recvFrom);
}

void palmrt_all_slice(palmrt_context *ctx, const void *in, void *out,
                      int32_t rank, const int64_t *in_shape, int32_t dim,
                      int32_t dtype, int32_t group) {
  std::vector<int64_t> shape =
      checkedShape(ctx, "palmrt_all_slice", dtype, rank, in_shape, dim, group);
  ctx->device->allSlice(group, in, out, shape, dim, dtype);
}

} // extern "C"
