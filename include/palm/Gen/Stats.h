//===- Stats.h - model statistics -------------------------------*- C++ -*-===//
//
// Parameter counts, FLOPs per token by the PaLM paper's MFU convention, and
// parameter memory per device under a layout, for `palm-gen --stats`.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_GEN_STATS_H
#define PALM_GEN_STATS_H

#include "palm/Gen/Layout.h"

namespace llvm {
class raw_ostream;
} // namespace llvm

namespace mlir::palm::gen {

/// Statistics of one model under one layout and mesh; see docs/palm-gen.md
/// for the definitions.
struct ModelStats {
  /// N: every parameter, LayerNorm scales included.
  int64_t parameters = 0;
  int64_t parametersWithoutLayerNorm = 0;
  /// 12 * L * H * Q * T: the attention score and value matmuls, training.
  int64_t attentionTrainingFlopsPerToken = 0;
  /// 6N + 12LHQT and 6N.
  int64_t trainingFlopsPerToken = 0;
  int64_t trainingFlopsPerTokenWithoutAttention = 0;
  /// 2N + 4LHQT and 2N: a forward pass alone.
  int64_t forwardFlopsPerToken = 0;
  int64_t forwardFlopsPerTokenWithoutAttention = 0;
  /// N times the element size: one unsharded copy.
  int64_t parameterBytes = 0;
  /// Bytes of parameters each device holds: the sum over parameters of the
  /// product of ceil(dim / shards), times the element size. Uneven shards
  /// are padded, so every device holds the same amount.
  int64_t parameterBytesPerDevice = 0;
  int64_t tokensPerStep = 0;
  int64_t numDevices = 0;
  /// The training step's memory per device, estimated from the model
  /// (docs/training.md#memory): parameters, optimizer state (two tensors
  /// per parameter), the results (the next step's parameters and state),
  /// and the intermediates at their peak: the larger of the end of the
  /// forward pass (the activations the backward reads, and the logits with
  /// their gradient) and the backward pass (the parameter gradients and one
  /// layer's activations).
  int64_t trainingStateBytesPerDevice = 0;
  int64_t trainingResultBytesPerDevice = 0;
  int64_t trainingGradientBytesPerDevice = 0;
  int64_t trainingActivationBytesPerDevice = 0;
  int64_t trainingIntermediateBytesPerDevice = 0;
  int64_t trainingBytesPerDevice = 0;
};

/// How the training step keeps activations, for the memory estimate.
struct TrainingShape {
  /// PaLM's rematerialization: only each layer's input is kept.
  bool rematLayers = false;
  int64_t microbatches = 1;
};

/// Computes the statistics; fails (naming the quantity) on int64 overflow.
llvm::Expected<ModelStats> computeStats(const ModelConfig &config,
                                        Layout layout, MeshShape mesh,
                                        TrainingShape training = {});

/// Human-readable report, one quantity per line.
void printStatsText(const ModelStats &stats, const ModelConfig &config,
                    Layout layout, MeshShape mesh, llvm::raw_ostream &os);

/// The same report as one JSON object with exact integers.
void printStatsJSON(const ModelStats &stats, const ModelConfig &config,
                    Layout layout, MeshShape mesh, llvm::raw_ostream &os);

} // namespace mlir::palm::gen

#endif // PALM_GEN_STATS_H
