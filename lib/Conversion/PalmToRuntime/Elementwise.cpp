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

#include <limits>

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

/// 2^t for f32 `t` from arithmetic alone, so a loop of it vectorizes on
/// CPUs (math.exp2 becomes a call of libm's scalar exp2f per element, which
/// keeps LLVM from vectorizing the loop): t = n + r with n = round(t) and
/// |r| <= 1/2, 2^r = e^(r ln 2) by its Taylor series to the 7th power
/// (truncation error below 6e-9 relative), times 2^n built in the exponent
/// bits. Above 128 it is +inf and below -126 0 (2^t there is below the
/// smallest normal float: an absolute error under 1.2e-38); NaN stays NaN.
static Value emitExp2Polynomial(OpBuilder &b, Location loc, Value input) {
  auto constant = [&](float c) {
    return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(c));
  };
  // maximumf/minimumf propagate NaN.
  Value t = arith::MinimumFOp::create(
      b, loc, arith::MaximumFOp::create(b, loc, input, constant(-126.0f)),
      constant(127.0f));
  Value n = math::FloorOp::create(
      b, loc, arith::AddFOp::create(b, loc, t, constant(0.5f)));
  Value r = arith::SubFOp::create(b, loc, t, n);
  // (ln 2)^k / k!, k = 7 down to 1.
  const float coefficients[] = {1.525273380e-05f, 1.540353039e-04f,
                                1.333355815e-03f, 9.618129108e-03f,
                                5.550410866e-02f, 2.402265070e-01f,
                                6.931471806e-01f};
  Value p = constant(coefficients[0]);
  for (float c : ArrayRef<float>(coefficients).drop_front())
    p = arith::AddFOp::create(b, loc, arith::MulFOp::create(b, loc, p, r),
                              constant(c));
  p = arith::AddFOp::create(b, loc, arith::MulFOp::create(b, loc, p, r),
                            constant(1.0f));
  // 2^n: n + 127 in the exponent field. n is NaN only when t is; the
  // clamp (maxnumf/minnumf drop NaN) keeps the conversion defined, and p
  // carries the NaN.
  Value clamped = arith::MinNumFOp::create(
      b, loc, arith::MaxNumFOp::create(b, loc, n, constant(-126.0f)),
      constant(127.0f));
  Type i32 = b.getI32Type();
  Value bits = arith::ShLIOp::create(
      b, loc,
      arith::AddIOp::create(b, loc,
                            arith::FPToSIOp::create(b, loc, i32, clamped),
                            arith::ConstantIntOp::create(b, loc, 127, 32)),
      arith::ConstantIntOp::create(b, loc, 23, 32));
  Value scale = arith::BitcastOp::create(b, loc, b.getF32Type(), bits);
  Value result = arith::MulFOp::create(b, loc, p, scale);
  result = arith::SelectOp::create(
      b, loc,
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, input,
                            constant(128.0f)),
      constant(std::numeric_limits<float>::infinity()), result);
  return arith::SelectOp::create(
      b, loc,
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, input,
                            constant(-126.0f)),
      constant(0.0f), result);
}

/// The f32 result of elementwise op `def` on f32 operands `in`; exp2 as
/// emitExp2Polynomial when `polynomialExp` (CPU loops), else math.exp2 (one
/// instruction on GPUs).
static Value computeF32(OpBuilder &b, Location loc, Operation *def,
                        ArrayRef<Value> in, bool polynomialExp) {
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
    Value scaled =
        arith::MulFOp::create(b, loc, in[0], constant(-1.4426950408889634f));
    Value e = polynomialExp ? emitExp2Polynomial(b, loc, scaled)
                            : Value(math::Exp2Op::create(b, loc, scaled));
    Value den = arith::AddFOp::create(b, loc, constant(1.0f), e);
    if (isa<SiluOp>(def))
      return arith::DivFOp::create(b, loc, in[0], den);
    // silu'(x) dy = dy s (1 + x (1 - s)).
    Value s = arith::DivFOp::create(b, loc, constant(1.0f), den);
    Value oneMinus = arith::SubFOp::create(b, loc, constant(1.0f), s);
    Value inner = arith::AddFOp::create(
        b, loc, constant(1.0f), arith::MulFOp::create(b, loc, in[0], oneMinus));
    return arith::MulFOp::create(b, loc, in[1],
                                 arith::MulFOp::create(b, loc, s, inner));
  }
  assert(isa<ConvertOp>(def) && "a fusion holds elementwise ops only");
  return in[0]; // convert: widened by the caller, narrowed after
}

static Value emitElementExprImpl(OpBuilder &b, Location loc, Value v,
                                 Value index,
                                 function_ref<Value(BlockArgument)> leaf,
                                 DenseMap<Value, Value> &cache,
                                 bool polynomialExp) {
  if (Value known = cache.lookup(v))
    return known;
  Type element = tensorType(v).getElementType();
  Value result;
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    Value addr =
        LLVM::GEPOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext()),
                            element, leaf(arg), ValueRange{index});
    result = LLVM::LoadOp::create(b, loc, element, addr);
  } else {
    Type f32Type = b.getF32Type();
    SmallVector<Value> in;
    for (Value operand : v.getDefiningOp()->getOperands()) {
      Value x = emitElementExprImpl(b, loc, operand, index, leaf, cache,
                                    polynomialExp);
      if (x.getType() != f32Type)
        x = arith::ExtFOp::create(b, loc, f32Type, x);
      in.push_back(x);
    }
    result = computeF32(b, loc, v.getDefiningOp(), in, polynomialExp);
    if (element != f32Type)
      result = arith::TruncFOp::create(b, loc, element, result);
  }
  cache[v] = result;
  return result;
}

