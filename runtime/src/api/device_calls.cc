//===- device_calls.cc - palmrt_copy, palmrt_launch, attention, GEMM ------===//
//
// The calls whose work depends on where the buffers are: their arguments
// are checked here, then the context's device does the work (the host's
// copy is memmove, its attention and attention backward are
// palmrt_attention_f32 and palmrt_attention_grad_f32, a launch on the host
// is an error). Calls without a context run on the host.
//
//===----------------------------------------------------------------------===//

#include "api/context.h"
#include "host/attention_heads.h"
#include "host/host_device.h"
#include "job/process.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

using namespace palmrt;

namespace {

/// The checks the forward and the backward of attention share; fatal with
/// `who` on a violation.
void checkAttention(const char *who, int32_t dtype, int64_t b, int64_t s,
                    int64_t t, int64_t h, int64_t g, int64_t dk, int64_t dv,
                    int64_t headOffset, int64_t headsPerGroup,
                    int64_t globalHeads) {
  if (dtype != PALMRT_F32 && dtype != PALMRT_BF16)
    fatal(absl::StrCat(who, ": element type ", dtype,
                       " is not supported (f32 and bf16 are)"));
  if (b < 0 || s < 0 || t < 0 || h < 0 || g < 0 || dk < 0 || dv < 0)
    fatal(absl::StrCat(who, ": negative sizes"));
  attentionRealHeads(who, h, g, headOffset, headsPerGroup, globalHeads);
}

} // namespace

extern "C" {

void palmrt_copy(palmrt_context *ctx, void *dst, const void *src,
                 int64_t bytes) {
  if (bytes < 0)
    fatal(absl::StrCat("palmrt_copy of ", bytes, " bytes"));
  if (bytes == 0 || dst == src)
    return;
  deviceOf(ctx).copy(dst, src, bytes);
}

void palmrt_launch(palmrt_context *ctx, const char *image, const char *kernel,
                   int64_t grid_x, int64_t grid_y, int64_t grid_z,
                   int64_t block_x, int64_t block_y, int64_t block_z,
                   int32_t shared_bytes, void **args) {
  int64_t grid[3] = {grid_x, grid_y, grid_z};
  int64_t block[3] = {block_x, block_y, block_z};
  deviceOf(ctx).launch(image, kernel, grid, block, shared_bytes, args);
}

void palmrt_attention(palmrt_context *ctx, int32_t dtype, const void *q,
                      const void *k, const void *v, void *out, int64_t b,
                      int64_t s, int64_t t, int64_t h, int64_t g, int64_t dk,
                      int64_t dv, int32_t causal, float scale,
                      int64_t head_offset, int64_t heads_per_group,
                      int64_t global_heads, int64_t query_offset, float *lse) {
  checkAttention("palmrt_attention", dtype, b, s, t, h, g, dk, dv, head_offset,
                 heads_per_group, global_heads);
  deviceOf(ctx).attention({dtype, q, k, v, out, b, s, t, h, g, dk, dv, causal,
                           scale, head_offset, heads_per_group, global_heads,
                           query_offset, lse});
}

void palmrt_attention_grad(palmrt_context *ctx, int32_t dtype, const void *q,
                           const void *k, const void *v, const void *out,
                           const float *lse, const void *dout, void *dq,
                           void *dk, void *dv, int64_t b, int64_t s, int64_t t,
                           int64_t h, int64_t g, int64_t dk_size,
                           int64_t dv_size, int32_t causal, float scale,
                           int64_t head_offset, int64_t heads_per_group,
                           int64_t global_heads, int64_t query_offset) {
  checkAttention("palmrt_attention_grad", dtype, b, s, t, h, g, dk_size,
                 dv_size, head_offset, heads_per_group, global_heads);
  deviceOf(ctx).attentionGrad({dtype, q, k, v, out, lse, dout, dq, dk, dv, b,
                               s, t, h, g, dk_size, dv_size, causal, scale,
                               head_offset, heads_per_group, global_heads,
                               query_offset});
}

void palmrt_gemm(palmrt_context *ctx, int32_t dtype, int64_t batch, int64_t m,
                 int64_t n, int64_t k, const void *a, int32_t trans_a,
                 const void *b, int32_t trans_b, void *c) {
  deviceOf(ctx).gemm(dtype, batch, m, n, k, a, trans_a != 0, b, trans_b != 0,
                     nullptr, c);
}

void palmrt_gemm_add(palmrt_context *ctx, int32_t dtype, int64_t batch,
                     int64_t m, int64_t n, int64_t k, const void *a,
                     int32_t trans_a, const void *b, int32_t trans_b,
                     const void *addend, void *c) {
  if (!addend)
    fatal("palmrt_gemm_add: the addend is a null pointer");
  deviceOf(ctx).gemm(dtype, batch, m, n, k, a, trans_a != 0, b, trans_b != 0,
                     addend, c);
}

} // extern "C"
