//===- cudnn_attention.h - attention on cuDNN's fused kernels ---*- C++ -*-===//
//
// palmrt_attention and palmrt_attention_grad on cuDNN's fused flash
// attention (cuDNN 9's backend API: an operation graph of matmuls,
// pointwise operations and reductions that cuDNN's runtime fusion engines
// compile into one kernel each way). The cuda backend tries it first for
// the calls it can express and falls back to palmrt's own kernels
// (attention.cu, attention_grad.cu) for the others, when cuDNN is not
// installed, or when cuDNN declines a shape; PALMRT_ATTENTION chooses
// (docs/runtime.md).
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_CUDA_CUDNN_ATTENTION_H
#define PALMRT_SRC_CUDA_CUDNN_ATTENTION_H

#include "cuda/dynamic_libraries.h"
#include "device.h"

#include "absl/status/statusor.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace palmrt {

/// The problem one graph is built for: q [b, s, h, d], k and v [b, t, g, d]
/// (row-major, heads interleaved as palmrt stores them), bf16, query head i
/// reading key/value head i / (h / g).
struct SdpaShape {
  int64_t b, s, t, h, g, d;
  bool causal;
  bool operator<(const SdpaShape &o) const {
    return std::tie(b, s, t, h, g, d, causal) <
           std::tie(o.b, o.s, o.t, o.h, o.g, o.d, o.causal);
  }
};

/// A cuDNN backend descriptor, destroyed with its owner.
class DnnDescriptor {
public:
  DnnDescriptor(const Cudnn &dnn, dnn::Descriptor d) : dnn(&dnn), d(d) {}
  DnnDescriptor(DnnDescriptor &&o) : dnn(o.dnn), d(o.d) { o.d = nullptr; }
  DnnDescriptor(const DnnDescriptor &) = delete;
  ~DnnDescriptor();
  dnn::Descriptor get() const { return d; }

private:
  const Cudnn *dnn;
  dnn::Descriptor d;
};

/// The finalized operation graph of one direction for one shape, and the
/// descriptors it refers to.
struct SdpaGraph {
  std::vector<DnnDescriptor> owned;
  dnn::Descriptor graph = nullptr;
};

/// Builds (and finalizes) the forward graph: O and the row statistics
/// (each query row's log-sum-exp, packed [b, h, s]) from Q, K, V and the
/// scale. The statistics are always written: cuDNN 9.19 recognizes no
/// forward graph without them as attention. `handle` may be null: then no GPU
/// is needed, so tests check the graph against the real library (cuDNN 9.8 or
/// later).
absl::StatusOr<SdpaGraph> buildSdpaForward(const Cudnn &dnn,
                                           const SdpaShape &shape,
                                           dnn::Handle handle = nullptr);
/// The backward graph: dQ, dK, dV from Q, K, V, O, dO, the statistics
/// (packed [b, h, s]) and the scale, in cuDNN's deterministic form (dQ
/// written directly, no f32 accumulator); it also writes the row sums of
/// dO * O to a buffer of its own ([b, h, s] f32).
absl::StatusOr<SdpaGraph> buildSdpaBackward(const Cudnn &dnn,
                                            const SdpaShape &shape,
                                            dnn::Handle handle = nullptr);

/// Why cuDNN's attention cannot compute this call exactly as palmrt.h
/// defines it (empty when it can): it needs bf16, head sizes dk == dv, a
/// multiple of 8 up to 256, every head real and mapped onto key/value
/// heads the way cuDNN groups them, no query offset and 16-byte aligned
/// tensors.
std::string cudnnUnsupported(const AttentionArgs &a);
std::string cudnnUnsupported(const AttentionGradArgs &a);

/// What the attention needs from the device, on the stream it was made
/// for.
struct CudnnServices {
  /// Device memory of at least `bytes`, valid until the next call.
  std::function<void *(int64_t bytes)> workspace;
  /// dst[i][c][r] = src[i][r][c] for f32 [batch, rows, cols].
  std::function<void(const float *src, float *dst, int64_t batch, int64_t rows,
                     int64_t cols)>
      transpose;
};

class CudnnAttention {
public:
  /// A handle on `stream` of a device of compute capability `smMajor`.x.
  static absl::StatusOr<std::unique_ptr<CudnnAttention>>
  create(const Cudnn &dnn, cu::Stream stream, int smMajor,
         CudnnServices services);
  ~CudnnAttention();

  /// Enqueues the call on the stream. An error says why cuDNN declined the
  /// shape (this library or device does not support it, or cuDNN offers no
  /// engine for the graph); the same shape is not tried again. Calls must
  /// pass cudnnUnsupported.
  absl::Status forward(const AttentionArgs &a);
  absl::Status backward(const AttentionGradArgs &a);

  /// "cuDNN 9.19.0".
  std::string version() const;

private:
  CudnnAttention(const Cudnn &dnn, int smMajor, CudnnServices services)
      : dnn(dnn), smMajor(smMajor), services(std::move(services)) {}

  struct Plan {
    SdpaGraph graph;
    std::vector<DnnDescriptor> owned;
    dnn::Descriptor plan = nullptr;
    int64_t workspaceBytes = 0;
  };
  /// Why this library on this device cannot run the shape (empty if it
  /// can), from cuDNN's documented support and known bugs.
  std::string declines(bool backward, const SdpaShape &shape) const;
  /// The plan for a direction and shape, built on first use; the error is
  /// remembered.
  absl::StatusOr<Plan *> plan(bool backward, const SdpaShape &shape);
  absl::StatusOr<Plan> makePlan(bool backward, const SdpaShape &shape);
  /// Runs `plan` with the tensors `uids` bound to `pointers`, the
  /// workspace at `space`.
  absl::Status execute(Plan &plan, const std::vector<int64_t> &uids,
                       const std::vector<void *> &pointers, void *space);
  /// The call's device memory: the plan's workspace, then `rowBuffers`
  /// buffers of `rows` floats each (256-byte aligned).
  std::vector<char *> carve(const Plan &plan, int rowBuffers, int64_t rows);

  const Cudnn &dnn;
  int smMajor;
  CudnnServices services;
  dnn::Handle handle = nullptr;
  /// Made or declined plans by direction and shape (map nodes do not
  /// move, so plan() hands out pointers into them).
  std::map<std::pair<bool, SdpaShape>, absl::StatusOr<Plan>> plans;
};

} // namespace palmrt

#endif // PALMRT_SRC_CUDA_CUDNN_ATTENTION_H
