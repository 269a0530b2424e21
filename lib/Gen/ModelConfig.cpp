//===- ModelConfig.cpp - presets and config checks ------------------------===//
//
// The presets and the rules every config must satisfy before palm-gen
// builds IR from it.
//
//===----------------------------------------------------------------------===//

#include "palm/Gen/ModelConfig.h"

#include "palm/Gen/CheckedInt.h"
#include "palm/Gen/Parameters.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <limits>

using namespace mlir::palm::gen;
using llvm::StringRef;

llvm::Error mlir::palm::gen::makeGenError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

//===----------------------------------------------------------------------===//
// Presets
//===----------------------------------------------------------------------===//

static ModelConfig makeConfig(StringRef name, int64_t layers, int64_t dModel,
                              int64_t heads, int64_t kvHeads, int64_t headDim,
                              int64_t dFF, int64_t vocab, int64_t seq,
                              int64_t batch) {
  ModelConfig config;
  config.name = name.str();
  config.layers = layers;
  config.dModel = dModel;
  config.heads = heads;
  config.kvHeads = kvHeads;
  config.headDim = headDim;
  config.dFF = dFF;
  config.vocab = vocab;
  config.seq = seq;
  config.batch = batch;
  return config;
}

static const StringRef kPresetNames[] = {"tiny", "small", "palm-8b", "palm-62b",
                                         "palm-540b"};

llvm::ArrayRef<StringRef> mlir::palm::gen::getPresetNames() {
  return kPresetNames;
}

