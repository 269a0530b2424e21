//===- PalmDialect.cpp - palm dialect -------------------------------------===//

#include "palm/Dialect/Palm/IR/PalmDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "palm/Dialect/Palm/IR/PalmAttrs.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::palm;

#include "palm/Dialect/Palm/IR/PalmDialect.cpp.inc"
#include "palm/Dialect/Palm/IR/PalmEnums.cpp.inc"

void PalmDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "palm/Dialect/Palm/IR/PalmOps.cpp.inc"
      >();
}

/// Verifies a palm attribute on a function argument or result of type `type`.
/// Errors are reported at `loc`: the argument's own location, or the
/// function's for results.
/// `others` holds the value's other attributes.
static LogicalResult verifyValueAttr(Operation *op, Location loc,
                                     NamedAttribute attr, Type type,
                                     DictionaryAttr others, const Twine &what,
                                     bool isArgument) {
  StringRef name = attr.getName().getValue();
  if (name == PalmDialect::kShardingAttrName) {
    auto sharding = dyn_cast<ShardingAttr>(attr.getValue());
    if (!sharding)
      return emitError(loc) << "'" << name << "' on " << what
                             << " must be a #palm.sharding";
    auto global = others ? others.getAs<TypeAttr>(
                               PalmDialect::kGlobalTypeAttrName)
                         : TypeAttr();
    bool atLocalLevel = global && isa<RankedTensorType>(global.getValue());
    // At the local level the sharding describes the global value.
    if (failed(sharding.verifyFor(op, loc,
                                  atLocalLevel ? global.getValue() : type,
                                  what)))
      return failure();
    if (isArgument && !sharding.getUnreducedAxes().empty())
      return emitError(loc)
             << "sharding " << sharding << " on " << what
             << " has unreduced axes, but an argument is a whole value that "
                "the runtime splits into shards; it cannot be a partial one";
    if (!atLocalLevel)
      return success();
    // The local type must be the global value's shard.
    auto globalType = cast<RankedTensorType>(global.getValue());
    auto mesh =
        SymbolTable::lookupNearestSymbolFrom<MeshOp>(op, sharding.getMesh());
    SmallVector<int64_t> local;
    for (auto [size, dim] :
         llvm::zip(globalType.getShape(), sharding.getDims())) {
      int64_t n = 1;
      for (StringAttr axis : dim.getAxes())
        n *= mesh.getAxisSize(axis.getValue());
      local.push_back((size + n - 1) / n);
    }
    auto expected = RankedTensorType::get(local, globalType.getElementType());
    if (expected != type)
      return emitError(loc) << what << " has type " << type
                            << ", but its shard of " << globalType
                            << " under " << sharding << " is " << expected;
    return success();
  }
  if (name == PalmDialect::kGlobalTypeAttrName) {
    auto global = dyn_cast<TypeAttr>(attr.getValue());
    auto globalType =
        global ? dyn_cast<RankedTensorType>(global.getValue()) : nullptr;
    auto localType = dyn_cast<RankedTensorType>(type);
    if (!globalType || !globalType.hasStaticShape() || !localType ||
        globalType.getRank() != localType.getRank() ||
        globalType.getElementType() != localType.getElementType())
      return emitError(loc) << "'" << name << "' on " << what
                            << " must be a static tensor type of the same "
                               "rank and element type";
    if (getLevel(op) != Level::Local)
      return emitError(loc) << "'" << name << "' on " << what
                            << " belongs to the local level";
    return success();
  }
  if (name == PalmDialect::kNameAttrName) {
    auto str = dyn_cast<StringAttr>(attr.getValue());
    if (!str || str.getValue().empty())
      return emitError(loc) << "'" << name << "' on " << what
                             << " must be a non-empty string";
    return success();
  }
  if (isArgument && name == PalmDialect::kInitAttrName) {
    if (!isa<InitAttr>(attr.getValue()))
      return emitError(loc) << "'" << name << "' on " << what
                             << " must be a #palm.init";
    return success();
  }
  if (isArgument && name == PalmDialect::kRoleAttrName) {
    auto role = dyn_cast<StringAttr>(attr.getValue());
    if (!role || (role.getValue() != "state" && role.getValue() != "step"))
      return emitError(loc) << "'" << name << "' on " << what
                            << " must be \"state\" or \"step\"";
    return success();
  }
  if (isArgument && name == PalmDialect::kMicrobatchAttrName) {
    auto pair = dyn_cast<DenseI64ArrayAttr>(attr.getValue());
    if (!pair || pair.size() != 2 || pair[1] < 1 || pair[0] < 0 ||
        pair[0] >= pair[1])
      return emitError(loc) << "'" << name << "' on " << what
                            << " must be [index, count] with 0 <= index < "
                               "count";
    if (others && (others.get(PalmDialect::kInitAttrName) ||
                   others.get(PalmDialect::kRoleAttrName)))
      return emitError(loc) << "'" << name << "' on " << what
                            << " belongs to an input, not a parameter or "
                               "optimizer state";
    return success();
  }
  if (!isArgument && (name == PalmDialect::kGradOfAttrName ||
                      name == PalmDialect::kAliasesAttrName)) {
    auto index = dyn_cast<IntegerAttr>(attr.getValue());
    auto fn = dyn_cast<FunctionOpInterface>(op);
    if (!index || !fn || index.getInt() < 0 ||
        index.getInt() >= static_cast<int64_t>(fn.getNumArguments()))
      return emitError(loc) << "'" << name << "' on " << what
                            << " must be the number of an argument";
    if (fn.getArgumentTypes()[index.getInt()] != type)
      return emitError(loc) << "'" << name << "' on " << what << " names "
                            << "argument #" << index.getInt() << " of type "
                            << fn.getArgumentTypes()[index.getInt()]
                            << ", not the result's " << type;
    return success();
  }
  return emitError(loc) << "unknown palm attribute '" << name << "' on "
                         << what;
}

