//===- cuda_device.h - the cuda backend -------------------------*- C++ -*-===//
//
// One GPU per process, driven through the CUDA driver API on two streams:
// `compute` runs everything the compiled code asks for in program order;
// `comm` runs collectives (NCCL and the packing around it). Each collective
// waits for the compute stream's earlier work and the compute stream waits
// for the collective, so programs see plain program order while later work
// may overlap collectives with computation.
//
// GEMMs go to cuBLASLt (cuda_gemm.cc), collectives to NCCL
// (cuda_collectives.cc); attention to cuDNN's fused kernels where cuDNN is
// installed and can compute the call (cudnn_attention.cc), else to
// palmrt's own kernels; those and data movement are embedded as fatbins
// (sm_80, sm_90, compute_90 PTX); kernels the compiler generates arrive as
// PTX through palmrt_launch.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_CUDA_CUDA_DEVICE_H
#define PALMRT_SRC_CUDA_CUDA_DEVICE_H

#include "cuda/collective_watchdog.h"
#include "cuda/cuda_gemm.h"
#include "cuda/cudnn_attention.h"
#include "cuda/dynamic_libraries.h"
#include "cuda/kernels/kernel_params.h"
#include "device.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace palmrt {

class Transport;

class CudaDevice final : public Device {
public:
  /// See openCudaDevice (device.h).
  static absl::StatusOr<std::unique_ptr<CudaDevice>>
  open(int localRank, int localSize, bool needNccl);
  ~CudaDevice() override;

  std::string describe() const override;
  double peakFlops(bool bf16) const override;
  absl::Status connect(palmrt_context &ctx) override;
  absl::StatusOr<void *> allocate(int64_t bytes) override;
  void release(void *memory) override;
  absl::Status upload(void *device, const void *host, int64_t bytes) override;
  absl::Status download(void *host, const void *device, int64_t bytes) override;
  void beginStep(const std::string &what) override;
  absl::StatusOr<bool> initNormal(const NormalInit &init) override;
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
  explicit CudaDevice(const CudaDriver &driver) : cu(driver) {}
  absl::Status init(int localRank, int localSize, bool needNccl);

  /// A failed call inside a step is fatal; the message names the call.
  void check(cu::Result result, const char *call) const;
  /// After the collective watchdog has failed the process, the errors of
  /// the calls it aborted are not reported: the caller waits for its exit.
  void waitIfWatchdogFired() const;
  /// The same as a status, for start-up.
  absl::Status status(cu::Result result, const char *call) const;

  struct Kernel {
    cu::Function function = nullptr;
    int32_t sharedLimit = 48 * 1024; // the default dynamic limit
  };
  /// The module of `image` (loaded once, cached by address) and its kernel
  /// `name`; a load failure is fatal and carries the JIT log.
  Kernel &kernel(const void *image, const char *name);
  void launchOn(cu::Stream stream, Kernel &k, const int64_t grid[3],
                const int64_t block[3], int32_t sharedBytes, void **args);

  /// Copies `pieces` blocks between dense row-major tensors on `stream`:
  /// piece j is the block of shape `block` at offsets `srcAt` of src (shape
  /// srcShape) moved by j * srcPieceStride elements, written to dstAt of
  /// dst moved by j * dstPieceStride. Empty offsets mean zeros.
  struct BlockCopy {
    const void *src = nullptr;
    void *dst = nullptr;
    std::vector<int64_t> srcShape, dstShape, block, srcAt, dstAt;
    int64_t pieces = 1;
    int64_t srcPieceStride = 0, dstPieceStride = 0;
    int64_t elemBytes = 1;
  };
  void blockCopy(cu::Stream stream, const BlockCopy &copy);

  /// Brackets work on the compute stream with timing events when a trace
  /// is recorded in a step (start is null otherwise).
  cu::Event traceStart();
  void traceEnd(cu::Event start, const char *name, const char *category,
                std::string args);

