//===- Stats.cpp - model statistics ---------------------------------------===//
//
// FLOPs follow the PaLM paper's MFU convention (appendix B): 6N per token
// for the matmuls of forward and backward, plus 12 L H Q T for attention,
// with N every parameter (the embedding included) and rematerialization not
// counted.
//
//===----------------------------------------------------------------------===//

#include "palm/Gen/Stats.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir::palm::gen;

/// Bytes one device holds of `param` under `layout`: uneven splits round up
/// (the last shards are padded).
static CheckedInt getLocalBytes(const ParamSpec &param, Layout layout,
                                MeshShape mesh, int64_t elementBytes) {
  llvm::SmallVector<MeshAxis, 3> sharding = getParameterSharding(param, layout);
  CheckedInt bytes = elementBytes;
  for (auto [dim, axis] : llvm::zip_equal(param.shape, sharding))
    bytes *= llvm::divideCeil(dim, mesh.getSize(axis));
  return bytes;
}

/// The intermediates of the training step on one device at their peak (see
/// ModelStats), and the activations part of it.
static std::pair<CheckedInt, CheckedInt>
estimateIntermediates(const ModelConfig &c, Layout layout, MeshShape mesh,
                      TrainingShape training, CheckedInt gradients,
                      CheckedInt gradientsOfOneLayerAndOutside) {
  bool split = layout != Layout::Replicated;
  bool wideSplit = layout == Layout::Megatron ||
                   layout == Layout::MegatronSP || layout == Layout::Palm2D;
  int64_t model = wideSplit ? mesh.model : 1;
  // Tokens of one micro-batch on one device, and of the sequence-parallel
  // d_model vectors.
  CheckedInt rows = llvm::divideCeil(c.batch / training.microbatches,
                                     split ? mesh.data : 1);
  CheckedInt tokens = rows * c.seq;
  CheckedInt dTokens = usesSequenceParallelism(layout)
                           ? rows * llvm::divideCeil(c.seq, mesh.model)
                           : tokens;
  int64_t bytes = getElementBytes(c.dtype);
  // What a layer's backward reads, per token: the d_model vectors (input,
  // LayerNorm output, attention and MLP outputs), the heads (queries before
  // and after RoPE, the attention output, the row log-sum-exp), the keys
  // and values (multi-query: not split) and the MLP's four d_ff vectors.
  CheckedInt layer =
      dTokens * (4 * c.dModel) * bytes +
      tokens *
          (CheckedInt(llvm::divideCeil(3 * c.heads * c.headDim + c.heads,
                                       model)) +
           3 * c.kvHeads * c.headDim +
           CheckedInt(llvm::divideCeil(4 * c.dFF, model))) *
          bytes;
  // Kept from the forward to the backward pass: every layer's set, or with
  // rematerialization each layer's input.
  CheckedInt kept = training.rematLayers ? dTokens * c.dModel * bytes * c.layers
                                         : layer * c.layers;
  // The logits twice (the product and its scaled copy, f32), the vocabulary
  // split like the embedding.
  CheckedInt logits = tokens * 2 * llvm::divideCeil(c.vocab, model) * 4;
  // Where the weights are split over data (fsdp, palm-2d), each is gathered
  // whole over data. Without rematerialization the backward pass reuses the
  // forward's gather, so every gathered weight is held from the forward to
  // the backward pass; with it a layer's backward gathers its weights again
  // with its recomputation, and one layer's gathered weights (with the
  // embedding's, used at both ends) are live at a time.
  CheckedInt gatheredShards =
      training.rematLayers ? gradientsOfOneLayerAndOutside : gradients;
  CheckedInt gathered = layout == Layout::FSDP || layout == Layout::Palm2D
                            ? gatheredShards * (mesh.data - 1)
                            : CheckedInt(0);
  CheckedInt forwardEnd = kept + logits + gathered;
  // In the backward pass: the gradients, what is kept, and one layer's set
  // (recomputed, or the kept one).
  CheckedInt backward = gradients + kept + gathered +
                        (training.rematLayers ? layer : CheckedInt(0));
  return {forwardEnd.get() > backward.get() ? forwardEnd : backward, kept};
}

