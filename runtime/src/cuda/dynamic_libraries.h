//===- dynamic_libraries.h - CUDA, cuBLASLt and NCCL tables -----*- C++ -*-===//
//
// The cuda backend never links a CUDA library: an executable must start on a
// machine without a GPU. Each library is dlopened when a cuda program starts
// and its entry points are resolved into a table of function pointers (as
// IREE's dynamic symbol tables do). The few types and constants used are
// restated here from the public headers (cuda.h, cublasLt.h, nccl.h), so the
// backend compiles without them; tests/cuda_abi_check.cc compares every
// declaration with the toolkit's headers when they are at hand.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_CUDA_DYNAMIC_LIBRARIES_H
#define PALMRT_SRC_CUDA_DYNAMIC_LIBRARIES_H

#include "absl/status/statusor.h"

#include <cstddef>
#include <cstdint>
#include <string>

// Opaque handle structs, declared under the names the headers give them.
struct CUctx_st;
struct CUmod_st;
struct CUfunc_st;
struct CUstream_st;
struct CUevent_st;
struct cublasLtContext;
struct ncclComm;

namespace palmrt {
namespace cu {

// cuda.h (driver API).
using Result = int;                   // CUresult
using Device = int;                   // CUdevice
using DevicePtr = unsigned long long; // CUdeviceptr on 64-bit hosts
using Context = CUctx_st *;
using Module = CUmod_st *;
using Function = CUfunc_st *;
using Stream = CUstream_st *;
using Event = CUevent_st *;

inline constexpr Result kSuccess = 0;               // CUDA_SUCCESS
inline constexpr Result kErrorNoDevice = 100;       // CUDA_ERROR_NO_DEVICE
inline constexpr Result kErrorInvalidImage = 200;   // CUDA_ERROR_INVALID_IMAGE
inline constexpr int kAttrMultiprocessorCount = 16; // CU_DEVICE_ATTRIBUTE_*
inline constexpr int kAttrComputeCapabilityMajor = 75;
inline constexpr int kAttrComputeCapabilityMinor = 76;
inline constexpr int kAttrMaxSharedMemoryPerBlockOptin = 97;
inline constexpr int kFuncAttrMaxDynamicSharedSize = 8; // CU_FUNC_ATTRIBUTE_*
inline constexpr unsigned kStreamNonBlocking = 1;  // CU_STREAM_NON_BLOCKING
inline constexpr unsigned kEventDefault = 0;       // CU_EVENT_DEFAULT
inline constexpr unsigned kEventDisableTiming = 2; // CU_EVENT_DISABLE_TIMING
inline constexpr int kJitInfoLogBuffer = 3;        // CU_JIT_* options
inline constexpr int kJitInfoLogBufferSize = 4;
inline constexpr int kJitErrorLogBuffer = 5;
inline constexpr int kJitErrorLogBufferSize = 6;

} // namespace cu

/// libcuda.so.1, the driver. Members are named after the functions without
/// the `cu` prefix; where cuda.h maps a name to a versioned symbol
/// (cuMemAlloc -> cuMemAlloc_v2) the versioned one is resolved.
struct CudaDriver {
  cu::Result (*Init)(unsigned flags);
  cu::Result (*DriverGetVersion)(int *version);
  cu::Result (*DeviceGetCount)(int *count);
  cu::Result (*DeviceGet)(cu::Device *device, int ordinal);
  cu::Result (*DeviceGetName)(char *name, int length, cu::Device device);
  cu::Result (*DeviceGetAttribute)(int *value, int attribute,
                                   cu::Device device);
  cu::Result (*DevicePrimaryCtxRetain)(cu::Context *context, cu::Device device);
  cu::Result (*DevicePrimaryCtxRelease)(cu::Device device);
  cu::Result (*CtxSetCurrent)(cu::Context context);
  cu::Result (*MemAlloc)(cu::DevicePtr *pointer, size_t bytes);
  cu::Result (*MemFree)(cu::DevicePtr pointer);
  cu::Result (*MemGetInfo)(size_t *free, size_t *total);
  cu::Result (*MemcpyHtoDAsync)(cu::DevicePtr dst, const void *src,
                                size_t bytes, cu::Stream stream);
  cu::Result (*MemcpyDtoHAsync)(void *dst, cu::DevicePtr src, size_t bytes,
                                cu::Stream stream);
  cu::Result (*MemcpyDtoDAsync)(cu::DevicePtr dst, cu::DevicePtr src,
                                size_t bytes, cu::Stream stream);
  cu::Result (*MemsetD8Async)(cu::DevicePtr dst, unsigned char value,
                              size_t bytes, cu::Stream stream);
  cu::Result (*StreamCreate)(cu::Stream *stream, unsigned flags);
  cu::Result (*StreamDestroy)(cu::Stream stream);
  cu::Result (*StreamSynchronize)(cu::Stream stream);
  cu::Result (*StreamWaitEvent)(cu::Stream stream, cu::Event event,
                                unsigned flags);
  cu::Result (*EventCreate)(cu::Event *event, unsigned flags);
  cu::Result (*EventDestroy)(cu::Event event);
  cu::Result (*EventRecord)(cu::Event event, cu::Stream stream);
  cu::Result (*EventSynchronize)(cu::Event event);
  cu::Result (*EventElapsedTime)(float *milliseconds, cu::Event start,
                                 cu::Event end);
  cu::Result (*ModuleLoadDataEx)(cu::Module *module, const void *image,
                                 unsigned numOptions, int *options,
                                 void **optionValues);
  cu::Result (*ModuleUnload)(cu::Module module);
  cu::Result (*ModuleGetFunction)(cu::Function *function, cu::Module module,
                                  const char *name);
  cu::Result (*FuncSetAttribute)(cu::Function function, int attribute,
                                 int value);
  cu::Result (*LaunchKernel)(cu::Function function, unsigned gridX,
                             unsigned gridY, unsigned gridZ, unsigned blockX,
                             unsigned blockY, unsigned blockZ,
                             unsigned sharedBytes, cu::Stream stream,
                             void **params, void **extra);
  cu::Result (*GetErrorName)(cu::Result error, const char **name);
  cu::Result (*GetErrorString)(cu::Result error, const char **text);

