//===- ProgramInfo.cpp - the program description for the runtime ---------===//

#include "ProgramInfo.h"

#include "palm/Conversion/Passes.h"
#include "palm/Dialect/Palm/IR/PalmDialect.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"
#include "llvm/Support/JSON.h"
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

/// The version of the description's format (docs/runtime-abi.md); the
/// runtime refuses others.
static constexpr int64_t kProgramInfoVersion = 2;

/// Names are kept free of spaces and control characters, so they read
/// as one word in the runtime's messages and file names.
static LogicalResult checkName(Operation *anchor, StringRef name) {
  if (name.empty() || llvm::any_of(name, [](char c) {
        return c == ' ' || c == '\n' || c == '\t' || c == '\0';
      }))
    return anchor->emitError()
           << "name '" << name << "' must be non-empty without spaces";
  return success();
}

namespace {
/// An argument or result of the entry, checked, as the description lists it.
struct DescribedValue {
  std::string name;
  StringRef dtype;
  RankedTensorType local, global;
  ShardingAttr sharding;
  InitAttr init;
  /// An argument's palm.role ("state", "step"), or empty.
  std::string role;
  /// A result's palm.aliases: the argument it is the new value of.
  std::optional<int64_t> aliases;
  /// An input's palm.microbatch [index, count], with the input's name
  /// without the ".mb<index>" that `name` gains.
  std::optional<std::pair<int64_t, int64_t>> microbatch;
  std::string batchOf;
};
} // namespace

/// Checks argument or result `index` (in this order: a tensor, a valid name,
/// a dtype the runtime has) and collects what the description says of it.
static FailureOr<DescribedValue> describedValue(func::FuncOp fn, bool isArg,
                                                unsigned index) {
  Type type =
      isArg ? fn.getArgument(index).getType() : fn.getResultTypes()[index];
  auto local = dyn_cast<RankedTensorType>(type);
  if (!local)
    return fn.emitError() << (isArg ? "argument #" : "result #") << index
                          << " is not a tensor";
  DictionaryAttr attrs =
      isArg ? fn.getArgAttrDict(index) : fn.getResultAttrDict(index);
  DescribedValue v;
  auto name = attrs ? attrs.getAs<StringAttr>(PalmDialect::kNameAttrName)
                    : StringAttr();
  v.name =
      name ? name.str() : (isArg ? "arg" : "result") + std::to_string(index);
  if (failed(checkName(fn, v.name)))
    return failure();
  // The micro-batches of one input share its name; each gets its own.
  if (auto mb = isArg && attrs ? attrs.getAs<DenseI64ArrayAttr>(
                                     PalmDialect::kMicrobatchAttrName)
                               : DenseI64ArrayAttr()) {
    v.microbatch = {mb[0], mb[1]};
    v.batchOf = v.name;
    v.name += ".mb" + std::to_string(mb[0]);
  }
  FailureOr<StringRef> dtype = dtypeName(local.getElementType());
  if (failed(dtype))
    return fn.emitError() << (isArg ? "argument #" : "result #") << index
                          << " has element type " << local.getElementType()
                          << ", which the runtime does not support";
  v.dtype = *dtype;
  v.local = local;
  v.global = local;
  if (attrs)
    if (auto t = attrs.getAs<TypeAttr>(PalmDialect::kGlobalTypeAttrName))
      v.global = cast<RankedTensorType>(t.getValue());
  v.sharding = isArg ? getArgSharding(fn, index) : getResultSharding(fn, index);
  if (isArg && attrs) {
    v.init = attrs.getAs<InitAttr>(PalmDialect::kInitAttrName);
    if (auto role = attrs.getAs<StringAttr>(PalmDialect::kRoleAttrName)) {
      if (role.getValue() != "state" && role.getValue() != "step")
        return fn.emitError() << "argument #" << index << " has palm.role \""
                              << role.getValue()
                              << "\"; the runtime knows \"state\" and \"step\"";
      if (v.init)
        return fn.emitError() << "argument #" << index
                              << " is both a parameter (palm.init) and "
                              << role.getValue();
      v.role = role.getValue().str();
    }
  }
  if (!isArg && attrs)
    if (auto aliases = attrs.getAs<IntegerAttr>(PalmDialect::kAliasesAttrName))
      v.aliases = aliases.getInt();
  return v;
}

