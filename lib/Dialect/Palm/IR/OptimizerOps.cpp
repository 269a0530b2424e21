//===- OptimizerOps.cpp - verifiers and sharding rules of the optimizer ---===//
//
// The ops -palm-optimizer builds: per-tensor updates whose dimensions are
// all parallel, with 0-d scalars (the global gradient norm's square, the
// step, the learning rate, the RMS pieces) that the partitioner reduces
// before an op reads them.
//
//===----------------------------------------------------------------------===//

#include "palm/Dialect/Palm/IR/PalmOps.h"

using namespace mlir;
using namespace mlir::palm;

/// A rule with one parallel factor per dimension of `shape`, for the
/// operands and results `isTensor` marks; the others are 0-d.
static ShardingRule perTensorRule(ArrayRef<int64_t> shape,
                                  ArrayRef<bool> operandIsTensor,
                                  ArrayRef<bool> resultIsTensor) {
  ShardingRule rule;
  SmallVector<int64_t> dims;
  for (int64_t size : shape)
    dims.push_back(rule.addFactor(size, FactorKind::Parallel));
  for (bool tensor : operandIsTensor)
    rule.addOperand(tensor ? ArrayRef<int64_t>(dims) : ArrayRef<int64_t>());
  for (bool tensor : resultIsTensor)
    rule.addResult(tensor ? ArrayRef<int64_t>(dims) : ArrayRef<int64_t>());
  return rule;
}

ShardingRule SumSquaresOp::getShardingRule() {
  ShardingRule rule;
  SmallVector<int64_t> dims;
  for (int64_t size : getInput().getType().getShape())
    dims.push_back(rule.addFactor(size, FactorKind::Reduction));
  rule.addOperand(dims);
  rule.addResult({});
  return rule;
}

ShardingRule SqrtOp::getShardingRule() {
  return perTensorRule(getType().getShape(), {true}, {true});
}

ShardingRule LearningRateOp::getShardingRule() {
  return perTensorRule({}, {false}, {false});
}

ShardingRule AdafactorMomentsOp::getShardingRule() {
  return perTensorRule(getGrad().getType().getShape(),
                       {true, true, false, false}, {true, false});
}

ShardingRule AdafactorApplyOp::getShardingRule() {
  return perTensorRule(getParam().getType().getShape(),
                       {true, true, true, true, false, false, false, false},
                       {true, true});
}

ShardingRule AdamWApplyOp::getShardingRule() {
  return perTensorRule(getParam().getType().getShape(),
                       {true, true, true, true, false, false, false},
                       {true, true, true});
}

/// Checks that every value of `tensors` has `tensors[0]`'s type.
static LogicalResult sameTypes(Operation *op, ArrayRef<Value> tensors) {
  for (Value v : tensors.drop_front())
    if (v.getType() != tensors.front().getType())
      return op->emitOpError()
             << "needs the parameter, its gradient and its optimizer state "
                "to have one type, got "
             << tensors.front().getType() << " and " << v.getType();
  return success();
}

/// Checks `value` against `ok`, naming it.
static LogicalResult checkAttr(Operation *op, bool ok, StringRef what) {
  if (!ok)
    return op->emitOpError() << what;
  return success();
}

LogicalResult LearningRateOp::verify() {
  StringRef schedule = getSchedule();
  if (schedule != "inverse_sqrt" && schedule != "warmup_cosine")
    return emitOpError() << "schedule must be \"inverse_sqrt\" or "
                            "\"warmup_cosine\", got \""
                         << schedule << "\"";
  float peak = getPeak().convertToFloat();
  if (failed(checkAttr(*this, peak > 0.0f, "peak must be positive")))
    return failure();
  // I64Attr reads back unsigned: compare as the signed values written.
  auto warmup = static_cast<int64_t>(getWarmupSteps());
  auto total = static_cast<int64_t>(getTotalSteps());
  if (schedule == "inverse_sqrt")
    return checkAttr(*this, warmup >= 1,
                     "inverse_sqrt needs warmup_steps >= 1");
  float final = getFinal().convertToFloat();
  if (failed(checkAttr(*this, warmup >= 0,
                       "warmup_steps must be non-negative")) ||
      failed(checkAttr(*this, total > warmup,
                       "warmup_cosine needs total_steps > warmup_steps")))
    return failure();
  return checkAttr(*this, final >= 0.0f && final <= peak,
                   "final must lie in [0, peak]");
}

LogicalResult AdafactorMomentsOp::verify() {
  if (failed(sameTypes(*this, {getGrad(), getV(), getNewV()})))
    return failure();
  if (failed(checkAttr(*this, getDecayRate().convertToFloat() > 0.0f,
                       "decay_rate must be positive")) ||
      failed(checkAttr(*this, getEpsilon().convertToFloat() >= 0.0f,
                       "epsilon must be non-negative")))
    return failure();
  return checkAttr(*this, getMaxNorm().convertToFloat() > 0.0f,
                   "max_norm must be positive");
}

LogicalResult AdafactorApplyOp::verify() {
  if (failed(sameTypes(*this, {getParam(), getGrad(), getNewV(), getM(),
                               getNewParam(), getNewM()})))
    return failure();
  float beta1 = getBeta1().convertToFloat();
  if (failed(checkAttr(*this, static_cast<int64_t>(getCount()) >= 1,
                       "count must be at least 1")) ||
      failed(checkAttr(*this, beta1 >= 0.0f && beta1 < 1.0f,
                       "beta1 must lie in [0, 1)")) ||
      failed(checkAttr(*this, getClippingThreshold().convertToFloat() > 0.0f,
                       "clipping_threshold must be positive")) ||
      failed(checkAttr(*this, getScaleFloor().convertToFloat() >= 0.0f,
                       "scale_floor must be non-negative")) ||
      failed(checkAttr(*this, getMaxNorm().convertToFloat() > 0.0f,
                       "max_norm must be positive")))
    return failure();
  return checkAttr(*this, getWeightDecay().convertToFloat() >= 0.0f,
                   "weight_decay must be non-negative");
}

LogicalResult AdamWApplyOp::verify() {
  if (failed(sameTypes(*this, {getParam(), getGrad(), getM(), getV(),
                               getNewParam(), getNewM(), getNewV()})))
    return failure();
  float beta1 = getBeta1().convertToFloat();
  float beta2 = getBeta2().convertToFloat();
  if (failed(checkAttr(*this, beta1 >= 0.0f && beta1 < 1.0f,
                       "beta1 must lie in [0, 1)")) ||
      failed(checkAttr(*this, beta2 >= 0.0f && beta2 < 1.0f,
                       "beta2 must lie in [0, 1)")) ||
      failed(checkAttr(*this, getEpsilon().convertToFloat() >= 0.0f,
                       "epsilon must be non-negative")) ||
      failed(checkAttr(*this, getMaxNorm().convertToFloat() > 0.0f,
                       "max_norm must be positive")))
    return failure();
  return checkAttr(*this, getWeightDecay().convertToFloat() >= 0.0f,
                   "weight_decay must be non-negative");
}
