/*===- palmrt/mesh.h - device mesh coordinates ---------------------*- C -*-===
 *
 * The one mapping between ranks and mesh coordinates, shared by the compiler
 * and the runtime. Ranks map to coordinates row-major: the last axis varies
 * fastest, so on a mesh (data=4, model=2) rank r sits at (r / 2, r % 2).
 *
 * A *group* over a subset of axes is the set of devices that differ only in
 * their coordinates on those axes; collectives run within groups. A device's
 * index in its group is its row-major index over the group axes, in the order
 * given (major to minor); the group id is its row-major index over the other
 * axes, in mesh order.
 *
 * All functions are pure and thread-safe. They return PALMRT_MESH_OK or an
 * error code and write their outputs only on success.
 *
 *===----------------------------------------------------------------------===*/

#ifndef PALMRT_MESH_H
#define PALMRT_MESH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum palmrt_mesh_status {
  PALMRT_MESH_OK = 0,
  /* A null pointer, no axes, a size below 1, or a device count that does not
   * fit in int64_t. */
  PALMRT_MESH_INVALID_MESH = 1,
  /* A rank or coordinate outside the mesh. */
  PALMRT_MESH_OUT_OF_RANGE = 2,
  /* A group axis out of range or listed twice. */
  PALMRT_MESH_INVALID_AXES = 3,
} palmrt_mesh_status;

/* Writes the number of devices of the mesh `shape[0..num_axes)`. */
palmrt_mesh_status palmrt_mesh_num_devices(int32_t num_axes,
                                           const int64_t *shape,
                                           int64_t *out_num_devices);

/* Writes the coordinates of `rank` into `out_coords[0..num_axes)`. */
palmrt_mesh_status palmrt_mesh_rank_to_coords(int32_t num_axes,
                                              const int64_t *shape,
                                              int64_t rank,
                                              int64_t *out_coords);

/* Writes the rank at `coords[0..num_axes)`. */
palmrt_mesh_status palmrt_mesh_coords_to_rank(int32_t num_axes,
                                              const int64_t *shape,
                                              const int64_t *coords,
                                              int64_t *out_rank);

/* For `rank` and the group over `group_axes[0..num_group_axes)` (axis
 * positions, major to minor), writes the device's index within its group and
 * the id of its group. With no group axes every device is its own group. */
palmrt_mesh_status palmrt_mesh_group_position(
    int32_t num_axes, const int64_t *shape, int64_t rank,
    int32_t num_group_axes, const int32_t *group_axes,
    int64_t *out_index_in_group, int64_t *out_group_id);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PALMRT_MESH_H */
