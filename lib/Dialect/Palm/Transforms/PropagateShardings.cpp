//===- PropagateShardings.cpp - give every value a sharding ---------------===//
//
// Factor-based propagation: each op's sharding rule maps tensor dimensions
// to factors; known shardings propose axes for factors, one proposal is
// chosen per op (activations before parameters, then fewest bytes moved,
// then operand order), and the choice is projected back onto the op's
// tensors. Shardings only ever gain axes, so the sweeps reach a fixed point.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"
#include "palm/Dialect/Palm/Transforms/TensorSharding.h"
#include "llvm/ADT/DenseSet.h"

#include <optional>
#include <tuple>

namespace mlir::palm {
#define GEN_PASS_DEF_PALMPROPAGATESHARDINGS
#include "palm/Dialect/Palm/Transforms/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;

namespace {

using AxisList = SmallVector<StringAttr, 2>;
/// Axes chosen for each factor of one op; std::nullopt when nothing is known.
using FactorAxes = SmallVector<std::optional<AxisList>>;

/// True when `a` is a prefix of `b`.
static bool isPrefix(ArrayRef<StringAttr> a, ArrayRef<StringAttr> b) {
  return a.size() <= b.size() && a == b.take_front(a.size());
}

/// True when `next` keeps everything `prev` says and possibly adds axes.
static bool extends(const TensorSharding &prev, const TensorSharding &next) {
  for (auto [p, n] : llvm::zip(prev.dims, next.dims))
    if (!isPrefix(p, n))
      return false;
  return llvm::all_of(prev.unreduced, [&](auto &u) {
    return llvm::is_contained(next.unreduced, u);
  });
}

/// Propagation over one function.
class FunctionPropagation {
public:
  FunctionPropagation(func::FuncOp fn, const MeshInfo &mesh)
      : fn(fn), mesh(mesh) {}

  LogicalResult run();

private:
  LogicalResult seed();
  bool propagate(Operation *op);
  void write();

  /// Tensors of `op` in rule order: operands, then results.
  SmallVector<Value> tensorsOf(Operation *op) {
    SmallVector<Value> values(op->getOperands());
    llvm::append_range(values, op->getResults());
    return values;
  }
  ArrayRef<int64_t> shapeOf(Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  }
  int64_t bytesUnder(Value v, const TensorSharding &s) {
    return tensorBytes(localShape(shapeOf(v), s, mesh),
                       cast<RankedTensorType>(v.getType()).getElementType());
  }
  /// Bytes a device receives to go from `from` to `to` along dimensions
  /// (gathering every axis not in the common prefix).
  int64_t gatherBytes(Value v, const TensorSharding &from,
                      const TensorSharding &to);
  TensorSharding project(Operation *op, const ShardingRule &rule,
                         const FactorAxes &axes, unsigned tensor);

