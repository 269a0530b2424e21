//===- host_device.h - the CPU backend --------------------------*- C++ -*-===//
//
// The Device of a CPU program: buffers are host memory, GEMMs go to
// OpenBLAS, attention to palmrt_attention_f32, and collectives to the
// context's MPI transports (packing pieces along the collective's
// dimension; bf16 reductions in f32). Its work is done when a call returns,
// so the step brackets wait for nothing. Every context starts with one;
// a cuda program replaces it with its GPU.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_HOST_HOST_DEVICE_H
#define PALMRT_SRC_HOST_HOST_DEVICE_H

#include "device.h"

namespace palmrt {

class HostDevice final : public Device {
public:
  /// `ctx` (the context holding this device) serves the collectives; null
  /// for the device of calls made without a context, which has no groups.
  explicit HostDevice(palmrt_context *ctx) : ctx(ctx) {}

  std::string describe() const override { return "host"; }
  /// The groups' transports are made with the context.
  absl::Status connect(palmrt_context &) override {
    return absl::OkStatus();
  }

  absl::StatusOr<void *> allocate(int64_t bytes) override;
  void release(void *memory) override;
  absl::Status upload(void *device, const void *host, int64_t bytes) override;
  absl::Status download(void *host, const void *device,
                        int64_t bytes) override;

  void beginStep(const std::string &) override {}
  StepTimes finishStep() override;

  void copy(void *dst, const void *src, int64_t bytes) override;
  void launch(const char *image, const char *kernel, const int64_t grid[3],
              const int64_t block[3], int32_t sharedBytes,
              void **args) override;
  void gemm(int32_t dtype, int64_t batch, int64_t m, int64_t n, int64_t k,
            const void *a, bool transA, const void *b, bool transB,
            const void *addend, void *c) override;
  void attention(const AttentionArgs &args) override;
  void attentionGrad(const AttentionGradArgs &args) override;

  void allReduce(int32_t group, const void *in, void *out, int64_t count,
                 int32_t dtype, int32_t reduction) override;
  void allGather(int32_t group, const void *in, void *out,
                 const std::vector<int64_t> &inShape, int32_t dim,
                 int32_t dtype) override;
  void reduceScatter(int32_t group, const void *in, void *out,
                     const std::vector<int64_t> &inShape, int32_t dim,
                     int32_t dtype, int32_t reduction) override;
  void allToAll(int32_t group, const void *in, void *out,
                const std::vector<int64_t> &inShape, int32_t splitDim,
                int32_t concatDim, int32_t dtype) override;
  void permute(int32_t group, const void *in, void *out, int64_t count,
               int32_t dtype, const std::vector<int64_t> &sendTo,
               int64_t recvFrom) override;
  void allSlice(int32_t group, const void *in, void *out,
                const std::vector<int64_t> &inShape, int32_t dim,
                int32_t dtype) override;

private:
  palmrt_context *ctx;
};

/// `ctx`'s device, or for calls made without a context (tests, tools) a
/// HostDevice without groups.
Device &deviceOf(palmrt_context *ctx);

} // namespace palmrt

#endif // PALMRT_SRC_HOST_HOST_DEVICE_H
