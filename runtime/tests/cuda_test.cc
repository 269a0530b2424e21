//===- cuda_test.cc - the cuda backend on one GPU -------------------------===//
//
// GEMM (cuBLASLt), attention and its backward (palmrt's kernels), copies,
// launches of PTX, the collectives of groups of one device, and step
// timing, each checked against the host backend on the same inputs. Skips,
// saying why, where there is no GPU (cuda_test_util.h).
//
//===----------------------------------------------------------------------===//

#include "api/context.h"
#include "base/bf16.h"
#include "cuda_test_util.h"
#include "random_values.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <cmath>

extern "C" const unsigned char palmrt_test_kernels_ptx[];

namespace palmrt {
namespace {

const char *testPtx() {
  return reinterpret_cast<const char *>(palmrt_test_kernels_ptx);
}

using Cuda = OnGpu;

/// |got - want| <= tolerance * (1 + |want|) everywhere.
void expectClose(const std::vector<float> &got, const std::vector<float> &want,
                 double tolerance, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int shown = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <=
          tolerance * (1 + std::fabs(want[i]))) &&
        shown++ < 5)
      ADD_FAILURE() << what << ": at " << i << " got " << got[i] << " want "
                    << want[i];
}

/// expectClose where infinities must match exactly (lse of padding rows).
void expectCloseOrInfinite(const std::vector<float> &got,
                           const std::vector<float> &want, double tolerance,
                           const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  std::vector<float> finiteGot, finiteWant;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i]))
      EXPECT_EQ(got[i], want[i]) << what << ": at " << i;
    else {
      finiteGot.push_back(got[i]);
      finiteWant.push_back(want[i]);
    }
  }
  expectClose(finiteGot, finiteWant, tolerance, what);
}

TEST_F(Cuda, CopyMovesBytesBetweenBuffers) {
  std::vector<int32_t> values(1000);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<int32_t>(i * 7 + 1);
  DeviceVector<int32_t> a(device(), values), b(device(), values.size());
  palmrt_copy(ctx(), b.at(100), a.at(3), 500 * sizeof(int32_t));
  palmrt_copy(ctx(), b.at(0), a.at(0), 0);
  std::vector<int32_t> got = b.get();
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(got[i], i >= 100 && i < 600 ? values[i - 97] : 0) << i;
}

struct GemmCase {
  int64_t batch, m, n, k;
};

TEST_F(Cuda, GemmMatchesTheHostInF32) {
  for (GemmCase c : {GemmCase{1, 5, 7, 3}, GemmCase{3, 64, 48, 32},
                     GemmCase{1, 1, 1, 1}, GemmCase{2, 130, 17, 260}})
    for (int ta : {0, 1})
      for (int tb : {0, 1}) {
        std::string what =
            absl::StrCat("batch ", c.batch, " m ", c.m, " n ", c.n, " k ", c.k,
                         " ta ", ta, " tb ", tb);
        auto a = randomVector(c.batch * c.m * c.k, 1);
        auto b = randomVector(c.batch * c.k * c.n, 2);
        std::vector<float> want(c.batch * c.m * c.n);
        palmrt_gemm(nullptr, PALMRT_F32, c.batch, c.m, c.n, c.k, a.data(), ta,
                    b.data(), tb, want.data());
        DeviceVector<float> da(device(), a), db(device(), b),
            dc(device(), want.size());
        palmrt_gemm(ctx(), PALMRT_F32, c.batch, c.m, c.n, c.k, da.pointer(), ta,
                    db.pointer(), tb, dc.pointer());
        expectClose(dc.get(), want, 1e-4, what);
      }
}

