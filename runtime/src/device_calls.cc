//===- device_calls.cc - palmrt_copy, palmrt_launch, palmrt_attention -----===//
//
// The calls palmrt.h adds for programs compiled for cuda, on either backend:
// with a Device they go to it; on the host, copy is memmove, attention is
// palmrt_attention_f32 (bf16 widened to f32 and rounded once), and a launch
// is an error, since a CPU program has no GPU kernels.
//
//===----------------------------------------------------------------------===//

#include "bf16.h"
#include "context.h"
#include "process.h"
#include "trace.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstring>
#include <vector>

using namespace palmrt;

namespace {

std::vector<float> widen(const void *in, int64_t count) {
  std::vector<float> out(std::max<int64_t>(count, 0));
  const auto *src = static_cast<const uint16_t *>(in);
  for (int64_t i = 0; i < count; ++i)
    out[i] = bf16ToFloat(src[i]);
  return out;
}

} // namespace

extern "C" {

void palmrt_copy(palmrt_context *ctx, void *dst, const void *src,
                 int64_t bytes) {
  if (bytes < 0)
    fatal(absl::StrCat("palmrt_copy of ", bytes, " bytes"));
  if (bytes == 0 || dst == src)
    return;
  if (ctx && ctx->device)
    return ctx->device->copy(dst, src, bytes);
  TraceScope trace("copy", "data");
  std::memmove(dst, src, static_cast<size_t>(bytes));
}

void palmrt_launch(palmrt_context *ctx, const char *image, const char *kernel,
                   int64_t grid_x, int64_t grid_y, int64_t grid_z,
                   int64_t block_x, int64_t block_y, int64_t block_z,
                   int32_t shared_bytes, void **args) {
  const char *name = kernel ? kernel : "(null)";
  if (!ctx || !ctx->device)
    fatal(absl::StrCat("palmrt_launch: a GPU kernel ('", name,
                       "') in a CPU program; compile it with --target cuda "
                       "or without GPU kernels"));
  if (!image || !kernel)
    fatal(absl::StrCat("palmrt_launch: kernel '", name, "' without a module"));
  int64_t grid[3] = {grid_x, grid_y, grid_z};
  int64_t block[3] = {block_x, block_y, block_z};
  ctx->device->launch(image, kernel, grid, block, shared_bytes, args);
}

void palmrt_attention(palmrt_context *ctx, int32_t dtype, const void *q,
                      const void *k, const void *v, void *out, int64_t b,
                      int64_t s, int64_t t, int64_t h, int64_t g, int64_t dk,
                      int64_t dv, int32_t causal, float scale,
                      int64_t head_offset, int64_t heads_per_group,
                      int64_t global_heads) {
  if (dtype != PALMRT_F32 && dtype != PALMRT_BF16)
    fatal(absl::StrCat("palmrt_attention: element type ", dtype,
                       " is not supported (f32 and bf16 are)"));
  if (heads_per_group <= 0)
    fatal(absl::StrCat("palmrt_attention: heads_per_group ", heads_per_group,
                       " must be positive"));
  if (b < 0 || s < 0 || t < 0 || h < 0 || g < 0 || dk < 0 || dv < 0)
    fatal("palmrt_attention: negative sizes");
  int64_t realHeads = std::clamp<int64_t>(global_heads - head_offset, 0, h);
  if (realHeads > 0 && (head_offset + realHeads - 1) / heads_per_group >= g)
    fatal(absl::StrCat("palmrt_attention: global head ",
                       head_offset + realHeads - 1, " needs key/value head ",
                       (head_offset + realHeads - 1) / heads_per_group,
                       " but only ", g, " are given"));
  if (ctx && ctx->device)
    return ctx->device->attention({dtype, q, k, v, out, b, s, t, h, g, dk, dv,
                                   causal, scale, head_offset, heads_per_group,
                                   global_heads});
  if (dtype == PALMRT_F32)
    return palmrt_attention_f32(
        static_cast<const float *>(q), static_cast<const float *>(k),
        static_cast<const float *>(v), static_cast<float *>(out), b, s, t, h, g,
        dk, dv, causal, scale, head_offset, heads_per_group, global_heads);
  std::vector<float> wq = widen(q, b * s * h * dk),
                     wk = widen(k, b * t * g * dk),
                     wv = widen(v, b * t * g * dv), wo(b * s * h * dv);
  palmrt_attention_f32(wq.data(), wk.data(), wv.data(), wo.data(), b, s, t, h,
                       g, dk, dv, causal, scale, head_offset, heads_per_group,
                       global_heads);
  auto *dst = static_cast<uint16_t *>(out);
  for (size_t i = 0; i < wo.size(); ++i)
    dst[i] = floatToBf16(wo[i]);
}

} // extern "C"
