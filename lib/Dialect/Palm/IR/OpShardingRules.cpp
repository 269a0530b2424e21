//===- OpShardingRules.cpp - the sharding rule of every palm tensor op ----===//
//
// Each rule maps every operand and result dimension to a factor. The kinds
// are chosen so that partitioning by the rule alone is exact; see
// docs/dialect.md for what each kind means.
//
//===----------------------------------------------------------------------===//

#include "palm/Dialect/Palm/IR/PalmOps.h"

using namespace mlir;
using namespace mlir::palm;

static ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// One parallel factor per dimension, shared by every operand and result
/// (all of one shape).
static ShardingRule elementwiseRule(Operation *op) {
  ShardingRule rule;
  SmallVector<int64_t> dims;
  for (int64_t size : shapeOf(op->getResult(0)))
    dims.push_back(rule.addFactor(size, FactorKind::Parallel));
  for (unsigned i = 0; i < op->getNumOperands(); ++i)
    rule.addOperand(dims);
  rule.addResult(dims);
  return rule;
}

ShardingRule SiluGradOp::getShardingRule() { return elementwiseRule(*this); }
ShardingRule ShardingConstraintOp::getShardingRule() {
  return elementwiseRule(*this);
}
ShardingRule AddOp::getShardingRule() { return elementwiseRule(*this); }
ShardingRule MulOp::getShardingRule() { return elementwiseRule(*this); }
ShardingRule SiluOp::getShardingRule() { return elementwiseRule(*this); }
ShardingRule ScaleOp::getShardingRule() { return elementwiseRule(*this); }
ShardingRule ConvertOp::getShardingRule() { return elementwiseRule(*this); }

ShardingRule EmbeddingOp::getShardingRule() {
  ShardingRule rule;
  ArrayRef<int64_t> table = shapeOf(getTable());
  int64_t vocab = rule.addFactor(table[0], FactorKind::MaskedGather);
  SmallVector<int64_t> idDims;
  for (int64_t size : shapeOf(getIds()))
    idDims.push_back(rule.addFactor(size, FactorKind::Parallel));
  int64_t model = rule.addFactor(table[1], FactorKind::Parallel);
  rule.addOperand({vocab, model});
  rule.addOperand(idDims);
  idDims.push_back(model);
  rule.addResult(idDims);
  return rule;
}

ShardingRule LayerNormOp::getShardingRule() {
  ShardingRule rule;
  ArrayRef<int64_t> shape = shapeOf(getInput());
  SmallVector<int64_t> dims;
  for (int64_t size : shape.drop_back())
    dims.push_back(rule.addFactor(size, FactorKind::Parallel));
  int64_t normalized =
      rule.addFactor(shape.back(), FactorKind::RowStatistics);
  dims.push_back(normalized);
  rule.addOperand(dims);
  rule.addOperand({normalized});
  rule.addResult(dims);
  return rule;
}

ShardingRule DotGeneralOp::getShardingRule() {
  ShardingRule rule;
  ArrayRef<int64_t> lhs = shapeOf(getLhs()), rhs = shapeOf(getRhs());
  SmallVector<int64_t> lhsDims(lhs.size(), -1), rhsDims(rhs.size(), -1);
  SmallVector<int64_t> resultDims;
  for (auto [l, r] : llvm::zip(getLhsBatchDims(), getRhsBatchDims())) {
    int64_t f = rule.addFactor(lhs[l], FactorKind::Parallel);
    lhsDims[l] = rhsDims[r] = f;
    resultDims.push_back(f);
  }
  for (auto [l, r] : llvm::zip(getLhsContractingDims(), getRhsContractingDims()))
    lhsDims[l] = rhsDims[r] = rule.addFactor(lhs[l], FactorKind::Reduction);
  for (auto [d, f] : llvm::enumerate(lhsDims))
    if (f < 0)
      resultDims.push_back(f = rule.addFactor(lhs[d], FactorKind::Parallel));
  for (auto [d, f] : llvm::enumerate(rhsDims))
    if (f < 0)
      resultDims.push_back(f = rule.addFactor(rhs[d], FactorKind::Parallel));
  rule.addOperand(lhsDims);
  rule.addOperand(rhsDims);
  rule.addResult(resultDims);
  return rule;
}