TEST_F(Cuda, GemmMatchesTheHostInBf16) {
  for (GemmCase c : {GemmCase{1, 8, 16, 24}, GemmCase{2, 33, 65, 17}})
    for (int ta : {0, 1})
      for (int tb : {0, 1}) {
        std::string what = absl::StrCat("bf16 batch ", c.batch, " m ", c.m,
                                        " ta ", ta, " tb ", tb);
        auto a = toBf16(randomVector(c.batch * c.m * c.k, 3));
        auto b = toBf16(randomVector(c.batch * c.k * c.n, 4));
        std::vector<uint16_t> want(c.batch * c.m * c.n);
        palmrt_gemm(nullptr, PALMRT_BF16, c.batch, c.m, c.n, c.k, a.data(), ta,
                    b.data(), tb, want.data());
        DeviceVector<uint16_t> da(device(), a), db(device(), b),
            dc(device(), want.size());
        palmrt_gemm(ctx(), PALMRT_BF16, c.batch, c.m, c.n, c.k, da.pointer(),
                    ta, db.pointer(), tb, dc.pointer());
        // Both accumulate in f32 and round once; orders differ.
        expectClose(fromBf16(dc.get()), fromBf16(want), 1.0 / 64, what);
      }
}

// palmrt_gemm_add: cuBLASLt's epilogue adds the addend (beta = 1), in f32
// and bf16, and copies it when there is nothing to contract.
TEST_F(Cuda, GemmAddMatchesTheHost) {
  for (GemmCase c : {GemmCase{1, 5, 7, 3}, GemmCase{2, 33, 20, 40},
                     GemmCase{1, 4, 6, 0}})
    for (int ta : {0, 1}) {
      std::string what = absl::StrCat("add batch ", c.batch, " m ", c.m,
                                      " k ", c.k, " ta ", ta);
      int64_t k = std::max<int64_t>(c.k, 1);
      auto a = randomVector(c.batch * c.m * k, 7);
      auto b = randomVector(c.batch * k * c.n, 8);
      auto addend = randomVector(c.batch * c.m * c.n, 9);
      std::vector<float> want(addend.size());
      palmrt_gemm_add(nullptr, PALMRT_F32, c.batch, c.m, c.n, c.k, a.data(),
                      ta, b.data(), 0, addend.data(), want.data());
      DeviceVector<float> da(device(), a), db(device(), b),
          dadd(device(), addend), dc(device(), want.size());
      palmrt_gemm_add(ctx(), PALMRT_F32, c.batch, c.m, c.n, c.k, da.pointer(),
                      ta, db.pointer(), 0, dadd.pointer(), dc.pointer());
      expectClose(dc.get(), want, 1e-4, what);
      auto a16 = toBf16(a), b16 = toBf16(b), add16 = toBf16(addend);
      std::vector<uint16_t> want16(addend.size());
      palmrt_gemm_add(nullptr, PALMRT_BF16, c.batch, c.m, c.n, c.k,
                      a16.data(), ta, b16.data(), 0, add16.data(),
                      want16.data());
      DeviceVector<uint16_t> ea(device(), a16), eb(device(), b16),
          eadd(device(), add16), ec(device(), want16.size());
      palmrt_gemm_add(ctx(), PALMRT_BF16, c.batch, c.m, c.n, c.k,
                      ea.pointer(), ta, eb.pointer(), 0, eadd.pointer(),
                      ec.pointer());
      expectClose(fromBf16(ec.get()), fromBf16(want16), 1.0 / 64,
                  "bf16 " + what);
    }
}

TEST_F(Cuda, GemmOfNothingAndOfOffsetOperands) {
  // k = 0: C is zeros.
  DeviceVector<float> c(device(), std::vector<float>(12, 5.0f));
  palmrt_gemm(ctx(), PALMRT_F32, 2, 2, 3, 0, c.pointer(), 0, c.pointer(), 0,
              c.pointer());
  EXPECT_EQ(c.get(), std::vector<float>(12, 0.0f));
  // Operands 16 bytes into their buffers.
  auto a = randomVector(4 + 6 * 10, 5), b = randomVector(4 + 10 * 7, 6);
  std::vector<float> want(6 * 7);
  palmrt_gemm(nullptr, PALMRT_F32, 1, 6, 7, 10, a.data() + 4, 0, b.data() + 4,
              0, want.data());
  DeviceVector<float> da(device(), a), db(device(), b), dc(device(), 4 + 42);
  palmrt_gemm(ctx(), PALMRT_F32, 1, 6, 7, 10, da.at(4), 0, db.at(4), 0,
              dc.at(4));
  std::vector<float> got = dc.get();
  expectClose(std::vector<float>(got.begin() + 4, got.end()), want, 1e-4,
              "offset operands");
}

