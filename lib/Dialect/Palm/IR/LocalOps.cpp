//===- LocalOps.cpp - verifiers of the local pieces of sharded ops --------===//

#include "palm/Dialect/Palm/IR/PalmOps.h"

using namespace mlir;
using namespace mlir::palm;

LogicalResult mlir::palm::verifyLocalOnly(Operation *op, StringRef what) {
  if (getLevel(op) != Level::Local)
    return op->emitOpError() << what
                             << " belongs to the local level, but the module "
                                "is global";
  return success();
}

LogicalResult mlir::palm::verifyTokenShards(Operation *op,
                                            std::optional<int64_t> tokenCount,
                                            ArrayAttr tokenShards,
                                            int64_t numTokenDims) {
  if (tokenCount && *tokenCount < 1)
    return op->emitOpError() << "token_count must be at least 1";
  if (!tokenShards)
    return success();
  if (static_cast<int64_t>(tokenShards.size()) != numTokenDims)
    return op->emitOpError() << "token_shards has " << tokenShards.size()
                             << " entries for " << numTokenDims
                             << " token dimensions";
  for (Attribute entry : tokenShards) {
    if (isa<UnitAttr>(entry))
      continue;
    auto shard = dyn_cast<DimShardAttr>(entry);
    if (!shard)
      return op->emitOpError()
             << "token_shards entries must be #palm.dim_shard or unit";
    if (failed(shard.verifyMesh(op)))
      return failure();
  }
  return success();
}

LogicalResult MaskPaddingOp::verify() {
  if (failed(verifyLocalOnly(*this, "padding masks")))
    return failure();
  int64_t rank = getInput().getType().getRank();
  int64_t dim = getDim();
  if (dim < 0 || dim >= rank)
    return emitOpError() << "dim " << dim << " is out of range for rank "
                         << rank;
  return getShard().verifyMesh(*this);
}

/// The shape of `logits` without its last (class) dimension.
static ArrayRef<int64_t> tokenShape(RankedTensorType logits) {
  return logits.getShape().drop_back();
}

LogicalResult SoftmaxMaxOp::verify() {
  if (failed(verifyLocalOnly(*this, "sharded softmax pieces")))
    return failure();
  RankedTensorType logits = getLogits().getType();
  if (logits.getRank() < 2)
    return emitOpError() << "logits must have rank at least 2";
  if (getType().getShape() != tokenShape(logits))
    return emitOpError() << "result must have the logits' shape without the "
                            "last dimension";
  return getVocabShard().verifyMesh(*this);
}

LogicalResult SoftmaxSumsOp::verify() {
  if (failed(verifyLocalOnly(*this, "sharded softmax pieces")))
    return failure();
  RankedTensorType logits = getLogits().getType();
  if (logits.getRank() < 2)
    return emitOpError() << "logits must have rank at least 2";
  ArrayRef<int64_t> tokens = tokenShape(logits);
  if (getMax().getType().getShape() != tokens ||
      getTargets().getType().getShape() != tokens)
    return emitOpError() << "max and targets must have the logits' shape "
                            "without the last dimension";
  SmallVector<int64_t> expected = {2};
  llvm::append_range(expected, tokens);
  if (getType().getShape() != ArrayRef<int64_t>(expected))
    return emitOpError() << "result must be [2] followed by the token shape";
  return getVocabShard().verifyMesh(*this);
}

LogicalResult CrossEntropyLossOp::verify() {
  if (failed(verifyLocalOnly(*this, "sharded softmax pieces")))
    return failure();
  ArrayRef<int64_t> tokens = getMax().getType().getShape();
  ArrayRef<int64_t> sums = getSums().getType().getShape();
  if (sums.empty() || sums.front() != 2 || sums.drop_front() != tokens)
    return emitOpError() << "sums must be [2] followed by max's shape";
  if (!(getZLoss().convertToFloat() >= 0.0f))
    return emitOpError() << "z_loss must be non-negative";
  return verifyTokenShards(*this, getTokenCount(), getTokenShardsAttr(),
                           tokens.size());
}

/// `[leading, 3]` followed by the row shape of `input` (its shape without
/// the last dimension).
static SmallVector<int64_t> momentsShape(int64_t leading,
                                         RankedTensorType input) {
  SmallVector<int64_t> shape = {leading, 3};
  llvm::append_range(shape, input.getShape().drop_back());
  return shape;
}

LogicalResult RowMomentsOp::verify() {
  if (failed(verifyLocalOnly(*this, "split layer-norm pieces")))
    return failure();
  RankedTensorType input = getInput().getType();
  if (input.getRank() < 1)
    return emitOpError() << "needs an input of rank at least 1";
  if (getType().getShape() != ArrayRef<int64_t>(momentsShape(1, input)))
    return emitOpError() << "result must be [1, 3] followed by the input's "
                            "shape without its last dimension";
  return getFeatureShard().verifyMesh(*this);
}

LogicalResult LayerNormMergedOp::verify() {
  if (failed(verifyLocalOnly(*this, "split layer-norm pieces")))
    return failure();
  RankedTensorType input = getInput().getType();
  RankedTensorType scale = getScale().getType();
  if (input.getRank() < 1)
    return emitOpError() << "needs an input of rank at least 1";
  if (scale.getRank() != 1 ||
      scale.getDimSize(0) != input.getDimSize(input.getRank() - 1) ||
      scale.getElementType() != input.getElementType())
    return emitOpError() << "scale " << scale
                         << " must be rank 1 with the size and element type "
                            "of the input's last dimension";
  ArrayRef<int64_t> moments = getMoments().getType().getShape();
  if (moments.empty() || moments[0] < 1 ||
      moments != ArrayRef<int64_t>(momentsShape(moments[0], input)))
    return emitOpError() << "moments must be [shards, 3] followed by the "
                            "input's shape without its last dimension";
  if (!(getEpsilon().convertToFloat() > 0.0f))
    return emitOpError() << "epsilon must be positive";
  return success();
}

Value FusionOp::getYielded() {
  return cast<YieldOp>(getBody().front().back()).getValue();
}

LogicalResult FusionOp::verify() {
  if (failed(verifyLocalOnly(*this, "fusions")))
    return failure();
  Block &body = getBody().front();
  if (body.getArgumentTypes() != getInputs().getTypes())
    return emitOpError() << "body arguments must have the inputs' types";
  ArrayRef<int64_t> shape = getType().getShape();
  for (Value input : getInputs())
    if (cast<RankedTensorType>(input.getType()).getShape() != shape)
      return emitOpError() << "inputs must have the result's shape";
  auto yield = body.empty() ? YieldOp() : dyn_cast<YieldOp>(body.back());
  if (!yield)
    return emitOpError() << "body must end with palm.yield";
  if (yield.getValue().getType() != getType())
    return emitOpError() << "yields " << yield.getValue().getType()
                         << " for a result of type " << getType();
  for (Operation &op : body.without_terminator())
    if (!isa<AddOp, MulOp, SiluOp, SiluGradOp, SqrtOp, ScaleOp, ConvertOp>(
            op))
      return op.emitOpError() << "is not elementwise; a fusion holds only "
                                 "add, mul, silu, scale and convert";
  return success();
}
