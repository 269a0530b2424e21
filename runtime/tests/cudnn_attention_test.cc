//===- cudnn_attention_test.cc - attention on cuDNN -----------------------===//
//
// Three kinds of test, run by different ctest entries:
// - CudnnGraphs: the operation graphs against the real libcudnn.so.9 where
//   it is installed. Building and finalizing a graph needs no GPU, so cuDNN
//   itself checks every descriptor, tensor and operation we give it; and
//   with an H100's device properties and the toolkit's stub driver, its
//   heuristics pick engines for the graphs and compile them.
// - CudnnAttention: palmrt_attention and palmrt_attention_grad through the
//   cuda backend with PALMRT_ATTENTION=cudnn, against the host backend; on
//   a GPU with cuDNN, or against fake_cuda/ (whose libcudnn.so.9 interprets
//   the graphs with each operation's documented semantics).
// - CudnnUnsupported: which calls go to palmrt's kernels instead.
//
//===----------------------------------------------------------------------===//

#include "cuda/cudnn_attention.h"
#include "cuda_test_util.h"
#include "random_values.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <cmath>

namespace palmrt {
namespace {

//===----------------------------------------------------------------------===//
// The graphs, checked by the real library
//===----------------------------------------------------------------------===//

const Cudnn *realCudnn(std::string *why) {
  absl::StatusOr<const Cudnn *> lib = loadCudnn();
  if (!lib.ok()) {
    *why = std::string(lib.status().message());
    return nullptr;
  }
  return *lib;
}

// palm-1b's and palm-8b's attention (MQA, heads of 128 and 256), grouped
// heads, and a cross shape.
const SdpaShape kGraphShapes[] = {
    {1, 2048, 2048, 16, 1, 128, true},
    {2, 2048, 2048, 16, 1, 256, true},
    {2, 256, 256, 8, 2, 64, true},
    {1, 64, 300, 4, 4, 64, false},
};

TEST(CudnnGraphs, TheLibraryAcceptsTheForwardAndBackward) {
  std::string why;
  const Cudnn *dnn = realCudnn(&why);
  if (!dnn)
    GTEST_SKIP() << "no cuDNN: " << why;
  for (const SdpaShape &p : kGraphShapes) {
    std::string what = absl::StrCat("b=", p.b, " s=", p.s, " t=", p.t,
                                    " h=", p.h, " g=", p.g, " d=", p.d);
    absl::StatusOr<SdpaGraph> forward = buildSdpaForward(*dnn, p);
    EXPECT_TRUE(forward.ok()) << what << ": " << forward.status();
    absl::StatusOr<SdpaGraph> backward = buildSdpaBackward(*dnn, p);
    EXPECT_TRUE(backward.ok()) << what << ": " << backward.status();
  }
}

/// The device properties of an H100 SXM (sm_90, 132 SMs) as cuDNN 9.8 and
/// later read them (CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION), so its
/// heuristics and plans can target that GPU where there is none.
const char kH100Properties[] =
    R"({"deviceVer": 900, "driverVer": 13000, "cudaDeviceId": 0,
        "totalGlobalMem": 85520809984,
        "maxGridSize": [2147483647, 65535, 65535],
        "maxBlockSize": [1024, 1024, 64], "regsPerBlock": 65536,
        "multiProcessorCount": 132, "warpSize": 32,
        "maxSharedMemoryPerBlock": 49152,
        "maxSharedMemoryPerBlockOptin": 232448,
        "reservedSharedMemoryPerBlock": 1024, "maxRegistersPerSM": 65536,
        "maxCtasPerSM": 32, "maxThreadsPerBlock": 1024,
        "maxThreadsPerSM": 2048, "pciDeviceId": 0, "isTccDriver": 0,
        "supportCoopLaunch": 1, "smClockRateKHz": 1980000,
        "memClockRateKHz": 2619000, "l2CacheSize": 52428800,
        "deviceName": "NVIDIA H100 80GB HBM3"})";

// cuDNN's own descriptor type and attributes for device properties (cuDNN
// 9.8+), used only here.
constexpr int kDevicePropDesc = 38, kAttrDevicePropJson = 2702,
              kAttrHeurDeviceProp = 204, kAttrPlanDeviceProp = 407,
              kTypeChar = 24;

