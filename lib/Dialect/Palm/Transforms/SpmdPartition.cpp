//===- SpmdPartition.cpp - global program to per-device program -----------===//
//
// Walks each function once, in order. For every op it derives from the
// recorded shardings how each factor of the op's rule is split, reshards
// the operands to what that split needs (Resharder), and gives the op its
// local types. Ops whose local form needs more than new types (a masked
// lookup, a sharded softmax, a contraction over padding) are rewritten here;
// everything else is generic over the rules.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"
#include "palm/Dialect/Palm/Transforms/Reshard.h"
#include "palm/Dialect/Palm/Transforms/TensorSharding.h"

#include <string>

namespace mlir::palm {
#define GEN_PASS_DEF_PALMSPMDPARTITION
#include "palm/Dialect/Palm/Transforms/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;

namespace {

using AxisList = SmallVector<StringAttr, 2>;

/// " (layers.0.mlp.down)" or " at line:col", for explanations.
static std::string where(Location loc) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (auto name = dyn_cast<NameLoc>(loc))
    os << " (" << name.getName().getValue() << ")";
  else if (auto file = dyn_cast<FileLineColLoc>(loc))
    os << " at " << file.getLine() << ":" << file.getColumn();
  return text;
}

/// Where a value came from, for explanations.
static std::string describe(Value v) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    os << "function argument #" << arg.getArgNumber();
    return text;
  }
  Operation *def = v.getDefiningOp();
  os << "'" << def->getName() << "'" << where(def->getLoc());
  return text;
}

/// Partitioning of one function over one mesh.
class FunctionPartitioner {
public:
  FunctionPartitioner(func::FuncOp fn, const MeshInfo &mesh, bool explain)
      : fn(fn), mesh(mesh), explain(explain), builder(fn.getContext()) {}

  LogicalResult run();

private:
  TensorSharding shardingOfResult(Operation *op, unsigned i);
  SmallVector<AxisList> deriveFactorAxes(Operation *op,
                                         const ShardingRule &rule,
                                         ArrayRef<StringAttr> passedOn);
  /// For each operand of a bilinear op, the axes of the result's recorded
  /// partial sums that it carries through the op (passesOnePartial).
  SmallVector<AxisList> partialPassedOn(Operation *op);
  /// Reshards `v` to `to` before `user`, which needs it for `why`.
  FailureOr<Value> reshardTo(Operation *user, Value v,
                             const TensorSharding &to, const Twine &why);
  /// Reshards result `result` of `op`, computed sharded as it is, to the
  /// sharding propagation recorded, `to`, and gives its users the result.
  LogicalResult reshardResult(Operation *op, Value result,
                              const TensorSharding &to);
  /// Reshards `v`, which is not sharded `to`, to `to` at the builder's
  /// insertion point; `reason` is the remark each collective gets when
  /// explaining.
  FailureOr<Value> reshardAt(Location loc, Value v, const TensorSharding &to,
                             StringRef reason);
  LogicalResult partitionOp(Operation *op, const ShardingRule &rule);
  /// The combined max [tokens] and sums [2, tokens] of a softmax whose
  /// classes are split over `vocab`'s axes: one all-reduce each.
  std::pair<Value, Value> softmaxStatistics(Location loc, Value logits,
                                            Value targets, DimShardAttr vocab);
  LogicalResult
  expandShardedSoftmax(CrossEntropyOp op, DimShardAttr vocab,
                       function_ref<LogicalResult(Operation *)> finish);
  LogicalResult
  expandShardedSoftmaxGrad(CrossEntropyGradOp op, DimShardAttr vocab,
                           function_ref<LogicalResult(Operation *)> finish);
  LogicalResult
  expandSplitLayerNorm(LayerNormOp op, DimShardAttr features,
                       function_ref<LogicalResult(Operation *)> finish);
  /// Replaces the one-result `op` by `by`, whose result takes over its
  /// sharding and global type, then runs `finish` on `by`.
  LogicalResult replaceExpanded(Operation *op, Operation *by,
                                function_ref<LogicalResult(Operation *)> finish);
  DimShardAttr dimShard(ArrayRef<StringAttr> axes, int64_t size) {
    return DimShardAttr::get(fn.getContext(), mesh.getSymbol(), axes, size);
  }