  /// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)", or the number.
  std::string errorString(cu::Result error) const;
};

namespace lt {

// cublasLt.h, cublas_api.h, library_types.h.
using Status = int; // cublasStatus_t
using Handle = cublasLtContext *;
struct MatmulDescOpaque;
struct MatrixLayoutOpaque;
struct MatmulPreferenceOpaque;
using MatmulDesc = MatmulDescOpaque *;
using MatrixLayout = MatrixLayoutOpaque *;
using MatmulPreference = MatmulPreferenceOpaque *;
struct MatmulAlgo {
  uint64_t data[8];
};
struct HeuristicResult {
  MatmulAlgo algo;
  size_t workspaceSize;
  Status state;
  float wavesCount;
  int reserved[4];
};

inline constexpr Status kSuccess = 0;       // CUBLAS_STATUS_SUCCESS
inline constexpr int kOpN = 0, kOpT = 1;    // CUBLAS_OP_N, CUBLAS_OP_T
inline constexpr int kComputeF32 = 68;      // CUBLAS_COMPUTE_32F
inline constexpr int kTypeF32 = 0;          // CUDA_R_32F
inline constexpr int kTypeBf16 = 14;        // CUDA_R_16BF
inline constexpr int kDescTransA = 3;       // CUBLASLT_MATMUL_DESC_TRANSA
inline constexpr int kDescTransB = 4;       // CUBLASLT_MATMUL_DESC_TRANSB
inline constexpr int kLayoutBatchCount = 5; // CUBLASLT_MATRIX_LAYOUT_*
inline constexpr int kLayoutBatchStride = 6;
inline constexpr int kPrefMaxWorkspaceBytes = 1; // CUBLASLT_MATMUL_PREF_*
inline constexpr int kPrefMinAlignmentA = 5;
inline constexpr int kPrefMinAlignmentB = 6;
inline constexpr int kPrefMinAlignmentC = 7;
inline constexpr int kPrefMinAlignmentD = 8;

} // namespace lt

/// libcublasLt.so.13. Members are named after the functions without the
/// `cublasLt` prefix.
struct CublasLt {
  lt::Status (*Create)(lt::Handle *handle);
  lt::Status (*Destroy)(lt::Handle handle);
  size_t (*GetVersion)();
  const char *(*GetStatusName)(lt::Status status);
  lt::Status (*MatmulDescCreate)(lt::MatmulDesc *desc, int computeType,
                                 int scaleType);
  lt::Status (*MatmulDescDestroy)(lt::MatmulDesc desc);
  lt::Status (*MatmulDescSetAttribute)(lt::MatmulDesc desc, int attribute,
                                       const void *value, size_t bytes);
  lt::Status (*MatrixLayoutCreate)(lt::MatrixLayout *layout, int type,
                                   uint64_t rows, uint64_t cols, int64_t ld);
  lt::Status (*MatrixLayoutDestroy)(lt::MatrixLayout layout);
  lt::Status (*MatrixLayoutSetAttribute)(lt::MatrixLayout layout, int attribute,
                                         const void *value, size_t bytes);
  lt::Status (*MatmulPreferenceCreate)(lt::MatmulPreference *preference);
  lt::Status (*MatmulPreferenceDestroy)(lt::MatmulPreference preference);
  lt::Status (*MatmulPreferenceSetAttribute)(lt::MatmulPreference preference,
                                             int attribute, const void *value,
                                             size_t bytes);
  lt::Status (*MatmulAlgoGetHeuristic)(lt::Handle handle, lt::MatmulDesc desc,
                                       lt::MatrixLayout a, lt::MatrixLayout b,
                                       lt::MatrixLayout c, lt::MatrixLayout d,
                                       lt::MatmulPreference preference,
                                       int requested,
                                       lt::HeuristicResult *results,
                                       int *returned);
  lt::Status (*Matmul)(lt::Handle handle, lt::MatmulDesc desc,
                       const void *alpha, const void *a, lt::MatrixLayout aDesc,
                       const void *b, lt::MatrixLayout bDesc, const void *beta,
                       const void *c, lt::MatrixLayout cDesc, void *d,
                       lt::MatrixLayout dDesc, const lt::MatmulAlgo *algo,
                       void *workspace, size_t workspaceBytes,
                       cu::Stream stream);

