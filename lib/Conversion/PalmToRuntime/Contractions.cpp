//===- Contractions.cpp - dot_general to palmrt_gemm ----------------------===//
//
// Both targets: a dot_general whose batch dimensions lead and whose
// contracting dimensions sit contiguously, paired in order, at one end of
// each operand is one batched GEMM with transposition flags. Legalize.cpp
// transposes the operands of any other layout into this one first.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

#include <numeric>

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

/// Whether `dims` are from, from + 1, ...
static bool isIota(ArrayRef<int64_t> dims, int64_t from) {
  for (auto [i, d] : llvm::enumerate(dims))
    if (d != from + int64_t(i))
      return false;
  return true;
}

std::optional<GemmLayout> mlir::palm::lowering::gemmLayout(DotGeneralOp op) {
  RankedTensorType lhs = op.getLhs().getType(), rhs = op.getRhs().getType();
  ArrayRef<int64_t> lb = op.getLhsBatchDims(), rb = op.getRhsBatchDims();
  ArrayRef<int64_t> lc = op.getLhsContractingDims(),
                    rc = op.getRhsContractingDims();
  int64_t nb = lb.size(), nc = lc.size();
  if (!isIota(lb, 0) || !isIota(rb, 0))
    return std::nullopt;
  SmallVector<int64_t> order(nc);
  std::iota(order.begin(), order.end(), 0);
  llvm::sort(order, [&](int64_t a, int64_t b) { return lc[a] < lc[b]; });
  SmallVector<int64_t> lcSorted, rcPaired;
  for (int64_t i : order) {
    lcSorted.push_back(lc[i]);
    rcPaired.push_back(rc[i]);
  }
  bool lhsKLast = isIota(lcSorted, lhs.getRank() - nc);
  bool lhsKFirst = isIota(lcSorted, nb);
  bool rhsKFirst = isIota(rcPaired, nb);
  bool rhsKLast = isIota(rcPaired, rhs.getRank() - nc);
  if (!(lhsKLast || lhsKFirst) || !(rhsKFirst || rhsKLast))
    return std::nullopt;
  return GemmLayout{lhsKLast, rhsKFirst};
}

AddOp mlir::palm::lowering::gemmAddendUser(DotGeneralOp dot) {
  if (!dot->hasOneUse())
    return nullptr;
  // The add follows its GEMM's dot_general; an addend that is another
  // dot_general's result is not that dot_general's to compute.
  auto add = dyn_cast<AddOp>(*dot->user_begin());
  return add && add->hasAttr(kGemmAddendAttrName) &&
                 add->getPrevNode() == dot.getOperation()
             ? add
             : nullptr;
}

/// The dot_general whose GEMM can compute `add`, with the addend: its
/// operand defined by a single-use dot_general of the add's type whose
/// other operand is defined before it (the later of two).
static std::optional<std::pair<DotGeneralOp, Value>> foldable(AddOp add) {
  std::optional<std::pair<DotGeneralOp, Value>> best;
  for (auto [mine, other] : {std::pair(add.getLhs(), add.getRhs()),
                             std::pair(add.getRhs(), add.getLhs())}) {
    auto dot = mine.getDefiningOp<DotGeneralOp>();
    if (!dot || !mine.hasOneUse() || mine == other ||
        dot->getBlock() != add->getBlock() ||
        mine.getType() != add.getType() || !gemmLayout(dot))
      continue;
    // Nothing to add to: a product over nothing is zeros.
    if (llvm::any_of(dot.getLhsContractingDims(), [&](int64_t d) {
          return dot.getLhs().getType().getDimSize(d) == 0;
        }))
      continue;
    Operation *def = other.getDefiningOp();
    if (def && (def->getBlock() != add->getBlock() ||
                !def->isBeforeInBlock(dot)))
      continue;
    if (!best || best->first->isBeforeInBlock(dot))
      best = std::pair(dot, other);
  }
  return best;
}

void mlir::palm::lowering::foldAddsIntoGemms(func::FuncOp fn) {
  SmallVector<AddOp> adds;
  fn.walk([&](AddOp add) { adds.push_back(add); });
  for (AddOp add : adds) {
    std::optional<std::pair<DotGeneralOp, Value>> fold = foldable(add);
    if (!fold)
      continue;
    add->moveAfter(fold->first);
    add->setAttr(kGemmAddendAttrName, UnitAttr::get(add.getContext()));
  }
}

namespace {

/// palm.dot_general -> palmrt_gemm, or palmrt_gemm_add computing the marked
/// palm.add after it.
struct DotGeneralToGemm : RuntimePattern<DotGeneralOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(DotGeneralOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (state.target == Target::Cpu && failed(requireF32(op)))
      return failure();
    // legalizeForTarget transposed every other layout into this one.
    std::optional<GemmLayout> layout = gemmLayout(op);
    if (!layout)
      return refuse(op.emitOpError()
                    << "is not in GEMM layout (batch dimensions leading, "
                       "contracting dimensions contiguous at one end of each "
                       "operand, paired in order); run the lowering's "
                       "legalization first");
    RankedTensorType lhs = op.getLhs().getType(), rhs = op.getRhs().getType();
    int64_t nb = op.getLhsBatchDims().size();
    int64_t batch = product(lhs.getShape().take_front(nb));
    int64_t k = 1;
    for (int64_t d : op.getLhsContractingDims())
      k *= lhs.getDimSize(d);
    int64_t m = product(lhs.getShape().drop_front(nb)) / k;
    int64_t n = product(rhs.getShape().drop_front(nb)) / k;
    FailureOr<Value> dtype = dtypeCode(e, op, lhs.getElementType());
    if (failed(dtype))
      return failure();
    SmallVector<Value> args = {
        e.ctx(),          *dtype,
        e.i64(batch),     e.i64(m),
        e.i64(n),         e.i64(k),
        adaptor.getLhs(), e.i32(layout->lhsContractingLast ? 0 : 1),
        adaptor.getRhs(), e.i32(layout->rhsContractingFirst ? 0 : 1)};
    if (AddOp add = gemmAddendUser(op)) {
      Value addend =
          add.getLhs() == op.getResult() ? add.getRhs() : add.getLhs();
      args.push_back(e.remapped(addend));
      args.push_back(resultPtr(op.getResult()));
      e.call(RuntimeCall::palmrt_gemm_add, args);
      return success();
    }
    args.push_back(resultPtr(op.getResult()));
    e.call(RuntimeCall::palmrt_gemm, args);
    return success();
  }
};

/// A palm.add marked by foldAddsIntoGemms: its dot_general's GEMM wrote it.
struct GemmAddendToNothing : RuntimePattern<AddOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(AddOp op, OpAdaptor, Emitter &) const override {
    if (!op->hasAttr(kGemmAddendAttrName))
      return refuse(op.emitOpError()
                    << "is not in a fusion; the lowering fuses every "
                       "elementwise op it does not fold into a GEMM");
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateContractionPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<DotGeneralToGemm, GemmAddendToNothing>(converter, state);
}
