//===- Legalize.cpp - local palm ops into the forms the patterns lower ----===//
//
// Before the lowering proper, two rewrites at the palm level put ops into
// the forms the runtime's calls take, so that no layout or element type a
// user writes is refused:
//  * a dot_general that is not one batched GEMM (batch dimensions not
//    leading, contracting dimensions not contiguous at one end or paired out
//    of order) gets its operands transposed to [batch, free, contracting] x
//    [batch, contracting, free]; its result (batch, lhs free, rhs free) is
//    the same;
//  * on the CPU, whose heavy kernels compute in f32, an op with bf16 or f16
//    operands computes on f32 copies, and its results are rounded back.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "palm/Dialect/Palm/IR/DimLists.h"

#include <numeric>

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

/// `v` with its dimensions permuted by `perm` (v itself for the identity).
static Value transposed(OpBuilder &b, Location loc, Value v,
                        ArrayRef<int64_t> perm) {
  SmallVector<int64_t> identity(perm.size());
  std::iota(identity.begin(), identity.end(), 0);
  if (ArrayRef<int64_t>(identity) == perm)
    return v;
  return TransposeOp::create(b, loc, v, perm);
}

/// Rewrites `op` into GEMM layout when it is not in it.
static void toGemmLayout(DotGeneralOp op) {
  if (gemmLayout(op))
    return;
  OpBuilder b(op);
  Location loc = op.getLoc();
  ArrayRef<int64_t> lb = op.getLhsBatchDims(), rb = op.getRhsBatchDims();
  ArrayRef<int64_t> lc = op.getLhsContractingDims(),
                    rc = op.getRhsContractingDims();
  int64_t lhsRank = op.getLhs().getType().getRank();
  int64_t rhsRank = op.getRhs().getType().getRank();
  SmallVector<int64_t> lhsPerm(lb), rhsPerm(rb);
  SmallVector<int64_t> lhsFree = freeDims(lhsRank, {lb, lc});
  lhsPerm.append(lhsFree.begin(), lhsFree.end());
  lhsPerm.append(lc.begin(), lc.end());
  rhsPerm.append(rc.begin(), rc.end());
  SmallVector<int64_t> rhsFree = freeDims(rhsRank, {rb, rc});
  rhsPerm.append(rhsFree.begin(), rhsFree.end());
  int64_t nb = lb.size(), nc = lc.size();
  Value lhs = transposed(b, loc, op.getLhs(), lhsPerm);
  Value rhs = transposed(b, loc, op.getRhs(), rhsPerm);
  auto gemm = DotGeneralOp::create(b, loc, lhs, rhs,
                                   consecutiveDims(lhsRank - nc, nc),
                                   consecutiveDims(nb, nc),
                                   consecutiveDims(0, nb),
                                   consecutiveDims(0, nb));
  op.getResult().replaceAllUsesWith(gemm.getResult());
  op.erase();
}

/// Ops whose CPU kernels compute in f32 only.
static bool computesInF32OnCpu(Operation *op) {
  return isa<DotGeneralOp, AttentionOp, LayerNormOp, RopeOp, EmbeddingOp,
             CrossEntropyOp, SoftmaxMaxOp, SoftmaxSumsOp, RowMomentsOp,
             LayerNormMergedOp, AttentionGradOp, LayerNormGradOp,
             EmbeddingGradOp, CrossEntropyGradOp, SumSquaresOp,
             AdafactorMomentsOp, AdafactorApplyOp, AdamWApplyOp>(op);
}

/// The f32 tensor type of `type`'s shape when `type` is a tensor of a
/// narrower float; null otherwise.
static RankedTensorType widened(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !isa<FloatType>(tensor.getElementType()) ||
      tensor.getElementType().isF32())
    return {};
  return RankedTensorType::get(tensor.getShape(),
                               Float32Type::get(type.getContext()));
}

/// Makes `op` compute on f32 copies of its narrow float operands, with its
/// narrow float results rounded back after it.
static void computeInF32(Operation *op) {
  bool narrow = llvm::any_of(op->getOperandTypes(),
                             [](Type t) { return bool(widened(t)); });
  if (!narrow)
    return;
  OpBuilder b(op);
  for (OpOperand &operand : op->getOpOperands())
    if (RankedTensorType wide = widened(operand.get().getType()))
      operand.set(ConvertOp::create(b, op->getLoc(), wide, operand.get()));
  b.setInsertionPointAfter(op);
  for (OpResult result : op->getResults()) {
    RankedTensorType wide = widened(result.getType());
    if (!wide)
      continue;
    Type original = result.getType();
    result.setType(wide);
    auto back = ConvertOp::create(b, op->getLoc(), original, result);
    result.replaceAllUsesExcept(back.getResult(), back);
  }
}

void mlir::palm::lowering::legalizeForTarget(func::FuncOp fn, Target target) {
  for (Operation &op : llvm::make_early_inc_range(fn.getBody().front())) {
    if (target == Target::Cpu && computesInF32OnCpu(&op))
      computeInF32(&op);
    if (auto dot = dyn_cast<DotGeneralOp>(op))
      toGemmLayout(dot);
  }
}
