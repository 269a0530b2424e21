//===- dynamic_libraries.h - CUDA, cuBLASLt, NCCL, cuDNN tables -*- C++ -*-===//
//
// The cuda backend never links a CUDA library: an executable must start on a
// machine without a GPU. Each library is dlopened when a cuda program starts
// and its entry points are resolved into a table of function pointers (as
// IREE's dynamic symbol tables do). The few types and constants used are
// restated here from the public headers (cuda.h, cublasLt.h, nccl.h,
// cudnn_graph.h), so the
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
struct cudnnContext;

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

namespace dnn {

// cudnn_graph.h (cuDNN 9): the backend API, with the few enumerators the
// attention graphs use (cudnn_attention.cc names them).
using Status = int; // cudnnStatus_t
using Handle = cudnnContext *;
using Descriptor = void *; // cudnnBackendDescriptor_t
inline constexpr Status kSuccess = 0;
inline constexpr Status kNotSupported = 3000; // CUDNN_STATUS_NOT_SUPPORTED

// cudnnDataType_t.
inline constexpr int kFloat = 0, kInt32 = 4, kBf16 = 9, kBoolean = 11;
// cudnnBackendAttributeType_t.
inline constexpr int kTypeHandle = 0, kTypeDataType = 1, kTypeBoolean = 2,
                     kTypeInt64 = 3, kTypeFloat = 4, kTypeVoidPtr = 6,
                     kTypeHeurMode = 8, kTypeNumericalNote = 11,
                     kTypePointwiseMode = 14, kTypeDescriptor = 15,
                     kTypeReductionOperator = 18;
// cudnnBackendDescriptorType_t.
inline constexpr int kPointwiseDesc = 0, kEngineDesc = 2, kEngineCfgDesc = 3,
                     kEngineHeurDesc = 4, kExecutionPlanDesc = 5,
                     kPointwiseOpDesc = 13, kOperationGraphDesc = 15,
                     kVariantPackDesc = 16, kTensorDesc = 17,
                     kMatmulDesc = 18, kMatmulOpDesc = 19,
                     kReductionDesc = 21, kReductionOpDesc = 22,
                     kReshapeOpDesc = 31;
// cudnnBackendAttributeName_t.
inline constexpr int kAttrPointwiseMode = 0, kAttrPointwiseMathPrec = 1,
                     kAttrPointwiseAxis = 9;
inline constexpr int kAttrHeurMode = 200, kAttrHeurGraph = 201,
                     kAttrHeurResults = 202;
inline constexpr int kAttrCfgEngine = 300;
inline constexpr int kAttrPlanHandle = 400, kAttrPlanConfig = 401,
                     kAttrPlanWorkspaceSize = 402;
inline constexpr int kAttrPointwiseOpDesc = 750, kAttrPointwiseOpX = 751,
                     kAttrPointwiseOpB = 752, kAttrPointwiseOpY = 753,
                     kAttrPointwiseOpAlpha1 = 754,
                     kAttrPointwiseOpAlpha2 = 755, kAttrPointwiseOpT = 758;
inline constexpr int kAttrGraphHandle = 800, kAttrGraphOps = 801;
inline constexpr int kAttrTensorAlignment = 900, kAttrTensorDataType = 901,
                     kAttrTensorDims = 902, kAttrTensorStrides = 903,
                     kAttrTensorUid = 906, kAttrTensorVirtual = 907,
                     kAttrTensorByValue = 908;
inline constexpr int kAttrPackUids = 1000, kAttrPackPointers = 1001,
                     kAttrPackWorkspace = 1003;
inline constexpr int kAttrEngineNumericalNote = 1303;
inline constexpr int kAttrMatmulCompType = 1500;
inline constexpr int kAttrMatmulOpA = 1520, kAttrMatmulOpB = 1521,
                     kAttrMatmulOpC = 1522, kAttrMatmulOpDesc = 1523;
inline constexpr int kAttrReductionOperator = 1600,
                     kAttrReductionCompType = 1601;
inline constexpr int kAttrReductionOpX = 1610, kAttrReductionOpY = 1611,
                     kAttrReductionOpDesc = 1612;
inline constexpr int kAttrReshapeOpX = 2200, kAttrReshapeOpY = 2201;
// cudnnPointwiseMode_t.
inline constexpr int kAdd = 0, kMul = 1, kDiv = 6, kSub = 9, kExp = 13,
                     kLog = 15, kCmpGe = 303, kGenIndex = 501,
                     kBinarySelect = 601;
// cudnnReduceTensorOp_t, cudnnBackendHeurMode_t,
// cudnnBackendNumericalNote_t.
inline constexpr int kReduceAdd = 0, kReduceMax = 3;
inline constexpr int kHeurModeA = 3, kHeurModeFallback = 2;
inline constexpr int kNoteNondeterministic = 4;

} // namespace dnn

/// libcudnn.so.9 (cuDNN 9.0 or later, which loads its sub-libraries from its
/// own directory). Members are named after the functions without the
/// `cudnn` prefix.
struct Cudnn {
  size_t (*GetVersion)();
  dnn::Status (*Create)(dnn::Handle *handle);
  dnn::Status (*Destroy)(dnn::Handle handle);
  dnn::Status (*SetStream)(dnn::Handle handle, cu::Stream stream);
  const char *(*GetErrorString)(dnn::Status status);
  void (*GetLastErrorString)(char *message, size_t size);
  dnn::Status (*BackendCreateDescriptor)(int type, dnn::Descriptor *desc);
  dnn::Status (*BackendDestroyDescriptor)(dnn::Descriptor desc);
  dnn::Status (*BackendFinalize)(dnn::Descriptor desc);
  dnn::Status (*BackendSetAttribute)(dnn::Descriptor desc, int name, int type,
                                     int64_t count, const void *values);
  dnn::Status (*BackendGetAttribute)(dnn::Descriptor desc, int name, int type,
                                     int64_t requested, int64_t *count,
                                     void *values);
  dnn::Status (*BackendExecute)(dnn::Handle handle, dnn::Descriptor plan,
                                dnn::Descriptor variantPack);

  /// "CUDNN_STATUS_NOT_SUPPORTED: <cuDNN's last message>", or the number.
  std::string statusString(dnn::Status status) const;
};

/// Each library is loaded once per process, on the first call, and stays
/// loaded. The status says what was looked for and why it failed, in words
/// that follow "this program was compiled for cuda, but ".
absl::StatusOr<const CudaDriver *> loadCudaDriver();
absl::StatusOr<const CublasLt *> loadCublasLt();
absl::StatusOr<const Nccl *> loadNccl();
/// cuDNN is optional: the backend falls back to its own attention kernels.
absl::StatusOr<const Cudnn *> loadCudnn();

} // namespace palmrt

#endif // PALMRT_SRC_CUDA_DYNAMIC_LIBRARIES_H