struct AttentionCase {
  const char *name;
  int64_t b, s, t, h, g, dk, dv;
  int32_t causal;
  int64_t headOffset, headsPerGroup, globalHeads;
  int64_t queryOffset = 0;
};

const AttentionCase kAttentionCases[] = {
    {"multi-query causal", 2, 37, 37, 3, 1, 16, 16, 1, 0, 3, 3},
    {"grouped causal", 1, 64, 64, 4, 2, 32, 32, 1, 0, 2, 4},
    {"padding heads", 1, 20, 20, 4, 1, 8, 8, 1, 2, 5, 5},
    {"cross, dv 100", 2, 5, 70, 2, 1, 24, 100, 0, 0, 2, 2},
    {"head size 256", 1, 33, 33, 2, 1, 256, 256, 1, 0, 2, 2},
    {"one position", 1, 1, 1, 2, 2, 8, 8, 1, 0, 1, 2},
    {"dv 40", 3, 9, 9, 1, 1, 8, 40, 1, 0, 1, 1},
    {"no keys", 1, 4, 0, 1, 1, 8, 8, 0, 0, 1, 1},
    // bf16: the tensor-core kernels (heads of 64, 128, 256; 64-row tiles).
    {"mma multi-query causal", 2, 100, 100, 3, 1, 64, 64, 1, 0, 3, 3},
    {"mma grouped, padding heads", 1, 70, 70, 4, 3, 128, 128, 1, 2, 2, 5},
    {"mma cross", 2, 5, 130, 2, 1, 64, 64, 0, 0, 2, 2},
    {"mma causal, 3 query tiles", 1, 300, 300, 2, 1, 64, 64, 1, 0, 2, 2},
    {"mma causal 128, 2 query tiles", 1, 200, 200, 2, 2, 128, 128, 1, 0, 1,
     2},
    // Query shards (a split sequence): causal at global positions.
    {"query shard", 1, 40, 100, 2, 1, 16, 16, 1, 0, 2, 2, 60},
    {"mma query shard", 1, 70, 200, 2, 1, 64, 64, 1, 0, 2, 2, 130},
};

