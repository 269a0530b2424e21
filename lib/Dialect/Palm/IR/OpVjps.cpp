//===- OpVjps.cpp - the reverse-mode rule of every differentiable op ------===//
//
// Each rule builds, from its results' cotangents, its operands' cotangents
// as ordinary palm ops, so the backward pass is global palm IR that
// propagation and partitioning treat like the forward. The ops a rule needs
// that the forward does not have (the cotangent of a layer norm, an
// attention, an embedding table, a cross-entropy's logits, silu) are fused
// backward ops with their own sharding rules. -palm-autodiff calls the rules
// (lib/Dialect/Palm/Transforms/Autodiff.cpp).
//
//===----------------------------------------------------------------------===//

#include "palm/Dialect/Palm/IR/DimLists.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::palm;

/// Sets every operand's cotangent to null, to fill in those that have one.
static void noCotangents(Operation *op, SmallVectorImpl<Value> &cotangents) {
  cotangents.assign(op->getNumOperands(), Value());
}

//===----------------------------------------------------------------------===//
// Elementwise and shape ops
//===----------------------------------------------------------------------===//

LogicalResult AddOp::buildVjp(OpBuilder &, ArrayRef<Value> dy,
                              SmallVectorImpl<Value> &dx) {
  dx.assign({dy[0], dy[0]});
  return success();
}

LogicalResult MulOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                              SmallVectorImpl<Value> &dx) {
  Type type = getType();
  dx.assign({MulOp::create(b, getLoc(), type, dy[0], getRhs()),
             MulOp::create(b, getLoc(), type, dy[0], getLhs())});
  return success();
}

LogicalResult SiluOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                               SmallVectorImpl<Value> &dx) {
  dx.assign({SiluGradOp::create(b, getLoc(), getType(), getInput(), dy[0])});
  return success();
}

LogicalResult ScaleOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                                SmallVectorImpl<Value> &dx) {
  dx.assign({ScaleOp::create(b, getLoc(), getType(), dy[0], getFactorAttr())});
  return success();
}

LogicalResult ConvertOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                                  SmallVectorImpl<Value> &dx) {
  dx.assign({ConvertOp::create(b, getLoc(), getInput().getType(), dy[0])});
  return success();
}

LogicalResult ShardingConstraintOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                                             SmallVectorImpl<Value> &dx) {
  // The cotangent is pinned along the same dimensions: the user's layout
  // holds in the backward pass too. A pending reduction is the one thing
  // that does not carry over: every term of a partial sum has the whole
  // sum's cotangent, so the cotangent of a value partial over some axes is
  // replicated over them (the dual of the forward's reduction is a
  // broadcast: where the forward reduce-scatters a partial sum into a
  // sharded layout, the backward all-gathers the cotangent out of it).
  ShardingAttr sharding = getSharding();
  if (!sharding.getUnreducedAxes().empty())
    sharding = ShardingAttr::get(sharding.getMesh(), sharding.getDims());
  dx.assign({ShardingConstraintOp::create(b, getLoc(), dy[0].getType(), dy[0],
                                          sharding)});
  return success();
}

LogicalResult TransposeOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                                    SmallVectorImpl<Value> &dx) {
  ArrayRef<int64_t> perm = getPermutation();
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, p] : llvm::enumerate(perm))
    inverse[p] = i;
  dx.assign({TransposeOp::create(b, getLoc(), dy[0], inverse)});
  return success();
}

