//===- ShardingUtils.cpp - shard sizes, bytes, function shardings ---------===//

#include "palm/Dialect/Palm/IR/ShardingUtils.h"

using namespace mlir;
using namespace mlir::palm;

int64_t mlir::palm::elementBytes(Type type) {
  unsigned bits = type.getIntOrFloatBitWidth();
  return (bits + 7) / 8;
}

int64_t mlir::palm::tensorBytes(ArrayRef<int64_t> shape, Type elementType) {
  int64_t n = elementBytes(elementType);
  for (int64_t size : shape)
    n *= size;
  return n;
}

ShardingAttr mlir::palm::getArgSharding(FunctionOpInterface fn,
                                        unsigned index) {
  return fn.getArgAttrOfType<ShardingAttr>(index,
                                           PalmDialect::kShardingAttrName);
}

ShardingAttr mlir::palm::getResultSharding(FunctionOpInterface fn,
                                           unsigned index) {
  return fn.getResultAttrOfType<ShardingAttr>(index,
                                              PalmDialect::kShardingAttrName);
}