  func::FuncOp fn;
  const MeshInfo &mesh;
  bool explain;
  OpBuilder builder;
  /// Current sharding and global type of every value already partitioned.
  DenseMap<Value, TensorSharding> shardings;
  DenseMap<Value, RankedTensorType> globalTypes;
};

} // namespace

TensorSharding FunctionPartitioner::shardingOfResult(Operation *op,
                                                     unsigned i) {
  ArrayAttr attrs = getResultShardings(op);
  return TensorSharding::fromAttr(cast<ShardingAttr>(attrs[i]), mesh);
}

SmallVector<AxisList>
FunctionPartitioner::deriveFactorAxes(Operation *op,
                                      const ShardingRule &rule,
                                      ArrayRef<StringAttr> passedOn) {
  SmallVector<AxisList> axes(rule.getFactors().size());
  SmallVector<bool> set(rule.getFactors().size(), false);
  auto used = [&](StringAttr a) {
    return llvm::any_of(axes, [&](const AxisList &l) {
      return llvm::is_contained(l, a);
    });
  };
  // Result dimensions fix the parallel and positional factors. A result
  // split along a factor the rule does not let the op split is computed
  // whole and resharded afterwards (partitionOp).
  for (unsigned r = 0; r < op->getNumResults(); ++r) {
    TensorSharding s = shardingOfResult(op, r);
    for (auto [d, f] : llvm::enumerate(rule.getResultFactors(r))) {
      FactorKind kind = rule.getFactor(f).kind;
      if (set[f] ||
          (kind != FactorKind::Parallel && kind != FactorKind::Positional &&
           kind != FactorKind::RowStatistics))
        continue;
      set[f] = true;
      for (StringAttr a : s.dims[d]) {
        if (used(a))
          break;
        axes[f].push_back(a);
      }
    }
  }
  // A row-statistics split costs a collective of the moments, so it is
  // taken only where the operand the factor is largest in already is split
  // so; otherwise the op computes whole rows.
  for (auto [f, factor] : llvm::enumerate(rule.getFactors())) {
    if (factor.kind != FactorKind::RowStatistics || axes[f].empty())
      continue;
    int64_t largest = -1;
    ArrayRef<StringAttr> split;
    for (unsigned i = 0; i < op->getNumOperands(); ++i)
      for (auto [d, g] : llvm::enumerate(rule.getOperandFactors(i))) {
        Value operand = op->getOperand(i);
        int64_t size = globalTypes[operand].getNumElements();
        if (g == static_cast<int64_t>(f) && size > largest) {
          largest = size;
          split = shardings.find(operand)->second.dims[d];
        }
      }
    if (split != ArrayRef<StringAttr>(axes[f]))
      axes[f].clear();
  }
  // The results' unreduced axes are the splits of the factors they lack
  // (reductions, masked gathers, and parallel factors of the operands only,
  // as an embedding cotangent's ids); attribute them as the operands are
  // split.
  AxisList pending;
  bool linear = keepsPartialState(op);
  if (op->getNumResults() > 0 && !linear)
    for (auto [axis, kind] : shardingOfResult(op, 0).unreduced)
      if (kind == ReductionKind::Sum && !llvm::is_contained(passedOn, axis))
        pending.push_back(axis);
  auto isSummed = [&](int64_t f) {
    FactorKind k = rule.getFactor(f).kind;
    return k == FactorKind::Reduction || k == FactorKind::MaskedGather ||
           ((k == FactorKind::Parallel || k == FactorKind::Positional) &&
            !set[f]);
  };
  for (unsigned i = 0; i < op->getNumOperands(); ++i) {
    const TensorSharding &s = shardings.find(op->getOperand(i))->second;
    for (auto [d, f] : llvm::enumerate(rule.getOperandFactors(i))) {
      if (!isSummed(f))
        continue;
      for (StringAttr a : s.dims[d])
        if (llvm::is_contained(pending, a) && !used(a)) {
          axes[f].push_back(a);
          llvm::erase(pending, a);
        }
    }
  }
  for (auto [f, factor] : llvm::enumerate(rule.getFactors()))
    if (isSummed(f)) {
      for (StringAttr a : pending)
        if (!used(a))
          axes[f].push_back(a);
      pending.clear();
    }
  // A log-sum-exp factor is split as its operand is, where axes are free.
  for (unsigned i = 0; i < op->getNumOperands(); ++i) {
    const TensorSharding &s = shardings.find(op->getOperand(i))->second;
    for (auto [d, f] : llvm::enumerate(rule.getOperandFactors(i)))
      if (rule.getFactor(f).kind == FactorKind::LogSumExp && !set[f]) {
        for (StringAttr a : s.dims[d]) {
          if (used(a))
            break;
          axes[f].push_back(a);
        }
        set[f] = true;
      }
  }
  // A grouped factor follows its leader where the split divides both.
  for (auto [f, factor] : llvm::enumerate(rule.getFactors()))
    if (factor.kind == FactorKind::Grouped &&
        rule.groupedShards(f, mesh.size(axes[factor.leader])) > 1)
      axes[f] = axes[factor.leader];
  return axes;
}