LogicalResult ReshapeOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                                  SmallVectorImpl<Value> &dx) {
  dx.assign({ReshapeOp::create(b, getLoc(), getInput().getType(), dy[0])});
  return success();
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

/// The position of `d` among the sorted `dims`.
static int64_t rankAmong(ArrayRef<int64_t> dims, int64_t d) {
  return llvm::count_if(dims, [&](int64_t e) { return e < d; });
}

/// `v` transposed so that its dimension `positions[i]` becomes dimension i;
/// `v` itself when that is the identity.
static Value permuted(OpBuilder &b, Location loc, Value v,
                      ArrayRef<int64_t> positions) {
  bool identity = true;
  for (auto [i, p] : llvm::enumerate(positions))
    identity &= static_cast<int64_t>(i) == p;
  if (identity)
    return v;
  return TransposeOp::create(b, loc, v, positions);
}

LogicalResult DotGeneralOp::buildVjp(OpBuilder &b, ArrayRef<Value> dys,
                                     SmallVectorImpl<Value> &dx) {
  // The result is [batch | lhs free | rhs free]. Each operand's cotangent
  // contracts the result's cotangent with the other operand over that
  // operand's free dimensions, then moves the dimensions back in place.
  Value dy = dys[0];
  Location loc = getLoc();
  int64_t lhsRank = getLhs().getType().getRank();
  int64_t rhsRank = getRhs().getType().getRank();
  ArrayRef<int64_t> lb = getLhsBatchDims(), rb = getRhsBatchDims();
  ArrayRef<int64_t> lc = getLhsContractingDims(), rc = getRhsContractingDims();
  SmallVector<int64_t> lf = freeDims(lhsRank, {lb, lc});
  SmallVector<int64_t> rf = freeDims(rhsRank, {rb, rc});
  int64_t nb = lb.size(), nlf = lf.size(), nrf = rf.size();
  SmallVector<int64_t> batch = consecutiveDims(0, nb);

  int64_t nc = lc.size();
  auto isIdentity = [](ArrayRef<int64_t> positions) {
    for (auto [i, p] : llvm::enumerate(positions))
      if (static_cast<int64_t>(i) != p)
        return false;
    return true;
  };

  // dlhs contracts dy with rhs over rhs free. As dot_general(dy, rhs) it
  // comes out [batch | lhs free | lhs contracting in the order of their
  // partners in rhs]; as dot_general(rhs, dy), [batch | lhs contracting
  // (likewise) | lhs free]. The form already in lhs's order is built, so no
  // transpose follows (the first when neither is).
  SmallVector<int64_t> lhsAt(lhsRank), lhsAtSwapped(lhsRank);
  for (auto [j, d] : llvm::enumerate(lb))
    lhsAt[d] = lhsAtSwapped[d] = j;
  for (auto [j, d] : llvm::enumerate(lf)) {
    lhsAt[d] = nb + j;
    lhsAtSwapped[d] = nb + nc + j;
  }
  for (auto [l, r] : llvm::zip(lc, rc)) {
    lhsAt[l] = nb + nlf + rankAmong(rc, r);
    lhsAtSwapped[l] = nb + rankAmong(rc, r);
  }
  Value dlhs;
  if (!isIdentity(lhsAt) && isIdentity(lhsAtSwapped))
    dlhs = DotGeneralOp::create(b, loc, getRhs(), dy, rf,
                                consecutiveDims(nb + nlf, nrf), rb, batch);
  else
    dlhs = permuted(b, loc,
                    DotGeneralOp::create(b, loc, dy, getRhs(),
                                         consecutiveDims(nb + nlf, nrf), rf,
                                         batch, rb),
                    lhsAt);

  // drhs contracts lhs with dy over lhs free: dot_general(lhs, dy) is
  // [batch | rhs contracting in the order of their partners in lhs | rhs
  // free], dot_general(dy, lhs) [batch | rhs free | rhs contracting
  // (likewise)]; chosen the same way (a tied embedding's gradient, whose
  // vocabulary comes first, is the second).
  SmallVector<int64_t> rhsAt(rhsRank), rhsAtSwapped(rhsRank);
  for (auto [j, d] : llvm::enumerate(rb))
    rhsAt[d] = rhsAtSwapped[d] = j;
  for (auto [l, r] : llvm::zip(lc, rc)) {
    rhsAt[r] = nb + rankAmong(lc, l);
    rhsAtSwapped[r] = nb + nrf + rankAmong(lc, l);
  }
  for (auto [j, d] : llvm::enumerate(rf)) {
    rhsAt[d] = nb + nc + j;
    rhsAtSwapped[d] = nb + j;
  }
  Value drhs;
  if (!isIdentity(rhsAt) && isIdentity(rhsAtSwapped))
    drhs = DotGeneralOp::create(b, loc, dy, getLhs(),
                                consecutiveDims(nb, nlf), lf, batch, lb);
  else
    drhs = permuted(b, loc,
                    DotGeneralOp::create(b, loc, getLhs(), dy, lf,
                                         consecutiveDims(nb, nlf), lb, batch),
                    rhsAt);

  dx.assign({dlhs, drhs});
  return success();
}

//===----------------------------------------------------------------------===//
// Transformer ops
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                                    SmallVectorImpl<Value> &dx) {
  noCotangents(*this, dx);
  dx[0] = EmbeddingGradOp::create(b, getLoc(), getTable().getType(), getIds(),
                                  dy[0], DimShardAttr());
  return success();
}

