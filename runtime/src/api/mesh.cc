//===- mesh.cc - device mesh coordinates ----------------------------------===//

#include "palmrt/mesh.h"

#include <limits>

namespace {

bool validMesh(int32_t numAxes, const int64_t *shape, int64_t *numDevices) {
  if (numAxes < 1 || !shape)
    return false;
  int64_t n = 1;
  for (int32_t i = 0; i < numAxes; ++i) {
    if (shape[i] < 1 || n > std::numeric_limits<int64_t>::max() / shape[i])
      return false;
    n *= shape[i];
  }
  *numDevices = n;
  return true;
}

} // namespace

extern "C" {

palmrt_mesh_status palmrt_mesh_num_devices(int32_t num_axes,
                                           const int64_t *shape,
                                           int64_t *out_num_devices) {
  int64_t n;
  if (!out_num_devices || !validMesh(num_axes, shape, &n))
    return PALMRT_MESH_INVALID_MESH;
  *out_num_devices = n;
  return PALMRT_MESH_OK;
}

palmrt_mesh_status palmrt_mesh_rank_to_coords(int32_t num_axes,
                                              const int64_t *shape,
                                              int64_t rank,
                                              int64_t *out_coords) {
  int64_t n;
  if (!out_coords || !validMesh(num_axes, shape, &n))
    return PALMRT_MESH_INVALID_MESH;
  if (rank < 0 || rank >= n)
    return PALMRT_MESH_OUT_OF_RANGE;
  for (int32_t i = num_axes - 1; i >= 0; --i) {
    out_coords[i] = rank % shape[i];
    rank /= shape[i];
  }
  return PALMRT_MESH_OK;
}

palmrt_mesh_status palmrt_mesh_coords_to_rank(int32_t num_axes,
                                              const int64_t *shape,
                                              const int64_t *coords,
                                              int64_t *out_rank) {
  int64_t n;
  if (!coords || !out_rank || !validMesh(num_axes, shape, &n))
    return PALMRT_MESH_INVALID_MESH;
  int64_t rank = 0;
  for (int32_t i = 0; i < num_axes; ++i) {
    if (coords[i] < 0 || coords[i] >= shape[i])
      return PALMRT_MESH_OUT_OF_RANGE;
    rank = rank * shape[i] + coords[i];
  }
  *out_rank = rank;
  return PALMRT_MESH_OK;
}

palmrt_mesh_status
palmrt_mesh_group_position(int32_t num_axes, const int64_t *shape, int64_t rank,
                           int32_t num_group_axes, const int32_t *group_axes,
                           int64_t *out_index_in_group, int64_t *out_group_id) {
  // Meshes have few axes; 64 is far beyond any real one.
  constexpr int32_t kMaxAxes = 64;
  int64_t n;
  if (!out_index_in_group || !out_group_id || !validMesh(num_axes, shape, &n) ||
      num_axes > kMaxAxes)
    return PALMRT_MESH_INVALID_MESH;
  if (num_group_axes < 0 || (num_group_axes > 0 && !group_axes))
    return PALMRT_MESH_INVALID_AXES;
  bool inGroup[kMaxAxes] = {};
  for (int32_t i = 0; i < num_group_axes; ++i) {
    int32_t a = group_axes[i];
    if (a < 0 || a >= num_axes || inGroup[a])
      return PALMRT_MESH_INVALID_AXES;
    inGroup[a] = true;
  }
  int64_t coords[kMaxAxes];
  palmrt_mesh_status s =
      palmrt_mesh_rank_to_coords(num_axes, shape, rank, coords);
  if (s != PALMRT_MESH_OK)
    return s;
  int64_t index = 0;
  for (int32_t i = 0; i < num_group_axes; ++i)
    index = index * shape[group_axes[i]] + coords[group_axes[i]];
  int64_t group = 0;
  for (int32_t a = 0; a < num_axes; ++a)
    if (!inGroup[a])
      group = group * shape[a] + coords[a];
  *out_index_in_group = index;
  *out_group_id = group;
  return PALMRT_MESH_OK;
}

} // extern "C"
