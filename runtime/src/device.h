//===- device.h - the interface of palmrt's backends ------------*- C++ -*-===//
//
// Every call of palmrt.h that touches a program's buffers (GEMMs, copies,
// launches, attention, collectives) goes, once its arguments are checked, to
// the context's Device: the host (host/host_device.h: buffers in host
// memory, OpenBLAS, MPI) or a GPU (cuda/cuda_device.h: buffers in device
// memory, cuBLASLt, NCCL), whichever the program was compiled for. The
// backends are peers; one conformance suite (tests/collectives_test.cc)
// runs on each.
//
// All work a Device is given is ordered on its streams; only the methods the
// executable calls between steps (upload, download, finishStep) wait for it.
// Failures inside the calls of compiled code are fatal.
// Thread-safety: one thread uses a Device (the context's thread).
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_DEVICE_H
#define PALMRT_SRC_DEVICE_H

#include "absl/status/statusor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct palmrt_context;

namespace palmrt {

/// The arguments of palmrt_attention (palmrt.h), checked.
struct AttentionArgs {
  int32_t dtype;
  const void *q, *k, *v;
  void *out;
  int64_t b, s, t, h, g, dk, dv;
  int32_t causal;
  float scale;
  int64_t headOffset, headsPerGroup, globalHeads;
  int64_t queryOffset;
  /// f32 [b, s, h] or null: each row's log-sum-exp.
  float *lse;
};

/// The arguments of palmrt_attention_grad (palmrt.h), checked: the
/// forward's tensors, its lse and dout in; dq, dk, dv out (overwritten).
struct AttentionGradArgs {
  int32_t dtype;
  const void *q, *k, *v, *out;
  const float *lse;
  const void *dout;
  void *dq, *dk, *dv;
  int64_t b, s, t, h, g, dkSize, dvSize;
  int32_t causal;
  float scale;
  int64_t headOffset, headsPerGroup, globalHeads;
  int64_t queryOffset;
};

/// What a step cost on the device, measured on the device.
struct StepTimes {
  /// Device time inside collectives, summed over the step's collectives.
  double collectiveSeconds = 0;
  int64_t collectives = 0;
};

class Device {
public:
  virtual ~Device() = default;

  /// One line naming the device: "cuda device 0 of 8 (NVIDIA H100, sm_90)".
  virtual std::string describe() const = 0;

  /// The device's peak FLOP/s for the MFU (dense bf16 tensor-core math, or
  /// f32 for an f32 program), 0 when unknown.
  virtual double peakFlops(bool bf16) const {
    (void)bf16;
    return 0;
  }

  /// Makes the communicators of the context's groups of several devices
  /// (groups of one need none). Collective over the job: every rank calls it
  /// once, after its context's groups exist. `ctx` must outlive the device.
  virtual absl::Status connect(palmrt_context &ctx) = 0;

  /// `bytes` of zero-filled device memory, at least 256-byte aligned.
  virtual absl::StatusOr<void *> allocate(int64_t bytes) = 0;
  virtual void release(void *memory) = 0;
  /// Host to device, once earlier work is done; returns when `host` may be
  /// reused.
  virtual absl::Status upload(void *device, const void *host,
                              int64_t bytes) = 0;
  /// Device to host, once earlier work is done.
  virtual absl::Status download(void *host, const void *device,
                                int64_t bytes) = 0;

  /// Brackets one call of the compiled entry: finishStep waits for all of
  /// its work (a device error is fatal) and reports its collectives. `what`
  /// names the call in messages ("step 12").
  virtual void beginStep(const std::string &what) = 0;
  virtual StepTimes finishStep() = 0;

  /// Generates a parameter shard in device memory with the host's generator
  /// (exe/generator.h), bit for bit; false when this device leaves that to
  /// the host.
  struct NormalInit {
    void *out;
    bool bf16;
    double stddev;
    uint32_t seed, nameHash;
    std::vector<int64_t> localShape, offset, globalShape;
  };
  virtual absl::StatusOr<bool> initNormal(const NormalInit &) { return false; }

  // The calls of compiled code (palmrt.h), arguments checked by the caller.
  virtual void copy(void *dst, const void *src, int64_t bytes) = 0;
  virtual void launch(const char *image, const char *kernel,
                      const int64_t grid[3], const int64_t block[3],
                      int32_t sharedBytes, void **args) = 0;
  /// c = op(a) op(b), plus `addend` (laid out as c) unless it is null.
  virtual void gemm(int32_t dtype, int64_t batch, int64_t m, int64_t n,
                    int64_t k, const void *a, bool transA, const void *b,
                    bool transB, const void *addend, void *c) = 0;
  virtual void attention(const AttentionArgs &args) = 0;
  virtual void attentionGrad(const AttentionGradArgs &args) = 0;

  // Collectives over group `group` of the connected context (palmrt.h's
  // semantics; shapes have `shape.size()` dimensions, `dim`s are valid and
  // split dimensions divide by the group size).
  virtual void allReduce(int32_t group, const void *in, void *out,
                         int64_t count, int32_t dtype, int32_t reduction) = 0;
  virtual void allGather(int32_t group, const void *in, void *out,
                         const std::vector<int64_t> &inShape, int32_t dim,
                         int32_t dtype) = 0;
  virtual void reduceScatter(int32_t group, const void *in, void *out,
                             const std::vector<int64_t> &inShape, int32_t dim,
                             int32_t dtype, int32_t reduction) = 0;
  virtual void allToAll(int32_t group, const void *in, void *out,
                        const std::vector<int64_t> &inShape, int32_t splitDim,
                        int32_t concatDim, int32_t dtype) = 0;
  /// Sends `in` to each device of `sendTo`; receives into `out` from
  /// `recvFrom` (-1: nothing arrives and `out` becomes zeros; the device's
  /// own index: a copy).
  virtual void permute(int32_t group, const void *in, void *out, int64_t count,
                       int32_t dtype, const std::vector<int64_t> &sendTo,
                       int64_t recvFrom) = 0;
  virtual void allSlice(int32_t group, const void *in, void *out,
                        const std::vector<int64_t> &inShape, int32_t dim,
                        int32_t dtype) = 0;
};

/// Whether this palmrt was built with the cuda backend (a CUDA toolkit was
/// found at build time).
bool haveCudaBackend();

/// Opens GPU `localRank % (GPUs on this node)` for this process: the CUDA
/// driver, a context, streams, cuBLASLt, the embedded kernels; and NCCL when
/// `needNccl`. Not collective. On failure the status says why in words that
/// follow "this program was compiled for cuda, but ": "libcuda.so.1 was not
/// found (...)", "the machine has no CUDA device", "the CUDA driver failed:
/// ...".
absl::StatusOr<std::unique_ptr<Device>>
openCudaDevice(int localRank, int localSize, bool needNccl);

} // namespace palmrt

#endif // PALMRT_SRC_DEVICE_H