  func::FuncOp fn;
  const MeshInfo &mesh;
  DenseMap<Value, TensorSharding> state;
  DenseSet<Value> fixed;
  /// Values seeded from a function result annotation: they steer their
  /// producer's choice, which then replaces them.
  DenseSet<Value> soft;
  DenseSet<Value> weights;
};

} // namespace

LogicalResult FunctionPropagation::seed() {
  Block &body = fn.getBody().front();
  for (BlockArgument arg : body.getArguments()) {
    if (auto attr = getArgSharding(fn, arg.getArgNumber())) {
      state[arg] = TensorSharding::fromAttr(attr, mesh);
      fixed.insert(arg);
    }
    if (fn.getArgAttr(arg.getArgNumber(), PalmDialect::kInitAttrName))
      weights.insert(arg);
  }
  for (Operation &op : body.without_terminator()) {
    if (op.getNumRegions() != 0)
      return op.emitOpError()
             << "has regions; palm partitions straight-line functions only";
    if (!isa<ShardingRuleOpInterface>(op))
      return op.emitOpError()
             << "has no sharding rule, so palm cannot partition it";
    for (Value v : op.getOperands())
      if (!isa<RankedTensorType>(v.getType()))
        return op.emitOpError() << "has a non-tensor operand";
    if (auto constraint = dyn_cast<ShardingConstraintOp>(op)) {
      state[constraint.getResult()] =
          TensorSharding::fromAttr(constraint.getSharding(), mesh);
      fixed.insert(constraint.getResult());
    } else if (ArrayAttr given = getResultShardings(&op); !given.empty()) {
      for (auto [result, attr] : llvm::zip(op.getResults(), given)) {
        state[result] =
            TensorSharding::fromAttr(cast<ShardingAttr>(attr), mesh);
        fixed.insert(result);
      }
    }
    if (op.getNumOperands() > 0 &&
        llvm::all_of(op.getOperands(),
                     [&](Value v) { return weights.contains(v); }))
      for (Value r : op.getResults())
        weights.insert(r);
  }
  // A result annotation is met at the return; it only seeds the returned
  // value, which may still gain axes (a loss that is a partial sum over the
  // batch axes stays one until the return reduces it).
  Operation *ret = body.getTerminator();
  for (auto [i, v] : llvm::enumerate(ret->getOperands()))
    if (auto attr = getResultSharding(fn, i); attr && !state.count(v)) {
      state[v] = TensorSharding::fromAttr(attr, mesh);
      soft.insert(v);
    }
  return success();
}

int64_t FunctionPropagation::gatherBytes(Value v, const TensorSharding &from,
                                         const TensorSharding &to) {
  TensorSharding common = TensorSharding::replicated(from.dims.size());
  for (auto [c, f, t] : llvm::zip(common.dims, from.dims, to.dims))
    for (auto [a, b] : llvm::zip(f, t)) {
      if (a != b)
        break;
      c.push_back(a);
    }
  return bytesUnder(v, common) - bytesUnder(v, from);
}

TensorSharding FunctionPropagation::project(Operation *op,
                                            const ShardingRule &rule,
                                            const FactorAxes &axes,
                                            unsigned tensor) {
  unsigned numOperands = op->getNumOperands();
  bool isResult = tensor >= numOperands;
  ArrayRef<int64_t> factors =
      isResult ? rule.getResultFactors(tensor - numOperands)
               : rule.getOperandFactors(tensor);
  TensorSharding s;
  for (int64_t f : factors)
    s.dims.push_back(axes[f] ? *axes[f] : AxisList());
  if (!isResult)
    return s;
  // Results hold partial sums over the axes of the split factors they lack.
  for (StringAttr a :
       summedAxes(rule, tensor - numOperands, [&](int64_t f) {
         return axes[f] ? ArrayRef<StringAttr>(*axes[f])
                        : ArrayRef<StringAttr>();
       }))
    s.unreduced.push_back({a, ReductionKind::Sum});
  // A bilinear op passes on the partial sums of one operand.
  for (unsigned i : passesOnePartial(op)) {
    auto it = state.find(op->getOperand(i));
    if (it == state.end())
      continue;
    for (auto u : it->second.unreduced)
      if (u.second == ReductionKind::Sum && !s.uses(u.first) &&
          !llvm::is_contained(s.unreduced, u))
        s.unreduced.push_back(u);
  }
  // A linear op keeps the partial state its operands share.
  if (keepsPartialState(op) && op->getNumOperands() > 0) {
    auto first = state.find(op->getOperand(0));
    if (first != state.end())
      for (auto u : first->second.unreduced) {
        bool shared = llvm::all_of(op->getOperands(), [&](Value v) {
          auto it = state.find(v);
          return it != state.end() &&
                 llvm::is_contained(it->second.unreduced, u);
        });
        if (shared && !s.uses(u.first))
          s.unreduced.push_back(u);
      }
  }
  s.canonicalize(mesh);
  return s;
}

bool FunctionPropagation::propagate(Operation *op) {
  auto ruleOp = dyn_cast<ShardingRuleOpInterface>(op);
  if (!ruleOp)
    return false;
  ShardingRule rule = ruleOp.getShardingRule();
  SmallVector<Value> tensors = tensorsOf(op);
  unsigned numOperands = op->getNumOperands();
  auto factorsOf = [&](unsigned t) {
    return t < numOperands ? rule.getOperandFactors(t)
                           : rule.getResultFactors(t - numOperands);
  };
  SmallVector<unsigned> known;
  for (auto [t, v] : llvm::enumerate(tensors))
    if (state.count(v))
      known.push_back(t);
  if (known.empty())
    return false;

  // Folds tensor t's shardings into `axes` where they do not conflict.
  auto merge = [&](FactorAxes &axes, unsigned t) {
    const TensorSharding &s = state.find(tensors[t])->second;
    bool annotated = fixed.contains(tensors[t]) || soft.contains(tensors[t]);
    for (auto [d, f] : llvm::enumerate(factorsOf(t))) {
      // A positional or row-statistics split is the user's to make: it is
      // taken from an annotation, never from another op's choice. Grouped
      // factors follow their leaders (below).
      FactorKind kind = rule.getFactor(f).kind;
      if (kind == FactorKind::Replicated || kind == FactorKind::Grouped ||
          ((kind == FactorKind::Positional ||
            kind == FactorKind::RowStatistics) &&
           !annotated))
        continue;
      const AxisList &proposed = s.dims[d];
      if (proposed.empty())
        continue;
      AxisList current = axes[f] ? *axes[f] : AxisList();
      if (!isPrefix(current, proposed))
        continue;
      bool free = llvm::all_of(
          ArrayRef<StringAttr>(proposed).drop_front(current.size()),
          [&](StringAttr a) {
            return llvm::none_of(axes, [&](const std::optional<AxisList> &o) {
              return o && llvm::is_contained(*o, a);
            });
          });
      if (free)
        axes[f] = proposed;
    }
  };

  // One candidate per leader; ranked by (leader is a weight, bytes, order).
  std::optional<std::tuple<bool, int64_t, unsigned>> bestKey;
  FactorAxes best;
  for (unsigned leader : known) {
    FactorAxes axes(rule.getFactors().size());
    merge(axes, leader);
    for (unsigned t : known)
      if (t != leader)
        merge(axes, t);
    for (auto [f, factor] : llvm::enumerate(rule.getFactors())) {
      if (factor.kind != FactorKind::Grouped || !axes[factor.leader])
        continue;
      const AxisList &lead = *axes[factor.leader];
      if (rule.groupedShards(f, mesh.size(lead)) > 1)
        axes[f] = lead;
    }
    int64_t bytes = 0;
    for (unsigned t : known)
      bytes += gatherBytes(tensors[t], state.find(tensors[t])->second,
                           project(op, rule, axes, t));
    for (auto [f, factor] : llvm::enumerate(rule.getFactors()))
      if (axes[f] && factor.kind == FactorKind::Reduction)
        for (OpResult r : op->getResults()) {
          int64_t n = mesh.size(*axes[f]);
          TensorSharding s =
              project(op, rule, axes, numOperands + r.getResultNumber());
          bytes += 2 * bytesUnder(r, s) * (n - 1) / n;
        }
    auto key = std::make_tuple(weights.contains(tensors[leader]), bytes,
                               leader);
    if (!bestKey || key < *bestKey) {
      bestKey = key;
      best = std::move(axes);
    }
  }

  bool changed = false;
  for (auto [t, v] : llvm::enumerate(tensors)) {
    if (fixed.contains(v))
      continue;
    TensorSharding next = project(op, rule, best, t);
    auto it = state.find(v);
    if (it == state.end()) {
      state[v] = std::move(next);
      changed = true;
    } else if (soft.erase(v)) {
      changed |= it->second != next;
      it->second = std::move(next);
    } else if (it->second != next && extends(it->second, next)) {
      it->second = std::move(next);
      changed = true;
    }
  }
  return changed;
}

void FunctionPropagation::write() {
  MLIRContext *ctx = fn.getContext();
  auto shardingOf = [&](Value v) {
    auto it = state.find(v);
    TensorSharding s =
        it != state.end()
            ? it->second
            : TensorSharding::replicated(
                  cast<RankedTensorType>(v.getType()).getRank());
    return s.toAttr(ctx, mesh);
  };
  Block &body = fn.getBody().front();
  for (BlockArgument arg : body.getArguments())
    if (!getArgSharding(fn, arg.getArgNumber()))
      fn.setArgAttr(arg.getArgNumber(), PalmDialect::kShardingAttrName,
                    shardingOf(arg));
  for (Operation &op : body.without_terminator()) {
    if (isa<ShardingConstraintOp>(op) || op.getNumResults() == 0)
      continue;
    SmallVector<Attribute> attrs;
    for (Value r : op.getResults())
      attrs.push_back(shardingOf(r));
    op.setAttr(PalmDialect::kShardingsAttrName, ArrayAttr::get(ctx, attrs));
  }
  for (auto [i, v] : llvm::enumerate(body.getTerminator()->getOperands()))
    if (!getResultSharding(fn, i)) {
      // A gradient (palm.grad_of) or an updated argument (palm.aliases) is
      // laid out like its argument: the local types must agree. Autodiff
      // copies an annotated parameter's sharding; this is the propagated one.
      for (StringRef attr :
           {PalmDialect::kGradOfAttrName, PalmDialect::kAliasesAttrName})
        if (auto of = fn.getResultAttrOfType<IntegerAttr>(i, attr);
            of && of.getInt() >= 0 &&
            of.getInt() < static_cast<int64_t>(body.getNumArguments()))
          if (ShardingAttr arg = getArgSharding(fn, of.getInt())) {
            fn.setResultAttr(i, PalmDialect::kShardingAttrName, arg);
            break;
          }
      if (getResultSharding(fn, i))
        continue;
      TensorSharding s = TensorSharding::fromAttr(shardingOf(v), mesh);
      s.unreduced.clear();
      fn.setResultAttr(i, PalmDialect::kShardingAttrName, s.toAttr(ctx, mesh));
    }
}

LogicalResult FunctionPropagation::run() {
  if (failed(seed()))
    return failure();
  Block &body = fn.getBody().front();
  // Each productive sweep adds at least one axis to some value, so the
  // number of sweeps is bounded by values x axes; the cap is a safety net.
  constexpr int kMaxSweeps = 1000;
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    bool changed = false;
    for (Operation &op : body.without_terminator())
      changed |= propagate(&op);
    for (Operation &op : llvm::reverse(body.without_terminator()))
      changed |= propagate(&op);
    if (!changed) {
      write();
      return success();
    }
  }
  return fn.emitError() << "sharding propagation did not converge";
}