std::optional<ModelConfig> mlir::palm::gen::getPreset(StringRef name) {
  // tiny is the smallest model that still has several heads sharing one
  // key/value head, an even head_dim and a d_ff and vocab that split over
  // small meshes; the lit tests use it.
  if (name == "tiny")
    return makeConfig(name, 2, 16, 4, 1, 4, 64, 32, 8, 2);
  // The CPU benchmark model.
  if (name == "small")
    return makeConfig(name, 4, 512, 8, 1, 64, 2048, 8192, 256, 4);
  // Table 1 of the PaLM paper: head size 256, d_ff = 4 d_model, one
  // key/value head, a 256k vocabulary and 2048-token sequences.
  if (name == "palm-8b")
    return makeConfig(name, 32, 4096, 16, 1, 256, 16384, 256000, 2048,
                      kPaperPresetBatch);
  if (name == "palm-62b")
    return makeConfig(name, 64, 8192, 32, 1, 256, 32768, 256000, 2048,
                      kPaperPresetBatch);
  if (name == "palm-540b")
    return makeConfig(name, 118, 18432, 48, 1, 256, 73728, 256000, 2048,
                      kPaperPresetBatch);
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

std::optional<DType> mlir::palm::gen::parseDType(StringRef name) {
  return llvm::StringSwitch<std::optional<DType>>(name)
      .Case("f32", DType::F32)
      .Case("bf16", DType::BF16)
      .Default(std::nullopt);
}

StringRef mlir::palm::gen::stringifyDType(DType dtype) {
  return dtype == DType::F32 ? "f32" : "bf16";
}

int64_t mlir::palm::gen::getElementBytes(DType dtype) {
  return dtype == DType::F32 ? 4 : 2;
}

std::optional<BlockKind> mlir::palm::gen::parseBlockKind(StringRef name) {
  return llvm::StringSwitch<std::optional<BlockKind>>(name)
      .Case("parallel", BlockKind::Parallel)
      .Case("serial", BlockKind::Serial)
      .Default(std::nullopt);
}

StringRef mlir::palm::gen::stringifyBlockKind(BlockKind block) {
  return block == BlockKind::Parallel ? "parallel" : "serial";
}

//===----------------------------------------------------------------------===//
// Verification
//===----------------------------------------------------------------------===//

namespace {
/// A tensor the generated IR contains, described by the config fields that
/// make up its shape, so an overflow message can name them.
struct SizedTensor {
  const char *what;
  llvm::SmallVector<std::pair<const char *, int64_t>, 4> dims;
};
} // namespace

/// Fails when the tensor's size in bytes leaves int64: MLIR shapes, element
/// counts and the per-device byte statistics are all int64.
static llvm::Error checkTensorSize(const SizedTensor &tensor,
                                   int64_t elementBytes) {
  CheckedInt bytes = elementBytes;
  for (auto [field, size] : tensor.dims)
    bytes *= size;
  if (!bytes.overflowed())
    return llvm::Error::success();
  std::string fields, sizes;
  for (auto [i, dim] : llvm::enumerate(tensor.dims)) {
    fields += (i ? " x '" : "'") + std::string(dim.first) + "'";
    sizes += (i ? " x " : "") + std::to_string(dim.second);
  }
  return makeGenError(llvm::Twine("size too large to represent: ") +
                      tensor.what + " (" + fields + " = " + sizes +
                      ") has more bytes than fit in int64");
}

/// Checks every tensor shape and the totals the statistics compute.
static llvm::Error checkSizes(const ModelConfig &c) {
  int64_t elementBytes = getElementBytes(c.dtype);
  const SizedTensor tensors[] = {
      {"the embedding table", {{"vocab", c.vocab}, {"d_model", c.dModel}}},
      {"Wq and Wo",
       {{"d_model", c.dModel}, {"heads", c.heads}, {"head_dim", c.headDim}}},
      {"Wk and Wv",
       {{"d_model", c.dModel},
        {"kv_heads", c.kvHeads},
        {"head_dim", c.headDim}}},
      {"the MLP weights", {{"d_model", c.dModel}, {"d_ff", c.dFF}}},
      {"the residual stream",
       {{"batch", c.batch}, {"seq", c.seq}, {"d_model", c.dModel}}},
      {"the queries",
       {{"batch", c.batch},
        {"seq", c.seq},
        {"heads", c.heads},
        {"head_dim", c.headDim}}},
      {"the MLP activations",
       {{"batch", c.batch}, {"seq", c.seq}, {"d_ff", c.dFF}}},
      {"the logits", {{"batch", c.batch}, {"seq", c.seq}, {"vocab", c.vocab}}},
  };
  for (const SizedTensor &tensor : tensors)
    if (llvm::Error error = checkTensorSize(tensor, elementBytes))
      return error;

  // Totals: N, its bytes, and 6N + 12 L H Q T.
  CheckedInt params = countParameters(c, /*includeLayerNorm=*/true);
  CheckedInt flops = CheckedInt(6) * params +
                     CheckedInt(12) * c.layers * c.heads * c.headDim * c.seq;
  if ((params * elementBytes).overflowed() || flops.overflowed())
    return makeGenError(
        "size too large to represent: the parameter count, its size in "
        "bytes or the FLOPs per token overflow int64 (from 'layers', "
        "'d_model', 'heads', 'head_dim', 'd_ff', 'vocab' and 'seq')");
  return llvm::Error::success();
}

static std::string formatDouble(double value) {
  std::string text;
  llvm::raw_string_ostream(text) << value;
  return text;
}

llvm::Error mlir::palm::gen::verifyModelConfig(const ModelConfig &c) {
  const std::pair<const char *, int64_t> sizes[] = {
      {"layers", c.layers},    {"d_model", c.dModel},   {"heads", c.heads},
      {"kv_heads", c.kvHeads}, {"head_dim", c.headDim}, {"d_ff", c.dFF},
      {"vocab", c.vocab},      {"seq", c.seq},          {"batch", c.batch}};
  for (auto [field, value] : sizes)
    if (value <= 0)
      return makeGenError(llvm::Twine("'") + field +
                          "' must be positive, got " + llvm::Twine(value));
  // Layers are unrolled, one set of arguments and ops each; past this the
  // IR would not fit in memory long before any size overflowed.
  if (c.layers > kMaxLayers)
    return makeGenError(llvm::Twine("'layers' (") + llvm::Twine(c.layers) +
                        ") must be at most " + llvm::Twine(kMaxLayers) +
                        ": layers are unrolled in the IR");
  if (c.heads % c.kvHeads != 0)
    return makeGenError(llvm::Twine("'heads' (") + llvm::Twine(c.heads) +
                        ") must be divisible by 'kv_heads' (" +
                        llvm::Twine(c.kvHeads) +
                        "): each key/value head serves the same number of "
                        "query heads");
  if (c.headDim % 2 != 0)
    return makeGenError(llvm::Twine("'head_dim' (") + llvm::Twine(c.headDim) +
                        ") must be even: RoPE pairs dimension i with "
                        "i + head_dim/2");
  if (c.vocab > std::numeric_limits<int32_t>::max())
    return makeGenError(llvm::Twine("'vocab' (") + llvm::Twine(c.vocab) +
                        ") must be at most 2147483647: token ids are i32");
  // The f32 attributes of the IR hold these, so check them as floats.
  float epsilon = static_cast<float>(c.layerNormEpsilon);
  if (!(epsilon > 0.0f) || !std::isfinite(epsilon))
    return makeGenError(llvm::Twine("'layer_norm_epsilon' must be a positive "
                                    "f32, got ") +
                        formatDouble(c.layerNormEpsilon));
  float zLoss = static_cast<float>(c.zLoss);
  if (!(zLoss >= 0.0f) || !std::isfinite(zLoss))
    return makeGenError(llvm::Twine("'z_loss' must be a finite f32 >= 0, "
                                    "got ") +
                        formatDouble(c.zLoss));
  return checkSizes(c);
}
