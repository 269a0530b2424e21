//===- Optimizer.cpp - loss and gradients to the whole training step ------===//
//
// After -palm-autodiff a function returns the loss and one gradient per
// parameter. This pass consumes the gradients: global-norm clipping, the
// learning rate of the step and one optimizer update per parameter, all
// global palm ops that propagation and partitioning treat like the rest
// (the sums of squares are partial sums over the axes that split their
// tensors, reduced where an update reads them).
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"
#include "palm/Dialect/Palm/Transforms/Training.h"

namespace mlir::palm {
#define GEN_PASS_DEF_PALMOPTIMIZER
#include "palm/Dialect/Palm/Transforms/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;

namespace {

/// The hyperparameters, with the defaults of the chosen optimizer filled
/// in.
struct Settings {
  bool adamw = false;
  StringRef schedule;
  float peakLr, finalLr, maxNorm, weightDecay, beta1, beta2, epsilon;
  int64_t warmupSteps, totalSteps;
};

/// One parameter of the step: its argument, gradient and state arguments.
struct Param {
  BlockArgument arg;
  Value grad;
  std::string name;
  BlockArgument first, second; // adafactor: v, m; adamw: m, v
};

struct OptimizerPass : public palm::impl::PalmOptimizerBase<OptimizerPass> {
  using PalmOptimizerBase::PalmOptimizerBase;

  FailureOr<Settings> settings(ModuleOp module);
  LogicalResult rewrite(func::FuncOp fn, const Settings &s);