llvm::Expected<ModelStats> mlir::palm::gen::computeStats(const ModelConfig &c,
                                                         Layout layout,
                                                         MeshShape mesh,
                                                         TrainingShape shape) {
  // Parameters, their gradients and the optimizer state are of the
  // parameters' type; activations of the compute type.
  int64_t elementBytes = getElementBytes(getParamDType(c));
  CheckedInt params = countParameters(c, /*includeLayerNorm=*/true);
  CheckedInt paramsNoLN = countParameters(c, /*includeLayerNorm=*/false);
  CheckedInt attention =
      CheckedInt(12) * c.layers * c.heads * c.headDim * c.seq;
  CheckedInt training = CheckedInt(6) * params + attention;
  CheckedInt forward = CheckedInt(2) * params +
                       CheckedInt(4) * c.layers * c.heads * c.headDim * c.seq;

  // Every layer has the same shapes and shardings, so one layer's bytes
  // times the depth is the total.
  CheckedInt local;
  for (const ParamSpec &param : getGlobalParameters(c))
    local += getLocalBytes(param, layout, mesh, elementBytes);
  CheckedInt layerLocal;
  for (const ParamSpec &param : getLayerParameters(c, 0))
    layerLocal += getLocalBytes(param, layout, mesh, elementBytes);
  CheckedInt oneLayerAndOutside = local + layerLocal;
  local += layerLocal * c.layers;

  CheckedInt bytes = params * elementBytes;
  CheckedInt tokens = CheckedInt(c.batch) * c.seq;
  CheckedInt devices = CheckedInt(mesh.data) * mesh.model;
  // The state and the results are separate buffers; the gradients live
  // among the intermediates.
  CheckedInt state = local * 2, results = local * 3;
  auto [intermediates, activations] =
      estimateIntermediates(c, layout, mesh, shape, local, oneLayerAndOutside);
  // f32 master weights of a bf16 step: their bf16 copies live all step.
  if (getParamDType(c) != c.dtype) {
    int64_t computeBytes = getElementBytes(c.dtype);
    CheckedInt copies, layerCopies;
    for (const ParamSpec &param : getGlobalParameters(c))
      copies += getLocalBytes(param, layout, mesh, computeBytes);
    for (const ParamSpec &param : getLayerParameters(c, 0))
      layerCopies += getLocalBytes(param, layout, mesh, computeBytes);
    intermediates += copies + layerCopies * c.layers;
  }
  CheckedInt trainingTotal = local + state + results + intermediates;
  for (CheckedInt value :
       {params, paramsNoLN, training, forward, local, bytes, tokens, devices,
        state, results, intermediates, activations, trainingTotal})
    if (value.overflowed())
      return makeGenError("size too large to represent: a statistic of this "
                          "model overflows int64");

  ModelStats stats;
  stats.parameters = params.get();
  stats.parametersWithoutLayerNorm = paramsNoLN.get();
  stats.attentionTrainingFlopsPerToken = attention.get();
  stats.trainingFlopsPerToken = training.get();
  stats.trainingFlopsPerTokenWithoutAttention = 6 * params.get();
  stats.forwardFlopsPerToken = forward.get();
  stats.forwardFlopsPerTokenWithoutAttention = 2 * params.get();
  stats.parameterBytes = bytes.get();
  stats.parameterBytesPerDevice = local.get();
  stats.tokensPerStep = tokens.get();
  stats.numDevices = devices.get();
  stats.trainingStateBytesPerDevice = state.get();
  stats.trainingResultBytesPerDevice = results.get();
  stats.trainingGradientBytesPerDevice = local.get();
  stats.trainingActivationBytesPerDevice = activations.get();
  stats.trainingIntermediateBytesPerDevice = intermediates.get();
  stats.trainingBytesPerDevice = trainingTotal.get();
  return stats;
}

/// `value` scaled by the largest of `units` (factor, suffix) it reaches,
/// with three decimals: 540354314240 -> "540.354 B".
static std::string
humanize(int64_t value, llvm::ArrayRef<std::pair<double, const char *>> units) {
  for (auto [factor, suffix] : units)
    if (static_cast<double>(value) >= factor)
      return llvm::formatv("{0:F3} {1}", static_cast<double>(value) / factor,
                           suffix)
          .str();
  return std::to_string(value);
}

static std::string humanCount(int64_t value) {
  return humanize(value, {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}});
}

static std::string humanFlops(int64_t value) {
  return humanize(value, {{1e15, "PFLOP"},
                          {1e12, "TFLOP"},
                          {1e9, "GFLOP"},
                          {1e6, "MFLOP"},
                          {1e3, "KFLOP"}}) +
         (value < 1000 ? " FLOP" : "");
}

static std::string humanBytes(int64_t value) {
  return humanize(value, {{1099511627776.0, "TiB"},
                          {1073741824.0, "GiB"},
                          {1048576.0, "MiB"},
                          {1024.0, "KiB"}}) +
         (value < 1024 ? " bytes" : "");
}

