//===- ProgramInfo.cpp - the program description for the runtime ---------===//

#include "ProgramInfo.h"

#include "palm/Conversion/Passes.h"
#include "palm/Dialect/Palm/IR/PalmDialect.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::palm;

static FailureOr<StringRef> dtypeName(Type type) {
  if (type.isF32())
    return StringRef("f32");
  if (type.isBF16())
    return StringRef("bf16");
  if (type.isInteger(32))
    return StringRef("i32");
  if (type.isInteger(64))
    return StringRef("i64");
  return failure();
}

/// " <dtype> <rank> <global dims> <local dims> <dim shardings>".
static LogicalResult describeValue(llvm::raw_ostream &os, Operation *anchor,
                                   const Twine &what, RankedTensorType local,
                                   RankedTensorType global,
                                   ShardingAttr sharding) {
  FailureOr<StringRef> dtype = dtypeName(local.getElementType());
  if (failed(dtype))
    return anchor->emitError() << what << " has element type "
                               << local.getElementType()
                               << ", which the runtime does not support";
  os << ' ' << *dtype << ' ' << global.getRank();
  for (int64_t d : global.getShape())
    os << ' ' << d;
  for (int64_t d : local.getShape())
    os << ' ' << d;
  for (int64_t d = 0; d < global.getRank(); ++d) {
    ArrayRef<StringAttr> axes;
    if (sharding)
      axes = sharding.getDims()[d].getAxes();
    if (axes.empty()) {
      os << " -";
      continue;
    }
    os << ' ';
    llvm::interleave(
        axes, os, [&](StringAttr a) { os << a.getValue(); }, ",");
  }
  return success();
}

/// Names go on one line among spaces: refuse what would break the format.
static LogicalResult checkName(Operation *anchor, StringRef name) {
  if (name.empty() || llvm::any_of(name, [](char c) {
        return c == ' ' || c == '\n' || c == '\t' || c == '\0';
      }))
    return anchor->emitError() << "name '" << name
                               << "' must be non-empty without spaces";
  return success();
}

FailureOr<std::string>
mlir::palm::describeProgram(func::FuncOp fn, MeshOp mesh,
                            ArrayRef<SmallVector<StringAttr, 2>> groups,
                            bool cuda) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "palm-program 1\n";
  if (cuda)
    os << "target cuda\n";
  if (auto module = fn->getParentOfType<ModuleOp>())
    if (auto flops = module->getAttrOfType<IntegerAttr>(
            PalmDialect::kForwardFlopsAttrName);
        flops && flops.getInt() > 0)
      os << "flops " << flops.getInt() << '\n';
  if (mesh) {
    os << "mesh " << mesh.getShape().size();
    for (auto [name, size] : llvm::zip(mesh.getAxisNames(), mesh.getShape()))
      os << ' ' << cast<StringAttr>(name).getValue() << ' ' << size;
    os << '\n';
  } else {
    os << "mesh 1 devices 1\n";
  }
  for (auto [id, axes] : llvm::enumerate(groups)) {
    os << "group " << id << ' ' << axes.size();
    for (StringAttr a : axes)
      os << ' ' << a.getValue();
    os << '\n';
  }
  auto globalOf = [](DictionaryAttr attrs, Type local) {
    if (attrs)
      if (auto t = attrs.getAs<TypeAttr>(PalmDialect::kGlobalTypeAttrName))
        return cast<RankedTensorType>(t.getValue());
    return cast<RankedTensorType>(local);
  };
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    auto local = dyn_cast<RankedTensorType>(fn.getArgument(i).getType());
    if (!local)
      return fn.emitError() << "argument #" << i << " is not a tensor";
    DictionaryAttr attrs = fn.getArgAttrDict(i);
    auto name = attrs ? attrs.getAs<StringAttr>(PalmDialect::kNameAttrName)
                      : StringAttr();
    std::string argName = name ? name.str() : "arg" + std::to_string(i);
    if (failed(checkName(fn, argName)))
      return failure();
    auto init =
        attrs ? attrs.getAs<InitAttr>(PalmDialect::kInitAttrName) : InitAttr();
    os << "arg " << i << ' ' << (init ? "param" : "input") << ' ' << argName;
    if (failed(describeValue(os, fn, "argument #" + Twine(i), local,
                             globalOf(attrs, local), getArgSharding(fn, i))))
      return failure();
    if (init) {
      os << " init " << stringifyInitKind(init.getKind()) << ' ';
      std::string stddev;
      llvm::raw_string_ostream(stddev) << llvm::format("%.17g", init.getStddevValue());
      os << stddev;
    }
    os << '\n';
  }
  for (unsigned j = 0; j < fn.getNumResults(); ++j) {
    auto local = dyn_cast<RankedTensorType>(fn.getResultTypes()[j]);
    if (!local)
      return fn.emitError() << "result #" << j << " is not a tensor";
    DictionaryAttr attrs = fn.getResultAttrDict(j);
    auto name = attrs ? attrs.getAs<StringAttr>(PalmDialect::kNameAttrName)
                      : StringAttr();
    std::string resultName = name ? name.str() : "result" + std::to_string(j);
    if (failed(checkName(fn, resultName)))
      return failure();
    os << "result " << j << ' ' << resultName;
    if (failed(describeValue(os, fn, "result #" + Twine(j), local,
                             globalOf(attrs, local), getResultSharding(fn, j))))
      return failure();
    os << '\n';
  }
  return text;
}
