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
    Value scaled =
        arith::MulFOp::create(b, loc, in[0], constant(-1.4426950408889634f));
    Value e = math::Exp2Op::create(b, loc, scaled);
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

Value mlir::palm::lowering::emitElementExpr(
    OpBuilder &b, Location loc, Value v, Value index,
    function_ref<Value(BlockArgument)> leaf, DenseMap<Value, Value> &cache) {
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
