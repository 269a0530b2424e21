//===- DataMovement.cpp - transposes, slices, pads, masks (CPU) -----------===//
//
// Each op calls palmrt's byte-wise data movement (any element type).
// Slices must be static and unit-stride, pads zero at the high end.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

namespace {

/// palm.mask_padding -> palmrt_mask_padding.
struct MaskPaddingToCall : RuntimePattern<MaskPaddingOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(MaskPaddingOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    int64_t dim = op.getDim();
    Value valid =
        e.shardExtent(op.getShard(), tensorType(op.getInput()).getDimSize(dim))
            .second;
    e.call(RuntimeCall::palmrt_mask_padding,
           {adaptor.getInput(), resultPtr(op.getResult()),
            e.rankOf(op.getInput()), e.shapeOf(op.getInput()), e.i32(dim),
            valid, e.elementBytesOf(op.getInput())});
    return success();
  }
};

/// palm.transpose -> palmrt_transpose.
struct TransposeToCall : RuntimePattern<TransposeOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(TransposeOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    e.call(RuntimeCall::palmrt_transpose,
           {adaptor.getInput(), resultPtr(op.getResult()),
            e.rankOf(op.getInput()), e.shapeOf(op.getInput()),
            e.constArray(op.getPermutation()),
            e.elementBytesOf(op.getInput())});
    return success();
  }
};

/// tensor.extract_slice -> palmrt_extract_slice.
struct ExtractSliceToCall : RuntimePattern<tensor::ExtractSliceOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(tensor::ExtractSliceOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(refuseIf(checkStaticSlice(op))))
      return failure();
    e.call(RuntimeCall::palmrt_extract_slice,
           {adaptor.getSource(), resultPtr(op.getResult()),
            e.rankOf(op.getSource()), e.shapeOf(op.getSource()),
            e.shapeOf(op.getResult()), e.constArray(op.getStaticOffsets()),
            e.elementBytesOf(op.getSource())});
    return success();
  }
};

/// tensor.pad (zeros at the high end) -> palmrt_pad.
struct PadToCall : RuntimePattern<tensor::PadOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(tensor::PadOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(refuseIf(checkZeroHighPad(op))))
      return failure();
    e.call(RuntimeCall::palmrt_pad,
           {adaptor.getSource(), resultPtr(op.getResult()),
            e.rankOf(op.getSource()), e.shapeOf(op.getSource()),
            e.shapeOf(op.getResult()), e.elementBytesOf(op.getSource())});
    return success();
  }
};

/// tensor.concat -> one palmrt_insert_slice per input.
struct ConcatToCalls : RuntimePattern<tensor::ConcatOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(tensor::ConcatOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    int64_t dim = op.getDim(), offset = 0;
    for (auto [input, ptr] : llvm::zip(op.getInputs(), adaptor.getInputs())) {
      SmallVector<int64_t> offsets(tensorType(input).getRank(), 0);
      offsets[dim] = offset;
      e.call(RuntimeCall::palmrt_insert_slice,
             {ptr, resultPtr(op.getResult()), e.rankOf(input), e.shapeOf(input),
              e.shapeOf(op.getResult()), e.constArray(offsets),
              e.elementBytesOf(input)});
      offset += tensorType(input).getDimSize(dim);
    }
    return success();
  }
};

} // namespace

LogicalResult
mlir::palm::lowering::checkStaticSlice(tensor::ExtractSliceOp op) {
  if (!op.hasUnitStride() || !op.getType().hasStaticShape() ||
      ShapedType::isDynamicShape(op.getStaticOffsets()))
    return op.emitOpError() << "is not a static unit-stride slice";
  return success();
}

LogicalResult mlir::palm::lowering::checkZeroHighPad(tensor::PadOp op) {
  Value constant = op.getConstantPaddingValue();
  if (!constant || !matchPattern(constant, m_AnyZeroFloat()) ||
      llvm::any_of(op.getStaticLow(), [](int64_t l) { return l != 0; }))
    return op.emitOpError() << "is not a zero padding at the high end";
  return success();
}

void mlir::palm::lowering::populateCpuDataMovementPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<MaskPaddingToCall, TransposeToCall, ExtractSliceToCall,
               PadToCall, ConcatToCalls>(converter, state);
}
