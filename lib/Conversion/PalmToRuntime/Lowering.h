//===- Lowering.h - shared pieces of the palm-to-runtime patterns -*- C++ -*-===//
//
// -palm-lower-to-runtime turns the local function into palm_forward(buffers,
// arena, ctx) with MLIR's dialect conversion: every tensor becomes a
// pointer (!llvm.ptr), and each op is replaced by one pattern of its target's
// set (PopulatePatterns.h) that calls palmrt or launches a generated kernel.
// Before the patterns run the pass has planned the arena, so a pattern finds
// the pointer of each result it writes in the LoweringState; its operands'
// pointers are the adaptor's.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_LIB_CONVERSION_PALMTORUNTIME_LOWERING_H
#define PALM_LIB_CONVERSION_PALMTORUNTIME_LOWERING_H

#include "GpuKernels.h"
#include "RuntimeCalls.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Transforms/DialectConversion.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"

#include <optional>

namespace mlir::palm::lowering {

using AxisList = SmallVector<StringAttr, 2>;

/// The target a function is lowered for.
enum class Target { Cpu, Cuda };

inline bool isElementwise(Operation *op) {
  return isa<AddOp, MulOp, SiluOp, SiluGradOp, SqrtOp, ScaleOp, ConvertOp>(op);
}

inline RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

int64_t product(ArrayRef<int64_t> dims);

/// Forms the palm.fusion ops of `fn`'s body (FuseElementwise.cpp): every
/// elementwise op ends up inside one.
void fuseElementwise(func::FuncOp fn);

/// Marks a palm.add whose value the GEMM of the palm.dot_general just before
/// it computes, its other operand added in the GEMM's epilogue
/// (palmrt_gemm_add): the add itself lowers to nothing.
inline constexpr llvm::StringLiteral kGemmAddendAttrName = "palm.gemm_addend";

/// Folds residual adds into GEMMs (Contractions.cpp): an add of a
/// dot_general's result, read only by it, and a value defined before the
/// dot_general (of the same type) moves to just after the dot_general and
/// is marked kGemmAddendAttrName. Of two such dot_generals the later is
/// chosen. Runs after legalizeForTarget, before fuseElementwise.
void foldAddsIntoGemms(func::FuncOp fn);

/// The marked add that `dot`'s GEMM computes, or null.
AddOp gemmAddendUser(DotGeneralOp dot);

/// Puts `fn`'s ops into the forms the target's patterns lower
/// (Legalize.cpp): contractions into GEMM layout, and on the CPU heavy ops
/// on narrow floats onto f32 copies.
void legalizeForTarget(func::FuncOp fn, Target target);

/// How palmrt_gemm takes a dot_general: the lhs's contracting dimensions
/// last (else first after the batch), the rhs's first after the batch (else
/// last). None when the layout is not one batched GEMM (Contractions.cpp).
struct GemmLayout {
  bool lhsContractingLast;
  bool rhsContractingFirst;
};
std::optional<GemmLayout> gemmLayout(DotGeneralOp op);

/// What the patterns of one function's lowering share.
struct LoweringState {
  LoweringState(ModuleOp module, Target target)
      : module(module), target(target) {}

  /// The communicator group over `axes`, numbered in order of first use
  /// (the program description lists them in that order).
  int32_t groupOf(ArrayRef<StringAttr> axes);

  ModuleOp module;
  Target target;
  /// palm_forward's arguments.
  Value buffers, arena, ctx;
  /// The number of the program's arguments (results follow them in
  /// `buffers`).
  int64_t numArgs = 0;
  /// Where every stored value lives: its arena slot, or the buffer of the
  /// program result it is (see `inResultBuffer`).
  DenseMap<Value, Value> resultPtrs;
  /// Values computed straight into the buffer of program result number
  /// `inResultBuffer[v]`: the return copies nothing for them.
  DenseMap<Value, unsigned> inResultBuffer;
  /// Arena scratch of the ops that need some (cuda).
  DenseMap<Operation *, Value> scratch;
  SmallVector<AxisList> groups;
  std::optional<GpuKernels> gpu;
  llvm::StringMap<std::string> strings;
  int64_t constCounter = 0;
  /// Numbers the functions outlined from large fusions (CPU).
  int64_t fusionCounter = 0;
  /// Set once a pattern has reported why it cannot lower its op, so the
  /// conversion's own "failed to legalize" adds nothing.
  bool reported = false;
};

/// Builds the runtime side of one op's lowering at the builder's insertion
/// point: constants, calls, shard extents, kernel launches.
class Emitter {
public:
  Emitter(OpBuilder &b, Location loc, LoweringState &state,
          ConversionPatternRewriter *rewriter = nullptr)
      : b(b), loc(loc), state(state), rewriter(rewriter) {}

