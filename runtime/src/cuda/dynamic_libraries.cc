//===- dynamic_libraries.cc - CUDA libraries loaded at run time -----------===//

#include "cuda/dynamic_libraries.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

#include <cstdlib>
#include <dlfcn.h>
#include <type_traits>
#include <vector>

namespace palmrt {
namespace {

/// Where libraries the dynamic loader does not find are looked for: the
/// user's list first, then the toolkit (cuBLASLt and NCCL are often
/// installed there without being on the loader's path).
std::vector<std::string> searchDirectories() {
  std::vector<std::string> dirs;
  if (const char *list = std::getenv("PALMRT_CUDA_LIBRARY_PATH"))
    for (absl::string_view dir : absl::StrSplit(list, ':', absl::SkipEmpty()))
      dirs.emplace_back(dir);
  if (const char *home = std::getenv("CUDA_HOME"))
    dirs.push_back(absl::StrCat(home, "/lib64"));
  dirs.push_back("/usr/local/cuda/lib64");
  return dirs;
}

/// dlopens `soname` as the loader finds it, else from searchDirectories()
/// when `searchToolkit`. The error names every place tried.
absl::StatusOr<void *> openLibrary(const char *soname, const char *what,
                                   bool searchToolkit) {
  void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle)
    return handle;
  const char *firstError = dlerror();
  std::string why = firstError ? firstError : soname;
  if (searchToolkit) {
    std::vector<std::string> dirs = searchDirectories();
    for (const std::string &dir : dirs) {
      std::string path = absl::StrCat(dir, "/", soname);
      handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle)
        return handle;
    }
    absl::StrAppend(&why, "; not in ");
    for (size_t i = 0; i < dirs.size(); ++i)
      absl::StrAppend(&why, i ? ", " : "", dirs[i]);
    absl::StrAppend(&why, " either (set PALMRT_CUDA_LIBRARY_PATH to its "
                          "directory)");
  }
  return absl::UnavailableError(
      absl::StrCat(soname, " (", what, ") cannot be loaded: ", why));
}

/// Resolves table members by name, remembering the names not found.
class Resolver {
public:
  Resolver(void *handle, const char *soname) : handle(handle), soname(soname) {}

  template <typename Fn> void operator()(Fn &slot, const char *name) {
    static_assert(std::is_pointer_v<Fn>);
    void *symbol = dlsym(handle, name);
    if (!symbol)
      absl::StrAppend(&missing, missing.empty() ? "" : ", ", name);
    slot = reinterpret_cast<Fn>(symbol);
  }

  /// The first of `names` that exists.
  template <typename Fn>
  void firstOf(Fn &slot, std::initializer_list<const char *> names) {
    for (const char *name : names)
      if (void *symbol = dlsym(handle, name)) {
        slot = reinterpret_cast<Fn>(symbol);
        return;
      }
    absl::StrAppend(&missing, missing.empty() ? "" : ", ", *names.begin());
  }

  absl::Status status(const char *need) const {
    if (missing.empty())
      return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat(
        soname, " is too old (", need, " is needed); it lacks ", missing));
  }

private:
  void *handle;
  const char *soname;
  std::string missing;
};