/// The sharding result `r` has when `op` computes with the factor split
/// `axes`: dimensions as the factors say, partial over the axes of the
/// split factors it lacks (summedAxes; a linear op keeps its operands'
/// partial state, `linearUnreduced`).
static TensorSharding computedSharding(
    const ShardingRule &rule, unsigned r, ArrayRef<AxisList> axes,
    bool linear, ArrayRef<std::pair<StringAttr, ReductionKind>> linearUnreduced,
    const MeshInfo &mesh) {
  TensorSharding s;
  for (int64_t f : rule.getResultFactors(r))
    s.dims.push_back(axes[f]);
  if (linear) {
    s.unreduced.assign(linearUnreduced.begin(), linearUnreduced.end());
    return s;
  }
  for (StringAttr a : summedAxes(rule, r, [&](int64_t f) {
         return ArrayRef<StringAttr>(axes[f]);
       }))
    s.unreduced.push_back({a, ReductionKind::Sum});
  s.canonicalize(mesh);
  return s;
}

FailureOr<Value> FunctionPartitioner::reshardTo(Operation *user, Value v,
                                                const TensorSharding &to,
                                                const Twine &why) {
  if (shardings.find(v)->second == to)
    return v;
  std::string reason;
  if (explain) {
    MLIRContext *ctx = fn.getContext();
    llvm::raw_string_ostream os(reason);
    os << "inserted for " << why << " of '" << user->getName() << "'"
       << where(user->getLoc()) << ", which needs " << to.toAttr(ctx, mesh)
       << ", but " << describe(v) << " produces "
       << shardings.find(v)->second.toAttr(ctx, mesh);
  }
  builder.setInsertionPoint(user);
  return reshardAt(user->getLoc(), v, to, reason);
}

LogicalResult FunctionPartitioner::reshardResult(Operation *op, Value result,
                                                 const TensorSharding &to) {
  const TensorSharding &from = shardings.find(result)->second;
  if (from == to)
    return success();
  std::string reason;
  if (explain) {
    MLIRContext *ctx = fn.getContext();
    llvm::raw_string_ostream os(reason);
    os << "inserted after '" << op->getName() << "'" << where(op->getLoc())
       << ", whose sharding rule does not let it compute "
       << to.toAttr(ctx, mesh) << " directly: it computes "
       << from.toAttr(ctx, mesh) << ", resharded here for its users";
  }
  SmallVector<OpOperand *> uses;
  for (OpOperand &use : result.getUses())
    uses.push_back(&use);
  builder.setInsertionPointAfter(op);
  FailureOr<Value> moved = reshardAt(op->getLoc(), result, to, reason);
  if (failed(moved))
    return failure();
  for (OpOperand *use : uses)
    use->set(*moved);
  return success();
}