ShardingRule RopeOp::getShardingRule() {
  ShardingRule rule;
  ArrayRef<int64_t> shape = shapeOf(getInput());
  SmallVector<int64_t> dims = {
      rule.addFactor(shape[0], FactorKind::Parallel),
      rule.addFactor(shape[1], FactorKind::Positional),
      rule.addFactor(shape[2], FactorKind::Parallel),
      rule.addFactor(shape[3], FactorKind::Replicated)};
  rule.addOperand(dims);
  rule.addResult(dims);
  return rule;
}

/// The factors of attention and its backward: [b, s, h, k] queries,
/// [b, t, g, k] keys, [b, t, g, v] values.
struct AttentionFactors {
  int64_t batch, qSeq, heads, qkDim, kvSeq, kvHeads, vDim;

  AttentionFactors(ShardingRule &rule, Value query, Value key, Value value) {
    ArrayRef<int64_t> q = shapeOf(query), k = shapeOf(key),
                      v = shapeOf(value);
    batch = rule.addFactor(q[0], FactorKind::Parallel);
    qSeq = rule.addFactor(q[1], FactorKind::Positional);
    heads = rule.addFactor(q[2], FactorKind::Parallel);
    qkDim = rule.addFactor(q[3], FactorKind::Replicated);
    kvSeq = rule.addFactor(k[1], FactorKind::Replicated);
    kvHeads = rule.addGroupedFactor(k[2], heads);
    vDim = rule.addFactor(v[3], FactorKind::Parallel);
  }
  SmallVector<int64_t> query() const { return {batch, qSeq, heads, qkDim}; }
  SmallVector<int64_t> key() const { return {batch, kvSeq, kvHeads, qkDim}; }
  SmallVector<int64_t> value() const { return {batch, kvSeq, kvHeads, vDim}; }
  SmallVector<int64_t> out() const { return {batch, qSeq, heads, vDim}; }
  SmallVector<int64_t> rows() const { return {batch, qSeq, heads}; }
};

ShardingRule AttentionOp::getShardingRule() {
  ShardingRule rule;
  AttentionFactors f(rule, getQuery(), getKey(), getValue());
  rule.addOperand(f.query());
  rule.addOperand(f.key());
  rule.addOperand(f.value());
  rule.addResult(f.out());
  // Each shard of the value head dimension computes whole scores, so the
  // log-sum-exp is the same on all of them, not a partial sum.
  if (getLse())
    rule.addResult(f.rows(), /*identicalOver=*/{f.vDim});
  return rule;
}

ShardingRule AttentionGradOp::getShardingRule() {
  // Read as an einsum: a factor a result lacks is summed over.
  ShardingRule rule;
  AttentionFactors f(rule, getQuery(), getKey(), getValue());
  rule.addOperand(f.query());
  rule.addOperand(f.key());
  rule.addOperand(f.value());
  rule.addOperand(f.out());
  rule.addOperand(f.rows());
  rule.addOperand(f.out());
  rule.addResult(f.query());
  rule.addResult(f.key());
  rule.addResult(f.value());
  return rule;
}

ShardingRule LayerNormGradOp::getShardingRule() {
  ShardingRule rule;
  ArrayRef<int64_t> shape = shapeOf(getInput());
  SmallVector<int64_t> dims;
  for (int64_t size : shape.drop_back())
    dims.push_back(rule.addFactor(size, FactorKind::Parallel));
  int64_t normalized = rule.addFactor(shape.back(), FactorKind::Replicated);
  dims.push_back(normalized);
  rule.addOperand(dims);
  rule.addOperand({normalized});
  rule.addOperand(dims);
  rule.addResult(dims);
  rule.addResult({normalized});
  return rule;
}

ShardingRule EmbeddingGradOp::getShardingRule() {
  ShardingRule rule;
  ArrayRef<int64_t> table = shapeOf(getResult());
  int64_t vocab = rule.addFactor(table[0], FactorKind::Parallel);
  SmallVector<int64_t> idDims;
  for (int64_t size : shapeOf(getIds()))
    idDims.push_back(rule.addFactor(size, FactorKind::Parallel));
  int64_t model = rule.addFactor(table[1], FactorKind::Parallel);
  rule.addOperand(idDims);
  SmallVector<int64_t> gradDims(idDims);
  gradDims.push_back(model);
  rule.addOperand(gradDims);
  rule.addResult({vocab, model});
  return rule;
}