  /// "CUBLAS_STATUS_NOT_SUPPORTED", or the number.
  std::string statusString(lt::Status status) const;
};

namespace nccl {

// nccl.h.
using Result = int; // ncclResult_t
using Comm = ::ncclComm *;
struct UniqueId {
  char internal[128];
};
struct Config; // ncclConfig_t, only ever passed as null
inline constexpr Result kSuccess = 0;
inline constexpr int kInt32 = 2, kInt64 = 4, kFloat32 = 7, kBfloat16 = 9;
inline constexpr int kSum = 0, kMax = 2;

} // namespace nccl

/// libnccl.so.2. Members are named after the functions without the `nccl`
/// prefix.
struct Nccl {
  nccl::Result (*GetVersion)(int *version);
  nccl::Result (*GetUniqueId)(nccl::UniqueId *id);
  nccl::Result (*CommInitRank)(nccl::Comm *comm, int ranks, nccl::UniqueId id,
                               int rank);
  nccl::Result (*CommDestroy)(nccl::Comm comm);
  /// NCCL 2.18 and later; null in older libraries (groups then connect
  /// with CommInitRank each).
  nccl::Result (*CommSplit)(nccl::Comm comm, int color, int key,
                            nccl::Comm *newComm, nccl::Config *config);
  nccl::Result (*CommAbort)(nccl::Comm comm);
  nccl::Result (*CommGetAsyncError)(nccl::Comm comm, nccl::Result *error);
  const char *(*GetErrorString)(nccl::Result result);
  const char *(*GetLastError)(nccl::Comm comm);
  nccl::Result (*AllReduce)(const void *send, void *recv, size_t count,
                            int dtype, int op, nccl::Comm comm,
                            cu::Stream stream);
  nccl::Result (*AllGather)(const void *send, void *recv, size_t sendCount,
                            int dtype, nccl::Comm comm, cu::Stream stream);
  nccl::Result (*ReduceScatter)(const void *send, void *recv, size_t recvCount,
                                int dtype, int op, nccl::Comm comm,
                                cu::Stream stream);
  nccl::Result (*Send)(const void *send, size_t count, int dtype, int peer,
                       nccl::Comm comm, cu::Stream stream);
  nccl::Result (*Recv)(void *recv, size_t count, int dtype, int peer,
                       nccl::Comm comm, cu::Stream stream);
  nccl::Result (*GroupStart)();
  nccl::Result (*GroupEnd)();

  /// NCCL's text for `result`, with the communicator's last error if any.
  std::string errorString(nccl::Result result, nccl::Comm comm) const;
};

/// Each library is loaded once per process, on the first call, and stays
/// loaded. The status says what was looked for and why it failed, in words
/// that follow "this program was compiled for cuda, but ".
absl::StatusOr<const CudaDriver *> loadCudaDriver();
absl::StatusOr<const CublasLt *> loadCublasLt();
absl::StatusOr<const Nccl *> loadNccl();

} // namespace palmrt

#endif // PALMRT_SRC_CUDA_DYNAMIC_LIBRARIES_H