/// The mesh of `fn`: the one every annotation in it names. Null when it
/// names none; failure when it names several.
static FailureOr<MeshOp> meshOf(func::FuncOp fn, ModuleOp module) {
  SymbolTable symbols(module);
  std::optional<FlatSymbolRefAttr> name;
  Operation *firstUser = nullptr;
  auto note = [&](ShardingAttr s, Operation *user) -> LogicalResult {
    if (!s)
      return success();
    if (!name) {
      name = s.getMesh();
      firstUser = user;
      return success();
    }
    if (*name == s.getMesh())
      return success();
    InFlightDiagnostic diag =
        user->emitError()
        << "contradictory annotations: this function is sharded over both "
        << *name << " and " << s.getMesh()
        << "; a function is partitioned over one mesh";
    diag.attachNote(firstUser->getLoc()) << "first use of " << *name;
    return diag;
  };
  for (unsigned i = 0; i < fn.getNumArguments(); ++i)
    if (failed(note(getArgSharding(fn, i), fn)))
      return failure();
  for (unsigned i = 0; i < fn.getNumResults(); ++i)
    if (failed(note(getResultSharding(fn, i), fn)))
      return failure();
  WalkResult walk = fn.walk([&](Operation *op) {
    if (auto c = dyn_cast<ShardingConstraintOp>(op))
      if (failed(note(c.getSharding(), op)))
        return WalkResult::interrupt();
    for (Attribute a : getResultShardings(op))
      if (failed(note(cast<ShardingAttr>(a), op)))
        return WalkResult::interrupt();
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  if (name)
    return symbols.lookup<MeshOp>(name->getValue());
  // With no annotation, a module with exactly one mesh uses it.
  SmallVector<MeshOp> meshes(module.getOps<MeshOp>());
  return meshes.size() == 1 ? meshes.front() : MeshOp();
}

namespace {

/// Gives every value of every function a sharding.
struct PropagateShardingsPass
    : public palm::impl::PalmPropagateShardingsBase<PropagateShardingsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      if (!fn.getBody().hasOneBlock()) {
        fn.emitError() << "palm partitions functions with one block only";
        return signalPassFailure();
      }
      FailureOr<MeshOp> mesh = meshOf(fn, module);
      if (failed(mesh))
        return signalPassFailure();
      if (!*mesh)
        continue;
      MeshInfo info(*mesh);
      if (failed(FunctionPropagation(fn, info).run()))
        return signalPassFailure();
    }
  }
};

} // namespace
