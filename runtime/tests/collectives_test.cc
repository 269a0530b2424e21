//===- collectives_test.cc - every collective on 1-D and 2-D meshes -------===//
//
// Run under `mpirun -np N` (N = 1, 2, 4; or alone as one process). Each test
// builds meshes of N devices from a program description, and for every group
// checks every collective against values computed from the group's member
// ranks. Inputs are exact in every dtype, so results are compared exactly.
// No ASSERT precedes a collective: a rank leaving a test early would leave
// the others waiting.
//
//===----------------------------------------------------------------------===//

#include "context.h"
#include "collective_test_util.h"
#include "process.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

namespace palmrt {
namespace {

struct Mesh {
  ProgramInfo info;
  std::unique_ptr<palmrt_context> ctx;
  /// members[g][i] = world rank of device i of this rank's instance of g.
  std::vector<std::vector<int64_t>> members;
};

/// Meshes of the job's size with groups over every ordered set of axes.
std::vector<std::string> meshDescriptions(int n) {
  std::vector<std::string> out;
  out.push_back(absl::StrCat("palm-program 1\nmesh 1 x ", n,
                             "\ngroup 0 1 x\ngroup 1 0\n"));
  if (n == 4 || n == 2) {
    int a = n == 4 ? 2 : 2, b = n == 4 ? 2 : 1;
    out.push_back(absl::StrCat("palm-program 1\nmesh 2 data ", a, " model ", b,
                               "\ngroup 0 1 model\ngroup 1 1 data\n"
                               "group 2 2 data model\ngroup 3 2 model data\n"));
  }
  if (n == 4)
    out.push_back("palm-program 1\nmesh 3 a 1 b 2 c 2\ngroup 0 1 c\n"
                  "group 1 2 a b\ngroup 2 2 c b\ngroup 3 3 b c a\n");
  return out;
}

std::vector<std::unique_ptr<Mesh>> makeMeshes() {
  std::vector<std::unique_ptr<Mesh>> meshes;
  for (const std::string &text : meshDescriptions(process().size)) {
    auto mesh = std::make_unique<Mesh>();
    auto info = parseProgramInfo(text);
    EXPECT_TRUE(info.ok()) << info.status();
    mesh->info = *info;
    auto ctx = createContext(mesh->info);
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    mesh->ctx = std::move(*ctx);
    mesh->members = groupMembers(mesh->info, process().rank);
    meshes.push_back(std::move(mesh));
  }
  return meshes;
}

std::vector<float> inputF32(int64_t r, int64_t n) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = static_cast<float>(value(r, i));
  return v;
}

class Collectives : public ::testing::Test {
protected:
  static void SetUpTestSuite() { meshes = makeMeshes(); }
  static void TearDownTestSuite() { meshes.clear(); }
  static std::vector<std::unique_ptr<Mesh>> meshes;
  int64_t rank() const { return process().rank; }
};
std::vector<std::unique_ptr<Mesh>> Collectives::meshes;

TEST_F(Collectives, GroupIndexAndSize) {
  for (auto &m : meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g) {
      EXPECT_EQ(palmrt_group_size(m->ctx.get(), g),
                static_cast<int64_t>(m->members[g].size()));
      EXPECT_EQ(m->members[g][palmrt_group_index(m->ctx.get(), g)], rank());
    }
}

TEST_F(Collectives, AllReduceEveryDtype) {
  const int64_t n = 13;
  for (auto &m : meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g) {
      palmrt_context *ctx = m->ctx.get();
      const auto &mem = m->members[g];
      for (int32_t red : {PALMRT_SUM, PALMRT_MAX}) {
        auto expected = [&](int64_t i) {
          double acc = red == PALMRT_SUM ? 0 : -1e30;
          for (int64_t r : mem)
            acc = red == PALMRT_SUM ? acc + value(r, i)
                                    : std::max(acc, value(r, i));
          return acc;
        };
        std::vector<float> f = inputF32(rank(), n), fout(n);
        palmrt_all_reduce(ctx, f.data(), fout.data(), n, PALMRT_F32, red, g);
        palmrt_all_reduce(ctx, f.data(), f.data(), n, PALMRT_F32, red, g);
        std::vector<int32_t> i32(n);
        std::vector<int64_t> i64(n);
        std::vector<uint16_t> b16(n);
        for (int64_t i = 0; i < n; ++i) {
          i32[i] = static_cast<int32_t>(value(rank(), i)) - 50;
          i64[i] = static_cast<int64_t>(value(rank(), i)) * (1LL << 33);
          b16[i] = bf16Of(value(rank(), i));
        }
        palmrt_all_reduce(ctx, i32.data(), i32.data(), n, PALMRT_I32, red, g);
        palmrt_all_reduce(ctx, i64.data(), i64.data(), n, PALMRT_I64, red, g);
        palmrt_all_reduce(ctx, b16.data(), b16.data(), n, PALMRT_BF16, red, g);
        for (int64_t i = 0; i < n; ++i) {
          double want = expected(i);
          EXPECT_EQ(fout[i], want) << "group " << g;
          EXPECT_EQ(f[i], want);
          EXPECT_EQ(i32[i],
                    static_cast<int32_t>(
                        want - (red == PALMRT_SUM ? 50.0 * mem.size() : 50.0)));
          EXPECT_EQ(i64[i], static_cast<int64_t>(want) * (1LL << 33));
          // Sums of up to 4 values below 200 stay exact in bf16 only when
          // small; compare after rounding the expectation the same way.
          uint32_t bits = static_cast<uint32_t>(b16[i]) << 16;
          float got;
          std::memcpy(&got, &bits, 4);
          EXPECT_NEAR(got, want, want / 128 + 1e-6);
        }
      }
    }
}

TEST_F(Collectives, AllGatherAlongEachDim) {
  std::vector<int64_t> shape = {2, 3, 5};
  for (auto &m : meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g)
      for (int32_t dim = 0; dim < 3; ++dim) {
        const auto &mem = m->members[g];
        int64_t size = mem.size();
        std::vector<float> in = inputF32(rank(), product(shape));
        std::vector<int64_t> outShape = shape;
        outShape[dim] *= size;
        std::vector<float> out(product(outShape), -1.0f);
        palmrt_all_gather(m->ctx.get(), in.data(), out.data(), 3, shape.data(),
                          dim, PALMRT_F32, g);
        expectAllGathered(out, mem, shape, dim,
                          absl::StrCat("group ", g, " dim ", dim));
      }
}

TEST_F(Collectives, ReduceScatterAlongEachDim) {
  for (auto &m : meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g)
      for (int32_t dim = 0; dim < 3; ++dim) {
        const auto &mem = m->members[g];
        int64_t size = mem.size();
        int64_t me = palmrt_group_index(m->ctx.get(), g);
        std::vector<int64_t> shape = {2, 3, 2};
        shape[dim] *= size;
        std::vector<float> in = inputF32(rank(), product(shape));
        std::vector<int64_t> outShape = shape;
        outShape[dim] /= size;
        std::vector<float> out(product(outShape), -1.0f);
        palmrt_reduce_scatter(m->ctx.get(), in.data(), out.data(), 3,
                              shape.data(), dim, PALMRT_F32, PALMRT_SUM, g);
        std::vector<uint16_t> b16(product(shape)), bout(product(outShape));
        for (size_t i = 0; i < b16.size(); ++i)
          b16[i] = bf16Of(in[i]);
        palmrt_reduce_scatter(m->ctx.get(), b16.data(), bout.data(), 3,
                              shape.data(), dim, PALMRT_BF16, PALMRT_MAX, g);
        expectReduceScattered(out, bout, mem, me, shape, dim,
                              absl::StrCat("group ", g, " dim ", dim));
      }
}

TEST_F(Collectives, AllToAllEverySplitAndConcat) {
  for (auto &m : meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g)
      for (int32_t split = 0; split < 3; ++split)
        for (int32_t concat = 0; concat < 3; ++concat) {
          const auto &mem = m->members[g];
          int64_t size = mem.size();
          int64_t me = palmrt_group_index(m->ctx.get(), g);
          std::vector<int64_t> shape = {2, 3, 2};
          shape[split] *= size;
          std::vector<int64_t> piece = shape;
          piece[split] /= size;
          std::vector<int64_t> outShape = piece;
          outShape[concat] *= size;
          std::vector<int32_t> in(product(shape)), out(product(outShape), -1);
          for (size_t i = 0; i < in.size(); ++i)
            in[i] = static_cast<int32_t>(value(rank(), i));
          palmrt_all_to_all(m->ctx.get(), in.data(), out.data(), 3,
                            shape.data(), split, concat, PALMRT_I32, g);
          expectAllToAll(out, mem, me, shape, split, concat,
                         absl::StrCat("group ", g, " split ", split,
                                      " concat ", concat));
        }
}

TEST_F(Collectives, PermuteRingPartialAndSelf) {
  const int64_t n = 6;
  for (auto &m : meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g) {
      const auto &mem = m->members[g];
      int64_t size = mem.size();
      int64_t me = palmrt_group_index(m->ctx.get(), g);
      std::vector<int64_t> ring;
      for (int64_t i = 0; i < size; ++i) {
        ring.push_back(i);
        ring.push_back((i + 1) % size);
      }
      std::vector<float> in = inputF32(rank(), n), out(n, -1.0f);
      palmrt_collective_permute(m->ctx.get(), in.data(), out.data(), n,
                                PALMRT_F32, g, size, ring.data());
      int64_t from = mem[(me + size - 1) % size];
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(out[i], value(from, i));
      // In place.
      std::vector<float> inout = inputF32(rank(), n);
      palmrt_collective_permute(m->ctx.get(), inout.data(), inout.data(), n,
                                PALMRT_F32, g, size, ring.data());
      EXPECT_EQ(inout, out);
      // Only device 0 sends, to the last device: the rest receive zeros.
      int64_t one[2] = {0, size - 1};
      std::vector<float> partial(n, -1.0f);
      palmrt_collective_permute(m->ctx.get(), in.data(), partial.data(), n,
                                PALMRT_F32, g, 1, one);
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(partial[i], me == size - 1 ? value(mem[0], i) : 0.0);
    }
}

TEST_F(Collectives, AllSlicePadsUnevenShards) {
  for (auto &m : meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g) {
      int64_t size = m->members[g].size();
      int64_t me = palmrt_group_index(m->ctx.get(), g);
      for (int64_t extent : {2 * size + 1, size, int64_t{1}})
        for (int32_t dim : {0, 1}) {
          std::vector<int64_t> shape = {3, 4};
          shape[dim] = extent;
          int64_t local = (extent + size - 1) / size;
          std::vector<int64_t> outShape = shape;
          outShape[dim] = local;
          std::vector<float> in = inputF32(rank(), product(shape));
          std::vector<float> out(product(outShape), -1.0f);
          palmrt_all_slice(m->ctx.get(), in.data(), out.data(), 2, shape.data(),
                           dim, PALMRT_F32, g);
          expectAllSliced(out, rank(), me, shape, dim, local,
                          absl::StrCat("extent ", extent, " dim ", dim));
        }
    }
}

TEST_F(Collectives, TimeIsAccounted) {
  for (auto &m : meshes) {
    m->ctx->collectiveSeconds = 0;
    m->ctx->collectiveCalls = 0;
    float x = 1;
    palmrt_all_reduce(m->ctx.get(), &x, &x, 1, PALMRT_F32, PALMRT_SUM, 0);
    EXPECT_EQ(m->ctx->collectiveCalls, 1);
    EXPECT_GE(m->ctx->collectiveSeconds, 0.0);
    EXPECT_EQ(x, static_cast<float>(m->members[0].size()));
  }
}

} // namespace
} // namespace palmrt

int main(int argc, char **argv) { return palmrt::runMpiTests(argc, argv); }