Value mlir::palm::lowering::emitElementExpr(
    OpBuilder &b, Location loc, Value v, Value index,
    function_ref<Value(BlockArgument)> leaf, DenseMap<Value, Value> &cache) {
  return emitElementExprImpl(b, loc, v, index, leaf, cache,
                             /*polynomialExp=*/false);
}

namespace {

/// Fusions of at least this many elements run on the runtime's threads, in
/// chunks of kParallelGrain elements (each element is computed alone, so
/// the chunks give the same result on any number of threads).
constexpr int64_t kParallelElements = 1 << 15;
constexpr int64_t kParallelGrain = 1 << 14;

/// out[i] = the fusion's element i for i in [begin, end) (both index or
/// both i64): the loop, at b's insertion point.
void emitFusionLoop(OpBuilder &b, Location loc, FusionOp op, ValueRange inputs,
                    Value out, Value begin, Value end) {
  Type element = op.getType().getElementType();
  Value step = begin.getType().isIndex()
                   ? Value(arith::ConstantIndexOp::create(b, loc, 1))
                   : Value(arith::ConstantIntOp::create(b, loc, 1, 64));
  scf::ForOp::create(
      b, loc, begin, end, step, ValueRange{},
      [&](OpBuilder &b, Location, Value iv, ValueRange) {
        Value index =
            iv.getType().isIndex()
                ? Value(arith::IndexCastOp::create(b, loc, b.getI64Type(), iv))
                : iv;
        DenseMap<Value, Value> cache;
        Value value = emitElementExprImpl(
            b, loc, op.getYielded(), index,
            [&](BlockArgument arg) { return inputs[arg.getArgNumber()]; },
            cache, /*polynomialExp=*/true);
        Value addr = LLVM::GEPOp::create(
            b, loc, LLVM::LLVMPointerType::get(b.getContext()), element, out,
            ValueRange{index});
        LLVM::StoreOp::create(b, loc, value, addr);
        scf::YieldOp::create(b, loc);
      });
}

/// palm.fusion -> one loop over the result's elements. A large one is
/// outlined into a function of (operand pointers, begin, end) that
/// palmrt_parallel_for runs in chunks on the runtime's threads.
struct FusionToLoop : RuntimePattern<FusionOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(FusionOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    OpBuilder &r = e.builder();
    Location loc = op.getLoc();
    Value out = resultPtr(op.getResult());
    int64_t n = op.getType().getNumElements();
    ValueRange inputs = adaptor.getInputs();
    if (n < kParallelElements) {
      emitFusionLoop(r, loc, op, inputs, out,
                     arith::ConstantIndexOp::create(r, loc, 0),
                     arith::ConstantIndexOp::create(r, loc, n));
      return success();
    }
    MLIRContext *ctx = r.getContext();
    Type ptr = e.ptrType(), i64 = r.getI64Type();
    auto type = FunctionType::get(ctx, {ptr, i64, i64}, {});
    std::string name;
    do
      name = "__palm_fusion_" + std::to_string(state.fusionCounter++);
    while (state.module.lookupSymbol(name));
    {
      // Outside the function being converted: a plain builder.
      OpBuilder mb(ctx);
      mb.setInsertionPointToEnd(state.module.getBody());
      auto fn = func::FuncOp::create(mb, loc, name, type);
      fn.setPrivate();
      Block *body = fn.addEntryBlock();
      mb.setInsertionPointToStart(body);
      SmallVector<Value> ptrs;
      for (int64_t i = 0; i <= static_cast<int64_t>(inputs.size()); ++i) {
        Value slot =
            LLVM::GEPOp::create(mb, loc, ptr, ptr, body->getArgument(0),
                                ArrayRef<LLVM::GEPArg>{int32_t(i)});
        ptrs.push_back(LLVM::LoadOp::create(mb, loc, ptr, slot));
      }
      emitFusionLoop(mb, loc, op, ValueRange(ptrs).drop_back(), ptrs.back(),
                     body->getArgument(1), body->getArgument(2));
      func::ReturnOp::create(mb, loc);
    }
    // The operands' pointers, then the result's, in a stack array.
    Value args =
        LLVM::AllocaOp::create(r, loc, ptr, ptr, e.i64(inputs.size() + 1),
                               /*alignment=*/8);
    SmallVector<Value> all(inputs.begin(), inputs.end());
    all.push_back(out);
    for (auto [i, v] : llvm::enumerate(all)) {
      Value slot = LLVM::GEPOp::create(r, loc, ptr, ptr, args,
                                       ArrayRef<LLVM::GEPArg>{int32_t(i)});
      LLVM::StoreOp::create(r, loc, v, slot);
    }
    // The function's address: func.constant, an !llvm.ptr once lowered.
    Value fn = func::ConstantOp::create(r, loc, type,
                                        FlatSymbolRefAttr::get(ctx, name));
    Value fnPtr =
        UnrealizedConversionCastOp::create(r, loc, ptr, fn).getResult(0);
    e.call(RuntimeCall::palmrt_parallel_for,
           {fnPtr, args, e.i64(n), e.i64(kParallelGrain)});
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateCpuElementwisePatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<FusionToLoop>(converter, state);
}
