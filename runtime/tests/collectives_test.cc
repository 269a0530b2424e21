//===- collectives_test.cc - one collectives suite for every backend
//-------===//
//
// The conformance suite of palmrt's collectives: the same cases run on each
// backend (Device), selected with --gtest_filter=*/host or */cuda:
//   host  buffers in host memory, MPI transports;
//   cuda  buffers in GPU memory, NCCL: the GPUs of this machine, or the fake
//         libraries of fake_cuda/ when LD_LIBRARY_PATH points there; skipped
//         with the reason where there is no GPU (or no cuda backend), failed
//         instead when PALMRT_TEST_REQUIRE_GPU is set.
// Run under `mpirun -np N` (N = 1, 2, 4; or alone as one process). Each case
// builds meshes of N devices from a program description, and for every group
// checks every collective against values computed from the group's member
// ranks. Inputs are exact in every dtype, so results are compared exactly
// (bf16 sums within the backend's rounding). No ASSERT precedes a
// collective: a rank leaving a test early would leave the others waiting.
//
//===----------------------------------------------------------------------===//

#include "api/context.h"
#include "collective_test_util.h"
#include "cuda_test_util.h"
#include "device.h"
#include "job/process.h"
#include "program_json.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>

namespace palmrt {
namespace {

enum class Backend { Host, Cuda };

std::string backendName(Backend b) {
  return b == Backend::Host ? "host" : "cuda";
}

struct Mesh {
  ProgramInfo info;
  std::unique_ptr<palmrt_context> ctx;
  /// members[g][i] = world rank of device i of this rank's instance of g.
  std::vector<std::vector<int64_t>> members;
  Device &device() { return *ctx->device; }
};

/// Meshes of the job's size with groups over every ordered set of axes.
std::vector<std::string> meshDescriptions(int n, const std::string &target) {
  std::vector<std::string> out;
  out.push_back(programJson({{"x", n}}, {{"x"}, {}}, target));
  if (n == 4 || n == 2) {
    int a = 2, b = n / 2;
    out.push_back(programJson(
        {{"data", a}, {"model", b}},
        {{"model"}, {"data"}, {"data", "model"}, {"model", "data"}}, target));
  }
  if (n == 4)
    out.push_back(programJson({{"a", 1}, {"b", 2}, {"c", 2}},
                              {{"c"}, {"a", "b"}, {"c", "b"}, {"b", "c", "a"}},
                              target));
  return out;
}

/// Replaces the host device of `ctx` by this rank's GPU and connects the
/// groups. Collective: every rank learns whether all ranks have a GPU.
absl::Status openGpu(palmrt_context &ctx) {
  auto device = openCudaDevice(localRank(), localSize(), process().size > 1);
  absl::Status opened = device.ok() ? absl::OkStatus() : device.status();
  if (!agreeOnStatus(opened).ok())
    return opened.ok() ? absl::UnavailableError("another rank has no GPU")
                       : opened;
  ctx.device = std::move(*device);
  return agreeOnStatus(ctx.device->connect(ctx));
}

/// The meshes on `backend`, each with a connected device; or empty, with the
/// reason, when some rank has no GPU.
std::vector<std::unique_ptr<Mesh>> makeMeshes(Backend backend,
                                              absl::Status *why) {
  std::vector<std::unique_ptr<Mesh>> meshes;
  std::string target = backend == Backend::Host ? "cpu" : "cuda";
  for (const std::string &text : meshDescriptions(process().size, target)) {
    auto mesh = std::make_unique<Mesh>();
    auto info = parseProgramInfo(text);
    EXPECT_TRUE(info.ok()) << info.status();
    mesh->info = *info;
    auto ctx = createContext(mesh->info);
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    mesh->ctx = std::move(*ctx);
    if (backend == Backend::Cuda)
      if (absl::Status s = openGpu(*mesh->ctx); !s.ok()) {
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

class Collectives : public ::testing::TestWithParam<Backend> {
protected:
  /// The meshes of each backend, made by its first case (every rank runs
  /// the same cases in the same order, so this is collective too).
  struct Setup {
    std::vector<std::unique_ptr<Mesh>> meshes;
    absl::Status why;
  };
  static std::map<Backend, Setup> &setups() {
    static auto *all = new std::map<Backend, Setup>();
    return *all;
  }
  static void TearDownTestSuite() { setups().clear(); }

  void SetUp() override {
    auto [it, fresh] = setups().try_emplace(GetParam());
    if (fresh)
      it->second.meshes = makeMeshes(GetParam(), &it->second.why);
    meshes = &it->second.meshes;
    if (meshes->empty()) {
      const absl::Status &why = it->second.why;
      if (!meansNoGpu(why) && !absl::IsFailedPrecondition(why))
        FAIL() << why;
      PALMRT_SKIP_WITHOUT_GPU(why.message());
    }
  }

  /// Relative error allowed in bf16 sums: the host sums in f32 and rounds
  /// once; NCCL rounds each partial sum to bf16.
  double bf16SumTolerance() const {
    return GetParam() == Backend::Host ? 1.0 / 128 : 1.0 / 64;
  }

  std::vector<std::unique_ptr<Mesh>> *meshes = nullptr;
  int64_t rank() const { return process().rank; }
};

TEST_P(Collectives, GroupIndexAndSize) {
  for (auto &m : *meshes)
    for (int32_t g = 0; g < static_cast<int32_t>(m->members.size()); ++g) {
      EXPECT_EQ(palmrt_group_size(m->ctx.get(), g),
                static_cast<int64_t>(m->members[g].size()));
      EXPECT_EQ(m->members[g][palmrt_group_index(m->ctx.get(), g)], rank());
    }
}

TEST_P(Collectives, AllReduceEveryDtype) {
  const int64_t n = 13;
  for (auto &m : *meshes)
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
        // Negative i32 and i64 beyond 32 bits.
        std::vector<int32_t> x32(n);
        std::vector<int64_t> x64(n);
        std::vector<uint16_t> b(n);
        for (int64_t i = 0; i < n; ++i) {
          x32[i] = static_cast<int32_t>(value(rank(), i)) - 50;
          x64[i] = static_cast<int64_t>(value(rank(), i)) * (1LL << 33);
          b[i] = bf16Of(value(rank(), i));
        }
        DeviceVector<int32_t> i32(m->device(), x32);
        DeviceVector<int64_t> i64(m->device(), x64);
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
          EXPECT_EQ(got32[i],
                    static_cast<int32_t>(
                        want - (red == PALMRT_SUM ? 50.0 * mem.size() : 50.0)));
          EXPECT_EQ(got64[i], static_cast<int64_t>(want) * (1LL << 33));
          uint32_t bits = static_cast<uint32_t>(gotB[i]) << 16;
          float gotBf;
          std::memcpy(&gotBf, &bits, 4);
          // Sums of up to 4 values below 200 stay exact in bf16 only when
          // small; compare within the backend's rounding.
          EXPECT_NEAR(gotBf, want, want * bf16SumTolerance() + 1e-6);
        }
      }
    }
}

TEST_P(Collectives, AllGatherAlongEachDim) {
  std::vector<int64_t> shape = {2, 3, 5};
  for (auto &m : *meshes)
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

TEST_P(Collectives, ReduceScatterAlongEachDim) {
  for (auto &m : *meshes)
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

TEST_P(Collectives, AllToAllEverySplitAndConcat) {
  for (auto &m : *meshes)
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

TEST_P(Collectives, PermuteRingPartialAndInPlace) {
  const int64_t n = 6;
  for (auto &m : *meshes)
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

TEST_P(Collectives, AllSlicePadsUnevenShards) {
  for (auto &m : *meshes)
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

TEST_P(Collectives, StepsCountAndTimeThem) {
  for (auto &m : *meshes) {
    m->ctx->collectiveSeconds = 0;
    m->ctx->collectiveCalls = 0;
    DeviceVector<float> x(m->device(), std::vector<float>(1, 1.0f));
    m->device().beginStep("the test");
    palmrt_all_reduce(m->ctx.get(), x.pointer(), x.pointer(), 1, PALMRT_F32,
                      PALMRT_SUM, 0);
    StepTimes times = m->device().finishStep();
    EXPECT_EQ(times.collectives, 1);
    EXPECT_GE(times.collectiveSeconds, 0.0);
    EXPECT_EQ(x.get()[0], static_cast<float>(m->members[0].size()));
    if (GetParam() == Backend::Host) {
      // The host accounts in the context, where palmrt_main reads it.
      EXPECT_EQ(m->ctx->collectiveCalls, 1);
      EXPECT_GE(m->ctx->collectiveSeconds, 0.0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Collectives,
                         ::testing::Values(Backend::Host, Backend::Cuda),
                         [](const ::testing::TestParamInfo<Backend> &info) {
                           return backendName(info.param);
                         });

} // namespace
} // namespace palmrt

int main(int argc, char **argv) { return palmrt::runMpiTests(argc, argv); }