  Value i64(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 64); }
  Value i32(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 32); }
  Value f32(double v);
  Value ctx() { return state.ctx; }
  Type ptrType() { return LLVM::LLVMPointerType::get(b.getContext()); }
  OpBuilder &builder() { return b; }
  /// The lowered value (pointer) of `v`, an operand of another op already
  /// converted; only inside a pattern (RuntimePattern's emitters).
  Value remapped(Value v) {
    assert(rewriter && "remapped() outside a conversion pattern");
    return rewriter->getRemappedValue(v);
  }
  Location location() { return loc; }

  /// A pointer to a constant array of i64 (shapes, permutations).
  Value constArray(ArrayRef<int64_t> values);
  /// A pointer to a stack array of i64 holding `values`.
  Value stackArray(ArrayRef<Value> values);
  /// A pointer to a NUL-terminated constant string.
  Value constString(StringRef text);
  /// Calls palmrt; the result of a non-void call.
  Value call(RuntimeCall callee, ArrayRef<Value> args) {
    return emitRuntimeCall(b, loc, state.module, callee, args);
  }
  // A tensor operand's description as palmrt's calls take it.
  Value rankOf(Value v) { return i32(tensorType(v).getRank()); }
  Value shapeOf(Value v) { return constArray(tensorType(v).getShape()); }
  Value countOf(Value v) { return i64(tensorType(v).getNumElements()); }
  Value elementBytesOf(Value v) {
    return i64(elementBytes(tensorType(v).getElementType()));
  }
  /// The i32 group id of `axes`.
  Value group(ArrayRef<StringAttr> axes) { return i32(state.groupOf(axes)); }
  Value group(ArrayAttr axes);
  /// Offset of this device's shard and its number of real (not padding)
  /// elements, for a dimension of local size `local`.
  std::pair<Value, Value> shardExtent(DimShardAttr shard, int64_t local);
  /// The i64 offset of this device's shard; 0 where `shard` is null (the
  /// dimension is whole).
  Value shardOffset(DimShardAttr shard, int64_t local) {
    return shard ? shardExtent(shard, local).first : i64(0);
  }
  /// The number of real (not padding) elements of each token dimension of
  /// local shape `tokens`, from a loss op's `token_shards`.
  SmallVector<Value> tokenExtents(ArrayRef<int64_t> tokens, ArrayAttr shards);
  /// Launches generated kernel `kernel` over `work` items: grid-stride
  /// elements, or rows of one warp each.
  void launch(StringRef kernel, int64_t work, bool warpPerRow,
              ArrayRef<Value> args);

private:
  OpBuilder &b;
  Location loc;
  LoweringState &state;
  ConversionPatternRewriter *rewriter;
};

/// Tensors become pointers; everything else keeps its type.
class PointerTypeConverter : public TypeConverter {
public:
  explicit PointerTypeConverter(MLIRContext *ctx);
};

/// Base of the lowering's patterns: the shared state and the refusals.
template <typename OpT>
class StatePattern : public OpConversionPattern<OpT> {
public:
  StatePattern(const TypeConverter &converter, LoweringState &state)
      : OpConversionPattern<OpT>(converter, state.module.getContext()),
        state(state) {}

protected:
  /// The arena pointer the op's result is planned at.
  Value resultPtr(Value result) const {
    return state.resultPtrs.lookup(result);
  }
  /// Reports `diag` (already emitted at the op) as the reason the lowering
  /// fails.
  LogicalResult refuse(InFlightDiagnostic &&diag) const {
    state.reported = true;
    return diag;
  }
  /// `check`, marking a failure as reported (its diagnostic is emitted).
  LogicalResult refuseIf(LogicalResult check) const {
    if (failed(check))
      state.reported = true;
    return check;
  }
  /// palmrt's dtype code of `t` as an i32 constant, or a refusal at `op`.
  FailureOr<Value> dtypeCode(Emitter &e, Operation *op, Type t) const {
    std::optional<palmrt_dtype> code = runtimeDtype(t);
    if (!code)
      return refuse(op->emitOpError()
                    << "has element type " << t
                    << ", which the runtime does not support");
    return e.i32(*code);
  }
  /// Refuses i64 token ids (the runtime's kernels read i32).
  LogicalResult requireI32Ids(Operation *op) const;
  /// Refuses floats other than f32 in the operands of a CPU kernel.
  LogicalResult requireF32(Operation *op) const;

  LoweringState &state;
};

/// An op whose lowering writes its results at their planned arena pointers
/// (runtime calls, kernel launches): a pattern implements `lower`, and the
/// op is then replaced by those pointers.
template <typename OpT> class RuntimePattern : public StatePattern<OpT> {
public:
  using StatePattern<OpT>::StatePattern;
  using OpAdaptor = typename OpT::Adaptor;

  LogicalResult
  matchAndRewrite(OpT op, OpAdaptor adaptor,
                  ConversionPatternRewriter &r) const final {
    Emitter e(r, op->getLoc(), this->state, &r);
    if (failed(lower(op, adaptor, e)))
      return failure();
    SmallVector<Value> ptrs;
    for (Value v : op->getResults())
      ptrs.push_back(this->resultPtr(v));
    r.replaceOp(op, ptrs);
    return success();
  }

protected:
  /// Emits, at `e`'s insertion point, what computes `op`'s results into
  /// resultPtr(result); or refuses the op.
  virtual LogicalResult lower(OpT op, OpAdaptor adaptor, Emitter &e) const = 0;
};

template <typename OpT>
LogicalResult StatePattern<OpT>::requireI32Ids(Operation *op) const {
  for (Value v : op->getOperands())
    if (auto t = dyn_cast<RankedTensorType>(v.getType());
        t && t.getElementType().isInteger(64))
      return refuse(op->emitOpError()
                    << "uses i64 token ids; the runtime supports i32");
  return success();
}

template <typename OpT>
LogicalResult StatePattern<OpT>::requireF32(Operation *op) const {
  for (Value v : op->getOperands())
    if (auto t = dyn_cast<RankedTensorType>(v.getType());
        t && isa<FloatType>(t.getElementType()) &&
        !t.getElementType().isF32())
      return refuse(op->emitOpError()
                    << "computes in " << t.getElementType()
                    << "; the CPU backend supports f32 programs only");
  return success();
}

} // namespace mlir::palm::lowering

#endif // PALM_LIB_CONVERSION_PALMTORUNTIME_LOWERING_H
