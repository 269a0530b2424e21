//===- cuda_bench.cc - palmrt's GPU attention and GEMM, timed -------------===//
//
// Times the cuda backend's attention (palmrt_attention: inference, and with
// the statistics training keeps; palmrt_attention_grad) and GEMM
// (palmrt_gemm, cuBLASLt) in bf16 at the sizes of one layer of
// bench/gpu/palm-1b.json (batch 8 x 2048 positions, 16 query heads of 128
// sharing one key/value head, causal; the FFN's 16384 x 8192 x 2048
// product) and prints milliseconds and TFLOP/s. PALMRT_ATTENTION chooses
// cuDNN's attention or palmrt's kernels (docs/runtime.md). Not a test: bench/gpu/run.py
// runs it on a GPU machine next to PyTorch at the same sizes. Flags override
// the sizes (--b --s --h --d --m --n --k --reps), which the emulated check of
// the bench scripts uses to run it small.
//
//===----------------------------------------------------------------------===//

#include "api/context.h"
#include "device.h"
#include "io/program_info.h"

#include "palmrt/palmrt.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

struct Sizes {
  int64_t b = 8, s = 2048, h = 16, d = 128;  // attention
  int64_t m = 16384, n = 8192, k = 2048;     // GEMM
  int reps = 20;
};

bool parseFlags(int argc, char **argv, Sizes *sizes) {
  for (int i = 1; i < argc; ++i) {
    struct Flag {
      const char *name;
      int64_t *value;
    } flags[] = {{"--b", &sizes->b}, {"--s", &sizes->s}, {"--h", &sizes->h},
                 {"--d", &sizes->d}, {"--m", &sizes->m}, {"--n", &sizes->n},
                 {"--k", &sizes->k}};
    bool known = false;
    for (const Flag &f : flags)
      if (std::strcmp(argv[i], f.name) == 0 && i + 1 < argc) {
        *f.value = std::atoll(argv[++i]);
        known = *f.value > 0;
      }
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      sizes->reps = std::atoi(argv[++i]);
      known = sizes->reps > 0;
    }
    if (!known) {
      std::fprintf(stderr, "palmrt-cuda-bench: bad flag '%s' (flags: --b --s "
                           "--h --d --m --n --k --reps, positive)\n",
                   argv[i]);
      return false;
    }
  }
  return true;
}

