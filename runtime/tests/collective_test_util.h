//===- collective_test_util.h - expectations of the collectives -*- C++ -*-===//
//
// What collectives_test.cc checks each collective against: values computed
// from the member ranks of each group; the inputs, the group membership and
// the MPI-aware gtest main.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_TESTS_COLLECTIVE_TEST_UTIL_H
#define PALMRT_TESTS_COLLECTIVE_TEST_UTIL_H

#include "io/program_info.h"
#include "job/process.h"

#include "palmrt/mesh.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

namespace palmrt {

/// members[g][i] = world rank of device i of `rank`'s instance of group g.
inline std::vector<std::vector<int64_t>> groupMembers(const ProgramInfo &info,
                                                      int64_t rank) {
  std::vector<std::vector<int64_t>> all;
  int32_t numAxes = static_cast<int32_t>(info.meshShape.size());
  for (const std::vector<int32_t> &axes : info.groups) {
    int64_t myIndex, myGroup;
    palmrt_mesh_group_position(numAxes, info.meshShape.data(), rank,
                               axes.size(), axes.data(), &myIndex, &myGroup);
    std::vector<int64_t> members(groupSize(info, axes));
    for (int64_t r = 0; r < info.numDevices(); ++r) {
      int64_t index, group;
      palmrt_mesh_group_position(numAxes, info.meshShape.data(), r,
                                 axes.size(), axes.data(), &index, &group);
      if (group == myGroup)
        members[index] = r;
    }
    all.push_back(members);
  }
  return all;
}

/// The input of world rank r at element i: distinct across ranks, exact in
/// bf16 (integers below 256).
inline double value(int64_t r, int64_t i) {
  return static_cast<double>((r * 37 + i * 11) % 200);
}

/// `v` as bf16 bits: exact for the values above.
inline uint16_t bf16Of(double v) {
  float f = static_cast<float>(v);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return static_cast<uint16_t>(bits >> 16);
}

inline int64_t product(const std::vector<int64_t> &shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1},
                         std::multiplies<int64_t>());
}

/// Element of rank r's tensor of `shape` at `idx` (row-major).
inline double valueAt(int64_t r, const std::vector<int64_t> &shape,
                      const std::vector<int64_t> &idx) {
  int64_t l = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    l = l * shape[d] + idx[d];
  return value(r, l);
}

inline std::vector<int64_t> unravel(int64_t l,
                                    const std::vector<int64_t> &shape) {
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = l % shape[d];
    l /= shape[d];
  }
  return idx;
}

/// all_gather of every member's `shape` input along `dim`: element l of the
/// output is the owner's element at the same place within its piece.
template <typename T>
void expectAllGathered(const std::vector<T> &got,
                       const std::vector<int64_t> &members,
                       const std::vector<int64_t> &shape, int32_t dim,
                       const std::string &where) {
  std::vector<int64_t> outShape = shape;
  outShape[dim] *= static_cast<int64_t>(members.size());
  for (int64_t l = 0; l < product(outShape); ++l) {
    std::vector<int64_t> idx = unravel(l, outShape);
    int64_t owner = members[idx[dim] / shape[dim]];
    idx[dim] %= shape[dim];
    EXPECT_EQ(got[l], valueAt(owner, shape, idx)) << where << " at " << l;
  }
}

/// reduce_scatter of every member's `shape` input along `dim` into piece
/// `me`: `sum` (f32) summed, `maxBf16` (bf16) the maximum.
inline void expectReduceScattered(const std::vector<float> &sum,
                                  const std::vector<uint16_t> &maxBf16,
                                  const std::vector<int64_t> &members,
                                  int64_t me, const std::vector<int64_t> &shape,
                                  int32_t dim, const std::string &where) {
  std::vector<int64_t> outShape = shape;
  outShape[dim] /= static_cast<int64_t>(members.size());
  for (int64_t l = 0; l < product(outShape); ++l) {
    std::vector<int64_t> idx = unravel(l, outShape);
    idx[dim] += me * outShape[dim];
    double total = 0, max = -1;
    for (int64_t r : members) {
      total += valueAt(r, shape, idx);
      max = std::max(max, valueAt(r, shape, idx));
    }
    EXPECT_EQ(sum[l], total) << where;
    EXPECT_EQ(maxBf16[l], bf16Of(max)) << where;
  }
}

/// all_to_all of every member's `shape` input, split along `split` and
/// concatenated along `concat`, as device `me` receives it: device `from`
/// sent its piece `me`.
template <typename T>
void expectAllToAll(const std::vector<T> &got,
                    const std::vector<int64_t> &members, int64_t me,
                    const std::vector<int64_t> &shape, int32_t split,
                    int32_t concat, const std::string &where) {
  std::vector<int64_t> piece = shape;
  piece[split] /= static_cast<int64_t>(members.size());
  std::vector<int64_t> outShape = piece;
  outShape[concat] *= static_cast<int64_t>(members.size());
  for (int64_t l = 0; l < product(outShape); ++l) {
    std::vector<int64_t> idx = unravel(l, outShape);
    int64_t from = idx[concat] / piece[concat];
    idx[concat] %= piece[concat];
    idx[split] += me * piece[split];
    EXPECT_EQ(got[l], valueAt(members[from], shape, idx)) << where;
  }
}

/// all_slice of `rank`'s own `shape` input along `dim` into piece `me` of
/// `local` elements: the piece, zeros past the dimension's end.
inline void expectAllSliced(const std::vector<float> &got, int64_t rank,
                            int64_t me, const std::vector<int64_t> &shape,
                            int32_t dim, int64_t local,
                            const std::string &where) {
  std::vector<int64_t> outShape = shape;
  outShape[dim] = local;
  for (int64_t l = 0; l < product(outShape); ++l) {
    std::vector<int64_t> idx = unravel(l, outShape);
    idx[dim] += me * local;
    double want = idx[dim] < shape[dim] ? valueAt(rank, shape, idx) : 0.0;
    EXPECT_EQ(got[l], want) << where;
  }
}

/// On ranks other than 0, which print nothing else: each failed assertion,
/// marked with the rank.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
  void OnTestPartResult(const ::testing::TestPartResult &result) override {
    if (!result.failed())
      return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", process().rank,
                 result.file_name() ? result.file_name() : "?",
                 result.line_number(), result.summary());
  }
};

/// main() of a suite run under mpirun: only rank 0 narrates, every rank
/// reports its failures, and a failure on any rank fails every rank's exit
/// status.
inline int runMpiTests(int argc, char **argv) {
  if (absl::Status s = startProcess(&argc, &argv); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  if (process().rank != 0) {
    auto &listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter());
  }
  int rc = RUN_ALL_TESTS();
  absl::Status mine =
      rc == 0 ? absl::OkStatus() : absl::InternalError("tests failed");
  if (!agreeOnStatus(mine).ok())
    rc = 1;
  finishProcess();
  return rc;
}

} // namespace palmrt

#endif // PALMRT_TESTS_COLLECTIVE_TEST_UTIL_H
