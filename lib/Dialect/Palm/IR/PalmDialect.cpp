//===- PalmDialect.cpp - palm dialect -------------------------------------===//

#include "palm/Dialect/Palm/IR/PalmDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "palm/Dialect/Palm/IR/PalmAttrs.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
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
static LogicalResult verifyValueAttr(Operation *op, Location loc,
                                     NamedAttribute attr, Type type,
                                     const Twine &what, bool isArgument) {
  StringRef name = attr.getName().getValue();
  if (name == PalmDialect::kShardingAttrName) {
    auto sharding = dyn_cast<ShardingAttr>(attr.getValue());
    if (!sharding)
      return emitError(loc) << "'" << name << "' on " << what
                             << " must be a #palm.sharding";
    return sharding.verifyFor(op, loc, type, what);
  }
  if (isArgument && name == PalmDialect::kNameAttrName) {
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
  return verifyValueAttr(op, arg.getLoc(), attr, arg.getType(),
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
  if (name == kShardingAttrName)
    return op->emitError() << "'" << name
                           << "' belongs on function arguments and results; "
                              "use '"
                           << kShardingsAttrName << "' on an op";
  return op->emitError() << "unknown palm attribute '" << name << "'";
}