template <typename T>
void runAttention(Cuda &test, palmrt_context *ctx, Device &device,
                  const AttentionCase &c, int32_t dtype) {
  (void)test;
  auto q = randomVector(c.b * c.s * c.h * c.dk, 7);
  auto k = randomVector(c.b * c.t * c.g * c.dk, 8);
  auto v = randomVector(c.b * c.t * c.g * c.dv, 9);
  float scale = 1.0f / std::sqrt(static_cast<float>(c.dk));
  size_t outSize = c.b * c.s * c.h * c.dv;
  std::vector<float> want(outSize), got;
  // The log-sum-exp is asked for on every other case (both forms run).
  bool withLse = (&c - kAttentionCases) % 2 == 0;
  std::vector<float> wantLse(c.b * c.s * c.h);
  DeviceVector<float> lse(device, std::vector<float>(wantLse.size(), 7.0f));
  float *hostLse = withLse ? wantLse.data() : nullptr;
  float *deviceLse = withLse ? lse.at(0) : nullptr;
  std::string what = absl::StrCat(c.name, dtype == PALMRT_BF16 ? " bf16" : "");
  if constexpr (std::is_same_v<T, float>) {
    palmrt_attention(nullptr, dtype, q.data(), k.data(), v.data(), want.data(),
                     c.b, c.s, c.t, c.h, c.g, c.dk, c.dv, c.causal, scale,
                     c.headOffset, c.headsPerGroup, c.globalHeads,
                     c.queryOffset, hostLse);
    DeviceVector<float> dq(device, q), dk(device, k), dv(device, v),
        dout(device, std::vector<float>(outSize, 7.0f));
    palmrt_attention(ctx, dtype, dq.pointer(), dk.pointer(), dv.pointer(),
                     dout.pointer(), c.b, c.s, c.t, c.h, c.g, c.dk, c.dv,
                     c.causal, scale, c.headOffset, c.headsPerGroup,
                     c.globalHeads, c.queryOffset, deviceLse);
    got = dout.get();
    expectClose(got, want, 1e-4, what);
  } else {
    auto qb = toBf16(q), kb = toBf16(k), vb = toBf16(v);
    std::vector<uint16_t> wantBf16(outSize);
    palmrt_attention(nullptr, dtype, qb.data(), kb.data(), vb.data(),
                     wantBf16.data(), c.b, c.s, c.t, c.h, c.g, c.dk, c.dv,
                     c.causal, scale, c.headOffset, c.headsPerGroup,
                     c.globalHeads, c.queryOffset, hostLse);
    DeviceVector<uint16_t> dq(device, qb), dk(device, kb), dv(device, vb),
        dout(device, std::vector<uint16_t>(outSize, 0x4000));
    palmrt_attention(ctx, dtype, dq.pointer(), dk.pointer(), dv.pointer(),
                     dout.pointer(), c.b, c.s, c.t, c.h, c.g, c.dk, c.dv,
                     c.causal, scale, c.headOffset, c.headsPerGroup,
                     c.globalHeads, c.queryOffset, deviceLse);
    expectClose(fromBf16(dout.get()), fromBf16(wantBf16), 1.0 / 64, what);
  }
  // lse is f32 math on the same (rounded) operands in either type.
  if (withLse)
    expectCloseOrInfinite(lse.get(), wantLse, 1e-5, what + " lse");
  else
    EXPECT_EQ(lse.get(), std::vector<float>(wantLse.size(), 7.0f)) << what;
}

TEST_F(Cuda, AttentionMatchesTheHostInF32) {
  for (const AttentionCase &c : kAttentionCases)
    runAttention<float>(*this, ctx(), device(), c, PALMRT_F32);
}

TEST_F(Cuda, AttentionMatchesTheHostInBf16) {
  for (const AttentionCase &c : kAttentionCases)
    runAttention<uint16_t>(*this, ctx(), device(), c, PALMRT_BF16);
}

// Attention's backward: small shapes (the emulator interprets every thread)
// covering the head mappings, masks and head sizes the kernels handle.
const AttentionCase kAttentionGradCases[] = {
    {"multi-query causal", 2, 37, 37, 3, 1, 8, 8, 1, 0, 3, 3},
    {"grouped causal", 1, 20, 20, 4, 2, 8, 8, 1, 0, 2, 4},
    // Global heads 2..5 of 5, all on one key/value head: local head 3 is
    // padding.
    {"padding head, dk 4 dv 8", 1, 12, 12, 4, 1, 4, 8, 1, 2, 5, 5},
    // Global heads 2, 3 of a 2-per-group layout: key/value head 0 is read
    // by no head here and gets zeros.
    {"grouped head shard", 1, 10, 10, 2, 2, 8, 4, 1, 2, 2, 4},
    {"cross, s != t", 2, 5, 40, 2, 1, 8, 4, 0, 0, 2, 2},
    {"query shard", 1, 20, 50, 2, 1, 8, 8, 1, 0, 2, 2, 30},
    {"grouped query shard", 1, 9, 45, 4, 2, 4, 4, 1, 0, 2, 4, 36},
    {"dk 72, dv 40 (128-wide kernels)", 1, 6, 6, 1, 1, 72, 40, 1, 0, 1, 1},
    {"no keys", 1, 4, 0, 1, 1, 8, 8, 0, 0, 1, 1},
};

