//===- Structural.cpp - views, constants and the function's results -------===//
//
// Both targets: a reshape is a view of its operand's memory; tensor
// constants lower only when nothing reads them; the return copies each
// result into its buffer (memcpy on the host, palmrt_copy on CUDA).
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

namespace {

/// palm.reshape -> its operand's pointer.
struct ReshapeToView : StatePattern<ReshapeOp> {
  using StatePattern::StatePattern;
  LogicalResult
  matchAndRewrite(ReshapeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &r) const override {
    r.replaceOp(op, adaptor.getInput());
    return success();
  }
};

/// A tensor arith.constant nothing reads -> nothing.
struct UnusedTensorConstant : StatePattern<arith::ConstantOp> {
  using StatePattern::StatePattern;
  LogicalResult
  matchAndRewrite(arith::ConstantOp op, OpAdaptor,
                  ConversionPatternRewriter &r) const override {
    if (!op->use_empty())
      return refuse(op.emitOpError()
                    << "is a tensor constant that ops read; palm lowers "
                       "tensor constants only when unused");
    r.eraseOp(op);
    return success();
  }
};

/// func.return of the results -> copies into the result buffers.
struct ReturnToCopies : StatePattern<func::ReturnOp> {
  using StatePattern::StatePattern;
  LogicalResult
  matchAndRewrite(func::ReturnOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &r) const override {
    Emitter e(r, op.getLoc(), state);
    Location loc = op.getLoc();
    Type ptr = e.ptrType();
    for (auto [j, v] : llvm::enumerate(adaptor.getOperands())) {
      // Computed in place (LowerToRuntime's plan).
      auto in = state.inResultBuffer.find(op.getOperand(j));
      if (in != state.inResultBuffer.end() && in->second == j)
        continue;
      RankedTensorType t = tensorType(op.getOperand(j));
      Value slot = LLVM::GEPOp::create(r, loc, ptr, ptr, state.buffers,
                                       ValueRange{e.i64(state.numArgs + j)});
      Value dst = LLVM::LoadOp::create(r, loc, ptr, slot);
      Value bytes = e.i64(tensorBytes(t.getShape(), t.getElementType()));
      if (state.target == Target::Cuda)
        e.call(RuntimeCall::palmrt_copy, {e.ctx(), dst, v, bytes});
      else
        LLVM::MemcpyOp::create(r, loc, dst, v, bytes, /*isVolatile=*/false);
    }
    r.replaceOpWithNewOp<func::ReturnOp>(op);
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateStructuralPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<ReshapeToView, UnusedTensorConstant, ReturnToCopies>(converter,
                                                                    state);
}