void mlir::palm::gen::printStatsText(const ModelStats &s, const ModelConfig &c,
                                     Layout layout, MeshShape mesh,
                                     llvm::raw_ostream &os) {
  os << "model: " << c.name << " (" << c.layers << " layers, d_model "
     << c.dModel << ", " << c.heads << " heads x " << c.headDim << ", kv_heads "
     << c.kvHeads << ", d_ff " << c.dFF << ", vocab " << c.vocab << ", "
     << stringifyBlockKind(c.block) << " block, " << stringifyDType(c.dtype);
  if (getParamDType(c) != c.dtype)
    os << ", " << stringifyDType(getParamDType(c)) << " parameters";
  os << ")\n";
  os << "step: batch " << c.batch << " x seq " << c.seq << " = "
     << s.tokensPerStep << " tokens\n";
  os << "layout: " << stringifyLayout(layout) << " on mesh data=" << mesh.data
     << ",model=" << mesh.model << " (" << s.numDevices
     << (s.numDevices == 1 ? " device)\n" : " devices)\n");
  auto line = [&](llvm::StringRef what, int64_t value,
                  std::string (*human)(int64_t)) {
    os << llvm::left_justify(what, 46) << value << "  (" << human(value)
       << ")\n";
  };
  line("parameters:", s.parameters, humanCount);
  line("parameters without LayerNorm scales:", s.parametersWithoutLayerNorm,
       humanCount);
  line("training FLOPs/token (6N + 12LHQT):", s.trainingFlopsPerToken,
       humanFlops);
  line("training FLOPs/token without attention (6N):",
       s.trainingFlopsPerTokenWithoutAttention, humanFlops);
  line("forward FLOPs/token (2N + 4LHQT):", s.forwardFlopsPerToken, humanFlops);
  line("forward FLOPs/token without attention (2N):",
       s.forwardFlopsPerTokenWithoutAttention, humanFlops);
  line("parameter bytes (one unsharded copy):", s.parameterBytes, humanBytes);
  line("parameter bytes per device:", s.parameterBytesPerDevice, humanBytes);
  line("training bytes per device (estimate):", s.trainingBytesPerDevice,
       humanBytes);
  line("  optimizer state:", s.trainingStateBytesPerDevice, humanBytes);
  line("  results (next parameters and state):", s.trainingResultBytesPerDevice,
       humanBytes);
  line("  intermediates at their peak:", s.trainingIntermediateBytesPerDevice,
       humanBytes);
  line("    activations the backward reads:",
       s.trainingActivationBytesPerDevice, humanBytes);
  line("    gradients:", s.trainingGradientBytesPerDevice, humanBytes);
}

void mlir::palm::gen::printStatsJSON(const ModelStats &s, const ModelConfig &c,
                                     Layout layout, MeshShape mesh,
                                     llvm::raw_ostream &os) {
  llvm::json::OStream json(os, /*IndentSize=*/2);
  json.object([&] {
    json.attributeObject("model", [&] {
      json.attribute("name", c.name);
      json.attribute("layers", c.layers);
      json.attribute("d_model", c.dModel);
      json.attribute("heads", c.heads);
      json.attribute("kv_heads", c.kvHeads);
      json.attribute("head_dim", c.headDim);
      json.attribute("d_ff", c.dFF);
      json.attribute("vocab", c.vocab);
      json.attribute("seq", c.seq);
      json.attribute("batch", c.batch);
      json.attribute("dtype", stringifyDType(c.dtype));
      if (c.paramDType)
        json.attribute("param_dtype", stringifyDType(*c.paramDType));
      json.attribute("block", stringifyBlockKind(c.block));
      json.attribute("layer_norm_epsilon", c.layerNormEpsilon);
      json.attribute("z_loss", c.zLoss);
    });
    json.attribute("layout", stringifyLayout(layout));
    json.attributeObject("mesh", [&] {
      json.attribute("data", mesh.data);
      json.attribute("model", mesh.model);
    });
    json.attribute("devices", s.numDevices);
    json.attribute("tokens_per_step", s.tokensPerStep);
    json.attribute("parameters", s.parameters);
    json.attribute("parameters_without_layer_norm",
                   s.parametersWithoutLayerNorm);
    json.attribute("training_flops_per_token", s.trainingFlopsPerToken);
    json.attribute("training_flops_per_token_without_attention",
                   s.trainingFlopsPerTokenWithoutAttention);
    json.attribute("forward_flops_per_token", s.forwardFlopsPerToken);
    json.attribute("forward_flops_per_token_without_attention",
                   s.forwardFlopsPerTokenWithoutAttention);
    json.attribute("parameter_bytes", s.parameterBytes);
    json.attribute("parameter_bytes_per_device", s.parameterBytesPerDevice);
    json.attributeObject("training_bytes_per_device", [&] {
      json.attribute("total", s.trainingBytesPerDevice);
      json.attribute("optimizer_state", s.trainingStateBytesPerDevice);
      json.attribute("results", s.trainingResultBytesPerDevice);
      json.attribute("intermediates", s.trainingIntermediateBytesPerDevice);
      json.attribute("activations", s.trainingActivationBytesPerDevice);
      json.attribute("gradients", s.trainingGradientBytesPerDevice);
    });
  });
  os << "\n";
}