FailureOr<Value> FunctionPartitioner::reshardAt(Location loc, Value v,
                                                const TensorSharding &to,
                                                StringRef reason) {
  const TensorSharding &from = shardings.find(v)->second;
  std::function<void(Operation *)> note;
  if (explain)
    note = [&](Operation *op) {
      op->emitRemark() << "'" << op->getName() << "' " << reason;
    };
  Resharder resharder(builder, mesh, note);
  FailureOr<Value> result =
      resharder.reshard(loc, v, globalTypes[v].getShape(), from, to);
  if (failed(result))
    return failure();
  shardings[*result] = to;
  globalTypes[*result] = globalTypes[v];
  return result;
}

SmallVector<AxisList> FunctionPartitioner::partialPassedOn(Operation *op) {
  SmallVector<unsigned, 2> candidates = passesOnePartial(op);
  if (candidates.empty() || op->getNumResults() != 1)
    return {};
  SmallVector<AxisList> passed(op->getNumOperands());
  AxisList taken;
  for (auto [axis, kind] : shardingOfResult(op, 0).unreduced) {
    if (kind != ReductionKind::Sum)
      continue;
    for (unsigned i : candidates) {
      const TensorSharding &s = shardings.find(op->getOperand(i))->second;
      if (llvm::is_contained(s.unreduced, std::pair(axis, kind)) &&
          !llvm::is_contained(taken, axis)) {
        passed[i].push_back(axis);
        taken.push_back(axis);
      }
    }
  }
  return passed;
}

/// Projects per-factor axes onto one tensor's dimensions.
static TensorSharding projectDims(ArrayRef<int64_t> factors,
                                  ArrayRef<AxisList> axes) {
  TensorSharding s;
  for (int64_t f : factors)
    s.dims.push_back(axes[f]);
  return s;
}

LogicalResult FunctionPartitioner::replaceExpanded(
    Operation *op, Operation *by,
    function_ref<LogicalResult(Operation *)> finish) {
  Value old = op->getResult(0), now = by->getResult(0);
  old.replaceAllUsesWith(now);
  // Copied out first: inserting `now` may grow the maps, which moves the
  // entry a reference to `old`'s would point at.
  TensorSharding sharding = shardings.lookup(old);
  RankedTensorType globalType = globalTypes.lookup(old);
  shardings[now] = std::move(sharding);
  globalTypes[now] = globalType;
  op->erase();
  return finish(by);
}

std::pair<Value, Value>
FunctionPartitioner::softmaxStatistics(Location loc, Value logits,
                                       Value targets, DimShardAttr vocab) {
  auto logitsType = cast<RankedTensorType>(logits.getType());
  auto tokenType = RankedTensorType::get(logitsType.getShape().drop_back(),
                                         builder.getF32Type());
  SmallVector<int64_t> sumsShape = {2};
  llvm::append_range(sumsShape, tokenType.getShape());
  auto sumsType = RankedTensorType::get(sumsShape, builder.getF32Type());
  ArrayAttr vocabAxes = axesAttr(builder, vocab.getAxes());
  std::string axesText;
  llvm::raw_string_ostream axesOS(axesText);
  llvm::interleaveComma(vocab.getAxes(), axesOS,
                        [&](StringAttr a) { axesOS << a.getValue(); });
  auto note = [&](Operation *c, StringRef what) {
    if (explain)
      c->emitRemark() << "'" << c->getName() << "' inserted for the " << what
                      << " of a cross-entropy whose vocabulary is split over ["
                      << axesText << "]; only token-sized values move";
  };
  Value localMax =
      SoftmaxMaxOp::create(builder, loc, tokenType, logits, vocab);
  auto max = AllReduceOp::create(
      builder, loc, tokenType, mesh.getSymbol(), vocabAxes, localMax,
      ReductionKindAttr::get(builder.getContext(), ReductionKind::Max));
  note(max, "maximum");
  Value localSums = SoftmaxSumsOp::create(builder, loc, sumsType, logits, max,
                                          targets, vocab);
  auto sums = AllReduceOp::create(
      builder, loc, sumsType, mesh.getSymbol(), vocabAxes, localSums,
      ReductionKindAttr::get(builder.getContext(), ReductionKind::Sum));
  note(sums, "sum of exponentials and target logit");
  return {max, sums};
}

