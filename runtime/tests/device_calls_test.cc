//===- device_calls_test.cc - the cuda-program calls on the host ----------===//
//
// palmrt_copy, palmrt_launch, palmrt_attention and palmrt_attention_grad
// without a device (the host backend), and what a cuda program is told
// where there is no cuda backend or no GPU.
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

/// Attention operands (exact in bf16) of heads 1..4 of 5 global heads, two
/// per key/value head: local head 3 is padding.
struct HostAttention {
  static constexpr int64_t b = 2, s = 9, t = 9, h = 4, g = 2, dk = 8, dv = 6;
  std::vector<float> q, k, v;
  HostAttention() {
    std::mt19937 gen(3);
    std::normal_distribution<float> dist;
    auto make = [&](size_t n) {
      std::vector<float> x(n);
      for (float &e : x)
        e = bf16ToFloat(floatToBf16(dist(gen)));
      return x;
    };
    q = make(b * s * h * dk);
    k = make(b * t * g * dk);
    v = make(b * t * g * dv);
  }
};

std::vector<uint16_t> narrow(const std::vector<float> &x) {
  std::vector<uint16_t> out(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    out[i] = floatToBf16(x[i]);
  return out;
}

TEST(HostDeviceCalls, AttentionIsTheF32KernelInEitherType) {
  auto ctx = hostContext();
  HostAttention a;
  const int64_t b = a.b, s = a.s, t = a.t, h = a.h, g = a.g, dk = a.dk,
                dv = a.dv;
  std::vector<float> want(b * s * h * dv), got(want.size());
  std::vector<float> wantLse(b * s * h), gotLse(wantLse.size(), 7.0f);
  palmrt_attention_f32(a.q.data(), a.k.data(), a.v.data(), want.data(), b, s, t,
                       h, g, dk, dv, 1, 0.5f, 1, 2, 4, 0, wantLse.data());
  palmrt_attention(ctx.get(), PALMRT_F32, a.q.data(), a.k.data(), a.v.data(),
                   got.data(), b, s, t, h, g, dk, dv, 1, 0.5f, 1, 2, 4, 0,
                   gotLse.data());
  EXPECT_EQ(got, want);
  EXPECT_EQ(gotLse, wantLse);
  std::vector<uint16_t> qb = narrow(a.q), kb = narrow(a.k), vb = narrow(a.v),
                        out(want.size());
  std::fill(gotLse.begin(), gotLse.end(), 7.0f);
  palmrt_attention(nullptr, PALMRT_BF16, qb.data(), kb.data(), vb.data(),
                   out.data(), b, s, t, h, g, dk, dv, 1, 0.5f, 1, 2, 4, 0,
                   gotLse.data());
  EXPECT_EQ(out, narrow(want));
  EXPECT_EQ(gotLse, wantLse);
  // Without lse, as before.
  palmrt_attention(nullptr, PALMRT_BF16, qb.data(), kb.data(), vb.data(),
                   out.data(), b, s, t, h, g, dk, dv, 1, 0.5f, 1, 2, 4, 0,
                   nullptr);
  EXPECT_EQ(out, narrow(want));
}

TEST(HostDeviceCalls, AttentionGradIsTheF32KernelInEitherType) {
  auto ctx = hostContext();
  HostAttention a;
  const int64_t b = a.b, s = a.s, t = a.t, h = a.h, g = a.g, dk = a.dk,
                dv = a.dv;
  std::vector<float> out(b * s * h * dv), lse(b * s * h);
  palmrt_attention_f32(a.q.data(), a.k.data(), a.v.data(), out.data(), b, s, t,
                       h, g, dk, dv, 1, 0.5f, 1, 2, 4, 0, lse.data());
  out = [&] { // exact in bf16, like the other operands
    std::vector<float> x(out.size());
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = bf16ToFloat(floatToBf16(out[i]));
    return x;
  }();
  std::vector<float> dout = HostAttention().q; // any values
  dout.resize(out.size());
  std::vector<float> wantQ(a.q.size()), wantK(a.k.size()), wantV(a.v.size());
  palmrt_attention_grad_f32(a.q.data(), a.k.data(), a.v.data(), out.data(),
                            lse.data(), dout.data(), wantQ.data(), wantK.data(),
                            wantV.data(), b, s, t, h, g, dk, dv, 1, 0.5f, 1, 2,
                            4, 0);
  std::vector<float> gotQ(a.q.size(), 7.0f), gotK(a.k.size(), 7.0f),
      gotV(a.v.size(), 7.0f);
  palmrt_attention_grad(ctx.get(), PALMRT_F32, a.q.data(), a.k.data(),
                        a.v.data(), out.data(), lse.data(), dout.data(),
                        gotQ.data(), gotK.data(), gotV.data(), b, s, t, h, g,
                        dk, dv, 1, 0.5f, 1, 2, 4, 0);
  EXPECT_EQ(gotQ, wantQ);
  EXPECT_EQ(gotK, wantK);
  EXPECT_EQ(gotV, wantV);
  std::vector<uint16_t> qb = narrow(a.q), kb = narrow(a.k), vb = narrow(a.v),
                        ob = narrow(out), db = narrow(dout), gq(qb.size()),
                        gk(kb.size()), gv(vb.size());
  palmrt_attention_grad(nullptr, PALMRT_BF16, qb.data(), kb.data(), vb.data(),
                        ob.data(), lse.data(), db.data(), gq.data(), gk.data(),
                        gv.data(), b, s, t, h, g, dk, dv, 1, 0.5f, 1, 2, 4, 0);
  // dout was rounded to bf16 too; the f32 kernel on the rounded operands.
  std::vector<float> dout16(dout.size());
  for (size_t i = 0; i < dout.size(); ++i)
    dout16[i] = bf16ToFloat(db[i]);
  palmrt_attention_grad_f32(a.q.data(), a.k.data(), a.v.data(), out.data(),
                            lse.data(), dout16.data(), wantQ.data(),
                            wantK.data(), wantV.data(), b, s, t, h, g, dk, dv,
                            1, 0.5f, 1, 2, 4, 0);
  EXPECT_EQ(gq, narrow(wantQ));
  EXPECT_EQ(gk, narrow(wantK));
  EXPECT_EQ(gv, narrow(wantV));
}

TEST(HostDeviceCalls, AttentionRejectsBadArguments) {
  GTEST_FLAG_SET(death_test_style, "threadsafe"); // OpenBLAS has threads
  float x = 0;
  EXPECT_EXIT(palmrt_attention(nullptr, PALMRT_I32, &x, &x, &x, &x, 1, 1, 1, 1,
                               1, 1, 1, 1, 1.0f, 0, 1, 1, 0, nullptr),
              ::testing::ExitedWithCode(1), "element type 2 is not supported");
  EXPECT_EXIT(palmrt_attention(nullptr, PALMRT_F32, &x, &x, &x, &x, 1, 1, 1, 2,
                               1, 1, 1, 1, 1.0f, 0, 1, 2, 0, nullptr),
              ::testing::ExitedWithCode(1),
              "global head 1 needs key/value head 1 but only 1 are given");
  EXPECT_EXIT(palmrt_attention_grad(nullptr, PALMRT_F32, &x, &x, &x, &x, &x, &x,
                                    &x, &x, &x, 1, 1, 1, 2, 1, 1, 1, 1, 1.0f, 0,
                                    1, 2, 0),
              ::testing::ExitedWithCode(1),
              "palmrt_attention_grad: global head 1 needs key/value head 1");
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