/// The factors of a loss over `logits` [tokens..., vocab] and its targets:
/// one per token dimension, of kind `tokenKind`, and a log-sum-exp factor
/// for the classes. Adds the logits and targets as the first two operands;
/// returns the token factors.
static SmallVector<int64_t> addLossOperands(ShardingRule &rule, Value logits,
                                            FactorKind tokenKind,
                                            SmallVectorImpl<int64_t> &dims) {
  ArrayRef<int64_t> shape = shapeOf(logits);
  SmallVector<int64_t> tokens;
  for (int64_t size : shape.drop_back())
    tokens.push_back(rule.addFactor(size, tokenKind));
  dims.assign(tokens);
  dims.push_back(rule.addFactor(shape.back(), FactorKind::LogSumExp));
  rule.addOperand(dims);
  rule.addOperand(tokens);
  return tokens;
}

ShardingRule CrossEntropyGradOp::getShardingRule() {
  // The tokens keep their own cotangents: parallel, not summed.
  ShardingRule rule;
  SmallVector<int64_t> logitDims;
  SmallVector<int64_t> tokens =
      addLossOperands(rule, getLogits(), FactorKind::Parallel, logitDims);
  if (getGrad())
    rule.addOperand({});
  if (getMax()) {
    rule.addOperand(tokens);
    SmallVector<int64_t> sums = {rule.addFactor(2, FactorKind::Replicated)};
    llvm::append_range(sums, tokens);
    rule.addOperand(sums);
  }
  rule.addResult(logitDims);
  return rule;
}

ShardingRule CrossEntropyOp::getShardingRule() {
  ShardingRule rule;
  SmallVector<int64_t> logitDims;
  addLossOperands(rule, getLogits(), FactorKind::Reduction, logitDims);
  rule.addResult({});
  return rule;
}

ShardingRule TransposeOp::getShardingRule() {
  ShardingRule rule;
  SmallVector<int64_t> inDims;
  for (int64_t size : shapeOf(getInput()))
    inDims.push_back(rule.addFactor(size, FactorKind::Parallel));
  SmallVector<int64_t> outDims;
  for (int64_t p : getPermutation())
    outDims.push_back(inDims[p]);
  rule.addOperand(inDims);
  rule.addResult(outDims);
  return rule;
}

ShardingRule ReshapeOp::getShardingRule() {
  // Walk both shapes in groups of equal element count. A group of one
  // dimension on each side keeps that dimension (parallel); in any other
  // group dimensions are split or merged, so each is its own replicated
  // factor. Size-1 dimensions are replicated factors of their own.
  ShardingRule rule;
  ArrayRef<int64_t> in = shapeOf(getInput()), out = shapeOf(getResult());
  SmallVector<int64_t> inDims(in.size(), -1), outDims(out.size(), -1);
  if (llvm::is_contained(in, 0) || llvm::is_contained(out, 0)) {
    // An empty tensor: nothing to keep, nothing worth splitting.
    for (auto [d, size] : llvm::enumerate(in))
      inDims[d] = rule.addFactor(size, FactorKind::Replicated);
    for (auto [d, size] : llvm::enumerate(out))
      outDims[d] = rule.addFactor(size, FactorKind::Replicated);
    rule.addOperand(inDims);
    rule.addResult(outDims);
    return rule;
  }
  size_t i = 0, o = 0;
  while (i < in.size() || o < out.size()) {
    if (i < in.size() && in[i] == 1) {
      inDims[i] = rule.addFactor(1, FactorKind::Replicated);
      ++i;
      continue;
    }
    if (o < out.size() && out[o] == 1) {
      outDims[o] = rule.addFactor(1, FactorKind::Replicated);
      ++o;
      continue;
    }
    if (in[i] == out[o]) {
      inDims[i] = outDims[o] = rule.addFactor(in[i], FactorKind::Parallel);
      ++i, ++o;
      continue;
    }
    int64_t inProduct = in[i], outProduct = out[o];
    size_t iEnd = i + 1, oEnd = o + 1;
    while (inProduct != outProduct) {
      if (inProduct < outProduct)
        inProduct *= in[iEnd++];
      else
        outProduct *= out[oEnd++];
    }
    for (; i < iEnd; ++i)
      inDims[i] = rule.addFactor(in[i], FactorKind::Replicated);
    for (; o < oEnd; ++o)
      outDims[o] = rule.addFactor(out[o], FactorKind::Replicated);
  }
  rule.addOperand(inDims);
  rule.addResult(outDims);
  return rule;
}