LogicalResult FunctionPartitioner::expandShardedSoftmax(
    CrossEntropyOp op, DimShardAttr vocab,
    function_ref<LogicalResult(Operation *)> finish) {
  builder.setInsertionPoint(op);
  auto [max, sums] =
      softmaxStatistics(op.getLoc(), op.getLogits(), op.getTargets(), vocab);
  auto loss = CrossEntropyLossOp::create(
      builder, op.getLoc(), op.getType(), max, sums, op.getZLossAttr(),
      op.getTokenCountAttr(), op.getTokenShardsAttr());
  return replaceExpanded(op, loss, finish);
}

LogicalResult FunctionPartitioner::expandShardedSoftmaxGrad(
    CrossEntropyGradOp op, DimShardAttr vocab,
    function_ref<LogicalResult(Operation *)> finish) {
  builder.setInsertionPoint(op);
  auto [max, sums] =
      softmaxStatistics(op.getLoc(), op.getLogits(), op.getTargets(), vocab);
  auto grad = CrossEntropyGradOp::create(
      builder, op.getLoc(), op.getType(), op.getLogits(), op.getTargets(),
      op.getGrad(), max, sums, op.getZLossAttr(), op.getTokenCountAttr(),
      op.getTokenShardsAttr(), vocab);
  return replaceExpanded(op, grad, finish);
}

LogicalResult FunctionPartitioner::expandSplitLayerNorm(
    LayerNormOp op, DimShardAttr features,
    function_ref<LogicalResult(Operation *)> finish) {
  Location loc = op.getLoc();
  builder.setInsertionPoint(op);
  RankedTensorType input = op.getInput().getType();
  SmallVector<int64_t> shape = {1, 3};
  llvm::append_range(shape, input.getShape().drop_back());
  auto momentsType = RankedTensorType::get(shape, builder.getF32Type());
  auto moments = RowMomentsOp::create(builder, loc, momentsType,
                                      op.getInput(), features);
  shape[0] = mesh.size(features.getAxes());
  auto gathered = AllGatherOp::create(
      builder, loc, RankedTensorType::get(shape, builder.getF32Type()),
      mesh.getSymbol(), axesAttr(builder, features.getAxes()), moments,
      builder.getI64IntegerAttr(0));
  if (explain)
    gathered->emitRemark()
        << "'" << gathered->getName()
        << "' inserted for the row moments of a layer norm whose features "
           "are split over the same axes; only row statistics move";
  auto merged = LayerNormMergedOp::create(builder, loc, op.getType(),
                                          op.getInput(), op.getScale(),
                                          gathered, op.getEpsilonAttr());
  return replaceExpanded(op, merged, finish);
}

/// The operand of a backward or optimizer op that it sums over the
/// dimensions its results lack (a cotangent, a gradient), or std::nullopt.
static std::optional<unsigned> summedCotangent(Operation *op) {
  if (isa<AttentionGradOp>(op))
    return 5;
  if (isa<LayerNormGradOp>(op))
    return 2;
  if (isa<EmbeddingGradOp>(op))
    return 1;
  if (isa<SumSquaresOp, AdafactorMomentsOp>(op))
    return 0;
  return std::nullopt;
}