LogicalResult LayerNormOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                                    SmallVectorImpl<Value> &dx) {
  auto grad = LayerNormGradOp::create(
      b, getLoc(), TypeRange{getInput().getType(), getScale().getType()},
      getInput(), getScale(), dy[0], getEpsilonAttr());
  dx.assign({grad.getInputGrad(), grad.getScaleGrad()});
  return success();
}

LogicalResult RopeOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                               SmallVectorImpl<Value> &dx) {
  // A rotation's transpose is its inverse.
  auto inverse = RopeOp::create(b, getLoc(), dy[0].getType(), dy[0],
                                getBaseAttr(), getInverse() ? UnitAttr()
                                                            : b.getUnitAttr(),
                                DimShardAttr());
  dx.assign({inverse});
  return success();
}

Operation *AttentionOp::prepareForVjp(OpBuilder &b) {
  if (getLse())
    return *this;
  // The backward recomputes the probabilities from each row's log-sum-exp,
  // which the forward then returns as well.
  ArrayRef<int64_t> q = getQuery().getType().getShape();
  b.setInsertionPoint(*this);
  auto withLse = AttentionOp::create(
      b, getLoc(), getResult().getType(),
      RankedTensorType::get({q[0], q[1], q[2]}, b.getF32Type()), getQuery(),
      getKey(), getValue(), getCausalAttr(), getScaleAttr(),
      getHeadsShardAttr(), getKvHeadsShardAttr(), getSeqShardAttr());
  if (Attribute shardings = (*this)->getAttr(PalmDialect::kShardingsAttrName))
    withLse->setAttr(PalmDialect::kShardingsAttrName, shardings);
  getResult().replaceAllUsesWith(withLse.getResult());
  erase();
  return withLse;
}

LogicalResult AttentionOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                                    SmallVectorImpl<Value> &dx) {
  if (!getLse())
    return emitOpError() << "needs its log-sum-exp result to be "
                            "differentiated (prepareForVjp adds it)";
  if (!dy[0]) {
    // Only the log-sum-exp reaches the loss: not a use palm differentiates.
    return emitOpError() << "has a loss that depends on its log-sum-exp, "
                            "which palm does not differentiate";
  }
  auto grad = AttentionGradOp::create(
      b, getLoc(),
      TypeRange{getQuery().getType(), getKey().getType(),
                getValue().getType()},
      getQuery(), getKey(), getValue(), getResult(), getLse(), dy[0],
      getCausalAttr(), getScaleAttr(), getHeadsShardAttr(),
      getKvHeadsShardAttr(), getSeqShardAttr());
  dx.assign({grad.getQueryGrad(), grad.getKeyGrad(), grad.getValueGrad()});
  return success();
}

LogicalResult CrossEntropyOp::buildVjp(OpBuilder &b, ArrayRef<Value> dy,
                                       SmallVectorImpl<Value> &dx) {
  // A null cotangent here is the seed 1 of the loss a function returns.
  noCotangents(*this, dx);
  dx[0] = CrossEntropyGradOp::create(
      b, getLoc(), getLogits().getType(), getLogits(), getTargets(), dy[0],
      /*max=*/Value(), /*sums=*/Value(), getZLossAttr(), IntegerAttr(),
      ArrayAttr(), DimShardAttr());
  return success();
}
