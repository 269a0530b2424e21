//===- collective_test_util.h - shared by the two collective suites -*- C++ -*-===//
//
// collectives_test.cc (host buffers) and cuda_collectives_test.cc (device
// buffers) check every collective against values computed from the member
// ranks of each group; the inputs, the group membership and the MPI-aware
// gtest main are the same for both.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_TESTS_COLLECTIVE_TEST_UTIL_H
#define PALMRT_TESTS_COLLECTIVE_TEST_UTIL_H

#include "process.h"
#include "program_info.h"

#include "palmrt/mesh.h"

#include <gtest/gtest.h>

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