/// The members of one "args" or "results" entry.
static void writeValue(llvm::json::OStream &j, unsigned index, bool isArg,
                       const DescribedValue &v) {
  j.attribute("index", index);
  if (isArg)
    j.attribute("kind", v.init ? "param" : v.role.empty() ? "input" : v.role);
  j.attribute("name", v.name);
  j.attribute("dtype", v.dtype);
  j.attributeArray("global_shape", [&] {
    for (int64_t d : v.global.getShape())
      j.value(d);
  });
  j.attributeArray("local_shape", [&] {
    for (int64_t d : v.local.getShape())
      j.value(d);
  });
  j.attributeArray("sharding", [&] {
    for (int64_t d = 0; d < v.global.getRank(); ++d)
      j.array([&] {
        if (v.sharding)
          for (StringAttr axis : v.sharding.getDims()[d].getAxes())
            j.value(axis.getValue());
      });
  });
  if (v.init)
    j.attributeObject("init", [&] {
      j.attribute("kind", stringifyInitKind(v.init.getKind()));
      j.attribute("stddev", v.init.getStddevValue());
    });
  else if (v.role == "state")
    j.attributeObject("init", [&] {
      j.attribute("kind", "zeros");
      j.attribute("stddev", 0);
    });
  if (v.aliases)
    j.attribute("aliases", *v.aliases);
  if (v.microbatch)
    j.attributeObject("microbatch", [&] {
      j.attribute("of", v.batchOf);
      j.attribute("index", v.microbatch->first);
      j.attribute("count", v.microbatch->second);
    });
}

FailureOr<std::string>
mlir::palm::describeProgram(func::FuncOp fn, MeshOp mesh,
                            ArrayRef<SmallVector<StringAttr, 2>> groups,
                            const MemoryPlan &memory, bool cuda) {
  // Everything is checked before writing, so a failure leaves no half
  // written document.
  SmallVector<DescribedValue> args, results;
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    FailureOr<DescribedValue> v = describedValue(fn, /*isArg=*/true, i);
    if (failed(v))
      return failure();
    args.push_back(*v);
  }
  for (unsigned j = 0; j < fn.getNumResults(); ++j) {
    FailureOr<DescribedValue> v = describedValue(fn, /*isArg=*/false, j);
    if (failed(v))
      return failure();
    results.push_back(*v);
  }
  // A result updates its argument in place: same local tensor, and only
  // parameters and optimizer state are updated.
  for (auto [j, r] : llvm::enumerate(results)) {
    if (!r.aliases)
      continue;
    int64_t i = *r.aliases;
    if (i < 0 || i >= static_cast<int64_t>(args.size()))
      return fn.emitError() << "result #" << j << " aliases argument #" << i
                            << ", which does not exist";
    if (args[i].local != r.local)
      return fn.emitError() << "result #" << j << " (" << r.local
                            << ") aliases argument #" << i << " ("
                            << args[i].local << "): the types differ";
    if (!args[i].init && args[i].role != "state")
      return fn.emitError() << "result #" << j << " aliases argument #" << i
                            << ", which is neither a parameter nor "
                               "optimizer state";
    for (unsigned k = 0; k < j; ++k)
      if (results[k].aliases == i)
        return fn.emitError() << "results #" << k << " and #" << j
                              << " both alias argument #" << i;
  }
  int64_t flops = 0;
  if (auto module = fn->getParentOfType<ModuleOp>())
    if (auto attr = module->getAttrOfType<IntegerAttr>(
            PalmDialect::kForwardFlopsAttrName))
      flops = attr.getInt();

  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::json::OStream j(os);
  j.object([&] {
    j.attribute("format", "palm-program");
    j.attribute("version", kProgramInfoVersion);
    j.attribute("target", cuda ? "cuda" : "cpu");
    if (flops > 0)
      j.attribute("flops", flops);
    j.attributeObject("mesh", [&] {
      j.attributeArray("axes", [&] {
        // A program without a mesh runs on one device: one axis of size 1.
        if (!mesh)
          j.object([&] {
            j.attribute("name", "devices");
            j.attribute("size", 1);
          });
        else
          for (auto [name, size] :
               llvm::zip(mesh.getAxisNames(), mesh.getShape()))
            j.object([&, name = name, size = size] {
              j.attribute("name", cast<StringAttr>(name).getValue());
              j.attribute("size", size);
            });
      });
    });
    j.attributeArray("groups", [&] {
      for (ArrayRef<StringAttr> axes : groups)
        j.array([&] {
          for (StringAttr a : axes)
            j.value(a.getValue());
        });
    });
    j.attributeObject("memory", [&] {
      j.attribute("arena", memory.arenaBytes);
      j.attribute("peak_live", memory.peakLiveBytes);
      j.attribute("gradients", memory.gradientBytes);
      j.attribute("gradients_at_peak", memory.gradientsAtPeak);
      j.attribute("collective_staging", memory.collectiveStaging);
      j.attributeArray("largest_at_peak", [&] {
        for (const auto &[name, bytes] : memory.largestAtPeak)
          j.object([&, &name = name, bytes = bytes] {
            j.attribute("name", name);
            j.attribute("bytes", bytes);
          });
      });
    });
    for (bool isArg : {true, false})
      j.attributeArray(isArg ? "args" : "results", [&] {
        ArrayRef<DescribedValue> list = isArg ? args : results;
        for (unsigned index = 0; index < list.size(); ++index)
          j.object([&] { writeValue(j, index, isArg, list[index]); });
      });
  });
  return text;
}
