//===- GpuKernels.h - generated GPU kernels for --target cuda ---*- C++ -*-===//
//
// Kernels are gpu.func ops in one gpu.module; identical kernels (same key)
// are generated once. Every kernel takes pointers and i64 scalars and is
// written for a grid-stride launch of `kBlock` threads per block, so any
// grid size covers the work.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_LIB_CONVERSION_PALMTORUNTIME_GPUKERNELS_H
#define PALM_LIB_CONVERSION_PALMTORUNTIME_GPUKERNELS_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"

#include <functional>
#include <string>

namespace mlir::palm {

/// Threads per block of every generated kernel.
constexpr int64_t kBlock = 256;

/// Builds the body of one kernel: `args` are its arguments (pointers first
/// as the caller declared them). The builder is inside the kernel.
using KernelBody = std::function<void(OpBuilder &b, Location loc,
                                      ArrayRef<Value> args)>;

class GpuKernels {
public:
  /// Creates (or reuses) `gpu.module @palm_kernels` in `module`.
  explicit GpuKernels(ModuleOp module);

  /// Returns the name of the kernel with `key`, creating it with `argTypes`
  /// and `body` the first time.
  StringRef get(StringRef key, ArrayRef<Type> argTypes,
                const KernelBody &body);

  gpu::GPUModuleOp getModule() { return kernels; }

  /// Argument types of a kernel: `pointers` pointers, then `ints` i64
  /// scalars, then `floats` f32 scalars.
  static SmallVector<Type> argTypes(MLIRContext *ctx, int pointers, int ints,
                                    int floats = 0);

  // Helpers for kernel bodies.

  /// for (i = global thread index; i < n; i += total threads) body(i), with
  /// `i` as i64.
  static void gridStride(OpBuilder &b, Location loc, Value n,
                         const std::function<void(Value)> &body);
  /// One warp per row: for (row = warp index; row < rows; row += warps)
  /// body(row, lane), row and lane as i64.
  static void warpRows(OpBuilder &b, Location loc, Value rows,
                       const std::function<void(Value, Value)> &body);
  /// Sum or maximum of `v` over the 32 lanes of a warp, in every lane; the
  /// order of combination is fixed, so results are deterministic.
  static Value warpReduce(OpBuilder &b, Location loc, Value v, bool max);
  /// for (j = lane; j < count; j += 32) acc = step(acc, j), over f32
  /// accumulators; returns the final accumulators.
  static SmallVector<Value>
  laneLoop(OpBuilder &b, Location loc, Value lane, Value count,
           ArrayRef<Value> init,
           const std::function<SmallVector<Value>(Value, ValueRange)> &step);
  /// laneLoop over chunks of `width` consecutive elements from `from` (null:
  /// 0): step(j, acc) for j = from + lane * width, then every 32 * width
  /// while j < count (whole chunks up to count).
  static SmallVector<Value>
  laneChunks(OpBuilder &b, Location loc, Value lane, Value from, Value count,
             int64_t width, ArrayRef<Value> init,
             const std::function<SmallVector<Value>(Value, ValueRange)> &step);
  /// Elements [index, index + width) of type `type` at `base`, as loaded:
  /// one vector load (aligned to its size) when width > 1.
  static SmallVector<Value> loadVector(OpBuilder &b, Location loc, Type type,
                                       Value base, Value index, int64_t width);
  /// Stores `values` (of one type) at [index, index + values.size()) of
  /// `base`: one vector store when there are several.
  static void storeVector(OpBuilder &b, Location loc, Value base, Value index,
                          ArrayRef<Value> values);
  /// loadVector, widened to f32.
  static SmallVector<Value> loadF32s(OpBuilder &b, Location loc, Type type,
                                     Value base, Value index, int64_t width);
  /// storeVector of f32 `values` narrowed to `type`.
  static void storeF32s(OpBuilder &b, Location loc, Type type, Value base,
                        Value index, ArrayRef<Value> values);
  /// Elements of `type` in one 16-byte vector access.
  static int64_t vectorWidth(Type type) {
    return 16 / (type.getIntOrFloatBitWidth() / 8);
  }
  /// i1: every pointer is 16-byte aligned and `count` a multiple of `width`
  /// (the condition for loadF32s/storeF32s of `width` at multiples of it).
  static Value vectorizable(OpBuilder &b, Location loc,
                            ArrayRef<Value> pointers, Value count,
                            int64_t width);
  /// Loads element `index` (i64) of type `type` at `base`, widened to f32
  /// when it is a narrower float.
  static Value loadF32(OpBuilder &b, Location loc, Type type, Value base,
                       Value index);
  /// Stores f32 `value` as `type` at element `index` of `base`.
  static void storeF32(OpBuilder &b, Location loc, Type type, Value base,
                       Value index, Value value);
  static Value load(OpBuilder &b, Location loc, Type type, Value base,
                    Value index);
  static void store(OpBuilder &b, Location loc, Value value, Value base,
                    Value index);
  /// Row-major coordinates (i64) of flat index `i` in `shape`.
  static SmallVector<Value> coordinates(OpBuilder &b, Location loc, Value i,
                                        ArrayRef<int64_t> shape);
  /// Flat index of `coords` (+ `offsets`, when given) in `shape`.
  static Value flatIndex(OpBuilder &b, Location loc, ArrayRef<Value> coords,
                         ArrayRef<int64_t> shape,
                         ArrayRef<int64_t> offsets = {});
  /// Runs `then` only in lane 0 of the warp.
  static void inLaneZero(OpBuilder &b, Location loc, Value lane,
                         const std::function<void()> &then);
  /// The zero of `type`.
  static Value zero(OpBuilder &b, Location loc, Type type);
  static Value i64(OpBuilder &b, Location loc, int64_t v);
  static Value f32(OpBuilder &b, Location loc, double v);
  /// exp(x) as exp2(x log2 e): the NVPTX back end has a native exp2.
  static Value exp(OpBuilder &b, Location loc, Value x);
  /// log(x) as log2(x) ln 2.
  static Value log(OpBuilder &b, Location loc, Value x);

private:
  gpu::GPUModuleOp kernels;
  llvm::StringMap<std::string> names;
  int64_t counter = 0;
};

} // namespace mlir::palm

#endif // PALM_LIB_CONVERSION_PALMTORUNTIME_GPUKERNELS_H
