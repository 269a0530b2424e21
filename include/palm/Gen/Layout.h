//===- Layout.h - named parallelism layouts ---------------------*- C++ -*-===//
//
// The layouts palm-gen knows (replicated, dp, fsdp, megatron, megatron-sp,
// palm-2d) over a mesh with the axes `data` and `model`: which dimension of
// each parameter and input each layout splits over which axis. See
// docs/layouts.md for the rationale and the collectives each one implies.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_GEN_LAYOUT_H
#define PALM_GEN_LAYOUT_H

#include "palm/Gen/Parameters.h"
#include "llvm/ADT/SmallVector.h"

namespace mlir::palm::gen {

enum class Layout { Replicated, DP, FSDP, Megatron, MegatronSP, Palm2D };

/// A mesh axis a tensor dimension is split over; None means replicated.
enum class MeshAxis { None, Data, Model };

/// Sizes of the two mesh axes; an axis left out of --mesh has size 1.
struct MeshShape {
  int64_t data = 1;
  int64_t model = 1;

  int64_t getSize(MeshAxis axis) const {
    return axis == MeshAxis::Data ? data : axis == MeshAxis::Model ? model : 1;
  }
};

std::optional<Layout> parseLayout(llvm::StringRef name);
llvm::StringRef stringifyLayout(Layout layout);
/// Layout names in the order the help text lists them.
llvm::ArrayRef<llvm::StringRef> getLayoutNames();

/// The mesh axis name used in the IR ("data", "model").
llvm::StringRef stringifyMeshAxis(MeshAxis axis);

/// Parses "data=4,model=2" (either order, either axis optional, empty for a
/// single device).
llvm::Expected<MeshShape> parseMeshSpec(llvm::StringRef spec);

/// Rejects a mesh axis of size > 1 that `layout` never shards over (the
/// devices along it would silently compute the same thing). `replicated`
/// accepts any mesh.
llvm::Error verifyLayoutOnMesh(Layout layout, MeshShape mesh);

/// The axis each dimension of `param` is split over under `layout`.
llvm::SmallVector<MeshAxis, 3> getParameterSharding(const ParamSpec &param,
                                                    Layout layout);

/// The sharding of the [batch, seq] tokens and targets under `layout`.
llvm::SmallVector<MeshAxis, 2> getInputSharding(Layout layout);

/// True when the layout adds sharding constraints: the residual stream
/// [data, model, -] (seq over model) at every layer boundary, and every
/// LayerNorm output [data, -, -] (seq whole).
bool usesSequenceParallelism(Layout layout);

} // namespace mlir::palm::gen

#endif // PALM_GEN_LAYOUT_H
