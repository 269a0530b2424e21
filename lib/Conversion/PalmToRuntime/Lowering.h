//===- Lowering.h - lowering of one local function (private) ----*- C++ -*-===//
//
// Shared by the CPU lowering (LowerToRuntime.cpp) and the GPU lowering of
// the ops that become generated kernels (LowerGpuOps.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef PALM_LIB_CONVERSION_PALMTORUNTIME_LOWERING_H
#define PALM_LIB_CONVERSION_PALMTORUNTIME_LOWERING_H

#include "GpuKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"

#include <optional>

namespace mlir::palm::lowering {

using AxisList = SmallVector<StringAttr, 2>;

/// palmrt's element type codes.
enum Dtype : int32_t { kF32 = 0, kBF16 = 1, kI32 = 2, kI64 = 3 };

inline bool isElementwise(Operation *op) {
  return isa<AddOp, MulOp, SiluOp, ScaleOp, ConvertOp>(op);
}

/// Ops that are views of their operand's memory.
inline bool isView(Operation *op) { return isa<ReshapeOp>(op); }

inline RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// Computes element `index` (i64) of the elementwise value `v`, in its
/// element type: values in `computed` are computed from their operands,
/// others are loaded from the pointer `leaf` gives. Narrow floats are
/// computed in f32.
Value emitElementExpr(OpBuilder &b, Location loc, Value v, Value index,
                      const DenseSet<Value> &computed,
                      function_ref<Value(Value)> leaf,
                      DenseMap<Value, Value> &cache);

/// Lowering of one local function, for the CPU or for CUDA.
class FunctionLowering {
public:
  FunctionLowering(func::FuncOp fn, MeshOp mesh, bool cuda)
      : fn(fn), mesh(mesh), module(fn->getParentOfType<ModuleOp>()),
        builder(fn.getContext()), cuda(cuda) {}

  LogicalResult run();

private:
  LogicalResult check();
  void plan();
  LogicalResult lowerOp(Operation *op);
  void emitElementwise(Value root);
  LogicalResult lowerDot(DotGeneralOp op);

  // CUDA (LowerGpuOps.cpp).
  /// Lowers `op` to generated kernels and runtime calls; false when the op
  /// is lowered as for the CPU (collectives, views).
  FailureOr<bool> lowerGpuOp(Operation *op);
  /// Launches `kernel` over `work` items: grid-stride elements, or rows of
  /// one warp each.
  void launch(StringRef kernel, int64_t work, bool warpPerRow,
              ArrayRef<Value> args);
  /// A pointer to a NUL-terminated constant string.
  Value constString(StringRef text);
  /// Bytes of scratch the GPU lowering of `op` needs, 0 if none.
  int64_t gpuScratchBytes(Operation *op);

  // Builders of small things.
  Value i64(int64_t v) {
    return arith::ConstantIntOp::create(builder, loc, v, 64);
  }
  Value i32(int64_t v) {
    return arith::ConstantIntOp::create(builder, loc, v, 32);
  }
  Value f32(double v) {
    return arith::ConstantFloatOp::create(builder, loc, builder.getF32Type(),
                                          APFloat(static_cast<float>(v)));
  }
  Type ptrType() { return LLVM::LLVMPointerType::get(fn.getContext()); }
  Value ptrOf(Value tensor) { return ptrs.lookup(root(tensor)); }
  Value root(Value v) {
    while (Operation *def = v.getDefiningOp())
      if (isView(def))
        v = def->getOperand(0);
      else
        break;
    return v;
  }
  /// A pointer to a constant array of i64 (shapes, permutations).
  Value constArray(ArrayRef<int64_t> values);
  /// A pointer to a stack array of i64 holding `values`.
  Value stackArray(ArrayRef<Value> values);
  void call(StringRef name, ArrayRef<Value> args, Type result = {});
  Value callValue(StringRef name, ArrayRef<Value> args, Type result);
  int32_t groupOf(ArrayRef<StringAttr> axes);
  int32_t groupOf(ArrayAttr axes);
  /// Offset of this device's shard and its number of real (not padding)
  /// elements, for a dimension of local size `local`.
  std::pair<Value, Value> shardExtent(DimShardAttr shard, int64_t local);
  /// The number of real (not padding) elements of each token dimension of
  /// local shape `tokens`, from a loss op's `token_shards`.
  SmallVector<Value> tokenExtents(ArrayRef<int64_t> tokens, ArrayAttr shards);
  Value bytesPerElement(Type t) {
    return i64(elementBytes(t));
  }
  FailureOr<int32_t> dtypeOf(Operation *op, Type t);

  func::FuncOp fn;
  MeshOp mesh;
  ModuleOp module;
  OpBuilder builder;
  Location loc = UnknownLoc::get(fn.getContext());
  Value buffersArg, arenaArg, ctxArg;
  DenseMap<Value, Value> ptrs;
  /// Arena offsets of the stored values, in program order.
  SmallVector<std::pair<Value, int64_t>> arenaOffset;
  DenseSet<Value> inlined;
  /// Scratch of ops that need some, in the arena.
  DenseMap<Operation *, Value> scratch;
  SmallVector<std::pair<Operation *, int64_t>> scratchOffset;
  SmallVector<AxisList> groups;
  bool cuda;
  std::optional<GpuKernels> gpu;
  llvm::StringMap<std::string> strings;
  int64_t arenaBytes = 0;
  int64_t constCounter = 0;
};


} // namespace mlir::palm::lowering

#endif // PALM_LIB_CONVERSION_PALMTORUNTIME_LOWERING_H