/// Device memory of `count` bf16 values drawn from N(0, 1).
void *randomBf16(palmrt::Device &device, int64_t count, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint16_t> host(count);
  for (uint16_t &x : host) {
    float f = dist(gen);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    x = static_cast<uint16_t>((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
  }
  absl::StatusOr<void *> memory = device.allocate(count * 2);
  if (!memory.ok() || !device.upload(*memory, host.data(), count * 2).ok()) {
    std::fprintf(stderr, "palmrt-cuda-bench: cannot allocate %lld bf16\n",
                 static_cast<long long>(count));
    std::exit(1);
  }
  return *memory;
}

/// Median seconds of `reps` calls, each bracketed as a step (the device's
/// work waited for), after two warm-up calls.
double timeIt(palmrt::Device &device, int reps,
              const std::function<void()> &work) {
  std::vector<double> seconds;
  for (int i = 0; i < reps + 2; ++i) {
    device.beginStep("the bench");
    auto start = std::chrono::steady_clock::now();
    work();
    device.finishStep();
    double t = std::chrono::duration<double>(
                   std::chrono::steady_clock::now() - start)
                   .count();
    if (i >= 2)
      seconds.push_back(t);
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

} // namespace

int main(int argc, char **argv) {
  Sizes z;
  if (!parseFlags(argc, argv, &z))
    return 2;
  auto info = palmrt::parseProgramInfo(
      "{\"format\":\"palm-program\",\"version\":2,\"target\":\"cuda\","
      "\"mesh\":{\"axes\":[{\"name\":\"x\",\"size\":1}]},"
      "\"groups\":[[\"x\"]],\"args\":[],\"results\":[]}");
  auto ctx = info.ok() ? palmrt::createContext(*info)
                       : absl::StatusOr<std::unique_ptr<palmrt_context>>(
                             info.status());
  if (!ctx.ok()) {
    std::fprintf(stderr, "palmrt-cuda-bench: %s\n",
                 std::string(ctx.status().message()).c_str());
    return 1;
  }
  auto device = palmrt::openCudaDevice(0, 1, false);
  if (!device.ok()) {
    std::fprintf(stderr, "palmrt-cuda-bench: %s\n",
                 std::string(device.status().message()).c_str());
    return 1;
  }
  (*ctx)->device = std::move(*device);
  palmrt::Device &dev = *(*ctx)->device;
  if (absl::Status s = dev.connect(**ctx); !s.ok()) {
    std::fprintf(stderr, "palmrt-cuda-bench: %s\n",
                 std::string(s.message()).c_str());
    return 1;
  }
  std::printf("palmrt-cuda-bench on %s\n", dev.describe().c_str());

  void *q = randomBf16(dev, z.b * z.s * z.h * z.d, 1);
  void *k = randomBf16(dev, z.b * z.s * z.d, 2);
  void *v = randomBf16(dev, z.b * z.s * z.d, 3);
  void *out = randomBf16(dev, z.b * z.s * z.h * z.d, 4);
  void *dout = randomBf16(dev, z.b * z.s * z.h * z.d, 8);
  void *dq = randomBf16(dev, z.b * z.s * z.h * z.d, 9);
  void *dk = randomBf16(dev, z.b * z.s * z.d, 10);
  void *dv = randomBf16(dev, z.b * z.s * z.d, 11);
  absl::StatusOr<void *> lseMemory = dev.allocate(z.b * z.s * z.h * 4);
  if (!lseMemory.ok()) {
    std::fprintf(stderr, "palmrt-cuda-bench: %s\n",
                 std::string(lseMemory.status().message()).c_str());
    return 1;
  }
  float *lse = static_cast<float *>(*lseMemory);
  float scale = 1.0f / std::sqrt(static_cast<float>(z.d));
  auto forward = [&](float *stats) {
    palmrt_attention(ctx->get(), PALMRT_BF16, q, k, v, out, z.b, z.s, z.s, z.h,
                     1, z.d, z.d, 1, scale, 0, z.h, z.h, 0, stats);
  };
  // As the MFU counts attention: every (query, key) pair, 2 (dk + dv)
  // FLOPs each forward and 2 (3 dk + 2 dv) backward (five products); a
  // causal kernel does about half of them.
  double pairs = 2.0 * z.b * z.h * z.s * z.s;
  auto report = [&](const char *what, double t, double flops) {
    std::printf("attention %s bf16 b=%lld s=%lld h=%lld g=1 d=%lld causal: "
                "%.3f ms, %.1f TFLOP/s (all pairs), %.1f (causal pairs)\n",
                what, static_cast<long long>(z.b),
                static_cast<long long>(z.s), static_cast<long long>(z.h),
                static_cast<long long>(z.d), t * 1e3, flops / t * 1e-12,
                flops / 2 / t * 1e-12);
  };
  report("forward", timeIt(dev, z.reps, [&] { forward(nullptr); }),
         pairs * 2 * z.d);
  report("forward+lse", timeIt(dev, z.reps, [&] { forward(lse); }),
         pairs * 2 * z.d);
  forward(lse);
  report("backward",
         timeIt(dev, z.reps,
                [&] {
                  palmrt_attention_grad(ctx->get(), PALMRT_BF16, q, k, v, out,
                                        lse, dout, dq, dk, dv, z.b, z.s, z.s,
                                        z.h, 1, z.d, z.d, 1, scale, 0, z.h,
                                        z.h, 0);
                }),
         pairs * 5 * z.d);

  void *a = randomBf16(dev, z.m * z.k, 5);
  void *b = randomBf16(dev, z.k * z.n, 6);
  void *c = randomBf16(dev, z.m * z.n, 7);
  double t = timeIt(dev, z.reps, [&] {
    palmrt_gemm(ctx->get(), PALMRT_BF16, 1, z.m, z.n, z.k, a, 0, b, 0, c);
  });
  std::printf("gemm bf16 m=%lld n=%lld k=%lld: %.3f ms, %.1f TFLOP/s\n",
              static_cast<long long>(z.m), static_cast<long long>(z.n),
              static_cast<long long>(z.k), t * 1e3,
              2.0 * z.m * z.n * z.k / t * 1e-12);
  for (void *p : {q, k, v, out, dout, dq, dk, dv,
                  static_cast<void *>(lse), a, b, c})
    dev.release(p);
  return 0;
}
