//===- program_info.cc - the compiled program's description ---------------===//
//
// The description's model: dtypes, shapes, the mesh and shard offsets. Its
// JSON is read in program_info_reader.cc.
//
//===----------------------------------------------------------------------===//

#include "io/program_info.h"

#include "palmrt/mesh.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace palmrt {

int64_t dtypeBytes(int32_t dtype) {
  switch (dtype) {
  case PALMRT_F32:
  case PALMRT_I32:
    return 4;
  case PALMRT_BF16:
    return 2;
  case PALMRT_I64:
    return 8;
  default:
    return 0;
  }
}

const char *dtypeName(int32_t dtype) {
  switch (dtype) {
  case PALMRT_F32:
    return "f32";
  case PALMRT_BF16:
    return "bf16";
  case PALMRT_I32:
    return "i32";
  case PALMRT_I64:
    return "i64";
  default:
    return "unknown";
  }
}

int64_t TensorSpec::localElements() const {
  int64_t n = 1;
  for (int64_t d : localShape)
    n *= d;
  return n;
}

int64_t TensorSpec::globalElements() const {
  int64_t n = 1;
  for (int64_t d : globalShape)
    n *= d;
  return n;
}

int64_t ProgramInfo::numDevices() const {
  int64_t n = 1;
  for (int64_t s : meshShape)
    n *= s;
  return n;
}

std::string ProgramInfo::meshString() const {
  if (axisNames.empty())
    return "single device";
  std::vector<std::string> parts;
  for (size_t i = 0; i < axisNames.size(); ++i)
    parts.push_back(absl::StrCat(axisNames[i], "=", meshShape[i]));
  return absl::StrJoin(parts, ",");
}

const TensorSpec *ProgramInfo::findArg(absl::string_view name) const {
  for (const TensorSpec &t : args)
    if (t.name == name)
      return &t;
  return nullptr;
}

const TensorSpec *ProgramInfo::findResult(absl::string_view name) const {
  for (const TensorSpec &t : results)
    if (t.name == name)
      return &t;
  return nullptr;
}

std::vector<const TensorSpec *> ProgramInfo::argsOfKind(TensorKind kind) const {
  std::vector<const TensorSpec *> out;
  for (const TensorSpec &t : args)
    if (t.kind == kind)
      out.push_back(&t);
  return out;
}

int64_t groupSize(const ProgramInfo &info, const std::vector<int32_t> &axes) {
  int64_t n = 1;
  for (int32_t a : axes)
    n *= info.meshShape[a];
  return n;
}

int64_t indexInGroup(const ProgramInfo &info, int64_t rank,
                     const std::vector<int32_t> &axes) {
  if (axes.empty())
    return 0;
  int64_t index = 0, group = 0;
  palmrt_mesh_status s = palmrt_mesh_group_position(
      static_cast<int32_t>(info.meshShape.size()), info.meshShape.data(), rank,
      static_cast<int32_t>(axes.size()), axes.data(), &index, &group);
  // The description was checked when parsed, and ranks come from the job.
  return s == PALMRT_MESH_OK ? index : 0;
}

std::vector<int64_t> shardOffsets(const ProgramInfo &info,
                                  const TensorSpec &tensor, int64_t rank) {
  std::vector<int64_t> offsets(tensor.localShape.size());
  for (size_t d = 0; d < offsets.size(); ++d)
    offsets[d] =
        indexInGroup(info, rank, tensor.sharding[d]) * tensor.localShape[d];
  return offsets;
}

} // namespace palmrt
