//===- cuda_collectives_test.cc - NCCL collectives on device buffers ------===//
//
// Run under `mpirun -np N` with a GPU per process (or against the fake
// libraries). Like collectives_test.cc, every collective on every group of
// 1-D, 2-D and 3-D meshes is checked against values computed from the
// members' ranks, here with inputs and outputs in device memory, so the
// device-side packing around NCCL is checked too. All ranks skip together
// when any of them has no GPU. No ASSERT precedes a collective.
//
//===----------------------------------------------------------------------===//

#include "context.h"
#include "cuda_test_util.h"
#include "collective_test_util.h"
#include "process.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <cstring>

namespace palmrt {
namespace {

struct Mesh {
  ProgramInfo info;
  std::unique_ptr<palmrt_context> ctx;
  /// members[g][i]: the world rank of device i of this rank's group g.
  std::vector<std::vector<int64_t>> members;
  Device &device() { return *ctx->device; }
};

std::vector<std::string> meshDescriptions(int n) {
  std::vector<std::string> out = {absl::StrCat("palm-program 1\nmesh 1 x ", n,
                                               "\ntarget cuda\ngroup 0 1 x\n")};
  if (n == 2 || n == 4)
    out.push_back(absl::StrCat("palm-program 1\nmesh 2 data 2 model ", n / 2,
                               "\ntarget cuda\ngroup 0 1 model\n"
                               "group 1 1 data\ngroup 2 2 model data\n"));
  if (n == 4)
    out.push_back("palm-program 1\nmesh 3 a 1 b 2 c 2\ntarget cuda\n"
                  "group 0 2 c b\ngroup 1 3 b c a\n");
  return out;
}

/// The meshes, each with an open, connected device; or empty when some rank
/// has no GPU, with the reason.
std::vector<std::unique_ptr<Mesh>> makeMeshes(absl::Status *why) {
  std::vector<std::unique_ptr<Mesh>> meshes;
  for (const std::string &text : meshDescriptions(process().size)) {
    auto mesh = std::make_unique<Mesh>();
    auto info = parseProgramInfo(text);
    EXPECT_TRUE(info.ok()) << info.status();
    mesh->info = *info;
    auto ctx = createContext(mesh->info);
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    mesh->ctx = std::move(*ctx);
    auto device = openCudaDevice(localRank(), localSize(), process().size > 1);
    absl::Status opened = device.ok() ? absl::OkStatus() : device.status();
    if (!agreeOnStatus(opened).ok()) {
      *why = opened.ok() ? absl::UnavailableError("another rank has no GPU")
                         : opened;
      return {};
    }
    mesh->ctx->device = std::move(*device);
    if (absl::Status s = agreeOnStatus(mesh->ctx->device->connect(*mesh->ctx));
        !s.ok()) {
      *why = s;
      return {};
    }
    mesh->members = groupMembers(mesh->info, process().rank);
    meshes.push_back(std::move(mesh));
  }
  return meshes;
}

template <typename T> std::vector<T> inputOf(int64_t r, int64_t n) {
  std::vector<T> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = static_cast<T>(value(r, i));
  return v;
}

class CudaCollectives : public ::testing::Test {
protected:
  static void SetUpTestSuite() { meshes = makeMeshes(&why); }
  static void TearDownTestSuite() { meshes.clear(); }
  void SetUp() override {
    if (meshes.empty()) {
      if (!meansNoGpu(why) && !absl::IsFailedPrecondition(why))
        FAIL() << why;
      PALMRT_SKIP_WITHOUT_GPU(why.message());
    }
  }
  static std::vector<std::unique_ptr<Mesh>> meshes;
  static absl::Status why;
  int64_t rank() const { return process().rank; }
};
std::vector<std::unique_ptr<Mesh>> CudaCollectives::meshes;
absl::Status CudaCollectives::why;

TEST_F(CudaCollectives, AllReduceEveryDtype) {
  const int64_t n = 13;
  for (auto &m : meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g) {
      const auto &mem = m->members[g];
      for (int32_t red : {PALMRT_SUM, PALMRT_MAX}) {
        auto expected = [&](int64_t i) {
          double acc = red == PALMRT_SUM ? 0 : -1e30;
          for (int64_t r : mem)
            acc = red == PALMRT_SUM ? acc + value(r, i)
                                    : std::max(acc, value(r, i));
          return acc;
        };
        DeviceVector<float> f(m->device(), inputOf<float>(rank(), n)),
            fout(m->device(), n);
        DeviceVector<int32_t> i32(m->device(), inputOf<int32_t>(rank(), n));
        DeviceVector<int64_t> i64(m->device(), inputOf<int64_t>(rank(), n));
        std::vector<uint16_t> b(n);
        for (int64_t i = 0; i < n; ++i)
          b[i] = bf16Of(value(rank(), i));
        DeviceVector<uint16_t> b16(m->device(), b);
        palmrt_context *ctx = m->ctx.get();
        palmrt_all_reduce(ctx, f.pointer(), fout.pointer(), n, PALMRT_F32, red,
                          g);
        palmrt_all_reduce(ctx, f.pointer(), f.pointer(), n, PALMRT_F32, red, g);
        palmrt_all_reduce(ctx, i32.pointer(), i32.pointer(), n, PALMRT_I32, red,
                          g);
        palmrt_all_reduce(ctx, i64.pointer(), i64.pointer(), n, PALMRT_I64, red,
                          g);
        palmrt_all_reduce(ctx, b16.pointer(), b16.pointer(), n, PALMRT_BF16,
                          red, g);
        std::vector<float> gotF = f.get(), gotOut = fout.get();
        std::vector<int32_t> got32 = i32.get();
        std::vector<int64_t> got64 = i64.get();
        std::vector<uint16_t> gotB = b16.get();
        for (int64_t i = 0; i < n; ++i) {
          double want = expected(i);
          EXPECT_EQ(gotOut[i], want) << "group " << g;
          EXPECT_EQ(gotF[i], want);
          EXPECT_EQ(got32[i], static_cast<int32_t>(want));
          EXPECT_EQ(got64[i], static_cast<int64_t>(want));
          uint32_t bits = static_cast<uint32_t>(gotB[i]) << 16;
          float gotBf;
          std::memcpy(&gotBf, &bits, 4);
          EXPECT_NEAR(gotBf, want, want / 64 + 1e-6);
        }
      }
    }
}

TEST_F(CudaCollectives, AllGatherAlongEachDim) {
  std::vector<int64_t> shape = {2, 3, 5};
  for (auto &m : meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g)
      for (int32_t dim = 0; dim < 3; ++dim) {
        const auto &mem = m->members[g];
        std::vector<int64_t> outShape = shape;
        outShape[dim] *= static_cast<int64_t>(mem.size());
        DeviceVector<float> in(m->device(),
                               inputOf<float>(rank(), product(shape)));
        DeviceVector<float> out(m->device(),
                                std::vector<float>(product(outShape), -1.0f));
        palmrt_all_gather(m->ctx.get(), in.pointer(), out.pointer(), 3,
                          shape.data(), dim, PALMRT_F32, g);
        std::vector<float> got = out.get();
        expectAllGathered(got, mem, shape, dim,
                          absl::StrCat("group ", g, " dim ", dim));
      }
}

TEST_F(CudaCollectives, ReduceScatterAlongEachDim) {
  for (auto &m : meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g)
      for (int32_t dim = 0; dim < 3; ++dim) {
        const auto &mem = m->members[g];
        int64_t size = mem.size();
        int64_t me = palmrt_group_index(m->ctx.get(), g);
        std::vector<int64_t> shape = {2, 3, 2};
        shape[dim] *= size;
        std::vector<int64_t> outShape = shape;
        outShape[dim] /= size;
        std::vector<float> x = inputOf<float>(rank(), product(shape));
        std::vector<uint16_t> xb(x.size());
        for (size_t i = 0; i < x.size(); ++i)
          xb[i] = bf16Of(x[i]);
        DeviceVector<float> in(m->device(), x),
            out(m->device(), product(outShape));
        DeviceVector<uint16_t> inB(m->device(), xb),
            outB(m->device(), product(outShape));
        palmrt_reduce_scatter(m->ctx.get(), in.pointer(), out.pointer(), 3,
                              shape.data(), dim, PALMRT_F32, PALMRT_SUM, g);
        palmrt_reduce_scatter(m->ctx.get(), inB.pointer(), outB.pointer(), 3,
                              shape.data(), dim, PALMRT_BF16, PALMRT_MAX, g);
        std::vector<float> got = out.get();
        std::vector<uint16_t> gotB = outB.get();
        expectReduceScattered(got, gotB, mem, me, shape, dim,
                              absl::StrCat("group ", g, " dim ", dim));
      }
}

TEST_F(CudaCollectives, AllToAllEverySplitAndConcat) {
  for (auto &m : meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g)
      for (int32_t split = 0; split < 3; ++split)
        for (int32_t concat = 0; concat < 3; ++concat)
          for (bool inPlace : {false, true}) {
            const auto &mem = m->members[g];
            int64_t size = mem.size();
            int64_t me = palmrt_group_index(m->ctx.get(), g);
            std::vector<int64_t> shape = {2, 3, 2};
            shape[split] *= size;
            std::vector<int64_t> piece = shape;
            piece[split] /= size;
            std::vector<int64_t> outShape = piece;
            outShape[concat] *= size;
            DeviceVector<int32_t> in(m->device(),
                                     inputOf<int32_t>(rank(), product(shape)));
            DeviceVector<int32_t> out(
                m->device(), std::vector<int32_t>(product(outShape), -1));
            void *target = inPlace ? in.pointer() : out.pointer();
            palmrt_all_to_all(m->ctx.get(), in.pointer(), target, 3,
                              shape.data(), split, concat, PALMRT_I32, g);
            std::vector<int32_t> got = inPlace ? in.get() : out.get();
            expectAllToAll(got, mem, me, shape, split, concat,
                           absl::StrCat("group ", g, " split ", split,
                                        " concat ", concat,
                                        inPlace ? " in place" : ""));
          }
}

TEST_F(CudaCollectives, PermuteRingPartialAndInPlace) {
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
      std::vector<float> x = inputOf<float>(rank(), n);
      DeviceVector<float> in(m->device(), x), out(m->device(), n);
      palmrt_collective_permute(m->ctx.get(), in.pointer(), out.pointer(), n,
                                PALMRT_F32, g, size, ring.data());
      std::vector<float> want = inputOf<float>(mem[(me + size - 1) % size], n);
      EXPECT_EQ(out.get(), want) << "group " << g;
      palmrt_collective_permute(m->ctx.get(), in.pointer(), in.pointer(), n,
                                PALMRT_F32, g, size, ring.data());
      EXPECT_EQ(in.get(), want) << "in place, group " << g;
      int64_t one[2] = {0, size - 1};
      in.set(x);
      out.set(std::vector<float>(n, -1.0f));
      palmrt_collective_permute(m->ctx.get(), in.pointer(), out.pointer(), n,
                                PALMRT_F32, g, 1, one);
      std::vector<float> got = out.get();
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(got[i], me == size - 1 ? value(mem[0], i) : 0.0);
    }
}

TEST_F(CudaCollectives, AllSlicePadsUnevenShards) {
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
          DeviceVector<float> in(m->device(),
                                 inputOf<float>(rank(), product(shape)));
          DeviceVector<float> out(m->device(),
                                  std::vector<float>(product(outShape), -1.0f));
          palmrt_all_slice(m->ctx.get(), in.pointer(), out.pointer(), 2,
                           shape.data(), dim, PALMRT_F32, g);
          std::vector<float> got = out.get();
          expectAllSliced(got, rank(), me, shape, dim, local,
                          absl::StrCat("extent ", extent, " dim ", dim));
        }
    }
}

TEST_F(CudaCollectives, StepsCountAndTimeThem) {
  for (auto &m : meshes) {
    DeviceVector<float> x(m->device(), std::vector<float>(1, 1.0f));
    m->device().beginStep();
    palmrt_all_reduce(m->ctx.get(), x.pointer(), x.pointer(), 1, PALMRT_F32,
                      PALMRT_SUM, 0);
    StepTimes times = m->device().finishStep();
    EXPECT_EQ(times.collectives, 1);
    EXPECT_GE(times.collectiveSeconds, 0.0);
    EXPECT_EQ(x.get()[0], static_cast<float>(m->members[0].size()));
  }
}

} // namespace
} // namespace palmrt

int main(int argc, char **argv) { return palmrt::runMpiTests(argc, argv); }
