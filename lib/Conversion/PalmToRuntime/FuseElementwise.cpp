//===- FuseElementwise.cpp - elementwise chains into palm.fusion ----------===//
//
// An elementwise result read once, by another elementwise op, is computed
// inside its consumer's loop or kernel and never stored. Each elementwise op
// that is not so inlined roots one palm.fusion: the tree of inlined ops
// under it, cloned into the body; its inputs are the tree's other operands
// in order of first use (depth first, operand order), which is also the
// order the CUDA kernel takes them in.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "mlir/IR/IRMapping.h"
#include "palm/Conversion/Passes.h"

namespace mlir::palm {
#define GEN_PASS_DEF_PALMFUSEELEMENTWISE
#include "palm/Conversion/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

/// Whether `v` is computed inside the loop of its one consumer. Not across
/// micro-batches (palm.microbatch): a gradient accumulation's running sum is
/// stored after each micro-batch, or every micro-batch's gradients would
/// live until the last one's.
static bool isInlined(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def || !isElementwise(def) || !v.hasOneUse() ||
      def->hasAttr(kGemmAddendAttrName))
    return false;
  Operation *user = *v.user_begin();
  // An add a GEMM computes is not a loop (foldAddsIntoGemms).
  return isElementwise(user) && !user->hasAttr(kGemmAddendAttrName) &&
         def->getAttr(PalmDialect::kMicrobatchAttrName) ==
             user->getAttr(PalmDialect::kMicrobatchAttrName);
}

/// Collects the tree under `v`: inlined ops (operands before users) and the
/// leaves in order of first use.
static void collectTree(Value v, SmallVectorImpl<Operation *> &ops,
                        SmallVectorImpl<Value> &leaves, bool root) {
  if (!root && !isInlined(v)) {
    if (!llvm::is_contained(leaves, v))
      leaves.push_back(v);
    return;
  }
  Operation *def = v.getDefiningOp();
  for (Value operand : def->getOperands())
    collectTree(operand, ops, leaves, /*root=*/false);
  ops.push_back(def);
}

/// Replaces the tree rooted at `root` by one palm.fusion.
static void fuse(Operation *root) {
  SmallVector<Operation *> ops;
  SmallVector<Value> leaves;
  collectTree(root->getResult(0), ops, leaves, /*root=*/true);
  OpBuilder b(root);
  auto fusion = FusionOp::create(b, root->getLoc(),
                                 root->getResult(0).getType(), leaves);
  Block *body = b.createBlock(&fusion.getBody());
  IRMapping mapping;
  for (Value leaf : leaves)
    mapping.map(leaf, body->addArgument(leaf.getType(), leaf.getLoc()));
  for (Operation *op : ops)
    b.clone(*op, mapping);
  YieldOp::create(b, root->getLoc(), mapping.lookup(root->getResult(0)));
  root->getResult(0).replaceAllUsesWith(fusion.getResult());
  for (Operation *op : llvm::reverse(ops))
    op->erase();
}

void mlir::palm::lowering::fuseElementwise(func::FuncOp fn) {
  SmallVector<Operation *> roots;
  for (Operation &op : fn.getBody().getOps())
    if (isElementwise(&op) && !op.hasAttr(kGemmAddendAttrName) &&
        !isInlined(op.getResult(0)))
      roots.push_back(&op);
  for (Operation *root : roots)
    fuse(root);
}

namespace {

/// Forms palm.fusion ops from the elementwise chains of a local function.
struct FuseElementwisePass
    : public palm::impl::PalmFuseElementwiseBase<FuseElementwisePass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (getLevel(fn) != Level::Local) {
      fn.emitError() << "palm-fuse-elementwise needs a local-level module; "
                        "run -palm-spmd-pipeline first";
      return signalPassFailure();
    }
    if (!fn.isExternal())
      fuseElementwise(fn);
  }
};

} // namespace