LogicalResult FunctionPartitioner::partitionOp(Operation *op,
                                               const ShardingRule &rule) {
  if (getResultShardings(op).size() != op->getNumResults())
    return op->emitOpError()
           << "has no sharding; run -palm-propagate-shardings first";
  SmallVector<AxisList> passed = partialPassedOn(op);
  AxisList passedOn;
  for (const AxisList &p : passed)
    llvm::append_range(passedOn, p);
  SmallVector<AxisList> axes = deriveFactorAxes(op, rule, passedOn);
  bool linear = keepsPartialState(op);

  // Reshard each operand to the split the op computes with.
  for (unsigned i = 0; i < op->getNumOperands(); ++i) {
    TensorSharding want = projectDims(rule.getOperandFactors(i), axes);
    if (linear)
      want.unreduced = shardingOfResult(op, 0).unreduced;
    else if (!passed.empty())
      for (StringAttr a : passed[i])
        want.unreduced.push_back({a, ReductionKind::Sum});
    want.canonicalize(mesh);
    FailureOr<Value> v = reshardTo(op, op->getOperand(i), want,
                                   "operand #" + Twine(i));
    if (failed(v))
      return failure();
    op->setOperand(i, *v);
  }

  // Contracting over an uneven split adds padding into the result unless
  // one side's padding is zero: function arguments are zero-padded by
  // contract, anything else is masked.
  if (auto dot = dyn_cast<DotGeneralOp>(op)) {
    for (auto [l, r] : llvm::zip(dot.getLhsContractingDims(),
                                 dot.getRhsContractingDims())) {
      int64_t f = rule.getOperandFactors(0)[l];
      int64_t size = rule.getFactor(f).size;
      if (axes[f].empty() || size % mesh.size(axes[f]) == 0)
        continue;
      if (isa<BlockArgument>(dot.getLhs()) || isa<BlockArgument>(dot.getRhs()))
        continue;
      builder.setInsertionPoint(op);
      Value masked = MaskPaddingOp::create(builder, 
          op->getLoc(), dot.getLhs(), builder.getI64IntegerAttr(l),
          dimShard(axes[f], size));
      op->setOperand(0, masked);
    }
  }

  // A backward op that sums its cotangent over a dimension (the rows of a
  // layer norm's scale cotangent, the ids of an embedding's, the queries of
  // an attention's key and value cotangents), or an optimizer op summing a
  // gradient's squares, adds the padding of an uneven split unless it is
  // zero: mask it.
  if (std::optional<unsigned> g = summedCotangent(op)) {
    ArrayRef<int64_t> gradFactors = rule.getOperandFactors(*g);
    for (auto [d, f] : llvm::enumerate(gradFactors)) {
      int64_t size = rule.getFactor(f).size;
      bool summed = false;
      for (unsigned r = 0; r < op->getNumResults(); ++r)
        summed |= !llvm::is_contained(rule.getResultFactors(r), f);
      if (!summed || axes[f].empty() || size % mesh.size(axes[f]) == 0)
        continue;
      builder.setInsertionPoint(op);
      Value masked = MaskPaddingOp::create(
          builder, op->getLoc(), op->getOperand(*g),
          builder.getI64IntegerAttr(d), dimShard(axes[f], size));
      op->setOperand(*g, masked);
    }
  }

  // Local result types, as the op computes them; where that is not the
  // sharding propagation recorded, the result is resharded after the op.
  SmallVector<TensorSharding> recorded;
  for (unsigned r = 0; r < op->getNumResults(); ++r) {
    Value result = op->getResult(r);
    auto global = cast<RankedTensorType>(result.getType());
    recorded.push_back(shardingOfResult(op, r));
    TensorSharding s =
        computedSharding(rule, r, axes, linear, recorded.back().unreduced, mesh);
    for (StringAttr a : passedOn)
      if (!s.uses(a))
        s.unreduced.push_back({a, ReductionKind::Sum});
    s.canonicalize(mesh);
    globalTypes[result] = global;
    result.setType(RankedTensorType::get(localShape(global.getShape(), s, mesh),
                                         global.getElementType()));
    shardings[result] = std::move(s);
  }
  op->removeAttr(PalmDialect::kShardingsAttrName);
  auto reshardResults = [&](Operation *computed) -> LogicalResult {
    for (auto [result, to] : llvm::zip(computed->getResults(), recorded))
      if (failed(reshardResult(computed, result, to)))
        return failure();
    return success();
  };

  // Local attributes of ops that see shard offsets: the shard of operand
  // dimension (operand, dim), or null when it is whole.
  auto shardOf = [&](unsigned operand, unsigned dim) -> DimShardAttr {
    int64_t f = rule.getOperandFactors(operand)[dim];
    if (axes[f].empty())
      return {};
    return dimShard(axes[f], rule.getFactor(f).size);
  };
  if (auto emb = dyn_cast<EmbeddingOp>(op)) {
    emb.setVocabShardAttr(shardOf(0, 0));
  } else if (auto norm = dyn_cast<LayerNormOp>(op)) {
    if (DimShardAttr features = shardOf(1, 0))
      return expandSplitLayerNorm(norm, features, reshardResults);
  } else if (auto rope = dyn_cast<RopeOp>(op)) {
    rope.setSeqShardAttr(shardOf(0, 1));
  } else if (auto attn = dyn_cast<AttentionOp>(op)) {
    attn.setHeadsShardAttr(shardOf(0, 2));
    attn.setKvHeadsShardAttr(shardOf(1, 2));
    attn.setSeqShardAttr(shardOf(0, 1));
  } else if (auto grad = dyn_cast<AttentionGradOp>(op)) {
    grad.setHeadsShardAttr(shardOf(0, 2));
    grad.setKvHeadsShardAttr(shardOf(1, 2));
    grad.setSeqShardAttr(shardOf(0, 1));
  } else if (auto grad = dyn_cast<EmbeddingGradOp>(op)) {
    int64_t vocab = rule.getResultFactors(0)[0];
    if (!axes[vocab].empty())
      grad.setVocabShardAttr(
          dimShard(axes[vocab], rule.getFactor(vocab).size));
  } else if (isa<CrossEntropyOp, CrossEntropyGradOp>(op)) {
    Value targetsValue = op->getOperand(1);
    RankedTensorType targets = globalTypes[targetsValue];
    SmallVector<Attribute> tokenShards;
    for (int64_t d = 0; d < targets.getRank(); ++d) {
      DimShardAttr shard = shardOf(1, d);
      tokenShards.push_back(shard ? Attribute(shard)
                                  : Attribute(builder.getUnitAttr()));
    }
    auto setTokens = [&](auto ce) {
      ce.setTokenCountAttr(builder.getI64IntegerAttr(targets.getNumElements()));
      ce.setTokenShardsAttr(builder.getArrayAttr(tokenShards));
    };
    DimShardAttr vocab = shardOf(0, targets.getRank());
    if (auto ce = dyn_cast<CrossEntropyOp>(op)) {
      setTokens(ce);
      if (vocab)
        return expandShardedSoftmax(ce, vocab, reshardResults);
    } else {
      auto grad = cast<CrossEntropyGradOp>(op);
      setTokens(grad);
      if (vocab)
        return expandShardedSoftmaxGrad(grad, vocab, reshardResults);
    }
  }
  return reshardResults(op);
}