LogicalResult PalmDialect::verifyRegionArgAttribute(Operation *op,
                                                    unsigned regionIndex,
                                                    unsigned argIndex,
                                                    NamedAttribute attr) {
  Region &region = op->getRegion(regionIndex);
  if (region.empty() || argIndex >= region.front().getNumArguments())
    return op->emitError() << "palm attribute on argument #" << argIndex
                           << " that the region does not have";
  BlockArgument arg = region.front().getArgument(argIndex);
  auto fn = dyn_cast<FunctionOpInterface>(op);
  return verifyValueAttr(op, arg.getLoc(), attr, arg.getType(),
                         fn ? fn.getArgAttrDict(argIndex) : DictionaryAttr(),
                         "argument #" + Twine(argIndex), /*isArgument=*/true);
}

LogicalResult PalmDialect::verifyRegionResultAttribute(Operation *op,
                                                       unsigned regionIndex,
                                                       unsigned resultIndex,
                                                       NamedAttribute attr) {
  auto fn = dyn_cast<FunctionOpInterface>(op);
  if (!fn || resultIndex >= fn.getResultTypes().size())
    return op->emitError() << "palm attribute on result #" << resultIndex
                           << " of an op that is not a function";
  return verifyValueAttr(op, op->getLoc(), attr,
                         fn.getResultTypes()[resultIndex],
                         fn.getResultAttrDict(resultIndex),
                         "result #" + Twine(resultIndex), /*isArgument=*/false);
}

LogicalResult PalmDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kLevelAttrName) {
    if (!isa<ModuleOp>(op))
      return op->emitError() << "'" << name << "' belongs on a module";
    if (!isa<LevelAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a #palm.level";
    return success();
  }
  if (name == kForwardFlopsAttrName) {
    if (!isa<ModuleOp>(op))
      return op->emitError() << "'" << name << "' belongs on a module";
    auto flops = dyn_cast<IntegerAttr>(attr.getValue());
    if (!flops || !flops.getType().isInteger(64) || flops.getInt() < 0)
      return op->emitError() << "'" << name
                             << "' must be a non-negative i64 (FLOPs)";
    return success();
  }
  if (name == kShardingsAttrName) {
    auto shardings = dyn_cast<ArrayAttr>(attr.getValue());
    if (!shardings)
      return op->emitError() << "'" << name
                             << "' must be an array of #palm.sharding";
    if (shardings.size() != op->getNumResults())
      return op->emitError()
             << "'" << name << "' has " << shardings.size()
             << " shardings for " << op->getNumResults() << " results";
    for (auto [i, s] : llvm::enumerate(shardings)) {
      auto sharding = dyn_cast<ShardingAttr>(s);
      if (!sharding)
        return op->emitError() << "'" << name << "' entry #" << i
                               << " must be a #palm.sharding";
      if (failed(sharding.verifyFor(op, op->getLoc(),
                                    op->getResult(i).getType(),
                                    "result #" + Twine(i))))
        return failure();
    }
    return success();
  }
  if (name == kMicrobatchAttrName) {
    auto index = dyn_cast<IntegerAttr>(attr.getValue());
    if (!index || !index.getType().isInteger(64) || index.getInt() < 0)
      return op->emitError() << "'" << name
                             << "' on an op must be a non-negative i64 (the "
                                "micro-batch it computes)";
    return success();
  }
  if (name == kRecomputedAttrName) {
    if (!isa<UnitAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a unit attribute";
    return success();
  }
  if (name == kShardingAttrName)
    return op->emitError() << "'" << name
                           << "' belongs on function arguments and results; "
                              "use '"
                           << kShardingsAttrName << "' on an op";
  return op->emitError() << "unknown palm attribute '" << name << "'";
}