  // Collectives (cuda_collectives.cc).
  struct CommSpan;
  /// Orders the comm stream after the compute stream's work and starts
  /// timing; end() makes the compute stream wait for the collective.
  CommSpan beginCollective(const char *name, int32_t group, int64_t bytes);
  void endCollective(CommSpan &span);
  nccl::Comm comm(int32_t group) const;
  /// Copies `bytes` from `src` to `dst` on the comm stream (nothing when
  /// they are the same buffer): a collective over a group of one device.
  void copyOnComms(void *dst, const void *src, int64_t bytes);
  /// On the comm stream: `whole` (shape `shape`) cut along `dim` into `size`
  /// equal pieces, written one after another to `pieces`.
  void splitPieces(const void *whole, void *pieces,
                   const std::vector<int64_t> &shape, int32_t dim,
                   int64_t size, int64_t elemBytes);
  /// The inverse: `size` consecutive pieces of `pieceShape` at `pieces`
  /// concatenated along `dim` into `whole`.
  void joinPieces(const void *pieces, void *whole,
                  const std::vector<int64_t> &pieceShape, int32_t dim,
                  int64_t size, int64_t elemBytes);
  void checkNccl(nccl::Result result, const char *call, int32_t group) const;
  /// Device scratch of at least `bytes`, grown (after both streams drain)
  /// when too small: 0 and 1 for collectives, 2 for attention's backward,
  /// 3 for cuDNN's workspace.
  void *scratch(int which, int64_t bytes);

  /// Which attention PALMRT_ATTENTION asks for: cuDNN where it can compute
  /// the call (auto, the default), always cuDNN (cudnn: anything else is a
  /// fatal error), or palmrt's kernels only (palm).
  enum class AttentionChoice { kAuto, kCudnn, kPalm };
  AttentionChoice attentionChoice = AttentionChoice::kAuto;
  /// Runs the call on cuDNN when the choice allows and cuDNN can; false
  /// when palmrt's kernels must run it.
  template <typename Args> bool attentionOnCudnn(const Args &args);
  /// cuDNN's attention, made on first use; null (with the reason in
  /// cudnnMissing) without cuDNN.
  CudnnAttention *cudnnAttention();
  std::unique_ptr<CudnnAttention> cudnn;
  bool cudnnTried = false;
  std::string cudnnMissing;
  bool cudnnDeclineReported = false;

  /// An event of the step's pool (reused after finishStep).
  cu::Event timingEvent();
  /// Times [start, end) of the step for the trace and, for collectives,
  /// the step line.
  void recordSpan(cu::Event start, cu::Event end, const char *name,
                  const char *category, std::string args, bool collective);

  const CudaDriver &cu;
  const CublasLt *lt = nullptr;
  const Nccl *nccl = nullptr;
  palmrt_context *ctx = nullptr;

  int ordinal = 0, deviceCount = 0;
  cu::Device device = 0;
  cu::Context context = nullptr;
  bool retained = false;
  std::string name;
  int ccMajor = 0, ccMinor = 0, sharedOptin = 48 * 1024;
  cu::Stream compute = nullptr, comms = nullptr;
  cu::Event computeReady = nullptr, commsDone = nullptr;

  std::unordered_map<const void *, cu::Module> modules;
  std::map<std::pair<cu::Module, std::string>, Kernel> kernels;
  std::set<cu::DevicePtr> allocations;
  std::unique_ptr<CublasGemm> gemmEngine;

  absl::Status initComm(Transport &transport, int64_t size, int64_t index,
                        const std::string &what, nccl::Comm *comm);
  absl::Status makeComms(palmrt_context &context);
  std::vector<nccl::Comm> groupComms;
  /// Every device of the job, the parent of groupComms (NCCL 2.18+).
  nccl::Comm worldComm = nullptr;
  /// Watches the communicators during steps; null without NCCL.
  std::unique_ptr<CollectiveWatchdog> watchdog;
  struct Scratch {
    cu::DevicePtr pointer = 0;
    int64_t bytes = 0;
  } scratchBuffers[4];

  struct Span {
    cu::Event start, end;
    const char *name, *category;
    std::string args;
    bool collective;
  };
  bool inStep = false;
  std::vector<cu::Event> eventPool;
  size_t eventsUsed = 0;
  cu::Event stepStart = nullptr;
  double stepStartSeconds = 0;
  std::vector<Span> spans;
};

} // namespace palmrt

#endif // PALMRT_SRC_CUDA_CUDA_DEVICE_H