LogicalResult FunctionPartitioner::run() {
  Block &body = fn.getBody().front();
  MLIRContext *ctx = fn.getContext();

  // Rules read sizes (a reshape groups dimensions by size), so take them
  // while every type is still global.
  DenseMap<Operation *, ShardingRule> rules;
  for (Operation &op : body.without_terminator()) {
    auto ruleOp = dyn_cast<ShardingRuleOpInterface>(op);
    if (!ruleOp)
      return op.emitOpError()
             << "has no sharding rule, so palm cannot partition it";
    rules[&op] = ruleOp.getShardingRule();
  }

  SmallVector<Type> argTypes;
  for (BlockArgument arg : body.getArguments()) {
    ShardingAttr attr = getArgSharding(fn, arg.getArgNumber());
    if (!attr)
      return fn.emitError() << "argument #" << arg.getArgNumber()
                            << " has no sharding; run "
                               "-palm-propagate-shardings first";
    auto global = cast<RankedTensorType>(arg.getType());
    TensorSharding s = TensorSharding::fromAttr(attr, mesh);
    shardings[arg] = s;
    globalTypes[arg] = global;
    fn.setArgAttr(arg.getArgNumber(), PalmDialect::kGlobalTypeAttrName,
                  TypeAttr::get(global));
    arg.setType(RankedTensorType::get(localShape(global.getShape(), s, mesh),
                                      global.getElementType()));
    argTypes.push_back(arg.getType());
  }

  for (Operation &op : llvm::make_early_inc_range(body.without_terminator())) {
    // What the partitioner adds for an op (collectives, masks, right before
    // or after it) belongs with it: the attributes that keep CSE from
    // merging a recomputation with its forward op, or one micro-batch's
    // work with another's, go on them too.
    SmallVector<NamedAttribute, 2> fences;
    for (StringRef name : {StringRef(kRecomputedAttrName),
                           StringRef(PalmDialect::kMicrobatchAttrName)})
      if (Attribute a = op.getAttr(name))
        fences.push_back(NamedAttribute(name, a));
    Operation *prev = op.getPrevNode(), *next = op.getNextNode();
    if (auto constraint = dyn_cast<ShardingConstraintOp>(op)) {
      FailureOr<Value> v = reshardTo(
          &op, constraint.getInput(),
          TensorSharding::fromAttr(constraint.getSharding(), mesh),
          "the sharding constraint");
      if (failed(v))
        return failure();
      constraint.getResult().replaceAllUsesWith(*v);
      op.erase();
    } else if (failed(partitionOp(&op, rules.find(&op)->second))) {
      return failure();
    }
    if (!fences.empty())
      for (Operation *o = prev ? prev->getNextNode() : &body.front();
           o && o != next; o = o->getNextNode())
        for (NamedAttribute a : fences)
          o->setAttr(a.getName(), a.getValue());
  }

  Operation *ret = body.getTerminator();
  SmallVector<Type> resultTypes;
  for (unsigned i = 0; i < ret->getNumOperands(); ++i) {
    Value v = ret->getOperand(i);
    RankedTensorType global = globalTypes[v];
    ShardingAttr attr = getResultSharding(fn, i);
    TensorSharding want =
        attr ? TensorSharding::fromAttr(attr, mesh)
             : TensorSharding::replicated(global.getRank());
    FailureOr<Value> local = reshardTo(ret, v, want,
                                       "result #" + Twine(i));
    if (failed(local))
      return failure();
    // Results keep the contract arguments have: padding is zero. Padded
    // rows of activations (a padded batch row computes on token 0) are not.
    Value masked = *local;
    if (!isa<BlockArgument>(masked)) {
      builder.setInsertionPoint(ret);
      for (auto [d, axes] : llvm::enumerate(want.dims)) {
        int64_t size = global.getDimSize(d);
        if (axes.empty() || size % mesh.size(axes) == 0)
          continue;
        masked = MaskPaddingOp::create(builder, ret->getLoc(), masked,
                                       builder.getI64IntegerAttr(d),
                                       dimShard(axes, size));
      }
    }
    ret->setOperand(i, masked);
    if (!attr)
      fn.setResultAttr(i, PalmDialect::kShardingAttrName,
                       want.toAttr(ctx, mesh));
    fn.setResultAttr(i, PalmDialect::kGlobalTypeAttrName,
                     TypeAttr::get(global));
    resultTypes.push_back(local->getType());
  }
  fn.setFunctionType(FunctionType::get(ctx, argTypes, resultTypes));
  return success();
}

