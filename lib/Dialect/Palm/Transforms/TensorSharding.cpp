//===- TensorSharding.cpp - shardings as the passes build them ------------===//

#include "palm/Dialect/Palm/Transforms/TensorSharding.h"

using namespace mlir;
using namespace mlir::palm;

MeshInfo::MeshInfo(MeshOp mesh)
    : symbol(FlatSymbolRefAttr::get(mesh.getSymNameAttr())) {
  for (auto [name, size] : llvm::zip(mesh.getAxisNames(), mesh.getShape())) {
    axes.push_back(cast<StringAttr>(name));
    sizes.push_back(size);
  }
}

unsigned MeshInfo::index(StringAttr axis) const {
  for (auto [i, a] : llvm::enumerate(axes))
    if (a == axis)
      return i;
  llvm_unreachable("axis not in mesh");
}

int64_t MeshInfo::size(StringAttr axis) const { return sizes[index(axis)]; }

int64_t MeshInfo::size(ArrayRef<StringAttr> list) const {
  int64_t n = 1;
  for (StringAttr axis : list)
    n *= size(axis);
  return n;
}

TensorSharding TensorSharding::replicated(int64_t rank) {
  TensorSharding s;
  s.dims.resize(rank);
  return s;
}

TensorSharding TensorSharding::fromAttr(ShardingAttr attr,
                                        const MeshInfo &mesh) {
  TensorSharding s;
  for (AxisListAttr dim : attr.getDims())
    s.dims.emplace_back(dim.getAxes().begin(), dim.getAxes().end());
  for (auto [axis, kind] :
       llvm::zip(attr.getUnreducedAxes(), attr.getUnreducedKinds()))
    s.unreduced.push_back({axis, kind});
  s.canonicalize(mesh);
  return s;
}

ShardingAttr TensorSharding::toAttr(MLIRContext *ctx,
                                    const MeshInfo &mesh) const {
  SmallVector<AxisListAttr> dimAttrs;
  for (const auto &dim : dims)
    dimAttrs.push_back(AxisListAttr::get(ctx, dim));
  SmallVector<StringAttr> axes;
  SmallVector<ReductionKind> kinds;
  for (auto [axis, kind] : unreduced) {
    axes.push_back(axis);
    kinds.push_back(kind);
  }
  return ShardingAttr::get(ctx, mesh.getSymbol(), dimAttrs, axes, kinds);
}

bool TensorSharding::uses(StringAttr axis) const {
  for (const auto &dim : dims)
    if (llvm::is_contained(dim, axis))
      return true;
  return llvm::any_of(unreduced, [&](auto &u) { return u.first == axis; });
}

void TensorSharding::canonicalize(const MeshInfo &mesh) {
  llvm::sort(unreduced, [&](const auto &a, const auto &b) {
    return mesh.index(a.first) < mesh.index(b.first);
  });
}

SmallVector<int64_t> mlir::palm::localShape(ArrayRef<int64_t> global,
                                            const TensorSharding &sharding,
                                            const MeshInfo &mesh) {
  SmallVector<int64_t> shape;
  for (auto [size, axes] : llvm::zip(global, sharding.dims))
    shape.push_back(ceilDiv(size, mesh.size(axes)));
  return shape;
}

ArrayAttr mlir::palm::axesAttr(Builder &builder, ArrayRef<StringAttr> axes) {
  return builder.getArrayAttr(SmallVector<Attribute>(axes.begin(), axes.end()));
}

bool mlir::palm::nestsEvenly(int64_t size, int64_t outer, int64_t inner) {
  return ceilDiv(size, outer) == inner * ceilDiv(size, outer * inner);
}

SmallVector<StringAttr>
mlir::palm::summedAxes(const ShardingRule &rule, unsigned r,
                       function_ref<ArrayRef<StringAttr>(int64_t)> axesOf) {
  ArrayRef<int64_t> present = rule.getResultFactors(r);
  ArrayRef<int64_t> identical = rule.getResultIdenticalOver(r);
  auto inResult = [&](StringAttr a) {
    return llvm::any_of(present, [&](int64_t f) {
      return llvm::is_contained(axesOf(f), a);
    });
  };
  SmallVector<StringAttr> summed;
  for (auto [f, factor] : llvm::enumerate(rule.getFactors())) {
    if (factor.kind == FactorKind::LogSumExp ||
        llvm::is_contained(present, static_cast<int64_t>(f)) ||
        llvm::is_contained(identical, static_cast<int64_t>(f)))
      continue;
    for (StringAttr a : axesOf(f))
      if (!inResult(a) && !llvm::is_contained(summed, a))
        summed.push_back(a);
  }
  return summed;
}
