//===- StampForwardFlops.cpp - model FLOPs of a forward step --------------===//
//
// The runtime prints MFU from the model FLOPs of a step, which only the
// global program can count: after partitioning, shapes are per device and
// padded. So the count is stamped on the module before partitioning and
// travels with it to the program description.
//
//===----------------------------------------------------------------------===//

#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"

namespace mlir::palm {
#define GEN_PASS_DEF_PALMSTAMPFORWARDFLOPS
#include "palm/Dialect/Palm/Transforms/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;

/// 2 M N K per matrix product, 4 b h s t d per attention and 8 per
/// attention backward: the PaLM paper's 2N + 4LHQT per token of a forward
/// (docs/model.md), or 6N + 12LHQT of a training step, times the tokens,
/// without the LayerNorm scales.
static int64_t countForwardFlops(ModuleOp module) {
  int64_t flops = 0;
  module.walk([&](Operation *op) {
    // A recomputed forward (remat) is not model work.
    if (auto name = dyn_cast<NameLoc>(op->getLoc());
        name && name.getName().getValue().ends_with(kRecomputedSuffix))
      return;
    if (auto dot = dyn_cast<DotGeneralOp>(op)) {
      ArrayRef<int64_t> lhs = dot.getLhs().getType().getShape();
      int64_t k = 1;
      for (int64_t d : dot.getLhsContractingDims())
        k *= lhs[d];
      flops += 2 * dot.getResult().getType().getNumElements() * k;
    } else if (auto att = dyn_cast<AttentionOp>(op)) {
      // q [b, s, h, dk], k [b, t, g, dk], v [b, t, g, dv]: QK^T and PV.
      ArrayRef<int64_t> q = att.getQuery().getType().getShape();
      ArrayRef<int64_t> v = att.getValue().getType().getShape();
      flops += 2 * q[0] * q[1] * q[2] * v[1] * (q[3] + v[3]);
    } else if (auto grad = dyn_cast<AttentionGradOp>(op)) {
      // dO V^T, dS K, dS^T Q and P^T dO: twice the forward (its recomputed
      // QK^T is not model work), so a training step counts 12LHQT.
      ArrayRef<int64_t> q = grad.getQuery().getType().getShape();
      ArrayRef<int64_t> v = grad.getValue().getType().getShape();
      flops += 4 * q[0] * q[1] * q[2] * v[1] * (q[3] + v[3]);
    }
  });
  return flops;
}

namespace {

/// Stores the forward FLOPs of a global module in `palm.forward_flops`.
struct StampForwardFlopsPass
    : public palm::impl::PalmStampForwardFlopsBase<StampForwardFlopsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (getLevel(module) != Level::Global) {
      markAllAnalysesPreserved();
      return;
    }
    module->setAttr(PalmDialect::kForwardFlopsAttrName,
                    IntegerAttr::get(IntegerType::get(&getContext(), 64),
                                     countForwardFlops(module)));
  }
};

} // namespace