namespace {

/// Turns a propagated global module into the per-device program.
struct SpmdPartitionPass
    : public palm::impl::PalmSpmdPartitionBase<SpmdPartitionPass> {
  using PalmSpmdPartitionBase::PalmSpmdPartitionBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = module.getContext();
    if (getLevel(module) == Level::Local) {
      module.emitError() << "the module is already at the local level";
      return signalPassFailure();
    }
    SymbolTable symbols(module);
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      if (!fn.getBody().hasOneBlock()) {
        fn.emitError() << "palm partitions functions with one block only";
        return signalPassFailure();
      }
      // The mesh is the one the function's argument shardings name.
      MeshOp mesh;
      for (unsigned i = 0; i < fn.getNumArguments() && !mesh; ++i)
        if (ShardingAttr s = getArgSharding(fn, i))
          mesh = symbols.lookup<MeshOp>(s.getMesh().getValue());
      // A module without a mesh is a one-device program: nothing to split.
      if (!mesh) {
        if (fn.getNumArguments() > 0 && !module.getOps<MeshOp>().empty()) {
          fn.emitError() << "has no argument shardings; run "
                            "-palm-propagate-shardings first";
          return signalPassFailure();
        }
        continue;
      }
      MeshInfo info(mesh);
      if (failed(FunctionPartitioner(fn, info, explain).run()))
        return signalPassFailure();
    }
    module->setAttr(PalmDialect::kLevelAttrName,
                    LevelAttr::get(ctx, Level::Local));
  }
};

} // namespace
