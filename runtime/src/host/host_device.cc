//===- host_device.cc - the CPU backend: memory, copies, attention --------===//
//
// GEMMs are in host_gemm.cc and collectives in host_collectives.cc.
//
//===----------------------------------------------------------------------===//

#include "host/host_device.h"

#include "api/context.h"
#include "base/bf16.h"
#include "base/trace.h"
#include "job/process.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace palmrt {

absl::StatusOr<void *> HostDevice::allocate(int64_t bytes) {
  // 256-byte aligned and zero-filled, as Device promises.
  size_t rounded =
      static_cast<size_t>((std::max<int64_t>(bytes, 1) + 255) / 256 * 256);
  void *memory = std::aligned_alloc(256, rounded);
  if (!memory)
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes of host memory"));
  std::memset(memory, 0, rounded);
  return memory;
}

void HostDevice::release(void *memory) { std::free(memory); }

absl::Status HostDevice::upload(void *device, const void *host,
                                int64_t bytes) {
  std::memcpy(device, host, static_cast<size_t>(bytes));
  return absl::OkStatus();
}

absl::Status HostDevice::download(void *host, const void *device,
                                  int64_t bytes) {
  std::memcpy(host, device, static_cast<size_t>(bytes));
  return absl::OkStatus();
}

StepTimes HostDevice::finishStep() {
  StepTimes times;
  if (ctx) {
    times.collectiveSeconds = ctx->collectiveSeconds;
    times.collectives = ctx->collectiveCalls;
  }
  return times;
}

void HostDevice::copy(void *dst, const void *src, int64_t bytes) {
  TraceScope trace("copy", "data");
  std::memmove(dst, src, static_cast<size_t>(bytes));
}

void HostDevice::launch(const char *, const char *kernel, const int64_t *,
                        const int64_t *, int32_t, void **) {
  fatal(absl::StrCat("palmrt_launch: a GPU kernel ('",
                     kernel ? kernel : "(null)",
                     "') in a CPU program; compile it with --target cuda "
                     "or without GPU kernels"));
}

void HostDevice::attention(const AttentionArgs &a) {
  if (a.dtype == PALMRT_F32)
    return palmrt_attention_f32(
        static_cast<const float *>(a.q), static_cast<const float *>(a.k),
        static_cast<const float *>(a.v), static_cast<float *>(a.out), a.b, a.s,
        a.t, a.h, a.g, a.dk, a.dv, a.causal, a.scale, a.headOffset,
        a.headsPerGroup, a.globalHeads, a.queryOffset, a.lse);
  // bf16: widened to f32, the result rounded once (lse is f32 either way).
  std::vector<float> q = widenBf16(a.q, a.b * a.s * a.h * a.dk),
                     k = widenBf16(a.k, a.b * a.t * a.g * a.dk),
                     v = widenBf16(a.v, a.b * a.t * a.g * a.dv),
                     out(std::max<int64_t>(a.b * a.s * a.h * a.dv, 0));
  palmrt_attention_f32(q.data(), k.data(), v.data(), out.data(), a.b, a.s, a.t,
                       a.h, a.g, a.dk, a.dv, a.causal, a.scale, a.headOffset,
                       a.headsPerGroup, a.globalHeads, a.queryOffset, a.lse);
  narrowToBf16(out.data(), a.out, static_cast<int64_t>(out.size()));
}

void HostDevice::attentionGrad(const AttentionGradArgs &a) {
  if (a.dtype == PALMRT_F32)
    return palmrt_attention_grad_f32(
        static_cast<const float *>(a.q), static_cast<const float *>(a.k),
        static_cast<const float *>(a.v), static_cast<const float *>(a.out),
        a.lse, static_cast<const float *>(a.dout), static_cast<float *>(a.dq),
        static_cast<float *>(a.dk), static_cast<float *>(a.dv), a.b, a.s, a.t,
        a.h, a.g, a.dkSize, a.dvSize, a.causal, a.scale, a.headOffset,
        a.headsPerGroup, a.globalHeads, a.queryOffset);
  // bf16: widened to f32, each result rounded once.
  int64_t rows = a.b * a.s * a.h, keys = a.b * a.t * a.g;
  std::vector<float> q = widenBf16(a.q, rows * a.dkSize),
                     k = widenBf16(a.k, keys * a.dkSize),
                     v = widenBf16(a.v, keys * a.dvSize),
                     out = widenBf16(a.out, rows * a.dvSize),
                     dout = widenBf16(a.dout, rows * a.dvSize), dq(q.size()),
                     dk(k.size()), dv(v.size());
  palmrt_attention_grad_f32(q.data(), k.data(), v.data(), out.data(), a.lse,
                            dout.data(), dq.data(), dk.data(), dv.data(), a.b,
                            a.s, a.t, a.h, a.g, a.dkSize, a.dvSize, a.causal,
                            a.scale, a.headOffset, a.headsPerGroup,
                            a.globalHeads, a.queryOffset);
  narrowToBf16(dq.data(), a.dq, static_cast<int64_t>(dq.size()));
  narrowToBf16(dk.data(), a.dk, static_cast<int64_t>(dk.size()));
  narrowToBf16(dv.data(), a.dv, static_cast<int64_t>(dv.size()));
}

Device &deviceOf(palmrt_context *ctx) {
  if (ctx)
    return *ctx->device;
  static HostDevice *withoutContext = new HostDevice(nullptr);
  return *withoutContext;
}

} // namespace palmrt