// The real test of the graphs short of a GPU: cuDNN's heuristics for an
// H100 offer engines for palm-1b's and palm-8b's forward and backward and
// for grouped heads, and an engine compiles each graph into a kernel (its
// execution plan gets as far as loading the kernel into the driver). Run
// with the toolkit's stub libcuda.so.1 on the loader's path: cuDNN's
// runtime-compiled engines need a driver library to exist, and the stub's
// refusal to load the kernel (CUDA_ERROR_STUB_LIBRARY) is the expected end.
TEST(CudnnGraphs, Sm90EnginesCompileThem) {
  std::string why;
  const Cudnn *dnn = realCudnn(&why);
  if (!dnn)
    GTEST_SKIP() << "no cuDNN: " << why;
  if (!std::getenv("PALMRT_TEST_CUDNN_COMPILE"))
    GTEST_SKIP() << "set PALMRT_TEST_CUDNN_COMPILE (ctest "
                    "palmrt-cudnn-graphs does, with the stub driver)";
  std::vector<DnnDescriptor> owned;
  auto make = [&](int type) {
    dnn::Descriptor d = nullptr;
    EXPECT_EQ(dnn->BackendCreateDescriptor(type, &d), dnn::kSuccess);
    owned.emplace_back(*dnn, d);
    return d;
  };
  dnn::Descriptor device = make(kDevicePropDesc);
  ASSERT_EQ(dnn->BackendSetAttribute(device, kAttrDevicePropJson, kTypeChar,
                                     sizeof(kH100Properties), kH100Properties),
            dnn::kSuccess);
  dnn::Status s = dnn->BackendFinalize(device);
  ASSERT_EQ(s, dnn::kSuccess) << dnn->statusString(s);
  for (const SdpaShape &p :
       {kGraphShapes[0], kGraphShapes[1], kGraphShapes[2]}) {
    for (bool backward : {false, true}) {
      std::string what =
          absl::StrCat(backward ? "backward" : "forward", " b=", p.b,
                       " s=", p.s, " h=", p.h, " g=", p.g, " d=", p.d);
      absl::StatusOr<SdpaGraph> graph =
          backward ? buildSdpaBackward(*dnn, p) : buildSdpaForward(*dnn, p);
      ASSERT_TRUE(graph.ok()) << what << ": " << graph.status();
      dnn::Descriptor heur = make(dnn::kEngineHeurDesc);
      int32_t mode = dnn::kHeurModeA;
      dnn->BackendSetAttribute(heur, dnn::kAttrHeurGraph, dnn::kTypeDescriptor,
                               1, &graph->graph);
      dnn->BackendSetAttribute(heur, dnn::kAttrHeurMode, dnn::kTypeHeurMode, 1,
                               &mode);
      dnn->BackendSetAttribute(heur, kAttrHeurDeviceProp, dnn::kTypeDescriptor,
                               1, &device);
      s = dnn->BackendFinalize(heur);
      ASSERT_EQ(s, dnn::kSuccess) << what << ": " << dnn->statusString(s);
      int64_t count = 0;
      s = dnn->BackendGetAttribute(heur, dnn::kAttrHeurResults,
                                   dnn::kTypeDescriptor, 0, &count, nullptr);
      ASSERT_EQ(s, dnn::kSuccess) << what << ": " << dnn->statusString(s);
      // The configurations that pass cuDNN's support checks.
      std::vector<dnn::Descriptor> configs;
      for (int64_t i = 0; i < count; ++i)
        configs.push_back(make(dnn::kEngineCfgDesc));
      s = dnn->BackendGetAttribute(heur, dnn::kAttrHeurResults,
                                   dnn::kTypeDescriptor, count, &count,
                                   configs.data());
      ASSERT_EQ(s, dnn::kSuccess) << what << ": " << dnn->statusString(s);
      ASSERT_GT(count, 0) << what << ": no engine supports the graph";
      // The first one compiles it.
      dnn::Descriptor plan = make(dnn::kExecutionPlanDesc);
      dnn->BackendSetAttribute(plan, dnn::kAttrPlanConfig, dnn::kTypeDescriptor,
                               1, &configs[0]);
      dnn->BackendSetAttribute(plan, kAttrPlanDeviceProp, dnn::kTypeDescriptor,
                               1, &device);
      s = dnn->BackendFinalize(plan);
      std::string result = s == dnn::kSuccess ? "" : dnn->statusString(s);
      EXPECT_TRUE(s == dnn::kSuccess ||
                  result.find("cuLibraryLoadData") != std::string::npos)
          << what << ": " << result;
      std::printf("%s: %lld engine configurations; the first compiles%s\n",
                  what.c_str(), static_cast<long long>(count),
                  s == dnn::kSuccess ? " and loads" : "");
    }
  }
}

//===----------------------------------------------------------------------===//
// Which calls cuDNN takes
//===----------------------------------------------------------------------===//

