//===- Reshard.h - collectives between two shardings ------------*- C++ -*-===//

#ifndef PALM_DIALECT_PALM_TRANSFORMS_RESHARD_H
#define PALM_DIALECT_PALM_TRANSFORMS_RESHARD_H

#include "mlir/IR/Builders.h"
#include "palm/Dialect/Palm/Transforms/TensorSharding.h"

#include <functional>
#include <string>

namespace mlir::palm {

/// Builds the collectives that take a local value from one sharding of a
/// global tensor to another, cheapest first: a pending reduction becomes a
/// reduce-scatter when the target splits a dimension over the reduced axes
/// and an all-reduce otherwise; an axis that moves between dimensions is an
/// all-to-all; axes leaving a dimension are all-gathered and axes arriving
/// are sliced without communication. Where an uneven dimension's shards do
/// not nest, the dimension is gathered whole, its padding dropped, and then
/// sliced again, so results are always exact.
class Resharder {
public:
  /// `explain`, when set, is called with each collective inserted.
  Resharder(OpBuilder &builder, const MeshInfo &mesh,
            std::function<void(Operation *)> explain = nullptr)
      : builder(builder), mesh(mesh), explain(std::move(explain)) {}

  /// Returns `value` (local, sharded `from`, of global shape `global`)
  /// resharded to `to`. Fails, with an error at `loc`, when `to` asks for a
  /// partial state `value` does not have.
  FailureOr<Value> reshard(Location loc, Value value,
                           ArrayRef<int64_t> global,
                           const TensorSharding &from,
                           const TensorSharding &requested);

private:
  // The steps of reshard, in order; each moves `cur` toward `to`, updating
  // both the value and `cur`.
  /// Resolves the partial sums and maxima `to` does not keep: a
  /// reduce-scatter where `to` splits a dimension over exactly those axes
  /// next, an all-reduce otherwise.
  Value reducePending(Location loc, Value v, ArrayRef<int64_t> global,
                      TensorSharding &cur, const TensorSharding &to);
  /// Moves an axis that ends one dimension's split and starts another's
  /// with one all-to-all.
  Value moveAxes(Location loc, Value v, ArrayRef<int64_t> global,
                 TensorSharding &cur, const TensorSharding &to);
  /// Gathers the axes leaving each dimension (the whole dimension, padding
  /// dropped, when the rest of its split does not nest).
  Value gatherLeaving(Location loc, Value v, ArrayRef<int64_t> global,
                      TensorSharding &cur, const TensorSharding &to);
  /// Slices the axes arriving in each dimension, without communication.
  Value sliceArriving(Location loc, Value v, ArrayRef<int64_t> global,
                      TensorSharding &cur, const TensorSharding &to);

  Value allGather(Location loc, Value v, ArrayRef<StringAttr> axes,
                  int64_t dim);
  Value allSlice(Location loc, Value v, ArrayRef<StringAttr> axes,
                 int64_t dim);
  /// Slices dimension `dim` down to `size`, dropping trailing padding.
  Value dropPadding(Location loc, Value v, int64_t dim, int64_t size);
  /// Pads dimension `dim` with zeros up to `size`.
  Value padTo(Location loc, Value v, int64_t dim, int64_t size);
  void created(Operation *op) {
    if (explain)
      explain(op);
  }

  OpBuilder &builder;
  const MeshInfo &mesh;
  std::function<void(Operation *)> explain;
};

} // namespace mlir::palm

#endif // PALM_DIALECT_PALM_TRANSFORMS_RESHARD_H