// bf16 heads of 64 and 128: the tensor-core kernels (64 query rows or keys
// per block; steps of 64 rows or keys at 64, 32 at 128).
const AttentionCase kAttentionGradMmaCases[] = {
    {"mma multi-query causal, 2 query and key tiles", 1, 70, 70, 2, 1, 64, 64,
     1, 0, 2, 2},
    // Global heads 2..5 of 5 on key/value heads 1, 1, 2 and a padding head;
    // key/value head 0 is read by no head here and gets zeros.
    {"mma grouped, padding head, 128", 1, 40, 40, 4, 3, 128, 128, 1, 2, 2, 5},
    {"mma cross, s != t", 2, 5, 70, 2, 1, 64, 64, 0, 0, 2, 2},
    {"mma grouped, not causal", 1, 33, 33, 4, 2, 64, 64, 0, 0, 2, 4},
    {"mma query shard, 128", 1, 70, 150, 2, 1, 128, 128, 1, 0, 2, 2, 80},
    {"mma causal 128, 3 query and key tiles", 2, 130, 130, 2, 1, 128, 128, 1,
     0, 2, 2},
    {"mma no keys", 1, 4, 0, 1, 1, 64, 64, 0, 0, 1, 1},
};

/// The cuda attention backward against the host's (palmrt_attention_grad
/// without a context: palmrt_attention_grad_f32) on the host forward's out
/// and lse. Returns the largest error of dq, dk, dv relative to each
/// one's largest magnitude; bf16 results may be off by `bf16Tolerance` of
/// it.
template <typename T>
double runAttentionGrad(palmrt_context *ctx, Device &device,
                        const AttentionCase &c, int32_t dtype,
                        double bf16Tolerance = 1.0 / 128) {
  auto round = [](std::vector<float> x) {
    if constexpr (!std::is_same_v<T, float>)
      for (float &e : x)
        e = bf16ToFloat(floatToBf16(e));
    return x;
  };
  auto q = round(randomVector(c.b * c.s * c.h * c.dk, 7));
  auto k = round(randomVector(c.b * c.t * c.g * c.dk, 8));
  auto v = round(randomVector(c.b * c.t * c.g * c.dv, 9));
  auto dout = round(randomVector(c.b * c.s * c.h * c.dv, 10));
  float scale = 1.0f / std::sqrt(static_cast<float>(c.dk));
  std::vector<float> out(dout.size()), lse(c.b * c.s * c.h);
  palmrt_attention_f32(q.data(), k.data(), v.data(), out.data(), c.b, c.s, c.t,
                       c.h, c.g, c.dk, c.dv, c.causal, scale, c.headOffset,
                       c.headsPerGroup, c.globalHeads, c.queryOffset,
                       lse.data());
  out = round(out);
  auto typed = [](const std::vector<float> &x) {
    if constexpr (std::is_same_v<T, float>)
      return x;
    else
      return toBf16(x);
  };
  auto floats = [](const std::vector<T> &x) {
    if constexpr (std::is_same_v<T, float>)
      return x;
    else
      return fromBf16(x);
  };
  std::vector<T> tq = typed(q), tk = typed(k), tv = typed(v), to = typed(out),
                 td = typed(dout), wantQ(q.size()), wantK(k.size()),
                 wantV(v.size());
  palmrt_attention_grad(nullptr, dtype, tq.data(), tk.data(), tv.data(),
                        to.data(), lse.data(), td.data(), wantQ.data(),
                        wantK.data(), wantV.data(), c.b, c.s, c.t, c.h, c.g,
                        c.dk, c.dv, c.causal, scale, c.headOffset,
                        c.headsPerGroup, c.globalHeads, c.queryOffset);
  DeviceVector<T> dq(device, tq), dk(device, tk), dv(device, tv),
      dOut(device, to), dDout(device, td), gq(device, tq), gk(device, tk),
      gv(device, tv); // the results start as anything but the answer
  DeviceVector<float> dLse(device, lse);
  auto run = [&] {
    palmrt_attention_grad(
        ctx, dtype, dq.pointer(), dk.pointer(), dv.pointer(), dOut.pointer(),
        dLse.at(0), dDout.pointer(), gq.pointer(), gk.pointer(), gv.pointer(),
        c.b, c.s, c.t, c.h, c.g, c.dk, c.dv, c.causal, scale, c.headOffset,
        c.headsPerGroup, c.globalHeads, c.queryOffset);
  };
  run();
  std::vector<T> gotQ = gq.get(), gotK = gk.get(), gotV = gv.get();
  // The same launch again gives the same bits: no atomics, fixed order.
  run();
  EXPECT_TRUE(gq.get() == gotQ && gk.get() == gotK && gv.get() == gotV)
      << c.name << ": a second run differs";
  double worst = 0;
  for (auto [got, want, name] :
       {std::tuple(&gotQ, &wantQ, "dq"), std::tuple(&gotK, &wantK, "dk"),
        std::tuple(&gotV, &wantV, "dv")}) {
    std::vector<float> g = floats(*got), w = floats(*want);
    double error = errorToLargest(g, w);
    worst = std::max(worst, error);
    // f32: the same math in another order. bf16: the same f32 math,
    // each result rounded once: a value near a rounding boundary may round
    // the other way (one bf16 step, 2^-8 of the largest at most).
    double tolerance = std::is_same_v<T, float> ? 1e-5 : bf16Tolerance;
    EXPECT_LE(error, tolerance) << c.name << " " << name;
  }
  // Exact zeros: dq of padding heads, dk and dv of the key/value heads no
  // real head here reads.
  std::vector<float> fq = floats(gotQ), fk = floats(gotK), fv = floats(gotV);
  for (int64_t i = 0; i < c.b * c.s * c.h * c.dk; ++i)
    if (c.headOffset + i / c.dk % c.h >= c.globalHeads)
      EXPECT_EQ(fq[i], 0.0f) << c.name << " dq at " << i;
  int64_t realHeads = std::clamp<int64_t>(c.globalHeads - c.headOffset, 0, c.h);
  for (int64_t kv = 0; kv < c.g; ++kv) {
    if (realHeads > 0 && kv * c.headsPerGroup < c.headOffset + realHeads &&
        (kv + 1) * c.headsPerGroup > c.headOffset)
      continue; // read
    for (int64_t i = 0; i < c.b * c.t; ++i) {
      for (int64_t e = 0; e < c.dk; ++e)
        EXPECT_EQ(fk[(i * c.g + kv) * c.dk + e], 0.0f) << c.name << " dk";
      for (int64_t e = 0; e < c.dv; ++e)
        EXPECT_EQ(fv[(i * c.g + kv) * c.dv + e], 0.0f) << c.name << " dv";
    }
  }
  return worst;
}