AttentionArgs argsFor(int64_t h, int64_t g, int64_t d, int64_t headOffset,
                      int64_t headsPerGroup, int64_t globalHeads,
                      int64_t queryOffset = 0, int32_t dtype = PALMRT_BF16) {
  alignas(16) static char memory[64];
  AttentionArgs a{};
  a.dtype = dtype;
  a.q = a.k = a.v = memory;
  a.out = memory;
  a.lse = reinterpret_cast<float *>(memory);
  a.b = 1;
  a.s = a.t = 16;
  a.h = h;
  a.g = g;
  a.dk = a.dv = d;
  a.causal = 1;
  a.headOffset = headOffset;
  a.headsPerGroup = headsPerGroup;
  a.globalHeads = globalHeads;
  a.queryOffset = queryOffset;
  return a;
}

TEST(CudnnUnsupported, SaysWhichCallsGoToPalmsKernels) {
  // Whole problems and head shards of MQA and GQA map onto cuDNN.
  EXPECT_EQ(cudnnUnsupported(argsFor(8, 1, 128, 0, 8, 8)), "");
  EXPECT_EQ(cudnnUnsupported(argsFor(4, 1, 128, 4, 8, 8)), "");
  EXPECT_EQ(cudnnUnsupported(argsFor(8, 2, 64, 0, 4, 8)), "");
  EXPECT_EQ(cudnnUnsupported(argsFor(4, 2, 64, 0, 2, 8)), "");
  // The rest does not.
  EXPECT_NE(cudnnUnsupported(argsFor(8, 1, 128, 0, 8, 8, 0, PALMRT_F32)), "");
  EXPECT_NE(cudnnUnsupported(argsFor(8, 1, 4, 0, 8, 8)), "");
  EXPECT_NE(cudnnUnsupported(argsFor(8, 1, 264, 0, 8, 8)), "");
  EXPECT_NE(cudnnUnsupported(argsFor(4, 1, 64, 2, 5, 5)), "") << "padding";
  EXPECT_NE(cudnnUnsupported(argsFor(8, 1, 64, 0, 8, 8, 16)), "")
      << "query shard";
  // Global heads 2, 3 of two per group read key/value head 1 of 2 local
  // ones; cuDNN would pair them with head 0.
  EXPECT_NE(cudnnUnsupported(argsFor(2, 2, 64, 2, 2, 4)), "");
  AttentionArgs odd = argsFor(8, 1, 64, 0, 8, 8);
  odd.k = static_cast<const char *>(odd.k) + 2;
  EXPECT_NE(cudnnUnsupported(odd), "") << "alignment";
}

//===----------------------------------------------------------------------===//
// The calls, against the host
//===----------------------------------------------------------------------===//

class CudnnAttention : public OnGpu {
protected:
  void SetUp() override {
    OnGpu::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    const char *choice = std::getenv("PALMRT_ATTENTION");
    if (!choice || std::string(choice) != "cudnn")
      GTEST_SKIP() << "run with PALMRT_ATTENTION=cudnn";
  }
};

struct Case {
  const char *name;
  int64_t b, s, t, h, g, d;
  int32_t causal;
  int64_t headOffset, headsPerGroup, globalHeads;
};

const Case kCases[] = {
    {"multi-query causal", 2, 19, 19, 3, 1, 8, 1, 0, 3, 3},
    {"grouped causal", 1, 24, 24, 4, 2, 16, 1, 0, 2, 4},
    {"head shard of MQA", 1, 17, 17, 2, 1, 64, 1, 4, 8, 8},
    {"cross, not causal", 2, 5, 33, 2, 1, 32, 0, 0, 2, 2},
    {"one position", 1, 1, 1, 2, 2, 8, 1, 0, 1, 2},
};

std::vector<uint16_t> bf16Vector(size_t n, int seed) {
  return toBf16(randomVector(n, seed));
}

