//===- ModelBuilder.h - global palm IR of a model ---------------*- C++ -*-===//
//
// Builds the global-level palm IR of one forward pass ending in the loss,
// with the layout's shardings on the parameters and the inputs, and (megatron-sp
// only) constraints on the residual stream and the LayerNorm outputs.
//
// Every op gets a NameLoc. Ops inside layer i are named "layers.<i>.<what>"
// ("layers.3.attention.q", "layers.3.mlp.down", "layers.3.residual"); the
// rest are "embedding", "final_ln", "logits", "logits.scale" and "loss".
// Passes that report per layer group ops by the "layers.<i>." prefix.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_GEN_MODELBUILDER_H
#define PALM_GEN_MODELBUILDER_H

#include "palm/Gen/Layout.h"

namespace llvm {
class raw_ostream;
} // namespace llvm

namespace mlir {
class MLIRContext;
class ModuleOp;
template <typename OpTy> class OwningOpRef;
} // namespace mlir

namespace mlir::palm::gen {

/// Builds and verifies the module; `context` must have the palm and func
/// dialects loaded. `config` must have passed verifyModelConfig and the
/// layout verifyLayoutOnMesh. Returns null if verification fails (a bug;
/// the diagnostics have been emitted).
/// With `returnLogits`, the function returns the scaled logits as a second
/// result ("logits"), for checking a compiled program against a reference.
OwningOpRef<ModuleOp> buildModel(MLIRContext &context,
                                 const ModelConfig &config, Layout layout,
                                 MeshShape mesh, bool returnLogits = false);

/// Prints `module` the way palm-gen writes it: custom op forms, with every
/// location inline so the "layers.<i>." names survive a round trip.
void printModel(ModuleOp module, llvm::raw_ostream &os);

/// How palm-gen --train turns the forward into a training step: the
/// options of -palm-optimizer, as text (`optimizer=adamw peak-lr=0.001`).
struct TrainOptions {
  /// The options of -palm-autodiff (`remat=layers`).
  std::string autodiffOptions;
  std::string optimizerOptions;
  /// Micro-batches per step (-palm-accumulate-gradients): the forward is
  /// built for batch / microbatches sequences.
  int64_t microbatches = 1;
};

/// Builds the model in a fresh context and prints it to `os`; with `train`,
/// the whole training step (-palm-autodiff, -palm-optimizer) instead of the
/// forward.
llvm::Error emitModel(const ModelConfig &config, Layout layout, MeshShape mesh,
                      llvm::raw_ostream &os, bool returnLogits = false,
                      const std::optional<TrainOptions> &train = std::nullopt);

} // namespace mlir::palm::gen

#endif // PALM_GEN_MODELBUILDER_H
