//===- Layout.cpp - named parallelism layouts -----------------------------===//
//
// What each layout splits. The rules are by parameter role, never by size,
// except fsdp, which splits each weight's largest dimension.
//
//===----------------------------------------------------------------------===//

#include "palm/Gen/Layout.h"

#include "palm/Gen/CheckedInt.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir::palm::gen;
using llvm::StringRef;

static const StringRef kLayoutNames[] = {
    "replicated", "dp", "fsdp", "megatron", "megatron-sp", "palm-2d"};

llvm::ArrayRef<StringRef> mlir::palm::gen::getLayoutNames() {
  return kLayoutNames;
}

std::optional<Layout> mlir::palm::gen::parseLayout(StringRef name) {
  return llvm::StringSwitch<std::optional<Layout>>(name)
      .Case("replicated", Layout::Replicated)
      .Case("dp", Layout::DP)
      .Case("fsdp", Layout::FSDP)
      .Case("megatron", Layout::Megatron)
      .Case("megatron-sp", Layout::MegatronSP)
      .Case("palm-2d", Layout::Palm2D)
      .Default(std::nullopt);
}

StringRef mlir::palm::gen::stringifyLayout(Layout layout) {
  return kLayoutNames[static_cast<int>(layout)];
}

StringRef mlir::palm::gen::stringifyMeshAxis(MeshAxis axis) {
  return axis == MeshAxis::Data    ? "data"
         : axis == MeshAxis::Model ? "model"
                                   : "";
}

llvm::Expected<MeshShape> mlir::palm::gen::parseMeshSpec(StringRef spec) {
  MeshShape mesh;
  bool seenData = false, seenModel = false;
  spec = spec.trim();
  if (spec.empty())
    return mesh;
  llvm::SmallVector<StringRef> entries;
  spec.split(entries, ',');
  for (StringRef entry : entries) {
    auto [name, size] = entry.split('=');
    name = name.trim();
    size = size.trim();
    if (name.empty() || !entry.contains('='))
      return makeGenError("--mesh: expected 'axis=size' entries separated by "
                          "commas, such as 'data=4,model=2', got '" +
                          entry.trim() + "'");
    bool *seen = name == "data"    ? &seenData
                 : name == "model" ? &seenModel
                                   : nullptr;
    if (!seen)
      return makeGenError("--mesh: unknown mesh axis '" + name +
                          "'; the layouts use the axes 'data' and 'model'");
    if (*seen)
      return makeGenError("--mesh: mesh axis '" + name + "' is given twice");
    *seen = true;
    int64_t value;
    if (size.getAsInteger(10, value) || value <= 0)
      return makeGenError("--mesh: the size of mesh axis '" + name +
                          "' must be a positive integer, got '" + size + "'");
    (name == "data" ? mesh.data : mesh.model) = value;
  }
  if ((CheckedInt(mesh.data) * mesh.model).overflowed())
    return makeGenError("--mesh: size too large to represent: the device "
                        "count 'data' x 'model' overflows int64");
  return mesh;
}

llvm::Error mlir::palm::gen::verifyLayoutOnMesh(Layout layout, MeshShape mesh) {
  // replicated is the reference every layout is compared with, on any mesh.
  if (layout == Layout::Replicated)
    return llvm::Error::success();
  bool usesModel = layout == Layout::Megatron || layout == Layout::MegatronSP ||
                   layout == Layout::Palm2D;
  if (!usesModel && mesh.model > 1)
    return makeGenError(
        "--mesh: layout '" + stringifyLayout(layout) +
        "' does not use mesh axis 'model', whose size is " +
        llvm::Twine(mesh.model) +
        "; give it size 1 or use a layout that shards over it (megatron, "
        "megatron-sp, palm-2d)");
  // Every layout but replicated splits the batch over data, so data is
  // always used.
  return llvm::Error::success();
}

llvm::SmallVector<MeshAxis, 2>
mlir::palm::gen::getInputSharding(Layout layout) {
  if (layout == Layout::Replicated)
    return {MeshAxis::None, MeshAxis::None};
  return {MeshAxis::Data, MeshAxis::None};
}

bool mlir::palm::gen::usesSequenceParallelism(Layout layout) {
  return layout == Layout::MegatronSP;
}

/// Megatron-LM: column-parallel input projections (heads, d_ff over model),
/// row-parallel output projections, a vocab-parallel embedding. The single
/// key/value head of multi-query attention cannot be split, so Wk and Wv
/// stay replicated, as do the LayerNorm scales.
static llvm::SmallVector<MeshAxis, 3> getMegatronSharding(ParamRole role) {
  using M = MeshAxis;
  switch (role) {
  case ParamRole::Embedding:
    return {M::Model, M::None};
  case ParamRole::LayerNorm:
    return {M::None};
  case ParamRole::Wq:
    return {M::None, M::Model, M::None};
  case ParamRole::Wk:
  case ParamRole::Wv:
    return {M::None, M::None, M::None};
  case ParamRole::Wo:
    return {M::Model, M::None, M::None};
  case ParamRole::WGate:
  case ParamRole::WUp:
    return {M::None, M::Model};
  case ParamRole::WDown:
    return {M::Model, M::None};
  }
  llvm_unreachable("unknown parameter role");
}

/// PaLM's 2D layout: Megatron's model split plus d_model over data on
/// every weight, so no weight is whole on any device.
static llvm::SmallVector<MeshAxis, 3> getPalm2DSharding(ParamRole role) {
  using M = MeshAxis;
  switch (role) {
  case ParamRole::Embedding:
    return {M::Model, M::Data};
  case ParamRole::LayerNorm:
    return {M::Data};
  case ParamRole::Wq:
    return {M::Data, M::Model, M::None};
  case ParamRole::Wk:
  case ParamRole::Wv:
    return {M::Data, M::None, M::None};
  case ParamRole::Wo:
    return {M::Model, M::None, M::Data};
  case ParamRole::WGate:
  case ParamRole::WUp:
    return {M::Data, M::Model};
  case ParamRole::WDown:
    return {M::Model, M::Data};
  }
  llvm_unreachable("unknown parameter role");
}

llvm::SmallVector<MeshAxis, 3>
mlir::palm::gen::getParameterSharding(const ParamSpec &param, Layout layout) {
  llvm::SmallVector<MeshAxis, 3> sharding(param.shape.size(), MeshAxis::None);
  switch (layout) {
  case Layout::Replicated:
  case Layout::DP:
    return sharding;
  case Layout::FSDP: {
    // The largest dimension gives the most even split; ties go to the first
    // so that the choice is deterministic.
    size_t largest = 0;
    for (size_t i = 1; i < param.shape.size(); ++i)
      if (param.shape[i] > param.shape[largest])
        largest = i;
    sharding[largest] = MeshAxis::Data;
    return sharding;
  }
  case Layout::Megatron:
  case Layout::MegatronSP:
    return getMegatronSharding(param.role);
  case Layout::Palm2D:
    return getPalm2DSharding(param.role);
  }
  llvm_unreachable("unknown layout");
}
