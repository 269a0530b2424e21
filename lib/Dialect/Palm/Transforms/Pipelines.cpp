//===- Pipelines.cpp - registered palm pass pipelines ---------------------===//

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"

using namespace mlir;

namespace {

/// Options of palm-spmd-pipeline.
struct SpmdPipelineOptions
    : public PassPipelineOptions<SpmdPipelineOptions> {
  Option<bool> explain{*this, "explain",
                       llvm::cl::desc("Explain every inserted collective "
                                      "with a remark"),
                       llvm::cl::init(false)};
  Option<int64_t> combineThreshold{
      *this, "combine-threshold",
      llvm::cl::desc("Largest all-reduce in bytes that may be combined"),
      llvm::cl::init(65536)};
};

} // namespace

void mlir::palm::buildSpmdPipeline(OpPassManager &pm, bool explain,
                                   int64_t combineThreshold) {
  pm.addPass(createPalmPropagateShardings());
  pm.addPass(createPalmSpmdPartition(PalmSpmdPartitionOptions{explain}));
  // A training step recomputes what its forward already computed (the
  // backward of a split-vocabulary cross-entropy needs the forward's softmax
  // statistics): one copy of each, and of the collectives they feed.
  pm.addPass(createCSEPass());
  pm.addPass(createPalmOptimizeCollectives(
      PalmOptimizeCollectivesOptions{combineThreshold}));
}

void mlir::palm::registerPalmPipelines() {
  PassPipelineRegistration<SpmdPipelineOptions>(
      "palm-spmd-pipeline",
      "Propagate shardings, partition into the per-device program and "
      "optimize its collectives",
      [](OpPassManager &pm, const SpmdPipelineOptions &options) {
        buildSpmdPipeline(pm, options.explain, options.combineThreshold);
      });
}
