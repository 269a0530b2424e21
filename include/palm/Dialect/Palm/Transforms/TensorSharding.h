//===- TensorSharding.h - shardings as the passes build them ----*- C++ -*-===//
//
// A mutable form of #palm.sharding, mesh sizes, and the local-shape
// arithmetic that propagation, partitioning and resharding share. Helpers
// the lowering needs too are in palm/Dialect/Palm/IR/ShardingUtils.h.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_DIALECT_PALM_TRANSFORMS_TENSORSHARDING_H
#define PALM_DIALECT_PALM_TRANSFORMS_TENSORSHARDING_H

#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"
#include "llvm/ADT/SmallVector.h"

#include <utility>

namespace mlir::palm {

/// Axis names and sizes of one palm.mesh, in declaration order.
class MeshInfo {
public:
  MeshInfo() = default;
  explicit MeshInfo(MeshOp mesh);

  FlatSymbolRefAttr getSymbol() const { return symbol; }
  /// Size of `axis`, which must exist.
  int64_t size(StringAttr axis) const;
  /// Product of the sizes of `axes`.
  int64_t size(ArrayRef<StringAttr> axes) const;
  /// Position of `axis` in the mesh, which orders axes canonically.
  unsigned index(StringAttr axis) const;
  ArrayRef<StringAttr> getAxes() const { return axes; }

private:
  FlatSymbolRefAttr symbol;
  SmallVector<StringAttr> axes;
  SmallVector<int64_t> sizes;
};

/// A #palm.sharding being built or compared. Unreduced axes are kept in
/// mesh order so that equal shardings compare equal.
struct TensorSharding {
  SmallVector<SmallVector<StringAttr, 2>> dims;
  SmallVector<std::pair<StringAttr, ReductionKind>> unreduced;

  static TensorSharding replicated(int64_t rank);
  static TensorSharding fromAttr(ShardingAttr attr, const MeshInfo &mesh);
  ShardingAttr toAttr(MLIRContext *ctx, const MeshInfo &mesh) const;

  /// True when `axis` splits a dimension or is unreduced.
  bool uses(StringAttr axis) const;
  /// True when some axis is unreduced.
  bool isPartial() const { return !unreduced.empty(); }
  /// Sorts the unreduced axes into mesh order.
  void canonicalize(const MeshInfo &mesh);
  bool operator==(const TensorSharding &other) const {
    return dims == other.dims && unreduced == other.unreduced;
  }
  bool operator!=(const TensorSharding &other) const {
    return !(*this == other);
  }
};

/// The per-device shape of `global` under `sharding`: each dimension is
/// ceil(size / product of its axes' sizes).
SmallVector<int64_t> localShape(ArrayRef<int64_t> global,
                                const TensorSharding &sharding,
                                const MeshInfo &mesh);

/// True when a dimension of global size `size`, split over axes of total
/// size `outer`, can be split further over axes of total size `inner` (as
/// minor axes) by slicing each shard: every shard of the coarse split is
/// exactly `inner` shards of the fine one, padding included.
bool nestsEvenly(int64_t size, int64_t outer, int64_t inner);

/// `axes` as the array attribute collectives take.
ArrayAttr axesAttr(Builder &builder, ArrayRef<StringAttr> axes);

/// The axes over which result `r` of an op is a partial sum when the op
/// computes with factor `f` split over `axesOf(f)` (empty when whole). A
/// rule reads as an einsum: a factor a result lacks is summed over, so its
/// split leaves the result partial (a contraction's reduction factor, a
/// masked lookup's table rows, the queries of an attention's key cotangent)
/// except over axes the result's own dimensions are split over (a grouped
/// factor split with its leader), for log-sum-exp factors, whose split
/// the partitioner expands into a softmax's statistics, and for factors the
/// result is identical over (ShardingRule::addResult). In factor order.
SmallVector<StringAttr>
summedAxes(const ShardingRule &rule, unsigned r,
           function_ref<ArrayRef<StringAttr>(int64_t)> axesOf);

/// True for ops through which a partial sum stays a partial sum (linear in
/// each operand, and every operand shares the partial state).
inline bool keepsPartialState(Operation *op) {
  return isa<AddOp, ScaleOp, TransposeOp, ReshapeOp, RopeOp>(op);
}

/// The operands of a bilinear op that may carry a partial sum through it
/// (its results are linear in each of them separately: a contraction, a
/// product, silu's cotangent in the cotangent), one operand per axis:
/// (sum_i a_i) b = sum_i (a_i b). Empty for every other op. A backward
/// pass's partial cotangents so reach the parameter gradients and the
/// layer's input cotangent, where they are reduced once.
inline SmallVector<unsigned, 2> passesOnePartial(Operation *op) {
  if (isa<DotGeneralOp, MulOp>(op))
    return {0, 1};
  if (isa<SiluGradOp>(op))
    return {1};
  return {};
}

} // namespace mlir::palm

#endif // PALM_DIALECT_PALM_TRANSFORMS_TENSORSHARDING_H
