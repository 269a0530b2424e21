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

std::optional<int64_t> mlir::palm::layerOf(Location loc) {
  std::optional<int64_t> layer;
  loc->walk([&](Location inner) {
    auto name = dyn_cast<NameLoc>(inner);
    if (!name)
      return WalkResult::advance();
    StringRef text = name.getName().getValue();
    for (size_t at = text.find("layers."); at != StringRef::npos;
         at = text.find("layers.", at + 1)) {
      if (at != 0 && text[at - 1] != '.')
        continue;
      StringRef rest = text.drop_front(at + strlen("layers."));
      int64_t index;
      if (rest.consumeInteger(10, index) ||
          (!rest.empty() && rest.front() != '.'))
        continue;
      layer = index;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return layer;
}
