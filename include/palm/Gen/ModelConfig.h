//===- ModelConfig.h - PaLM model hyperparameters ---------------*- C++ -*-===//
//
// The hyperparameters palm-gen builds a model from: the named presets (the
// PaLM paper's three sizes plus two small test models) and JSON configs.
// Nothing here depends on MLIR, so the checks run before any IR exists.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_GEN_MODELCONFIG_H
#define PALM_GEN_MODELCONFIG_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::palm::gen {

/// Element type of parameters and activations (the loss is always f32).
enum class DType { F32, BF16 };

/// Transformer block: PaLM's parallel formulation or the usual serial one.
enum class BlockKind { Parallel, Serial };

/// Every hyperparameter of a dense decoder-only PaLM-style model. Integer
/// fields are positive once verifyModelConfig accepts the config.
struct ModelConfig {
  std::string name;
  int64_t layers = 0;
  int64_t dModel = 0;
  int64_t heads = 0;
  /// Key/value heads: 1 is multi-query attention (PaLM).
  int64_t kvHeads = 0;
  int64_t headDim = 0;
  int64_t dFF = 0;
  int64_t vocab = 0;
  int64_t seq = 0;
  /// Sequences per step (global batch).
  int64_t batch = 0;
  /// The element type of the activations (the compute type).
  DType dtype = DType::F32;
  /// The element type of the parameters (and of the optimizer state, which
  /// follows them) when it differs from `dtype`: f32 master weights that the
  /// step converts to bf16 where it reads them. Unset: `dtype`.
  std::optional<DType> paramDType;
  BlockKind block = BlockKind::Parallel;
  double layerNormEpsilon = 1e-6;
  double zLoss = 1e-4;
};

/// The batch given to the paper presets (palm-8b, palm-62b, palm-540b):
/// PaLM 540B's first training phase, 512 sequences of 2048 tokens.
inline constexpr int64_t kPaperPresetBatch = 512;

/// Most layers a config may have: palm-gen unrolls layers, so the IR grows
/// linearly with depth.
inline constexpr int64_t kMaxLayers = 65536;

/// The preset called `name`, or std::nullopt.
std::optional<ModelConfig> getPreset(llvm::StringRef name);

/// Preset names in the order the help text lists them.
llvm::ArrayRef<llvm::StringRef> getPresetNames();

/// Parses a JSON model config (see docs/palm-gen.md for the keys).
/// `source` names the file in messages.
llvm::Expected<ModelConfig> parseModelConfig(llvm::StringRef json,
                                             llvm::StringRef source);

/// Checks every rule a config must satisfy before IR is built: positive
/// sizes, heads divisible by kv_heads, an even head_dim, token ids that fit
/// in i32, and every tensor and total small enough for int64. The message
/// names the offending field.
llvm::Error verifyModelConfig(const ModelConfig &config);

std::optional<DType> parseDType(llvm::StringRef name);
llvm::StringRef stringifyDType(DType dtype);
/// Bytes per element of `dtype`.
int64_t getElementBytes(DType dtype);
/// The parameters' element type: `paramDType`, else `dtype`.
inline DType getParamDType(const ModelConfig &config) {
  return config.paramDType.value_or(config.dtype);
}

std::optional<BlockKind> parseBlockKind(llvm::StringRef name);
llvm::StringRef stringifyBlockKind(BlockKind block);

/// An llvm::Error carrying `message` (the tool prints it as is).
llvm::Error makeGenError(const llvm::Twine &message);

} // namespace mlir::palm::gen

#endif // PALM_GEN_MODELCONFIG_H
