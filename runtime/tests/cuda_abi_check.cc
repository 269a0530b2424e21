//===- cuda_abi_check.cc - the backend's CUDA declarations vs the headers -===//
//
// dynamic_libraries.h restates the types, constants and prototypes of the
// CUDA driver, cuBLASLt, NCCL and cuDNN so that the backend builds without the
// toolkit. This file compiles only if every restatement agrees with the
// toolkit's own headers: each table member has the resolved symbol's
// parameter and return types (an enum may stand for an int of its size, a
// pointer to one opaque struct for another), and each constant its value.
//
//===----------------------------------------------------------------------===//

#include "cuda/dynamic_libraries.h"

#include <cublasLt.h>
#include <cuda.h>
#include <cudnn.h>
#include <nccl.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <type_traits>

namespace palmrt {
namespace {

template <typename A, typename B> constexpr bool sameArgument() {
  if constexpr (std::is_same_v<A, B>) {
    return true;
  } else if constexpr ((std::is_integral_v<A> || std::is_enum_v<A>)&&(
                           std::is_integral_v<B> || std::is_enum_v<B>)) {
    return sizeof(A) == sizeof(B);
  } else if constexpr (std::is_pointer_v<A> && std::is_pointer_v<B>) {
    using PA = std::remove_pointer_t<A>;
    using PB = std::remove_pointer_t<B>;
    if constexpr (std::is_const_v<PA> != std::is_const_v<PB>)
      return false;
    else if constexpr (std::is_class_v<PA> && std::is_class_v<PB>)
      return true; // opaque handles and arrays of structs checked below
    else
      return sameArgument<std::remove_const_t<PA>, std::remove_const_t<PB>>();
  } else if constexpr (std::is_class_v<A> && std::is_class_v<B>) {
    return sizeof(A) == sizeof(B) && std::is_trivially_copyable_v<A> &&
           std::is_trivially_copyable_v<B>;
  } else {
    return false;
  }
}

template <typename F, typename G> struct SameAbi : std::false_type {};
template <typename R1, typename... A1, typename R2, typename... A2>
struct SameAbi<R1 (*)(A1...), R2 (*)(A2...)> {
  static constexpr bool check() {
    if constexpr (sizeof...(A1) != sizeof...(A2))
      return false;
    else
      return sameArgument<R1, R2>() && (sameArgument<A1, A2>() && ...);
  }
  static constexpr bool value = check();
};

#define PALMRT_SAME(TABLE, MEMBER, SYMBOL)                                     \
  static_assert(SameAbi<decltype(&::SYMBOL), decltype(TABLE::MEMBER)>::value,  \
                #TABLE "::" #MEMBER " does not match " #SYMBOL)

// The driver, under the versioned names dynamic_libraries.cc resolves.
PALMRT_SAME(CudaDriver, Init, cuInit);
PALMRT_SAME(CudaDriver, DriverGetVersion, cuDriverGetVersion);
PALMRT_SAME(CudaDriver, DeviceGetCount, cuDeviceGetCount);
PALMRT_SAME(CudaDriver, DeviceGet, cuDeviceGet);
PALMRT_SAME(CudaDriver, DeviceGetName, cuDeviceGetName);
PALMRT_SAME(CudaDriver, DeviceGetAttribute, cuDeviceGetAttribute);
PALMRT_SAME(CudaDriver, DevicePrimaryCtxRetain, cuDevicePrimaryCtxRetain);
PALMRT_SAME(CudaDriver, DevicePrimaryCtxRelease, cuDevicePrimaryCtxRelease_v2);
PALMRT_SAME(CudaDriver, CtxSetCurrent, cuCtxSetCurrent);
PALMRT_SAME(CudaDriver, MemAlloc, cuMemAlloc_v2);
PALMRT_SAME(CudaDriver, MemFree, cuMemFree_v2);
PALMRT_SAME(CudaDriver, MemGetInfo, cuMemGetInfo_v2);
PALMRT_SAME(CudaDriver, MemcpyHtoDAsync, cuMemcpyHtoDAsync_v2);
PALMRT_SAME(CudaDriver, MemcpyDtoHAsync, cuMemcpyDtoHAsync_v2);
PALMRT_SAME(CudaDriver, MemcpyDtoDAsync, cuMemcpyDtoDAsync_v2);
PALMRT_SAME(CudaDriver, MemsetD8Async, cuMemsetD8Async);
PALMRT_SAME(CudaDriver, StreamCreate, cuStreamCreate);
PALMRT_SAME(CudaDriver, StreamDestroy, cuStreamDestroy_v2);
PALMRT_SAME(CudaDriver, StreamSynchronize, cuStreamSynchronize);
PALMRT_SAME(CudaDriver, StreamWaitEvent, cuStreamWaitEvent);
PALMRT_SAME(CudaDriver, EventCreate, cuEventCreate);
PALMRT_SAME(CudaDriver, EventDestroy, cuEventDestroy_v2);
PALMRT_SAME(CudaDriver, EventRecord, cuEventRecord);
PALMRT_SAME(CudaDriver, EventSynchronize, cuEventSynchronize);
PALMRT_SAME(CudaDriver, EventElapsedTime, cuEventElapsedTime_v2);
PALMRT_SAME(CudaDriver, ModuleLoadDataEx, cuModuleLoadDataEx);
PALMRT_SAME(CudaDriver, ModuleUnload, cuModuleUnload);
PALMRT_SAME(CudaDriver, ModuleGetFunction, cuModuleGetFunction);
PALMRT_SAME(CudaDriver, FuncSetAttribute, cuFuncSetAttribute);
PALMRT_SAME(CudaDriver, LaunchKernel, cuLaunchKernel);
PALMRT_SAME(CudaDriver, GetErrorName, cuGetErrorName);
PALMRT_SAME(CudaDriver, GetErrorString, cuGetErrorString);

static_assert(std::is_same_v<cu::DevicePtr, CUdeviceptr>);
static_assert(std::is_same_v<cu::Context, CUcontext>);
static_assert(std::is_same_v<cu::Module, CUmodule>);
static_assert(std::is_same_v<cu::Function, CUfunction>);
static_assert(std::is_same_v<cu::Stream, CUstream>);
static_assert(std::is_same_v<cu::Event, CUevent>);
static_assert(sizeof(cu::Result) == sizeof(CUresult));
static_assert(sizeof(cu::Device) == sizeof(CUdevice));
static_assert(cu::kSuccess == CUDA_SUCCESS);
static_assert(cu::kErrorNoDevice == CUDA_ERROR_NO_DEVICE);
static_assert(cu::kErrorInvalidImage == CUDA_ERROR_INVALID_IMAGE);
static_assert(cu::kAttrMultiprocessorCount ==
              CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
static_assert(cu::kAttrComputeCapabilityMajor ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(cu::kAttrComputeCapabilityMinor ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(cu::kAttrMaxSharedMemoryPerBlockOptin ==
              CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
static_assert(cu::kFuncAttrMaxDynamicSharedSize ==
              CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
static_assert(cu::kStreamNonBlocking == CU_STREAM_NON_BLOCKING);
static_assert(cu::kEventDefault == CU_EVENT_DEFAULT);
static_assert(cu::kEventDisableTiming == CU_EVENT_DISABLE_TIMING);
static_assert(cu::kJitInfoLogBuffer == CU_JIT_INFO_LOG_BUFFER);
static_assert(cu::kJitInfoLogBufferSize == CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES);
static_assert(cu::kJitErrorLogBuffer == CU_JIT_ERROR_LOG_BUFFER);
static_assert(cu::kJitErrorLogBufferSize == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);

// cuBLASLt.
PALMRT_SAME(CublasLt, Create, cublasLtCreate);
PALMRT_SAME(CublasLt, Destroy, cublasLtDestroy);
PALMRT_SAME(CublasLt, GetVersion, cublasLtGetVersion);
PALMRT_SAME(CublasLt, GetStatusName, cublasLtGetStatusName);
PALMRT_SAME(CublasLt, MatmulDescCreate, cublasLtMatmulDescCreate);
PALMRT_SAME(CublasLt, MatmulDescDestroy, cublasLtMatmulDescDestroy);
PALMRT_SAME(CublasLt, MatmulDescSetAttribute, cublasLtMatmulDescSetAttribute);
PALMRT_SAME(CublasLt, MatrixLayoutCreate, cublasLtMatrixLayoutCreate);
PALMRT_SAME(CublasLt, MatrixLayoutDestroy, cublasLtMatrixLayoutDestroy);
PALMRT_SAME(CublasLt, MatrixLayoutSetAttribute,
            cublasLtMatrixLayoutSetAttribute);
PALMRT_SAME(CublasLt, MatmulPreferenceCreate, cublasLtMatmulPreferenceCreate);
PALMRT_SAME(CublasLt, MatmulPreferenceDestroy, cublasLtMatmulPreferenceDestroy);
PALMRT_SAME(CublasLt, MatmulPreferenceSetAttribute,
            cublasLtMatmulPreferenceSetAttribute);
PALMRT_SAME(CublasLt, MatmulAlgoGetHeuristic, cublasLtMatmulAlgoGetHeuristic);
PALMRT_SAME(CublasLt, Matmul, cublasLtMatmul);

static_assert(std::is_same_v<lt::Handle, cublasLtHandle_t>);
static_assert(sizeof(lt::MatmulAlgo) == sizeof(cublasLtMatmulAlgo_t));
static_assert(sizeof(lt::HeuristicResult) ==
              sizeof(cublasLtMatmulHeuristicResult_t));
static_assert(offsetof(lt::HeuristicResult, workspaceSize) ==
              offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize));
static_assert(offsetof(lt::HeuristicResult, state) ==
              offsetof(cublasLtMatmulHeuristicResult_t, state));
static_assert(offsetof(lt::HeuristicResult, wavesCount) ==
              offsetof(cublasLtMatmulHeuristicResult_t, wavesCount));
static_assert(lt::kSuccess == CUBLAS_STATUS_SUCCESS);
static_assert(lt::kOpN == CUBLAS_OP_N && lt::kOpT == CUBLAS_OP_T);
static_assert(lt::kComputeF32 == CUBLAS_COMPUTE_32F);
static_assert(lt::kTypeF32 == CUDA_R_32F && lt::kTypeBf16 == CUDA_R_16BF);
static_assert(lt::kDescTransA == CUBLASLT_MATMUL_DESC_TRANSA);
static_assert(lt::kDescTransB == CUBLASLT_MATMUL_DESC_TRANSB);
static_assert(lt::kLayoutBatchCount == CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT);
static_assert(lt::kLayoutBatchStride ==
              CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET);
static_assert(lt::kPrefMaxWorkspaceBytes ==
              CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES);
static_assert(lt::kPrefMinAlignmentA ==
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES);
static_assert(lt::kPrefMinAlignmentB ==
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES);
static_assert(lt::kPrefMinAlignmentC ==
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES);
static_assert(lt::kPrefMinAlignmentD ==
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES);

// NCCL.
PALMRT_SAME(Nccl, GetVersion, ncclGetVersion);
PALMRT_SAME(Nccl, GetUniqueId, ncclGetUniqueId);
PALMRT_SAME(Nccl, CommInitRank, ncclCommInitRank);
PALMRT_SAME(Nccl, CommDestroy, ncclCommDestroy);
PALMRT_SAME(Nccl, CommSplit, ncclCommSplit);
PALMRT_SAME(Nccl, CommAbort, ncclCommAbort);
PALMRT_SAME(Nccl, CommGetAsyncError, ncclCommGetAsyncError);
PALMRT_SAME(Nccl, GetErrorString, ncclGetErrorString);
PALMRT_SAME(Nccl, GetLastError, ncclGetLastError);
PALMRT_SAME(Nccl, AllReduce, ncclAllReduce);
PALMRT_SAME(Nccl, AllGather, ncclAllGather);
PALMRT_SAME(Nccl, ReduceScatter, ncclReduceScatter);
PALMRT_SAME(Nccl, Send, ncclSend);
PALMRT_SAME(Nccl, Recv, ncclRecv);
PALMRT_SAME(Nccl, GroupStart, ncclGroupStart);
PALMRT_SAME(Nccl, GroupEnd, ncclGroupEnd);

static_assert(std::is_same_v<nccl::Comm, ncclComm_t>);
static_assert(sizeof(nccl::UniqueId) == sizeof(ncclUniqueId));
static_assert(nccl::kSuccess == ncclSuccess);
static_assert(nccl::kInt32 == ncclInt32 && nccl::kInt64 == ncclInt64 &&
              nccl::kFloat32 == ncclFloat32 && nccl::kBfloat16 == ncclBfloat16);
static_assert(nccl::kSum == ncclSum && nccl::kMax == ncclMax);

// cuDNN.
PALMRT_SAME(Cudnn, GetVersion, cudnnGetVersion);
PALMRT_SAME(Cudnn, Create, cudnnCreate);
PALMRT_SAME(Cudnn, Destroy, cudnnDestroy);
PALMRT_SAME(Cudnn, SetStream, cudnnSetStream);
PALMRT_SAME(Cudnn, GetErrorString, cudnnGetErrorString);
PALMRT_SAME(Cudnn, GetLastErrorString, cudnnGetLastErrorString);
PALMRT_SAME(Cudnn, BackendCreateDescriptor, cudnnBackendCreateDescriptor);
PALMRT_SAME(Cudnn, BackendDestroyDescriptor, cudnnBackendDestroyDescriptor);
PALMRT_SAME(Cudnn, BackendFinalize, cudnnBackendFinalize);
PALMRT_SAME(Cudnn, BackendSetAttribute, cudnnBackendSetAttribute);
PALMRT_SAME(Cudnn, BackendGetAttribute, cudnnBackendGetAttribute);
PALMRT_SAME(Cudnn, BackendExecute, cudnnBackendExecute);

static_assert(std::is_same_v<dnn::Handle, cudnnHandle_t>);
static_assert(std::is_same_v<dnn::Descriptor, cudnnBackendDescriptor_t>);
static_assert(dnn::kSuccess == CUDNN_STATUS_SUCCESS);
static_assert(dnn::kNotSupported == CUDNN_STATUS_NOT_SUPPORTED);
static_assert(dnn::kFloat == CUDNN_DATA_FLOAT &&
              dnn::kInt32 == CUDNN_DATA_INT32 &&
              dnn::kBf16 == CUDNN_DATA_BFLOAT16 &&
              dnn::kBoolean == CUDNN_DATA_BOOLEAN);
static_assert(dnn::kTypeHandle == CUDNN_TYPE_HANDLE &&
              dnn::kTypeDataType == CUDNN_TYPE_DATA_TYPE &&
              dnn::kTypeBoolean == CUDNN_TYPE_BOOLEAN &&
              dnn::kTypeInt64 == CUDNN_TYPE_INT64 &&
              dnn::kTypeFloat == CUDNN_TYPE_FLOAT &&
              dnn::kTypeVoidPtr == CUDNN_TYPE_VOID_PTR &&
              dnn::kTypeHeurMode == CUDNN_TYPE_HEUR_MODE &&
              dnn::kTypeNumericalNote == CUDNN_TYPE_NUMERICAL_NOTE &&
              dnn::kTypePointwiseMode == CUDNN_TYPE_POINTWISE_MODE &&
              dnn::kTypeDescriptor == CUDNN_TYPE_BACKEND_DESCRIPTOR &&
              dnn::kTypeReductionOperator ==
                  CUDNN_TYPE_REDUCTION_OPERATOR_TYPE);
static_assert(
    dnn::kPointwiseDesc == CUDNN_BACKEND_POINTWISE_DESCRIPTOR &&
    dnn::kEngineDesc == CUDNN_BACKEND_ENGINE_DESCRIPTOR &&
    dnn::kEngineCfgDesc == CUDNN_BACKEND_ENGINECFG_DESCRIPTOR &&
    dnn::kEngineHeurDesc == CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR &&
    dnn::kExecutionPlanDesc == CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR &&
    dnn::kPointwiseOpDesc == CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR &&
    dnn::kOperationGraphDesc == CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR &&
    dnn::kVariantPackDesc == CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR &&
    dnn::kTensorDesc == CUDNN_BACKEND_TENSOR_DESCRIPTOR &&
    dnn::kMatmulDesc == CUDNN_BACKEND_MATMUL_DESCRIPTOR &&
    dnn::kMatmulOpDesc == CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR &&
    dnn::kReductionDesc == CUDNN_BACKEND_REDUCTION_DESCRIPTOR &&
    dnn::kReductionOpDesc == CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR &&
    dnn::kReshapeOpDesc == CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR);
static_assert(dnn::kAttrPointwiseMode == CUDNN_ATTR_POINTWISE_MODE &&
              dnn::kAttrPointwiseMathPrec == CUDNN_ATTR_POINTWISE_MATH_PREC &&
              dnn::kAttrPointwiseAxis == CUDNN_ATTR_POINTWISE_AXIS &&
              dnn::kAttrHeurMode == CUDNN_ATTR_ENGINEHEUR_MODE &&
              dnn::kAttrHeurGraph == CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH &&
              dnn::kAttrHeurResults == CUDNN_ATTR_ENGINEHEUR_RESULTS &&
              dnn::kAttrCfgEngine == CUDNN_ATTR_ENGINECFG_ENGINE &&
              dnn::kAttrPlanHandle == CUDNN_ATTR_EXECUTION_PLAN_HANDLE &&
              dnn::kAttrPlanConfig == CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG &&
              dnn::kAttrPlanWorkspaceSize ==
                  CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE);
static_assert(
    dnn::kAttrPointwiseOpDesc == CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR &&
    dnn::kAttrPointwiseOpX == CUDNN_ATTR_OPERATION_POINTWISE_XDESC &&
    dnn::kAttrPointwiseOpB == CUDNN_ATTR_OPERATION_POINTWISE_BDESC &&
    dnn::kAttrPointwiseOpY == CUDNN_ATTR_OPERATION_POINTWISE_YDESC &&
    dnn::kAttrPointwiseOpAlpha1 == CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1 &&
    dnn::kAttrPointwiseOpAlpha2 == CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2 &&
    dnn::kAttrPointwiseOpT == CUDNN_ATTR_OPERATION_POINTWISE_TDESC &&
    dnn::kAttrGraphHandle == CUDNN_ATTR_OPERATIONGRAPH_HANDLE &&
    dnn::kAttrGraphOps == CUDNN_ATTR_OPERATIONGRAPH_OPS);
static_assert(dnn::kAttrTensorAlignment == CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT &&
              dnn::kAttrTensorDataType == CUDNN_ATTR_TENSOR_DATA_TYPE &&
              dnn::kAttrTensorDims == CUDNN_ATTR_TENSOR_DIMENSIONS &&
              dnn::kAttrTensorStrides == CUDNN_ATTR_TENSOR_STRIDES &&
              dnn::kAttrTensorUid == CUDNN_ATTR_TENSOR_UNIQUE_ID &&
              dnn::kAttrTensorVirtual == CUDNN_ATTR_TENSOR_IS_VIRTUAL &&
              dnn::kAttrTensorByValue == CUDNN_ATTR_TENSOR_IS_BY_VALUE);
static_assert(dnn::kAttrPackUids == CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS &&
              dnn::kAttrPackPointers == CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS &&
              dnn::kAttrPackWorkspace == CUDNN_ATTR_VARIANT_PACK_WORKSPACE &&
              dnn::kAttrEngineNumericalNote ==
                  CUDNN_ATTR_ENGINE_NUMERICAL_NOTE &&
              dnn::kAttrMatmulCompType == CUDNN_ATTR_MATMUL_COMP_TYPE &&
              dnn::kAttrMatmulOpA == CUDNN_ATTR_OPERATION_MATMUL_ADESC &&
              dnn::kAttrMatmulOpB == CUDNN_ATTR_OPERATION_MATMUL_BDESC &&
              dnn::kAttrMatmulOpC == CUDNN_ATTR_OPERATION_MATMUL_CDESC &&
              dnn::kAttrMatmulOpDesc == CUDNN_ATTR_OPERATION_MATMUL_DESC);
static_assert(
    dnn::kAttrReductionOperator == CUDNN_ATTR_REDUCTION_OPERATOR &&
    dnn::kAttrReductionCompType == CUDNN_ATTR_REDUCTION_COMP_TYPE &&
    dnn::kAttrReductionOpX == CUDNN_ATTR_OPERATION_REDUCTION_XDESC &&
    dnn::kAttrReductionOpY == CUDNN_ATTR_OPERATION_REDUCTION_YDESC &&
    dnn::kAttrReductionOpDesc == CUDNN_ATTR_OPERATION_REDUCTION_DESC &&
    dnn::kAttrReshapeOpX == CUDNN_ATTR_OPERATION_RESHAPE_XDESC &&
    dnn::kAttrReshapeOpY == CUDNN_ATTR_OPERATION_RESHAPE_YDESC);
static_assert(dnn::kAdd == CUDNN_POINTWISE_ADD &&
              dnn::kMul == CUDNN_POINTWISE_MUL &&
              dnn::kDiv == CUDNN_POINTWISE_DIV &&
              dnn::kSub == CUDNN_POINTWISE_SUB &&
              dnn::kExp == CUDNN_POINTWISE_EXP &&
              dnn::kLog == CUDNN_POINTWISE_LOG &&
              dnn::kCmpGe == CUDNN_POINTWISE_CMP_GE &&
              dnn::kGenIndex == CUDNN_POINTWISE_GEN_INDEX &&
              dnn::kBinarySelect == CUDNN_POINTWISE_BINARY_SELECT);
static_assert(dnn::kReduceAdd == CUDNN_REDUCE_TENSOR_ADD &&
              dnn::kReduceMax == CUDNN_REDUCE_TENSOR_MAX &&
              dnn::kHeurModeA == CUDNN_HEUR_MODE_A &&
              dnn::kHeurModeFallback == CUDNN_HEUR_MODE_FALLBACK &&
              dnn::kNoteNondeterministic ==
                  CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC);

TEST(CudaAbi, DeclarationsMatchTheToolkitHeaders) {
  SUCCEED() << "checked at compile time against CUDA " << CUDA_VERSION
            << ", NCCL " << NCCL_VERSION_CODE << ", cuDNN " << CUDNN_VERSION;
}

} // namespace
} // namespace palmrt