  void runOnOperation() override {
    ModuleOp module = getOperation();
    FailureOr<Settings> s = settings(module);
    if (failed(s) ||
        failed(forEachDifferentiatedFunction(
            module, getArgument(),
            [&](func::FuncOp fn) { return rewrite(fn, *s); })))
      return signalPassFailure();
  }
};

} // namespace

FailureOr<Settings> OptimizerPass::settings(ModuleOp module) {
  Settings s;
  if (optimizer != "adafactor" && optimizer != "adamw")
    return module.emitError() << "unknown optimizer '" << optimizer
                              << "': use adafactor or adamw";
  s.adamw = optimizer == "adamw";
  if (schedule == "inverse-sqrt")
    s.schedule = "inverse_sqrt";
  else if (schedule == "warmup-cosine")
    s.schedule = "warmup_cosine";
  else
    return module.emitError() << "unknown learning-rate schedule '"
                              << schedule
                              << "': use inverse-sqrt or warmup-cosine";
  s.peakLr = peakLr;
  s.finalLr = finalLr;
  s.maxNorm = maxNorm;
  s.warmupSteps = warmupSteps;
  s.totalSteps = totalSteps;
  s.beta1 = beta1;
  s.beta2 = beta2;
  s.weightDecay = weightDecay >= 0 ? weightDecay : (s.adamw ? 0.1 : 1.0);
  s.epsilon = epsilon >= 0 ? epsilon : (s.adamw ? 1e-8 : 1e-30);
  // The ops' verifiers check the ranges; a bad option reaches the user as
  // their error at the function.
  return s;
}

LogicalResult OptimizerPass::rewrite(func::FuncOp fn, const Settings &s) {
  MLIRContext *ctx = fn.getContext();
  Block &body = fn.getBody().front();
  Operation *ret = body.getTerminator();
  Location loc = fn.getLoc();
  OpBuilder b(ctx);
  auto named = [&](StringRef name) {
    return NameLoc::get(StringAttr::get(ctx, name), loc);
  };
  auto f32Scalar = RankedTensorType::get({}, Float32Type::get(ctx));

  // The gradients and the results that stay (the loss, any others).
  SmallVector<Param> params;
  SmallVector<unsigned> kept;
  for (unsigned i = 0; i < fn.getNumResults(); ++i) {
    auto of = fn.getResultAttrOfType<IntegerAttr>(
        i, PalmDialect::kGradOfAttrName);
    if (!of) {
      kept.push_back(i);
      continue;
    }
    int64_t argNo = of.getInt();
    if (argNo < 0 || argNo >= fn.getNumArguments())
      return fn.emitError() << "result #" << i << " is the gradient of "
                            << "argument #" << argNo
                            << ", which does not exist";
    Param p;
    p.arg = body.getArgument(argNo);
    p.grad = ret->getOperand(i);
    if (p.grad.getType() != p.arg.getType())
      return fn.emitError() << "result #" << i << " has type "
                            << p.grad.getType() << ", not the type of "
                            << "argument #" << argNo << ", "
                            << p.arg.getType();
    auto name =
        fn.getArgAttrOfType<StringAttr>(argNo, PalmDialect::kNameAttrName);
    p.name = name ? name.str() : "arg" + std::to_string(argNo);
    params.push_back(p);
  }

  // New arguments: two state tensors per parameter, then the step.
  auto addArg = [&](Type type, StringRef name, StringRef role,
                    Attribute sharding) {
    unsigned index = fn.getNumArguments();
    NamedAttrList attrs;
    attrs.set(PalmDialect::kNameAttrName, StringAttr::get(ctx, name));
    attrs.set(PalmDialect::kRoleAttrName, StringAttr::get(ctx, role));
    if (sharding)
      attrs.set(PalmDialect::kShardingAttrName, sharding);
    if (failed(fn.insertArgument(index, type, attrs.getDictionary(ctx),
                                 named(name))))
      return BlockArgument();
    return body.getArgument(index);
  };
  StringRef firstState = s.adamw ? "m" : "v", secondState = s.adamw ? "v" : "m";
  for (Param &p : params) {
    Attribute sharding =
        fn.getArgAttr(p.arg.getArgNumber(), PalmDialect::kShardingAttrName);
    p.first = addArg(p.arg.getType(),
                     ("opt." + firstState + "." + p.name).str(), "state",
                     sharding);
    p.second = addArg(p.arg.getType(),
                      ("opt." + secondState + "." + p.name).str(), "state",
                      sharding);
    if (!p.first || !p.second)
      return fn.emitError() << "cannot add the optimizer state of "
                            << p.name;
  }
  BlockArgument step = addArg(f32Scalar, "step", "step", Attribute());
  if (!step)
    return fn.emitError() << "cannot add the step argument";

  // Each gradient is laid out like its parameter right where it is
  // complete: its reduction is then a reduce-scatter where the parameter is
  // split (fsdp, palm-2d), issued as soon as the backward pass has the
  // gradient, so the unreduced whole-size gradient dies there instead of
  // living to the end of the step. Nothing reads the reduced gradients
  // before the optimizer at the end, so -palm-optimize-collectives can still
  // bucket the small all-reduces of a layer.
  for (Param &p : params) {
    if (Operation *def = p.grad.getDefiningOp())
      b.setInsertionPointAfter(def);
    else
      b.setInsertionPointToStart(&body);
    if (auto sharding = fn.getArgAttrOfType<ShardingAttr>(
            p.arg.getArgNumber(), PalmDialect::kShardingAttrName))
      p.grad = ShardingConstraintOp::create(
          b, named("optimizer.grad." + p.name), p.grad.getType(), p.grad,
          sharding);
  }

  // The global norm's square, in parameter order; the learning rate.
  b.setInsertionPoint(ret);
  SmallVector<Value> squares;
  for (Param &p : params)
    squares.push_back(SumSquaresOp::create(
        b, named("optimizer.grad_norm." + p.name), f32Scalar, p.grad));
  Value total;
  for (Value sq : squares)
    total = total ? AddOp::create(b, named("optimizer.grad_norm"), f32Scalar,
                                  total, sq)
                  : sq;
  Value gradNorm =
      SqrtOp::create(b, named("optimizer.grad_norm"), f32Scalar, total);
  Value lr = LearningRateOp::create(
      b, named("optimizer.lr"), f32Scalar, step,
      b.getStringAttr(s.schedule), b.getF32FloatAttr(s.peakLr),
      b.getI64IntegerAttr(s.warmupSteps), b.getI64IntegerAttr(s.totalSteps),
      b.getF32FloatAttr(s.finalLr));

  // One update per parameter.
  SmallVector<Value> results;
  SmallVector<DictionaryAttr> attrs;
  SmallVector<DictionaryAttr> oldAttrs;
  fn.getAllResultAttrs(oldAttrs);
  for (unsigned i : kept) {
    results.push_back(ret->getOperand(i));
    attrs.push_back(oldAttrs[i]);
  }
  auto addResult = [&](Value v, StringRef name, BlockArgument aliases) {
    results.push_back(v);
    NamedAttrList a;
    a.set(PalmDialect::kNameAttrName, StringAttr::get(ctx, name));
    if (aliases) {
      a.set(PalmDialect::kAliasesAttrName,
            b.getI64IntegerAttr(aliases.getArgNumber()));
      if (Attribute sharding = fn.getArgAttr(aliases.getArgNumber(),
                                             PalmDialect::kShardingAttrName))
        a.set(PalmDialect::kShardingAttrName, sharding);
    }
    attrs.push_back(a.getDictionary(ctx));
  };
  // Every tensor's sums of squares come before any update reads them, so
  // that their reductions (one per tensor) can run as one collective.
  struct Moments {
    AdafactorMomentsOp moments;
    Value paramSq;
  };
  SmallVector<Moments> firstHalves;
  if (!s.adamw)
    for (Param &p : params) {
      Location at = named("optimizer." + p.name);
      Type type = p.arg.getType();
      auto moments = AdafactorMomentsOp::create(
          b, at, TypeRange{type, f32Scalar}, p.grad, p.first, total, step,
          /*decay_rate=*/b.getF32FloatAttr(0.8f),
          b.getF32FloatAttr(s.epsilon), b.getF32FloatAttr(s.maxNorm));
      Value paramSq = SumSquaresOp::create(b, at, f32Scalar, p.arg);
      firstHalves.push_back({moments, paramSq});
    }
  for (auto [i, p] : llvm::enumerate(params)) {
    Location at = named("optimizer." + p.name);
    Type type = p.arg.getType();
    if (s.adamw) {
      auto update = AdamWApplyOp::create(
          b, at, TypeRange{type, type, type}, p.arg, p.grad, p.first,
          p.second, total, lr, step, b.getF32FloatAttr(s.beta1),
          b.getF32FloatAttr(s.beta2), b.getF32FloatAttr(s.epsilon),
          b.getF32FloatAttr(s.maxNorm), b.getF32FloatAttr(s.weightDecay));
      addResult(update.getNewParam(), "updated." + p.name, p.arg);
      addResult(update.getNewM(), "updated.opt.m." + p.name, p.first);
      addResult(update.getNewV(), "updated.opt.v." + p.name, p.second);
      continue;
    }
    auto [moments, paramSq] = firstHalves[i];
    auto apply = AdafactorApplyOp::create(
        b, at, TypeRange{type, type}, p.arg, p.grad, moments.getNewV(),
        p.second, total, moments.getUpdateSumSquares(), paramSq, lr,
        b.getI64IntegerAttr(cast<RankedTensorType>(type).getNumElements()),
        b.getF32FloatAttr(s.beta1), /*clipping_threshold=*/
        b.getF32FloatAttr(1.0f), /*scale_floor=*/b.getF32FloatAttr(1e-3f),
        b.getF32FloatAttr(s.maxNorm), b.getF32FloatAttr(s.weightDecay));
    addResult(apply.getNewParam(), "updated." + p.name, p.arg);
    addResult(moments.getNewV(), "updated.opt.v." + p.name, p.first);
    addResult(apply.getNewM(), "updated.opt.m." + p.name, p.second);
  }
  addResult(gradNorm, "grad_norm", BlockArgument());
  addResult(lr, "lr", BlockArgument());

  ret->setOperands(results);
  SmallVector<Type> types;
  for (Value v : results)
    types.push_back(v.getType());
  fn.setFunctionType(FunctionType::get(ctx, fn.getArgumentTypes(), types));
  fn.setAllResultAttrs(attrs);

  // The ops must verify (a bad option surfaces here, at its op).
  for (Operation &op : body)
    if (isa<LearningRateOp, AdafactorMomentsOp, AdafactorApplyOp,
            AdamWApplyOp>(op) &&
        failed(verify(&op)))
      return failure();
  return success();
}
