//===- device_calls_test.cc - the cuda-program calls on the host ----------===//
//
// palmrt_copy, palmrt_launch and palmrt_attention without a device (the
// host backend), and what a cuda program is told where there is no cuda
// backend or no GPU.
//
//===----------------------------------------------------------------------===//

#include "api/context.h"
#include "base/bf16.h"
#include "device.h"
#include "program_json.h"

#include "palmrt/palmrt.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

namespace palmrt {
namespace {

std::unique_ptr<palmrt_context> hostContext() {
  auto info = parseProgramInfo(programJson({}, {{}}));
  EXPECT_TRUE(info.ok()) << info.status();
  auto ctx = createContext(*info);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return std::move(*ctx);
}

TEST(HostDeviceCalls, CopyIsMemmove) {
  auto ctx = hostContext();
  std::vector<int32_t> x(100);
  std::iota(x.begin(), x.end(), 0);
  std::vector<int32_t> y(100, -1);
  palmrt_copy(ctx.get(), y.data() + 10, x.data(), 50 * sizeof(int32_t));
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(y[i], i >= 10 && i < 60 ? i - 10 : -1);
  // Overlapping ranges, and no context at all.
  palmrt_copy(nullptr, x.data() + 1, x.data(), 10 * sizeof(int32_t));
  EXPECT_EQ(x[1], 0);
  EXPECT_EQ(x[10], 9);
  EXPECT_EQ(x[11], 11);
}

TEST(HostDeviceCalls, LaunchIsAnErrorInACpuProgram) {
  auto ctx = hostContext();
  EXPECT_EXIT(palmrt_launch(ctx.get(), ".version 9.0", "fused_add", 1, 1, 1, 32,
                            1, 1, 0, nullptr),
              ::testing::ExitedWithCode(1),
              "a GPU kernel \\('fused_add'\\) in a CPU program");
}

TEST(HostDeviceCalls, AttentionIsTheF32KernelInEitherType) {
  auto ctx = hostContext();
  const int64_t b = 2, s = 9, t = 9, h = 4, g = 2, dk = 8, dv = 6;
  std::mt19937 gen(3);
  std::normal_distribution<float> dist;
  auto make = [&](size_t n) {
    std::vector<float> v(n);
    for (float &x : v)
      x = bf16ToFloat(floatToBf16(dist(gen))); // exact in bf16
    return v;
  };
  std::vector<float> q = make(b * s * h * dk), k = make(b * t * g * dk),
                     v = make(b * t * g * dv);
  std::vector<float> want(b * s * h * dv), got(want.size());
  // Heads 1..4 of 5 global heads, two per key/value head: local head 3 is
  // padding.
  palmrt_attention_f32(q.data(), k.data(), v.data(), want.data(), b, s, t, h, g,
                       dk, dv, 1, 0.5f, 1, 2, 4, 0, nullptr);
  palmrt_attention(ctx.get(), PALMRT_F32, q.data(), k.data(), v.data(),
                   got.data(), b, s, t, h, g, dk, dv, 1, 0.5f, 1, 2, 4, 0);
  EXPECT_EQ(got, want);
  auto narrow = [](const std::vector<float> &x) {
    std::vector<uint16_t> out(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      out[i] = floatToBf16(x[i]);
    return out;
  };
  std::vector<uint16_t> qb = narrow(q), kb = narrow(k), vb = narrow(v),
                        out(want.size());
  palmrt_attention(nullptr, PALMRT_BF16, qb.data(), kb.data(), vb.data(),
                   out.data(), b, s, t, h, g, dk, dv, 1, 0.5f, 1, 2, 4, 0);
  EXPECT_EQ(out, narrow(want));
}

TEST(HostDeviceCalls, AttentionRejectsBadArguments) {
  GTEST_FLAG_SET(death_test_style, "threadsafe"); // OpenBLAS has threads
  float x = 0;
  EXPECT_EXIT(palmrt_attention(nullptr, PALMRT_I32, &x, &x, &x, &x, 1, 1, 1, 1,
                               1, 1, 1, 1, 1.0f, 0, 1, 1, 0),
              ::testing::ExitedWithCode(1), "element type 2 is not supported");
  EXPECT_EXIT(palmrt_attention(nullptr, PALMRT_F32, &x, &x, &x, &x, 1, 1, 1, 2,
                               1, 1, 1, 1, 1.0f, 0, 1, 2, 0),
              ::testing::ExitedWithCode(1),
              "global head 1 needs key/value head 1 but only 1 are given");
}

TEST(CudaBackend, SaysWhyItCannotOpen) {
  absl::StatusOr<std::unique_ptr<Device>> device = openCudaDevice(0, 1, false);
  if (!haveCudaBackend()) {
    ASSERT_FALSE(device.ok());
    EXPECT_NE(device.status().message().find("built without the cuda backend"),
              std::string::npos)
        << device.status();
    return;
  }
  // With the backend, this machine either has a GPU or says why not.
  if (!device.ok())
    EXPECT_TRUE(absl::IsUnavailable(device.status()) ||
                absl::IsFailedPrecondition(device.status()))
        << device.status();
}

} // namespace
} // namespace palmrt
