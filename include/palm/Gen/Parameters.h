//===- Parameters.h - the parameter tensors of a model ----------*- C++ -*-===//
//
// One list, in function-argument order, of every parameter a config implies:
// its name, shape and initializer. The IR builder, the layouts and the
// statistics all read this list, so they cannot disagree about the model.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_GEN_PARAMETERS_H
#define PALM_GEN_PARAMETERS_H

#include "palm/Gen/CheckedInt.h"
#include "palm/Gen/ModelConfig.h"
#include "llvm/ADT/SmallVector.h"

#include <string>
#include <vector>

namespace mlir::palm::gen {

/// What a parameter is for; the layouts shard by role.
enum class ParamRole {
  Embedding, // [vocab, d_model], tied input/output embedding
  LayerNorm, // [d_model] scale (ln, ln1, ln2, final_ln)
  Wq,        // [d_model, heads, head_dim]
  Wk,        // [d_model, kv_heads, head_dim]
  Wv,        // [d_model, kv_heads, head_dim]
  Wo,        // [heads, head_dim, d_model]
  WGate,     // [d_model, d_ff]
  WUp,       // [d_model, d_ff]
  WDown,     // [d_ff, d_model]
};

/// One parameter tensor (a function argument of the generated IR).
struct ParamSpec {
  /// The palm.name, e.g. "layers.3.attention.wq".
  std::string name;
  ParamRole role;
  /// Layer index, or -1 for the embedding and the final layer norm.
  int64_t layer;
  llvm::SmallVector<int64_t, 3> shape;
  /// Standard deviation of the normal initializer; 0 means ones (the
  /// LayerNorm scales).
  double initStddev;
};

/// Every parameter of `config` in argument order: embedding, then per layer
/// (parallel) ln, wq, wk, wv, wo, wgate, wup, wdown or (serial) ln1, wq, wk,
/// wv, wo, ln2, wgate, wup, wdown, then final_ln.
std::vector<ParamSpec> getParameters(const ModelConfig &config);

/// The parameters of layer `layer` alone, in argument order.
std::vector<ParamSpec> getLayerParameters(const ModelConfig &config,
                                          int64_t layer);

/// The parameters outside the layers: the embedding and final_ln.
std::vector<ParamSpec> getGlobalParameters(const ModelConfig &config);

/// Total number of parameter elements, computed from the formula rather
/// than the list so that it is cheap and overflow-checked for any config.
CheckedInt countParameters(const ModelConfig &config, bool includeLayerNorm);

/// Number of LayerNorm scale vectors: one or two per layer plus the final one.
int64_t getNumLayerNorms(const ModelConfig &config);

} // namespace mlir::palm::gen

#endif // PALM_GEN_PARAMETERS_H
