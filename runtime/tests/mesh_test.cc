//===- mesh_test.cc - tests of the rank/coordinate mapping ----------------===//

#include "palmrt/mesh.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <set>
#include <utility>

namespace {

TEST(Mesh, RowMajorCoordinates) {
  const int64_t shape[] = {4, 2};
  int64_t coords[2];
  ASSERT_EQ(palmrt_mesh_rank_to_coords(2, shape, 5, coords), PALMRT_MESH_OK);
  EXPECT_EQ(coords[0], 2);
  EXPECT_EQ(coords[1], 1);
}

TEST(Mesh, RankRoundTripsThroughCoordinates) {
  const int64_t shape[] = {3, 1, 4, 2};
  int64_t n;
  ASSERT_EQ(palmrt_mesh_num_devices(4, shape, &n), PALMRT_MESH_OK);
  ASSERT_EQ(n, 24);
  for (int64_t r = 0; r < n; ++r) {
    int64_t coords[4], back;
    ASSERT_EQ(palmrt_mesh_rank_to_coords(4, shape, r, coords), PALMRT_MESH_OK);
    ASSERT_EQ(palmrt_mesh_coords_to_rank(4, shape, coords, &back),
              PALMRT_MESH_OK);
    EXPECT_EQ(back, r);
  }
}

TEST(Mesh, GroupsPartitionTheMesh) {
  // Groups over `model` (axis 1) on data=4, model=2: pairs of neighbours.
  const int64_t shape[] = {4, 2};
  const int32_t model[] = {1};
  std::set<std::pair<int64_t, int64_t>> seen;
  for (int64_t r = 0; r < 8; ++r) {
    int64_t index, group;
    ASSERT_EQ(palmrt_mesh_group_position(2, shape, r, 1, model, &index, &group),
              PALMRT_MESH_OK);
    EXPECT_EQ(index, r % 2);
    EXPECT_EQ(group, r / 2);
    EXPECT_TRUE(seen.insert({group, index}).second);
  }
}

TEST(Mesh, GroupAxisOrderIsMajorToMinor) {
  // Over (model, data) the index is model-major: rank 5 = (2, 1) -> 1*4 + 2.
  const int64_t shape[] = {4, 2};
  const int32_t axes[] = {1, 0};
  int64_t index, group;
  ASSERT_EQ(palmrt_mesh_group_position(2, shape, 5, 2, axes, &index, &group),
            PALMRT_MESH_OK);
  EXPECT_EQ(index, 6);
  EXPECT_EQ(group, 0);
}

TEST(Mesh, NoGroupAxesMeansSingletonGroups) {
  const int64_t shape[] = {2, 3};
  int64_t index, group;
  ASSERT_EQ(palmrt_mesh_group_position(2, shape, 4, 0, nullptr, &index, &group),
            PALMRT_MESH_OK);
  EXPECT_EQ(index, 0);
  EXPECT_EQ(group, 4);
}

TEST(Mesh, RejectsBadInput) {
  const int64_t shape[] = {4, 2};
  const int64_t zero[] = {4, 0};
  const int64_t huge[] = {std::numeric_limits<int64_t>::max(), 2};
  int64_t coords[2], n, index, group;
  EXPECT_EQ(palmrt_mesh_rank_to_coords(2, shape, 8, coords),
            PALMRT_MESH_OUT_OF_RANGE);
  EXPECT_EQ(palmrt_mesh_rank_to_coords(2, shape, -1, coords),
            PALMRT_MESH_OUT_OF_RANGE);
  EXPECT_EQ(palmrt_mesh_num_devices(2, zero, &n), PALMRT_MESH_INVALID_MESH);
  EXPECT_EQ(palmrt_mesh_num_devices(2, huge, &n), PALMRT_MESH_INVALID_MESH);
  EXPECT_EQ(palmrt_mesh_num_devices(0, shape, &n), PALMRT_MESH_INVALID_MESH);
  const int64_t badCoords[] = {1, 2};
  EXPECT_EQ(palmrt_mesh_coords_to_rank(2, shape, badCoords, &n),
            PALMRT_MESH_OUT_OF_RANGE);
  const int32_t twice[] = {1, 1};
  EXPECT_EQ(palmrt_mesh_group_position(2, shape, 0, 2, twice, &index, &group),
            PALMRT_MESH_INVALID_AXES);
  const int32_t outside[] = {2};
  EXPECT_EQ(palmrt_mesh_group_position(2, shape, 0, 1, outside, &index, &group),
            PALMRT_MESH_INVALID_AXES);
}

} // namespace
