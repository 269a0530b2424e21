//===- PopulatePatterns.h - the lowering's pattern sets ---------*- C++ -*-===//
//
// One function per op family and target; -palm-lower-to-runtime assembles
// the CPU or the CUDA set. Adding an op is adding its pattern to its
// family's function (and its call to palmrt_calls.def, or its kernel).
//
//===----------------------------------------------------------------------===//

#ifndef PALM_LIB_CONVERSION_PALMTORUNTIME_POPULATEPATTERNS_H
#define PALM_LIB_CONVERSION_PALMTORUNTIME_POPULATEPATTERNS_H

#include "Lowering.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::palm::lowering {

#define PALM_POPULATE(Family)                                                  \
  void populate##Family##Patterns(RewritePatternSet &patterns,                 \
                                  const TypeConverter &converter,              \
                                  LoweringState &state);

// Both targets.
PALM_POPULATE(Contraction)     // dot_general (Contractions.cpp)
PALM_POPULATE(Attention)       // attention (Attention.cpp)
PALM_POPULATE(Collective)      // collectives (Collectives.cpp)
PALM_POPULATE(Structural)      // reshape, constants, return (Structural.cpp)

// The CPU: loops and palmrt's host kernels.
PALM_POPULATE(CpuElementwise)    // fusion (Elementwise.cpp)
PALM_POPULATE(CpuNormalization)  // layer_norm, rope (Normalization.cpp)
PALM_POPULATE(CpuEmbeddingLoss)  // embedding, losses (EmbeddingLoss.cpp)
PALM_POPULATE(CpuDataMovement)   // transpose, slices, pad (DataMovement.cpp)
PALM_POPULATE(CpuOptimizer)      // optimizer updates (Optimizer.cpp)

// CUDA: generated kernels.
PALM_POPULATE(GpuElementwise)    // ElementwiseGpu.cpp
PALM_POPULATE(GpuNormalization)  // NormalizationGpu.cpp
PALM_POPULATE(GpuEmbeddingLoss)  // EmbeddingLossGpu.cpp
PALM_POPULATE(GpuDataMovement)   // DataMovementGpu.cpp
PALM_POPULATE(GpuOptimizer)      // OptimizerGpu.cpp

#undef PALM_POPULATE

/// Bytes of arena scratch the CUDA lowering of `op` needs while it runs
/// (partial sums combined in a fixed order); 0 for ops of other families.
int64_t gpuOptimizerScratchBytes(Operation *op);
int64_t gpuNormalizationScratchBytes(Operation *op);

/// Computes element `index` (i64) of `v`, a value of a fusion body, in its
/// element type: body values from their operands, block arguments loaded
/// from the pointer `leaf` gives for them (unless `cache` has them). Narrow
/// floats are computed in f32.
Value emitElementExpr(OpBuilder &b, Location loc, Value v, Value index,
                      function_ref<Value(BlockArgument)> leaf,
                      DenseMap<Value, Value> &cache);

/// Spellings in kernel keys: an element type ("bf16"), a shape ("2x8x4").
std::string typeName(Type t);
std::string shapeKey(ArrayRef<int64_t> shape);

/// The slices and pads both targets lower (static unit-stride slices; zero
/// padding at the high end), or an error at the op.
LogicalResult checkStaticSlice(tensor::ExtractSliceOp op);
LogicalResult checkZeroHighPad(tensor::PadOp op);

} // namespace mlir::palm::lowering

#endif // PALM_LIB_CONVERSION_PALMTORUNTIME_POPULATEPATTERNS_H
