//===- Elementwise.cpp - fusions to loops (CPU) ---------------------------===//
//
// A palm.fusion becomes one scf.for over its elements: each iteration loads
// the inputs' elements, computes the body in f32 (or the element type) and
// stores the yielded element. Also the element expression the CUDA kernels
// of ElementwiseGpu.cpp share.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

/// The f32 result of elementwise op `def` on f32 operands `in`.
static Value computeF32(OpBuilder &b, Location loc, Operation *def,
                        ArrayRef<Value> in) {
  auto constant = [&](float c) {
    return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(c));
  };
  if (isa<AddOp>(def))
    return arith::AddFOp::create(b, loc, in[0], in[1]);
  if (isa<MulOp>(def))
    return arith::MulFOp::create(b, loc, in[0], in[1]);
  if (isa<SqrtOp>(def))
    return math::SqrtOp::create(b, loc, in[0]);
  if (auto scale = dyn_cast<ScaleOp>(def))
    return arith::MulFOp::create(b, loc, in[0],
                                 constant(scale.getFactor().convertToFloat()));
  if (isa<SiluOp, SiluGradOp>(def)) {
    // sigmoid(x) = 1 / (1 + exp(-x)), with exp as exp2 so that it maps to
    // one instruction on GPUs and vectorizes on CPUs.
    Value scaled = arith::MulFOp::create(b, loc, in[0],
                                         constant(-1.4426950408889634f));
    Value e = math::Exp2Op::create(b, loc, scaled);
    Value den = arith::AddFOp::create(b, loc, constant(1.0f), e);
    if (isa<SiluOp>(def))
      return arith::DivFOp::create(b, loc, in[0], den);
    // silu'(x) dy = dy s (1 + x (1 - s)).
    Value s = arith::DivFOp::create(b, loc, constant(1.0f), den);
    Value oneMinus = arith::SubFOp::create(b, loc, constant(1.0f), s);
    Value inner = arith::AddFOp::create(
        b, loc, constant(1.0f), arith::MulFOp::create(b, loc, in[0], oneMinus));
    return arith::MulFOp::create(
        b, loc, in[1], arith::MulFOp::create(b, loc, s, inner));
  }
  assert(isa<ConvertOp>(def) && "a fusion holds elementwise ops only");
  return in[0]; // convert: widened by the caller, narrowed after
}

Value mlir::palm::lowering::emitElementExpr(
    OpBuilder &b, Location loc, Value v, Value index,
    function_ref<Value(BlockArgument)> leaf, DenseMap<Value, Value> &cache) {
  if (Value known = cache.lookup(v))
    return known;
  Type element = tensorType(v).getElementType();
  Value result;
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    Value addr = LLVM::GEPOp::create(
        b, loc, LLVM::LLVMPointerType::get(b.getContext()), element, leaf(arg),
        ValueRange{index});
    result = LLVM::LoadOp::create(b, loc, element, addr);
  } else {
    Type f32Type = b.getF32Type();
    SmallVector<Value> in;
    for (Value operand : v.getDefiningOp()->getOperands()) {
      Value x = emitElementExpr(b, loc, operand, index, leaf, cache);
      if (x.getType() != f32Type)
        x = arith::ExtFOp::create(b, loc, f32Type, x);
      in.push_back(x);
    }
    result = computeF32(b, loc, v.getDefiningOp(), in);
    if (element != f32Type)
      result = arith::TruncFOp::create(b, loc, element, result);
  }
  cache[v] = result;
  return result;
}

namespace {

/// palm.fusion -> one loop over the result's elements.
struct FusionToLoop : RuntimePattern<FusionOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(FusionOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    OpBuilder &r = e.builder();
    Location loc = op.getLoc();
    Value out = resultPtr(op.getResult());
    Type element = op.getType().getElementType();
    Value lb = arith::ConstantIndexOp::create(r, loc, 0);
    Value ub =
        arith::ConstantIndexOp::create(r, loc, op.getType().getNumElements());
    Value step = arith::ConstantIndexOp::create(r, loc, 1);
    ValueRange inputs = adaptor.getInputs();
    scf::ForOp::create(
        r, loc, lb, ub, step, ValueRange{},
        [&](OpBuilder &b, Location, Value iv, ValueRange) {
          Value index =
              arith::IndexCastOp::create(b, loc, b.getI64Type(), iv);
          DenseMap<Value, Value> cache;
          Value value = emitElementExpr(
              b, loc, op.getYielded(), index,
              [&](BlockArgument arg) { return inputs[arg.getArgNumber()]; },
              cache);
          Value addr = LLVM::GEPOp::create(
              b, loc, LLVM::LLVMPointerType::get(b.getContext()), element, out,
              ValueRange{index});
          LLVM::StoreOp::create(b, loc, value, addr);
          scf::YieldOp::create(b, loc);
        });
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateCpuElementwisePatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<FusionToLoop>(converter, state);
}