TEST_F(Cuda, AttentionGradMatchesTheHostInF32) {
  double worst = 0;
  for (const AttentionCase &c : kAttentionGradCases)
    worst = std::max(worst,
                     runAttentionGrad<float>(ctx(), device(), c, PALMRT_F32));
  std::printf("attention grad f32: largest error %.3g of the largest value\n",
              worst);
}

TEST_F(Cuda, AttentionGradMatchesTheHostInBf16) {
  double worst = 0;
  for (const AttentionCase &c : kAttentionGradCases)
    worst = std::max(
        worst, runAttentionGrad<uint16_t>(ctx(), device(), c, PALMRT_BF16));
  std::printf("attention grad bf16: largest error %.3g of the largest value\n",
              worst);
}

TEST_F(Cuda, AttentionGradOnTensorCoresMatchesTheHost) {
  double worst = 0;
  // P and dS are rounded to bf16 as the operands of dV += P^T dO,
  // dK += dS^T Q and dQ += dS K (as in flash-attention), each off by up to
  // 2^-9 of itself, on top of the rounding of the results: twice the
  // CUDA-core kernels' bound, as the forward's tensor-core cases.
  for (const AttentionCase &c : kAttentionGradMmaCases)
    worst = std::max(worst, runAttentionGrad<uint16_t>(ctx(), device(), c,
                                                       PALMRT_BF16, 1.0 / 64));
  std::printf("attention grad on tensor cores: largest error %.3g of the "
              "largest value\n",
              worst);
}