absl::StatusOr<CudaDriver> resolveDriver() {
  constexpr const char *kName = "libcuda.so.1";
  absl::StatusOr<void *> handle =
      openLibrary(kName, "the NVIDIA driver", /*searchToolkit=*/false);
  if (!handle.ok())
    return handle.status();
  CudaDriver d{};
  Resolver r(*handle, kName);
  r(d.Init, "cuInit");
  r(d.DriverGetVersion, "cuDriverGetVersion");
  r(d.DeviceGetCount, "cuDeviceGetCount");
  r(d.DeviceGet, "cuDeviceGet");
  r(d.DeviceGetName, "cuDeviceGetName");
  r(d.DeviceGetAttribute, "cuDeviceGetAttribute");
  r(d.DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  r(d.DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
  r(d.CtxSetCurrent, "cuCtxSetCurrent");
  r(d.MemAlloc, "cuMemAlloc_v2");
  r(d.MemFree, "cuMemFree_v2");
  r(d.MemGetInfo, "cuMemGetInfo_v2");
  r(d.MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  r(d.MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  r(d.MemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
  r(d.MemsetD8Async, "cuMemsetD8Async");
  r(d.StreamCreate, "cuStreamCreate");
  r(d.StreamDestroy, "cuStreamDestroy_v2");
  r(d.StreamSynchronize, "cuStreamSynchronize");
  r(d.StreamWaitEvent, "cuStreamWaitEvent");
  r(d.EventCreate, "cuEventCreate");
  r(d.EventDestroy, "cuEventDestroy_v2");
  r(d.EventRecord, "cuEventRecord");
  r(d.EventSynchronize, "cuEventSynchronize");
  // CUDA 12.8 added _v2 with the same signature; older drivers have only
  // the first.
  r.firstOf(d.EventElapsedTime,
            {"cuEventElapsedTime_v2", "cuEventElapsedTime"});
  r(d.ModuleLoadDataEx, "cuModuleLoadDataEx");
  r(d.ModuleUnload, "cuModuleUnload");
  r(d.ModuleGetFunction, "cuModuleGetFunction");
  r(d.FuncSetAttribute, "cuFuncSetAttribute");
  r(d.LaunchKernel, "cuLaunchKernel");
  r(d.GetErrorName, "cuGetErrorName");
  r(d.GetErrorString, "cuGetErrorString");
  if (absl::Status s = r.status("a driver for CUDA 12 or later"); !s.ok())
    return s;
  return d;
}

absl::StatusOr<CublasLt> resolveCublasLt() {
  constexpr const char *kName = "libcublasLt.so.13";
  absl::StatusOr<void *> handle =
      openLibrary(kName, "cuBLASLt of CUDA 13", /*searchToolkit=*/true);
  if (!handle.ok())
    return handle.status();
  CublasLt l{};
  Resolver r(*handle, kName);
  r(l.Create, "cublasLtCreate");
  r(l.Destroy, "cublasLtDestroy");
  r(l.GetVersion, "cublasLtGetVersion");
  r(l.GetStatusName, "cublasLtGetStatusName");
  r(l.MatmulDescCreate, "cublasLtMatmulDescCreate");
  r(l.MatmulDescDestroy, "cublasLtMatmulDescDestroy");
  r(l.MatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute");
  r(l.MatrixLayoutCreate, "cublasLtMatrixLayoutCreate");
  r(l.MatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy");
  r(l.MatrixLayoutSetAttribute, "cublasLtMatrixLayoutSetAttribute");
  r(l.MatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate");
  r(l.MatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy");
  r(l.MatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute");
  r(l.MatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic");
  r(l.Matmul, "cublasLtMatmul");
  if (absl::Status s = r.status("cuBLASLt 13"); !s.ok())
    return s;
  return l;
}

absl::StatusOr<Nccl> resolveNccl() {
  constexpr const char *kName = "libnccl.so.2";
  absl::StatusOr<void *> handle =
      openLibrary(kName, "NCCL 2", /*searchToolkit=*/true);
  if (!handle.ok())
    return handle.status();
  Nccl n{};
  Resolver r(*handle, kName);
  r(n.GetVersion, "ncclGetVersion");
  r(n.GetUniqueId, "ncclGetUniqueId");
  r(n.CommInitRank, "ncclCommInitRank");
  r(n.CommDestroy, "ncclCommDestroy");
  n.CommSplit = reinterpret_cast<decltype(n.CommSplit)>(
      dlsym(*handle, "ncclCommSplit")); // optional
  r(n.CommAbort, "ncclCommAbort");
  r(n.CommGetAsyncError, "ncclCommGetAsyncError");
  r(n.GetErrorString, "ncclGetErrorString");
  r(n.GetLastError, "ncclGetLastError");
  r(n.AllReduce, "ncclAllReduce");
  r(n.AllGather, "ncclAllGather");
  r(n.ReduceScatter, "ncclReduceScatter");
  r(n.Send, "ncclSend");
  r(n.Recv, "ncclRecv");
  r(n.GroupStart, "ncclGroupStart");
  r(n.GroupEnd, "ncclGroupEnd");
  if (absl::Status s = r.status("NCCL 2.13 or later"); !s.ok())
    return s;
  return n;
}

absl::StatusOr<Cudnn> resolveCudnn() {
  constexpr const char *kName = "libcudnn.so.9";
  absl::StatusOr<void *> handle =
      openLibrary(kName, "cuDNN 9", /*searchToolkit=*/true);
  if (!handle.ok())
    return handle.status();
  Cudnn c{};
  Resolver r(*handle, kName);
  r(c.GetVersion, "cudnnGetVersion");
  r(c.Create, "cudnnCreate");
  r(c.Destroy, "cudnnDestroy");
  r(c.SetStream, "cudnnSetStream");
  r(c.GetErrorString, "cudnnGetErrorString");
  r(c.GetLastErrorString, "cudnnGetLastErrorString");
  r(c.BackendCreateDescriptor, "cudnnBackendCreateDescriptor");
  r(c.BackendDestroyDescriptor, "cudnnBackendDestroyDescriptor");
  r(c.BackendFinalize, "cudnnBackendFinalize");
  r(c.BackendSetAttribute, "cudnnBackendSetAttribute");
  r(c.BackendGetAttribute, "cudnnBackendGetAttribute");
  r(c.BackendExecute, "cudnnBackendExecute");
  if (absl::Status s = r.status("cuDNN 9"); !s.ok())
    return s;
  return c;
}

template <typename T>
absl::StatusOr<const T *> pointerTo(const absl::StatusOr<T> &loaded) {
  if (!loaded.ok())
    return loaded.status();
  return &*loaded;
}

/// Names of the errors a start-up can meet, for drivers that cannot name
/// them (the toolkit's stub libcuda answers every call with error 34).
const char *knownErrorName(cu::Result error) {
  switch (error) {
  case 1:
    return "CUDA_ERROR_INVALID_VALUE";
  case 2:
    return "CUDA_ERROR_OUT_OF_MEMORY";
  case 3:
    return "CUDA_ERROR_NOT_INITIALIZED";
  case 34:
    return "CUDA_ERROR_STUB_LIBRARY (libcuda.so.1 is the toolkit's stub, not "
           "a driver)";
  case 35:
    return "CUDA_ERROR_INSUFFICIENT_DRIVER (the driver is older than CUDA 13 "
           "needs)";
  case 100:
    return "CUDA_ERROR_NO_DEVICE";
  case 101:
    return "CUDA_ERROR_INVALID_DEVICE";
  case 209:
    return "CUDA_ERROR_NO_BINARY_FOR_GPU";
  case 222:
    return "CUDA_ERROR_UNSUPPORTED_PTX_VERSION";
  case 803:
    return "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH";
  case 999:
    return "CUDA_ERROR_UNKNOWN";
  default:
    return nullptr;
  }
}

} // namespace

std::string CudaDriver::errorString(cu::Result error) const {
  const char *name = nullptr, *text = nullptr;
  if (GetErrorName(error, &name) != cu::kSuccess || !name) {
    const char *known = knownErrorName(error);
    return known ? std::string(known) : absl::StrCat("CUDA error ", error);
  }
  if (GetErrorString(error, &text) != cu::kSuccess || !text)
    return name;
  return absl::StrCat(name, " (", text, ")");
}

std::string CublasLt::statusString(lt::Status status) const {
  const char *name = GetStatusName ? GetStatusName(status) : nullptr;
  return name ? std::string(name) : absl::StrCat("cuBLAS status ", status);
}

std::string Nccl::errorString(nccl::Result result, nccl::Comm comm) const {
  std::string text = absl::StrCat("NCCL error ", result);
  if (const char *s = GetErrorString(result))
    absl::StrAppend(&text, " (", s, ")");
  if (const char *last = GetLastError(comm); last && *last)
    absl::StrAppend(&text, ": ", last);
  return text;
}

std::string Cudnn::statusString(dnn::Status status) const {
  const char *name = GetErrorString ? GetErrorString(status) : nullptr;
  std::string text = name ? std::string(name) : absl::StrCat("cuDNN status ",
                                                            status);
  char last[512] = {0};
  GetLastErrorString(last, sizeof(last));
  if (last[0])
    absl::StrAppend(&text, ": ", last);
  return text;
}

absl::StatusOr<const CudaDriver *> loadCudaDriver() {
  static const absl::StatusOr<CudaDriver> lib = resolveDriver();
  return pointerTo(lib);
}

absl::StatusOr<const CublasLt *> loadCublasLt() {
  static const absl::StatusOr<CublasLt> lib = resolveCublasLt();
  return pointerTo(lib);
}

absl::StatusOr<const Nccl *> loadNccl() {
  static const absl::StatusOr<Nccl> lib = resolveNccl();
  return pointerTo(lib);
}

absl::StatusOr<const Cudnn *> loadCudnn() {
  static const absl::StatusOr<Cudnn> lib = resolveCudnn();
  return pointerTo(lib);
}

} // namespace palmrt