TEST_F(CudnnAttention, ForwardMatchesTheHost) {
  double worst = 0, worstLse = 0;
  for (const Case &c : kCases) {
    for (bool withLse : {true, false}) {
      std::string what = absl::StrCat(c.name, withLse ? ", lse" : "");
      auto q = bf16Vector(c.b * c.s * c.h * c.d, 7);
      auto k = bf16Vector(c.b * c.t * c.g * c.d, 8);
      auto v = bf16Vector(c.b * c.t * c.g * c.d, 9);
      float scale = 1.0f / std::sqrt(static_cast<float>(c.d));
      size_t outSize = c.b * c.s * c.h * c.d, rows = c.b * c.s * c.h;
      std::vector<uint16_t> want(outSize);
      std::vector<float> wantLse(rows);
      palmrt_attention(nullptr, PALMRT_BF16, q.data(), k.data(), v.data(),
                       want.data(), c.b, c.s, c.t, c.h, c.g, c.d, c.d, c.causal,
                       scale, c.headOffset, c.headsPerGroup, c.globalHeads, 0,
                       wantLse.data());
      DeviceVector<uint16_t> dq(device(), q), dk(device(), k), dv(device(), v),
          out(device(), std::vector<uint16_t>(outSize, 0x4000));
      DeviceVector<float> lse(device(), std::vector<float>(rows, 7.0f));
      palmrt_attention(ctx(), PALMRT_BF16, dq.pointer(), dk.pointer(),
                       dv.pointer(), out.pointer(), c.b, c.s, c.t, c.h, c.g,
                       c.d, c.d, c.causal, scale, c.headOffset, c.headsPerGroup,
                       c.globalHeads, 0, withLse ? lse.at(0) : nullptr);
      // cuDNN rounds the probabilities to bf16 before P V; the host keeps
      // them in f32: a few bf16 steps of the largest output.
      double error = errorToLargest(fromBf16(out.get()), fromBf16(want));
      EXPECT_LE(error, 2.0 / 128) << what;
      worst = std::max(worst, error);
      if (withLse) {
        double lseError = errorToLargest(lse.get(), wantLse);
        EXPECT_LE(lseError, 1e-5) << what;
        worstLse = std::max(worstLse, lseError);
      } else {
        EXPECT_EQ(lse.get(), std::vector<float>(rows, 7.0f)) << what;
      }
    }
  }
  std::printf("cuDNN attention forward: largest error %.3g of the largest "
              "value, lse %.3g\n",
              worst, worstLse);
}

TEST_F(CudnnAttention, BackwardMatchesTheHost) {
  double worst = 0;
  for (const Case &c : kCases) {
    if (c.s == 1 && c.t == 1)
      continue; // cuDNN has no backward of one position
    auto q = bf16Vector(c.b * c.s * c.h * c.d, 7);
    auto k = bf16Vector(c.b * c.t * c.g * c.d, 8);
    auto v = bf16Vector(c.b * c.t * c.g * c.d, 9);
    auto dout = bf16Vector(c.b * c.s * c.h * c.d, 10);
    float scale = 1.0f / std::sqrt(static_cast<float>(c.d));
    size_t rows = c.b * c.s * c.h;
    std::vector<uint16_t> out(dout.size());
    std::vector<float> lse(rows);
    palmrt_attention(nullptr, PALMRT_BF16, q.data(), k.data(), v.data(),
                     out.data(), c.b, c.s, c.t, c.h, c.g, c.d, c.d, c.causal,
                     scale, c.headOffset, c.headsPerGroup, c.globalHeads, 0,
                     lse.data());
    std::vector<uint16_t> wantQ(q.size()), wantK(k.size()), wantV(v.size());
    palmrt_attention_grad(nullptr, PALMRT_BF16, q.data(), k.data(), v.data(),
                          out.data(), lse.data(), dout.data(), wantQ.data(),
                          wantK.data(), wantV.data(), c.b, c.s, c.t, c.h, c.g,
                          c.d, c.d, c.causal, scale, c.headOffset,
                          c.headsPerGroup, c.globalHeads, 0);
    DeviceVector<uint16_t> dq(device(), q), dk(device(), k), dv(device(), v),
        dOut(device(), out), dDout(device(), dout), gq(device(), q),
        gk(device(), k), gv(device(), v);
    DeviceVector<float> dLse(device(), lse);
    auto run = [&] {
      palmrt_attention_grad(
          ctx(), PALMRT_BF16, dq.pointer(), dk.pointer(), dv.pointer(),
          dOut.pointer(), dLse.at(0), dDout.pointer(), gq.pointer(),
          gk.pointer(), gv.pointer(), c.b, c.s, c.t, c.h, c.g, c.d, c.d,
          c.causal, scale, c.headOffset, c.headsPerGroup, c.globalHeads, 0);
    };
    run();
    std::vector<uint16_t> gotQ = gq.get(), gotK = gk.get(), gotV = gv.get();
    // cuDNN's deterministic backward: the same bits again, as
    // palmrt_attention_grad promises.
    run();
    EXPECT_TRUE(gq.get() == gotQ && gk.get() == gotK && gv.get() == gotV)
        << c.name << ": a second run differs";
    for (auto [got, want, name] :
         {std::tuple(&gotQ, &wantQ, "dq"), std::tuple(&gotK, &wantK, "dk"),
          std::tuple(&gotV, &wantV, "dv")}) {
      double error = errorToLargest(fromBf16(*got), fromBf16(*want));
      EXPECT_LE(error, 2.0 / 128) << c.name << " " << name;
      worst = std::max(worst, error);
    }
  }
  std::printf("cuDNN attention backward: largest error %.3g of the largest "
              "value\n",
              worst);
}

} // namespace
} // namespace palmrt