TEST_F(Cuda, LaunchRunsPtxKernels) {
  std::vector<float> x(1000, 1.0f);
  DeviceVector<float> dx(device(), x);
  float *pointer = static_cast<float *>(dx.pointer());
  float value = 2.5f;
  int64_t n = 1000;
  void *args[] = {&pointer, &value, &n};
  // Twice: the second launch finds the module in the cache.
  for (int i = 0; i < 2; ++i)
    palmrt_launch(ctx(), testPtx(), "palmrt_test_add", 8, 1, 1, 128, 1, 1, 0,
                  args);
  EXPECT_EQ(dx.get(), std::vector<float>(1000, 6.0f));
  // Dynamic shared memory beyond the 48 KB default.
  int64_t m = 20000;
  DeviceVector<float> out(device(), m);
  float *outPointer = static_cast<float *>(out.pointer());
  void *sharedArgs[] = {&outPointer, &m};
  palmrt_launch(ctx(), testPtx(), "palmrt_test_shared", 1, 1, 1, 256, 1, 1,
                static_cast<int32_t>(m * sizeof(float)), sharedArgs);
  std::vector<float> got = out.get();
  for (int64_t i = 0; i < m; i += 997)
    EXPECT_EQ(got[i], 2.0f * i + 1.0f) << i;
  // An empty grid runs nothing.
  palmrt_launch(ctx(), testPtx(), "palmrt_test_add", 0, 1, 1, 128, 1, 1, 0,
                args);
  EXPECT_EQ(dx.get(), std::vector<float>(1000, 6.0f));
}

TEST_F(Cuda, LaunchErrorsAreFatalAndSayWhy) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(palmrt_launch(ctx(), testPtx(), "palmrt_no_such_kernel", 1, 1, 1,
                            1, 1, 1, 0, nullptr),
              ::testing::ExitedWithCode(1),
              "kernel 'palmrt_no_such_kernel' is not in its GPU module");
  EXPECT_EXIT(palmrt_launch(ctx(), "not ptx", "palmrt_test_add", 1, 1, 1, 1, 1,
                            1, 0, nullptr),
              ::testing::ExitedWithCode(1), "does not load");
  EXPECT_EXIT(palmrt_launch(ctx(), testPtx(), "palmrt_test_add", 1, 1, 1, 2048,
                            1, 1, 0, nullptr),
              ::testing::ExitedWithCode(1), "beyond CUDA's limits");
}

TEST_F(Cuda, CollectivesOfOneDeviceAreCopies) {
  std::vector<float> x = randomVector(60, 10);
  int64_t shape[3] = {3, 4, 5};
  DeviceVector<float> in(device(), x), out(device(), x.size());
  palmrt_all_reduce(ctx(), in.pointer(), out.pointer(), 60, PALMRT_F32,
                    PALMRT_SUM, 0);
  EXPECT_EQ(out.get(), x);
  out.set(std::vector<float>(60, 0.0f));
  palmrt_all_gather(ctx(), in.pointer(), out.pointer(), 3, shape, 1, PALMRT_F32,
                    0);
  EXPECT_EQ(out.get(), x);
  out.set(std::vector<float>(60, 0.0f));
  palmrt_reduce_scatter(ctx(), in.pointer(), out.pointer(), 3, shape, 2,
                        PALMRT_F32, PALMRT_MAX, 0);
  EXPECT_EQ(out.get(), x);
  out.set(std::vector<float>(60, 0.0f));
  palmrt_all_to_all(ctx(), in.pointer(), out.pointer(), 3, shape, 0, 2,
                    PALMRT_F32, 0);
  EXPECT_EQ(out.get(), x);
  int64_t self[2] = {0, 0};
  out.set(std::vector<float>(60, 0.0f));
  palmrt_collective_permute(ctx(), in.pointer(), out.pointer(), 60, PALMRT_F32,
                            0, 1, self);
  EXPECT_EQ(out.get(), x);
  palmrt_collective_permute(ctx(), in.pointer(), out.pointer(), 60, PALMRT_F32,
                            0, 0, nullptr);
  EXPECT_EQ(out.get(), std::vector<float>(60, 0.0f));
  palmrt_all_slice(ctx(), in.pointer(), out.pointer(), 3, shape, 1, PALMRT_F32,
                   0);
  EXPECT_EQ(out.get(), x);
}

