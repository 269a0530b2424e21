//===- Autodiff.cpp - reverse-mode differentiation of a global program ----===//
//
// Walks a function backwards from its loss and asks each op on the way for
// its reverse-mode rule (DifferentiableOpInterface, lib/Dialect/Palm/IR/
// OpVjps.cpp). Only ops that both depend on a parameter and reach the loss
// are differentiated; the gradients become extra function results.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"
#include "palm/Dialect/Palm/Transforms/Training.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::palm {
#define GEN_PASS_DEF_PALMAUTODIFF
#include "palm/Dialect/Palm/Transforms/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;

namespace {

/// Differentiation of one function.
class FunctionAutodiff {
public:
  FunctionAutodiff(func::FuncOp fn, bool remat)
      : fn(fn), builder(fn.getContext()), remat(remat) {}

  LogicalResult run();

private:
  /// Adds `dv` to the cotangent of `v`.
  void accumulate(Value v, Value dv, Location loc);
  /// `loc` named `<name>.grad` when it has a name, for reports and traces.
  Location gradLoc(Location loc);

  /// Clones, at the builder's insertion point, the forward ops of `layer`
  /// (up to `lastForward`) and records each op's clone in `recomputed`.
  void recomputeLayer(int64_t layer, Operation *lastForward,
                      DenseMap<Operation *, Operation *> &recomputed);

  func::FuncOp fn;
  OpBuilder builder;
  bool remat;
  DenseMap<Value, Value> cotangents;
};

} // namespace

FailureOr<unsigned> mlir::palm::findLossResult(func::FuncOp fn) {
  std::optional<unsigned> named, scalar;
  unsigned scalars = 0;
  for (unsigned i = 0; i < fn.getNumResults(); ++i) {
    if (auto name =
            fn.getResultAttrOfType<StringAttr>(i, PalmDialect::kNameAttrName);
        name && name.getValue() == "loss")
      named = i;
    auto type = dyn_cast<RankedTensorType>(fn.getResultTypes()[i]);
    if (type && type.getRank() == 0 && type.getElementType().isF32()) {
      scalar = i;
      ++scalars;
    }
  }
  if (named)
    return *named;
  if (scalars == 1)
    return *scalar;
  return fn.emitError() << "has no loss to differentiate: name one result "
                           "\"loss\" (palm.name) or return exactly one 0-d "
                           "f32 tensor";
}

bool mlir::palm::hasGradientResults(func::FuncOp fn) {
  for (unsigned i = 0; i < fn.getNumResults(); ++i)
    if (fn.getResultAttr(i, PalmDialect::kGradOfAttrName))
      return true;
  return false;
}

LogicalResult mlir::palm::forEachDifferentiatedFunction(
    ModuleOp module, StringRef pass,
    function_ref<LogicalResult(func::FuncOp)> rewrite) {
  if (getLevel(module) != Level::Global)
    return module.emitError() << "-" << pass
                              << " rewrites global-level training steps; "
                                 "this module is already partitioned";
  bool any = false;
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (fn.isExternal() || !hasGradientResults(fn))
      continue;
    any = true;
    if (failed(rewrite(fn)))
      return failure();
  }
  if (!any)
    return module.emitError() << "no function returns gradients "
                                 "(palm.grad_of): run -palm-autodiff first";
  return success();
}

Location FunctionAutodiff::gradLoc(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return NameLoc::get(
        StringAttr::get(fn.getContext(), name.getName().getValue() + ".grad"),
        name.getChildLoc());
  return loc;
}

void FunctionAutodiff::recomputeLayer(
    int64_t layer, Operation *lastForward,
    DenseMap<Operation *, Operation *> &recomputed) {
  recomputed.clear();
  IRMapping values;
  for (Operation &op : fn.getBody().front()) {
    if (layerOf(op.getLoc()) == layer) {
      Operation *clone = builder.clone(op, values);
      clone->setAttr(kRecomputedAttrName, builder.getUnitAttr());
      if (auto name = dyn_cast<NameLoc>(op.getLoc()))
        clone->setLoc(NameLoc::get(
            StringAttr::get(fn.getContext(),
                            name.getName().getValue() + kRecomputedSuffix),
            name.getChildLoc()));
      recomputed[&op] = clone;
    }
    if (&op == lastForward)
      break;
  }
}

