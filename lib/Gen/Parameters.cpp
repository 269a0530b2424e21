//===- Parameters.cpp - the parameter tensors of a model ------------------===//
//
// Names, shapes and initializers of every parameter. Kernels are drawn from
// N(0, 1/fan_in) with fan_in the width of the input they contract, the
// embedding from N(0, 1), and LayerNorm scales start at one.
//
//===----------------------------------------------------------------------===//

#include "palm/Gen/Parameters.h"

#include <cmath>

using namespace mlir::palm::gen;

static ParamSpec makeParam(std::string name, ParamRole role, int64_t layer,
                           llvm::ArrayRef<int64_t> shape, double stddev) {
  return ParamSpec{std::move(name), role, layer,
                   llvm::SmallVector<int64_t, 3>(shape), stddev};
}

/// Standard deviation of a kernel contracting an input of width `fanIn`.
static double kernelStddev(int64_t fanIn) {
  return 1.0 / std::sqrt(static_cast<double>(fanIn));
}

std::vector<ParamSpec> mlir::palm::gen::getLayerParameters(const ModelConfig &c,
                                                           int64_t layer) {
  std::string prefix = "layers." + std::to_string(layer) + ".";
  double dModelStddev = kernelStddev(c.dModel);
  std::vector<ParamSpec> params;
  params.reserve(9);
  auto addLayerNorm = [&](const char *name) {
    params.push_back(
        makeParam(prefix + name, ParamRole::LayerNorm, layer, {c.dModel}, 0.0));
  };
  addLayerNorm(c.block == BlockKind::Parallel ? "ln" : "ln1");
  params.push_back(makeParam(prefix + "attention.wq", ParamRole::Wq, layer,
                             {c.dModel, c.heads, c.headDim}, dModelStddev));
  params.push_back(makeParam(prefix + "attention.wk", ParamRole::Wk, layer,
                             {c.dModel, c.kvHeads, c.headDim}, dModelStddev));
  params.push_back(makeParam(prefix + "attention.wv", ParamRole::Wv, layer,
                             {c.dModel, c.kvHeads, c.headDim}, dModelStddev));
  // Wo contracts the concatenated heads, heads * head_dim wide, which is
  // not d_model for 540B.
  params.push_back(makeParam(prefix + "attention.wo", ParamRole::Wo, layer,
                             {c.heads, c.headDim, c.dModel},
                             kernelStddev(c.heads * c.headDim)));
  if (c.block == BlockKind::Serial)
    addLayerNorm("ln2");
  params.push_back(makeParam(prefix + "mlp.wgate", ParamRole::WGate, layer,
                             {c.dModel, c.dFF}, dModelStddev));
  params.push_back(makeParam(prefix + "mlp.wup", ParamRole::WUp, layer,
                             {c.dModel, c.dFF}, dModelStddev));
  params.push_back(makeParam(prefix + "mlp.wdown", ParamRole::WDown, layer,
                             {c.dFF, c.dModel}, kernelStddev(c.dFF)));
  return params;
}

std::vector<ParamSpec>
mlir::palm::gen::getGlobalParameters(const ModelConfig &c) {
  return {makeParam("embedding", ParamRole::Embedding, -1, {c.vocab, c.dModel},
                    1.0),
          makeParam("final_ln", ParamRole::LayerNorm, -1, {c.dModel}, 0.0)};
}

std::vector<ParamSpec> mlir::palm::gen::getParameters(const ModelConfig &c) {
  std::vector<ParamSpec> globals = getGlobalParameters(c);
  std::vector<ParamSpec> params;
  params.reserve(c.layers * 9 + 2);
  params.push_back(std::move(globals[0]));
  for (int64_t layer = 0; layer < c.layers; ++layer)
    for (ParamSpec &param : getLayerParameters(c, layer))
      params.push_back(std::move(param));
  params.push_back(std::move(globals[1]));
  return params;
}

int64_t mlir::palm::gen::getNumLayerNorms(const ModelConfig &c) {
  return c.layers * (c.block == BlockKind::Parallel ? 1 : 2) + 1;
}

CheckedInt mlir::palm::gen::countParameters(const ModelConfig &c,
                                            bool includeLayerNorm) {
  CheckedInt attention = CheckedInt(2) * c.dModel * c.heads * c.headDim +
                         CheckedInt(2) * c.dModel * c.kvHeads * c.headDim;
  CheckedInt mlp = CheckedInt(3) * c.dModel * c.dFF;
  CheckedInt total =
      CheckedInt(c.vocab) * c.dModel + (attention + mlp) * c.layers;
  if (includeLayerNorm)
    total +=
        (CheckedInt(c.layers) * (c.block == BlockKind::Parallel ? 1 : 2) + 1) *
        c.dModel;
  return total;
}