TEST_F(Cuda, AllSliceCopiesBlocksAndPadsOnTheDevice) {
  // A context whose group claims 3 devices: all_slice needs no
  // communication, so one GPU plays device `index` of the three.
  absl::Status why;
  std::unique_ptr<palmrt_context> c = makeCudaContext(&why);
  ASSERT_TRUE(c) << why;
  for (int64_t index : {0, 1, 2})
    for (int32_t dim : {0, 1, 2})
      for (int32_t dtype : {PALMRT_F32, PALMRT_BF16, PALMRT_I64}) {
        c->groups[0].size = 3;
        c->groups[0].index = index;
        int64_t shape[3] = {4, 7, 6};
        shape[dim] = 8; // 3 shards of 3, the last holding 2
        int64_t elem = dtype == PALMRT_BF16 ? 2 : dtype == PALMRT_I64 ? 8 : 4;
        int64_t n = shape[0] * shape[1] * shape[2];
        std::vector<uint8_t> x(n * elem);
        for (size_t i = 0; i < x.size(); ++i)
          x[i] = static_cast<uint8_t>(i * 13 + 1);
        int64_t outShape[3] = {shape[0], shape[1], shape[2]};
        outShape[dim] = 3;
        int64_t outN = outShape[0] * outShape[1] * outShape[2];
        DeviceVector<uint8_t> in(*c->device, x),
            out(*c->device, std::vector<uint8_t>(outN * elem, 0xEE));
        palmrt_all_slice(c.get(), in.pointer(), out.pointer(), 3, shape, dim,
                         dtype, 0);
        std::vector<uint8_t> got = out.get();
        for (int64_t i = 0; i < outN; ++i) {
          int64_t idx[3] = {i / (outShape[1] * outShape[2]),
                            i / outShape[2] % outShape[1], i % outShape[2]};
          idx[dim] += index * 3;
          bool inside = idx[dim] < shape[dim];
          int64_t from = (idx[0] * shape[1] + idx[1]) * shape[2] + idx[2];
          for (int64_t byte = 0; byte < elem; ++byte)
            ASSERT_EQ(got[i * elem + byte], inside ? x[from * elem + byte] : 0)
                << "index " << index << " dim " << dim << " dtype " << dtype
                << " element " << i;
        }
      }
  c->groups[0].size = 1;
  c->groups[0].index = 0;
}

TEST_F(Cuda, StepsTimeTheirCollectives) {
  DeviceVector<float> x(device(), std::vector<float>(4096, 1.0f));
  device().beginStep("the test");
  for (int i = 0; i < 3; ++i)
    palmrt_all_reduce(ctx(), x.pointer(), x.pointer(), 4096, PALMRT_F32,
                      PALMRT_SUM, 0);
  StepTimes times = device().finishStep();
  EXPECT_EQ(times.collectives, 3);
  EXPECT_GE(times.collectiveSeconds, 0.0);
  EXPECT_LT(times.collectiveSeconds, 10.0);
}

} // namespace
} // namespace palmrt
