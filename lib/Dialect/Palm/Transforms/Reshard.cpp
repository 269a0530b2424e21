//===- Reshard.cpp - collectives between two shardings --------------------===//

#include "palm/Dialect/Palm/Transforms/Reshard.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::palm;

using AxisList = SmallVector<StringAttr, 2>;

static RankedTensorType withDim(Value v, int64_t dim, int64_t size) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(type.getShape());
  shape[dim] = size;
  return RankedTensorType::get(shape, type.getElementType());
}

Value Resharder::allGather(Location loc, Value v, ArrayRef<StringAttr> axes,
                           int64_t dim) {
  int64_t n = mesh.size(axes);
  auto type = cast<RankedTensorType>(v.getType());
  auto op = AllGatherOp::create(builder, 
      loc, withDim(v, dim, type.getDimSize(dim) * n), mesh.getSymbol(),
      axesAttr(builder, axes), v, builder.getI64IntegerAttr(dim));
  created(op);
  return op;
}

Value Resharder::allSlice(Location loc, Value v, ArrayRef<StringAttr> axes,
                          int64_t dim) {
  int64_t n = mesh.size(axes);
  auto type = cast<RankedTensorType>(v.getType());
  auto op = AllSliceOp::create(builder, 
      loc, withDim(v, dim, ceilDiv(type.getDimSize(dim), n)),
      mesh.getSymbol(), axesAttr(builder, axes), v,
      builder.getI64IntegerAttr(dim));
  created(op);
  return op;
}

Value Resharder::dropPadding(Location loc, Value v, int64_t dim,
                             int64_t size) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getDimSize(dim) == size)
    return v;
  SmallVector<OpFoldResult> offsets(type.getRank(), builder.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes, strides(type.getRank(),
                                           builder.getIndexAttr(1));
  for (int64_t d = 0; d < type.getRank(); ++d)
    sizes.push_back(
        builder.getIndexAttr(d == dim ? size : type.getDimSize(d)));
  return tensor::ExtractSliceOp::create(builder, loc, withDim(v, dim, size), v,
                                                offsets, sizes, strides);
}

Value Resharder::padTo(Location loc, Value v, int64_t dim, int64_t size) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getDimSize(dim) == size)
    return v;
  SmallVector<OpFoldResult> low(type.getRank(), builder.getIndexAttr(0));
  SmallVector<OpFoldResult> high(type.getRank(), builder.getIndexAttr(0));
  high[dim] = builder.getIndexAttr(size - type.getDimSize(dim));
  Value zero = arith::ConstantOp::create(builder, 
      loc, builder.getZeroAttr(type.getElementType()));
  return tensor::PadOp::create(builder, loc, withDim(v, dim, size), v, low,
                                       high, zero);
}

FailureOr<Value> Resharder::reshard(Location loc, Value v,
                                    ArrayRef<int64_t> global,
                                    const TensorSharding &from,
                                    const TensorSharding &requested) {
  if (from == requested)
    return v;
  // Axes of size 1 split nothing and reduce nothing: drop them, so that no
  // collective runs over a group of one device.
  auto strip = [&](TensorSharding s) {
    for (auto &dim : s.dims)
      llvm::erase_if(dim, [&](StringAttr a) { return mesh.size(a) == 1; });
    llvm::erase_if(s.unreduced,
                   [&](auto &u) { return mesh.size(u.first) == 1; });
    return s;
  };
  TensorSharding cur = strip(from);
  TensorSharding target = strip(requested);
  const TensorSharding &to = target;

  // A partial state can be resolved, never created from a full value.
  for (auto u : to.unreduced)
    if (!llvm::is_contained(cur.unreduced, u))
      return emitError(loc)
             << "cannot produce a partial value over axis '"
             << u.first.getValue() << "' from one that is not partial";

  v = reducePending(loc, v, global, cur, to);
  v = moveAxes(loc, v, global, cur, to);
  v = gatherLeaving(loc, v, global, cur, to);
  return sliceArriving(loc, v, global, cur, to);
}