void FunctionAutodiff::accumulate(Value v, Value dv, Location loc) {
  auto [it, inserted] = cotangents.try_emplace(v, dv);
  if (inserted)
    return;
  it->second = AddOp::create(builder, loc, dv.getType(), it->second, dv);
}

LogicalResult FunctionAutodiff::run() {
  FailureOr<unsigned> lossIndex = findLossResult(fn);
  if (failed(lossIndex))
    return failure();
  Block &body = fn.getBody().front();
  Operation *ret = body.getTerminator();
  Value loss = ret->getOperand(*lossIndex);

  SmallVector<BlockArgument> params;
  for (BlockArgument arg : body.getArguments())
    if (fn.getArgAttr(arg.getArgNumber(), PalmDialect::kInitAttrName))
      params.push_back(arg);
  if (params.empty())
    return fn.emitError() << "has no parameters to differentiate: no "
                             "argument carries palm.init";

  // Values that depend on a parameter (forward), then ops that also reach
  // the loss (backward), in reverse order.
  DenseSet<Value> varied;
  SmallVector<Operation *> active;
  auto findActive = [&] {
    varied = DenseSet<Value>(params.begin(), params.end());
    SmallVector<Operation *> forward;
    for (Operation &op : body.without_terminator())
      if (llvm::any_of(op.getOperands(),
                       [&](Value v) { return varied.contains(v); })) {
        for (Value r : op.getResults())
          varied.insert(r);
        forward.push_back(&op);
      }
    DenseSet<Value> reaches = {loss};
    active.clear();
    for (Operation *op : llvm::reverse(forward)) {
      if (llvm::none_of(op->getResults(),
                        [&](Value r) { return reaches.contains(r); }))
        continue;
      for (Value v : op->getOperands())
        reaches.insert(v);
      active.push_back(op);
    }
  };
  findActive();

  // Rules that need forward values the forward does not compute get them
  // now (attention's log-sum-exp); the ops may be replaced, so look again.
  for (Operation *op : active) {
    auto diff = dyn_cast<DifferentiableOpInterface>(op);
    if (!diff)
      return op->emitOpError()
             << "has no reverse-mode rule, so palm cannot differentiate the "
                "loss through it";
    diff.prepareForVjp(builder);
  }
  loss = ret->getOperand(*lossIndex);
  findActive();

  // The backward pass, in reverse order, before the return.
  builder.setInsertionPoint(ret);
  Operation *seedOp = loss.getDefiningOp();
  if (!isa_and_nonnull<CrossEntropyOp>(seedOp))
    return (seedOp ? seedOp->emitOpError() : fn.emitError())
           << "computes the loss, but palm seeds the backward pass at a "
              "palm.cross_entropy: return its result as the loss";
  Operation *lastForward = ret->getPrevNode();
  // PaLM's rematerialization: each layer's backward recomputes the layer's
  // forward from its input (the previous layer's output, kept) instead of
  // reading the forward's intermediate values, whose live ranges then end
  // in the forward. The rules run on the recomputed ops.
  std::optional<int64_t> recomputedLayer;
  DenseMap<Operation *, Operation *> recomputed;
  for (Operation *op : active) {
    SmallVector<Value> dys;
    bool any = false;
    for (Value r : op->getResults()) {
      Value dy = cotangents.lookup(r);
      dys.push_back(dy);
      any |= static_cast<bool>(dy);
    }
    if (!any && op != seedOp)
      continue;
    SmallVector<Value> dxs;
    Location loc = op->getLoc();
    builder.setInsertionPoint(ret);
    OpBuilder::InsertionGuard guard(builder);
    Operation *rule = op;
    if (std::optional<int64_t> layer = layerOf(loc); remat && layer) {
      if (layer != recomputedLayer) {
        recomputeLayer(*layer, lastForward, recomputed);
        recomputedLayer = layer;
      }
      rule = recomputed.lookup(op);
    }
    Operation *beforeRule = ret->getPrevNode();
    if (failed(cast<DifferentiableOpInterface>(rule).buildVjp(builder, dys,
                                                              dxs)))
      return failure();
    // The backward of a recomputed layer belongs to the recomputation: what
    // the partitioner adds for it (a weight's all-gather under fsdp and
    // palm-2d) is then shared with the recomputed forward, never with the
    // forward pass, whose gathered weights so end with the forward.
    if (rule != op)
      for (Operation *built = beforeRule ? beforeRule->getNextNode()
                                         : &fn.getBody().front().front();
           built != ret;
           built = built->getNextNode())
        built->setAttr(kRecomputedAttrName, builder.getUnitAttr());
    // Name what the rule built after the op it differentiates.
    for (Operation *built = ret->getPrevNode();
         built && built->getLoc() == rule->getLoc();
         built = built->getPrevNode())
      built->setLoc(gradLoc(loc));
    for (auto [operand, dx] : llvm::zip(op->getOperands(), dxs))
      if (dx && varied.contains(operand))
        accumulate(operand, dx, gradLoc(loc));
  }

  // One gradient result per parameter.
  SmallVector<Value> results(ret->getOperands());
  SmallVector<Type> resultTypes(fn.getResultTypes());
  SmallVector<DictionaryAttr> resultAttrs;
  fn.getAllResultAttrs(resultAttrs);
  MLIRContext *ctx = fn.getContext();
  for (BlockArgument param : params) {
    unsigned i = param.getArgNumber();
    auto name = fn.getArgAttrOfType<StringAttr>(i, PalmDialect::kNameAttrName);
    std::string label =
        name ? name.getValue().str() : "argument #" + std::to_string(i);
    Value grad = cotangents.lookup(param);
    if (!grad)
      return fn.emitError() << "the loss does not depend on parameter "
                            << label << ", so its gradient would be zero";
    results.push_back(grad);
    resultTypes.push_back(grad.getType());
    NamedAttrList attrs;
    attrs.set(PalmDialect::kNameAttrName,
              StringAttr::get(ctx, "grad." + label));
    attrs.set(PalmDialect::kGradOfAttrName,
              IntegerAttr::get(IntegerType::get(ctx, 64), i));
    if (Attribute sharding = fn.getArgAttr(i, PalmDialect::kShardingAttrName))
      attrs.set(PalmDialect::kShardingAttrName, sharding);
    resultAttrs.push_back(attrs.getDictionary(ctx));
  }
  ret->setOperands(results);

  // A rule builds every operand's cotangent; those of inputs (an
  // activation fed in, not a parameter) have no use: drop them.
  auto dead = [&]() -> Operation * {
    for (Operation *op = ret->getPrevNode(); op && op != lastForward;
         op = op->getPrevNode())
      if (isOpTriviallyDead(op))
        return op;
    return nullptr;
  };
  while (Operation *op = dead())
    op->erase();
  fn.setFunctionType(
      FunctionType::get(ctx, fn.getArgumentTypes(), resultTypes));
  fn.setAllResultAttrs(resultAttrs);
  return success();
}

namespace {

/// Appends the loss's gradients to every function that has a loss.
struct AutodiffPass : public palm::impl::PalmAutodiffBase<AutodiffPass> {
  using PalmAutodiffBase::PalmAutodiffBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (getLevel(module) != Level::Global) {
      module.emitError() << "-palm-autodiff differentiates global-level "
                            "programs; this module is already partitioned";
      return signalPassFailure();
    }
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      if (!fn.getBody().hasOneBlock()) {
        fn.emitError() << "palm differentiates functions with one block only";
        return signalPassFailure();
      }
      if (remat != "none" && remat != "layers") {
        module.emitError() << "unknown rematerialization policy '" << remat
                           << "': use none or layers";
        return signalPassFailure();
      }
      if (failed(FunctionAutodiff(fn, remat == "layers").run()))
        return signalPassFailure();
    }
  }
};

} // namespace