Value Resharder::reducePending(Location loc, Value v, ArrayRef<int64_t> global,
                               TensorSharding &cur, const TensorSharding &to) {
  int64_t rank = global.size();
  for (ReductionKind kind : {ReductionKind::Sum, ReductionKind::Max}) {
    AxisList pending;
    for (auto [axis, k] : cur.unreduced)
      if (k == kind && !llvm::is_contained(to.unreduced,
                                           std::make_pair(axis, k)))
        pending.push_back(axis);
    if (pending.empty())
      continue;
    auto done = [&](StringAttr a) {
      return llvm::is_contained(pending, a);
    };
    llvm::erase_if(cur.unreduced, [&](auto &u) { return done(u.first); });
    bool scattered = false;
    for (int64_t d = 0; d < rank && !scattered; ++d) {
      ArrayRef<StringAttr> have = cur.dims[d], want = to.dims[d];
      if (want.size() < have.size() + pending.size() ||
          want.take_front(have.size()) != have)
        continue;
      ArrayRef<StringAttr> next = want.slice(have.size(), pending.size());
      if (!llvm::all_of(next, done))
        continue;
      int64_t n = mesh.size(next);
      if (!have.empty() && !nestsEvenly(global[d], mesh.size(have), n))
        continue;
      // From a whole dimension, pad it to a multiple of the group first.
      if (have.empty())
        v = padTo(loc, v, d, n * ceilDiv(global[d], n));
      auto type = cast<RankedTensorType>(v.getType());
      auto op = ReduceScatterOp::create(builder, 
          loc, withDim(v, d, type.getDimSize(d) / n), mesh.getSymbol(),
          axesAttr(builder, next), v,
          ReductionKindAttr::get(builder.getContext(), kind),
          builder.getI64IntegerAttr(d));
      created(op);
      v = op;
      cur.dims[d].append(next.begin(), next.end());
      scattered = true;
    }
    if (!scattered) {
      llvm::sort(pending, [&](StringAttr a, StringAttr b) {
        return mesh.index(a) < mesh.index(b);
      });
      auto op = AllReduceOp::create(builder, 
          loc, v.getType(), mesh.getSymbol(), axesAttr(builder, pending), v,
          ReductionKindAttr::get(builder.getContext(), kind));
      created(op);
      v = op;
    }
  }
  return v;
}

Value Resharder::moveAxes(Location loc, Value v, ArrayRef<int64_t> global,
                          TensorSharding &cur, const TensorSharding &to) {
  int64_t rank = global.size();
  for (int64_t src = 0; src < rank; ++src) {
    if (cur.dims[src].empty())
      continue;
    StringAttr axis = cur.dims[src].back();
    ArrayRef<StringAttr> keep = ArrayRef<StringAttr>(cur.dims[src]).drop_back();
    if (to.dims[src].size() < keep.size() ||
        ArrayRef<StringAttr>(to.dims[src]).take_front(keep.size()) != keep ||
        llvm::is_contained(to.dims[src], axis))
      continue;
    for (int64_t dst = 0; dst < rank; ++dst) {
      ArrayRef<StringAttr> have = cur.dims[dst], want = to.dims[dst];
      if (dst == src || want.size() <= have.size() ||
          want.take_front(have.size()) != have || want[have.size()] != axis)
        continue;
      int64_t n = mesh.size(axis);
      auto type = cast<RankedTensorType>(v.getType());
      if (type.getDimSize(dst) % n != 0 ||
          !nestsEvenly(global[src], mesh.size(keep), n) ||
          !nestsEvenly(global[dst], mesh.size(have), n))
        break;
      SmallVector<int64_t> shape(type.getShape());
      shape[dst] /= n;
      shape[src] *= n;
      auto op = AllToAllOp::create(builder, 
          loc, RankedTensorType::get(shape, type.getElementType()),
          mesh.getSymbol(), axesAttr(builder, {axis}), v,
          builder.getI64IntegerAttr(dst), builder.getI64IntegerAttr(src));
      created(op);
      v = op;
      cur.dims[src].pop_back();
      cur.dims[dst].push_back(axis);
      break;
    }
  }
  return v;
}

Value Resharder::gatherLeaving(Location loc, Value v, ArrayRef<int64_t> global,
                               TensorSharding &cur, const TensorSharding &to) {
  int64_t rank = global.size();
  for (int64_t d = 0; d < rank; ++d) {
    ArrayRef<StringAttr> have = cur.dims[d], want = to.dims[d];
    size_t common = 0;
    while (common < have.size() && common < want.size() &&
           have[common] == want[common])
      ++common;
    if (common == have.size())
      continue;
    ArrayRef<StringAttr> prefix = have.take_front(common);
    ArrayRef<StringAttr> leaving = have.drop_front(common);
    if (!prefix.empty() &&
        nestsEvenly(global[d], mesh.size(prefix), mesh.size(leaving))) {
      v = allGather(loc, v, leaving, d);
      cur.dims[d].resize(common);
    } else {
      v = dropPadding(loc, allGather(loc, v, have, d), d, global[d]);
      cur.dims[d].clear();
    }
  }
  return v;
}

Value Resharder::sliceArriving(Location loc, Value v, ArrayRef<int64_t> global,
                               TensorSharding &cur, const TensorSharding &to) {
  int64_t rank = global.size();
  for (int64_t d = 0; d < rank; ++d) {
    ArrayRef<StringAttr> have = cur.dims[d], want = to.dims[d];
    if (have.size() == want.size())
      continue;
    ArrayRef<StringAttr> arriving = want.drop_front(have.size());
    if (have.empty() ||
        nestsEvenly(global[d], mesh.size(have), mesh.size(arriving))) {
      v = allSlice(loc, v, arriving, d);
    } else {
      v = dropPadding(loc, allGather(loc, v, have, d), d, global[d]);
      v = allSlice(loc, v, want, d);
    }
    cur.dims[d] = to.dims[d];
  }
  return v;
}
