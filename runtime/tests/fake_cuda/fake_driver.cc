//===- fake_driver.cc - a libcuda.so.1 that runs on the host, for tests ---===//
//
// The cuda backend (buffers, transfers, launches, the packing around
// collectives, palmrt_main on a cuda program) and the kernels it runs are
// tested on machines without a GPU by putting this library, named
// libcuda.so.1, first on LD_LIBRARY_PATH. "Device memory" is host memory and
// every stream runs its work at once. Kernels run in the PTX interpreter
// (ptx_interpreter.h): PTX modules as loaded (palm-compile's generated
// kernels, the tests' kernels), and for palmrt's embedded fatbins the PTX
// nvcc made from the
// same sources at build time (embedded here). palmrt's attention kernel is
// also checked, launch by launch, against a plain double-precision
// reference. Every device address a call or a kernel touches must lie
// inside an allocation, so host pointers passed as device pointers, and
// accesses past the end of a buffer, abort the test.
//
// PALMRT_FAKE_CUDA_DEVICES sets the number of GPUs (default 1; 0 makes
// cuInit fail with CUDA_ERROR_NO_DEVICE); PALMRT_FAKE_CUDA_LOG=1 prints
// every launch (kernel, grid, block, shared bytes) to stderr;
// PALMRT_FAKE_CUDA_NAME sets the name the GPUs report.
//
//===----------------------------------------------------------------------===//

#include "base/bf16.h"
#include "cuda/kernels/kernel_params.h"
#include "cuda/kernels/param_init.h"
#include "ptx_interpreter.h"

#include <cuda.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace {

std::mutex gMutex;
std::map<uintptr_t, size_t> gAllocations;
bool gInitialized = false;

[[noreturn]] void fail(const char *format, ...) {
  va_list args;
  va_start(args, format);
  std::fprintf(stderr, "fake libcuda: ");
  std::vfprintf(stderr, format, args);
  std::fprintf(stderr, "\n");
  va_end(args);
  std::fflush(stderr);
  std::abort();
}

/// PALMRT_FAKE_CUDA_LOG is set.
bool logging() {
  static const bool on = std::getenv("PALMRT_FAKE_CUDA_LOG") != nullptr;
  return on;
}

int deviceCount() {
  const char *text = std::getenv("PALMRT_FAKE_CUDA_DEVICES");
  return text ? std::atoi(text) : 1;
}

/// Aborts unless [p, p + bytes) lies in one allocation.
void checkRange(const void *p, size_t bytes, const char *what) {
  std::lock_guard<std::mutex> lock(gMutex);
  uintptr_t at = reinterpret_cast<uintptr_t>(p);
  auto it = gAllocations.upper_bound(at);
  if (it == gAllocations.begin())
    fail("%s: %p (%zu bytes) is not device memory", what, p, bytes);
  --it;
  if (at + bytes > it->first + it->second)
    fail("%s: %p + %zu bytes runs past the end of an allocation of %zu "
         "bytes at %p",
         what, p, bytes, it->second, reinterpret_cast<void *>(it->first));
}

/// For the interpreter: the allocation holding [p, p + bytes).
bool deviceRange(uintptr_t p, size_t bytes, uintptr_t *begin,
                 uintptr_t *end) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gAllocations.upper_bound(p);
  if (it == gAllocations.begin())
    return false;
  --it;
  if (p + bytes > it->first + it->second || p + bytes < p)
    return false;
  *begin = it->first;
  *end = it->first + it->second;
  return true;
}

/// A loaded module: PTX text parsed, or (for one of palmrt's fatbins) the
/// parsed PTX of palmrt's kernels.
struct FakeModule {
  std::vector<std::shared_ptr<ptxi::Module>> modules;
};

/// A reference a kernel's results are checked against after it ran.
using ReferenceFn = void (*)(void **params, const unsigned grid[3],
                             const unsigned block[3], unsigned shared);

struct FakeFunction {
  std::string name;
  std::shared_ptr<ptxi::Module> module;
  const ptxi::Kernel *kernel;
  ReferenceFn reference;
};

struct FakeEvent {
  double seconds = 0;
};

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

using palmrt::bf16ToFloat;
using palmrt::floatToBf16;

/// palmrt's attention kernels, as a reference with the semantics of
/// palmrt.h; also checks the launch palmrt chose.
template <bool Bf16, int MaxDv, bool Mma = false>
void attention(void **params, const unsigned grid[3], const unsigned block[3],
               unsigned shared) {
  const auto &p = *static_cast<const palmrt::AttentionParams *>(params[0]);
  if (p.dv > MaxDv || (MaxDv > 64 && p.dv <= MaxDv / 2) ||
      (Mma && (p.dk != MaxDv || p.dv != MaxDv)))
    fail("attention kernel for dv <= %d chosen for dk = %lld, dv = %lld",
         MaxDv, static_cast<long long>(p.dk), static_cast<long long>(p.dv));
  int64_t rows = Mma ? palmrt::attentionMmaRows(MaxDv) : palmrt::kAttentionRows;
  int64_t tiles = (p.s + rows - 1) / rows;
  if (p.qTiles != tiles || grid[0] != tiles * p.h * p.b || grid[1] != 1 ||
      block[0] != static_cast<unsigned>(Mma ? palmrt::kAttentionMmaThreads
                                            : palmrt::kAttentionThreads) ||
      shared != (Mma ? palmrt::attentionMmaSharedBytes(p.dk)
                     : palmrt::attentionSharedBytes(p.dk, p.dv)))
    fail("attention launched with a wrong grid, block or shared memory");
  size_t e = Bf16 ? 2 : 4;
  // Each tensor's whole extent is checked once; elements are read inside it.
  if (p.b > 0 && p.s > 0 && p.h > 0) {
    checkRange(p.q, p.b * p.s * p.h * p.dk * e, "attention q");
    checkRange(p.out, p.b * p.s * p.h * p.dv * e, "attention output");
    if (p.lse)
      checkRange(p.lse, p.b * p.s * p.h * 4, "attention lse");
  }
  if (p.b > 0 && p.t > 0 && p.g > 0) {
    checkRange(p.k, p.b * p.t * p.g * p.dk * e, "attention k");
    checkRange(p.v, p.b * p.t * p.g * p.dv * e, "attention v");
  }
  auto load = [&](const void *base, int64_t i, const char *) {
    const char *at = static_cast<const char *>(base) + i * e;
    if (Bf16) {
      uint16_t v;
      std::memcpy(&v, at, 2);
      return bf16ToFloat(v);
    }
    float v;
    std::memcpy(&v, at, 4);
    return v;
  };
  auto store = [&](int64_t i, float value) {
    char *at = static_cast<char *>(p.out) + i * e;
    if (Bf16) {
      uint16_t v = floatToBf16(value);
      std::memcpy(at, &v, 2);
    } else {
      std::memcpy(at, &value, 4);
    }
  };
  std::vector<double> scores(std::max<int64_t>(p.t, 1)), acc(p.dv);
  for (int64_t b = 0; b < p.b; ++b)
    for (int64_t pos = 0; pos < p.s; ++pos)
      for (int64_t hi = 0; hi < p.h; ++hi) {
        int64_t row = (b * p.s + pos) * p.h + hi, out = row * p.dv;
        int64_t head = p.headOffset + hi;
        std::fill(acc.begin(), acc.end(), 0.0);
        double lse = -INFINITY;
        if (head < p.globalHeads && p.t > 0) {
          int64_t kv = head / p.headsPerGroup;
          int64_t keys =
              p.causal ? std::clamp<int64_t>(p.queryOffset + pos + 1, 0, p.t)
                       : p.t;
          double max = -INFINITY, sum = 0;
          for (int64_t j = 0; j < keys; ++j) {
            double dot = 0;
            for (int64_t c = 0; c < p.dk; ++c)
              dot += static_cast<double>(
                         load(p.q, ((b * p.s + pos) * p.h + hi) * p.dk + c,
                              "attention q")) *
                     load(p.k, ((b * p.t + j) * p.g + kv) * p.dk + c,
                          "attention k");
            scores[j] = dot * p.scale;
            max = std::max(max, scores[j]);
          }
          for (int64_t j = 0; j < keys; ++j) {
            double w = std::exp(scores[j] - max);
            sum += w;
            for (int64_t c = 0; c < p.dv; ++c)
              acc[c] += w * load(p.v, ((b * p.t + j) * p.g + kv) * p.dv + c,
                                 "attention v");
          }
          for (double &a : acc)
            a = sum > 0 ? a / sum : 0;
          if (sum > 0)
            lse = max + std::log(sum);
        }
        if (p.lse)
          p.lse[row] = static_cast<float>(lse);
        for (int64_t c = 0; c < p.dv; ++c)
          store(out + c, static_cast<float>(acc[c]));
      }
}

/// palmrt's kernels as PTX text (nvcc -ptx of kernels/*.cu at build time,
/// embedded by embed_file.cmake).
extern "C" const unsigned char palmrt_fake_attention_ptx[];
extern "C" const unsigned char palmrt_fake_attention_grad_ptx[];
extern "C" const unsigned char palmrt_fake_block_copy_ptx[];
extern "C" const unsigned char palmrt_fake_param_init_ptx[];

const std::vector<std::shared_ptr<ptxi::Module>> &palmrtModules() {
  static const std::vector<std::shared_ptr<ptxi::Module>> modules = [] {
    std::vector<std::shared_ptr<ptxi::Module>> parsed;
    for (const unsigned char *text :
         {palmrt_fake_attention_ptx, palmrt_fake_attention_grad_ptx,
          palmrt_fake_block_copy_ptx, palmrt_fake_param_init_ptx}) {
      std::string error;
      parsed.push_back(ptxi::parseModule(
          reinterpret_cast<const char *>(text), &error));
      if (!parsed.back())
        fail("palmrt's own PTX does not parse: %s", error.c_str());
    }
    return parsed;
  }();
  return modules;
}

ReferenceFn referenceFor(const std::string &name) {
  static const std::map<std::string, ReferenceFn> references = {
      {"palmrt_attention_f32_64", attention<false, 64>},
      {"palmrt_attention_f32_128", attention<false, 128>},
      {"palmrt_attention_f32_256", attention<false, 256>},
      {"palmrt_attention_bf16_64", attention<true, 64>},
      {"palmrt_attention_bf16_128", attention<true, 128>},
      {"palmrt_attention_bf16_256", attention<true, 256>},
      {"palmrt_attention_mma_bf16_64", attention<true, 64, true>},
      {"palmrt_attention_mma_bf16_128", attention<true, 128, true>},
      {"palmrt_attention_mma_bf16_256", attention<true, 256, true>}};
  auto it = references.find(name);
  return it == references.end() ? nullptr : it->second;
}

/// Runs an attention kernel's reference on the same launch and compares:
/// the kernel's output must match it to f32 (or bf16) rounding. The
/// kernel's output is what stays in memory.
void checkAgainstReference(const FakeFunction &f, void **params,
                           const unsigned grid[3], const unsigned block[3],
                           unsigned shared) {
  const auto &p = *static_cast<const palmrt::AttentionParams *>(params[0]);
  bool bf16 = f.name.find("bf16") != std::string::npos;
  size_t count = static_cast<size_t>(p.b * p.s * p.h * p.dv);
  size_t bytes = count * (bf16 ? 2 : 4);
  std::vector<unsigned char> kernel(bytes);
  std::memcpy(kernel.data(), p.out, bytes);
  size_t rows = static_cast<size_t>(p.b * p.s * p.h);
  std::vector<float> kernelLse;
  if (p.lse)
    kernelLse.assign(p.lse, p.lse + rows);
  f.reference(params, grid, block, shared);
  auto at = [&](const void *base, size_t i) {
    const char *q = static_cast<const char *>(base);
    if (bf16) {
      uint16_t v;
      std::memcpy(&v, q + 2 * i, 2);
      return bf16ToFloat(v);
    }
    float v;
    std::memcpy(&v, q + 4 * i, 4);
    return v;
  };
  double scale = 0;
  for (size_t i = 0; i < count; ++i)
    scale = std::max(scale, std::fabs(static_cast<double>(at(p.out, i))));
  for (size_t i = 0; i < count; ++i) {
    double want = at(p.out, i), got = at(kernel.data(), i);
    double tolerance = bf16 ? std::fabs(want) / 128 + 1e-3 * scale
                            : 2e-6 * std::max(scale, 1.0);
    if (!(std::fabs(got - want) <= tolerance))
      fail("%s: output %zu is %.9g, the reference says %.9g", f.name.c_str(),
           i, got, want);
  }
  std::memcpy(p.out, kernel.data(), bytes);
  // The log-sum-exp is f32 arithmetic on either element type.
  for (size_t i = 0; i < kernelLse.size(); ++i) {
    float want = p.lse[i], got = kernelLse[i];
    bool same = std::isinf(want) ? got == want
                                 : std::fabs(got - want) <=
                                       1e-5 * std::max(1.0f, std::fabs(want));
    if (!same)
      fail("%s: lse %zu is %.9g, the reference says %.9g", f.name.c_str(), i,
           got, want);
  }
  if (p.lse)
    std::copy(kernelLse.begin(), kernelLse.end(), p.lse);
}

struct FakeContext {
  int unused;
} gContext;

CUresult notInitialized() { return CUDA_ERROR_NOT_INITIALIZED; }

} // namespace

extern "C" {

/// For the fake cuBLASLt and NCCL: aborts unless the range is device memory.
__attribute__((visibility("default"))) void
palmrtFakeCheckRange(const void *p, size_t bytes, const char *what) {
  if (bytes > 0)
    checkRange(p, bytes, what);
}

CUresult cuInit(unsigned int flags) {
  if (flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
  if (deviceCount() <= 0)
    return CUDA_ERROR_NO_DEVICE;
  gInitialized = true;
  return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int *version) {
  *version = CUDA_VERSION;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *count) {
  if (!gInitialized)
    return notInitialized();
  *count = deviceCount();
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  if (!gInitialized)
    return notInitialized();
  if (ordinal < 0 || ordinal >= deviceCount())
    return CUDA_ERROR_INVALID_DEVICE;
  *device = ordinal;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int length, CUdevice) {
  const char *fake = std::getenv("PALMRT_FAKE_CUDA_NAME");
  std::snprintf(name, length, "%s", fake ? fake : "palmrt fake GPU");
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *value, CUdevice_attribute attribute,
                              CUdevice) {
  switch (attribute) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
    *value = 9;
    break;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
    *value = 0;
    break;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
    *value = 132;
    break;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
    *value = 232448;
    break;
  default:
    return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice) {
  *context = reinterpret_cast<CUcontext>(&gContext);
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease(CUdevice) { return CUDA_SUCCESS; }

CUresult cuCtxSetCurrent(CUcontext) { return CUDA_SUCCESS; }

CUresult cuMemAlloc(CUdeviceptr *pointer, size_t bytes) {
  if (bytes == 0)
    return CUDA_ERROR_INVALID_VALUE;
  size_t rounded = (bytes + 255) / 256 * 256;
  void *p = std::aligned_alloc(256, rounded);
  if (!p)
    return CUDA_ERROR_OUT_OF_MEMORY;
  // Device memory starts with whatever was there before.
  std::memset(p, 0xA5, rounded);
  std::lock_guard<std::mutex> lock(gMutex);
  gAllocations[reinterpret_cast<uintptr_t>(p)] = bytes;
  *pointer = reinterpret_cast<uintptr_t>(p);
  return CUDA_SUCCESS;
}

CUresult cuMemFree(CUdeviceptr pointer) {
  std::lock_guard<std::mutex> lock(gMutex);
  if (!gAllocations.erase(pointer))
    fail("cuMemFree of %p, which is not an allocation",
         reinterpret_cast<void *>(pointer));
  std::free(reinterpret_cast<void *>(pointer));
  return CUDA_SUCCESS;
}

CUresult cuMemGetInfo(size_t *free, size_t *total) {
  *free = *total = size_t{80} << 30;
  return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t bytes,
                           CUstream) {
  checkRange(reinterpret_cast<void *>(dst), bytes, "cuMemcpyHtoDAsync");
  std::memcpy(reinterpret_cast<void *>(dst), src, bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoHAsync(void *dst, CUdeviceptr src, size_t bytes, CUstream) {
  checkRange(reinterpret_cast<void *>(src), bytes, "cuMemcpyDtoHAsync");
  std::memcpy(dst, reinterpret_cast<void *>(src), bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes,
                           CUstream) {
  checkRange(reinterpret_cast<void *>(dst), bytes, "cuMemcpyDtoDAsync dst");
  checkRange(reinterpret_cast<void *>(src), bytes, "cuMemcpyDtoDAsync src");
  std::memmove(reinterpret_cast<void *>(dst), reinterpret_cast<void *>(src),
               bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t bytes,
                         CUstream) {
  checkRange(reinterpret_cast<void *>(dst), bytes, "cuMemsetD8Async");
  std::memset(reinterpret_cast<void *>(dst), value, bytes);
  return CUDA_SUCCESS;
}

CUresult cuStreamCreate(CUstream *stream, unsigned int) {
  *stream = reinterpret_cast<CUstream>(new int(0));
  return CUDA_SUCCESS;
}

CUresult cuStreamDestroy(CUstream stream) {
  delete reinterpret_cast<int *>(stream);
  return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(CUstream) { return CUDA_SUCCESS; }

CUresult cuStreamWaitEvent(CUstream, CUevent event, unsigned int flags) {
  if (!event || flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

CUresult cuEventCreate(CUevent *event, unsigned int) {
  *event = reinterpret_cast<CUevent>(new FakeEvent);
  return CUDA_SUCCESS;
}

CUresult cuEventDestroy(CUevent event) {
  delete reinterpret_cast<FakeEvent *>(event);
  return CUDA_SUCCESS;
}

CUresult cuEventRecord(CUevent event, CUstream) {
  reinterpret_cast<FakeEvent *>(event)->seconds = now();
  return CUDA_SUCCESS;
}

CUresult cuEventSynchronize(CUevent) { return CUDA_SUCCESS; }

CUresult cuEventElapsedTime(float *ms, CUevent start, CUevent end) {
  *ms = static_cast<float>((reinterpret_cast<FakeEvent *>(end)->seconds -
                            reinterpret_cast<FakeEvent *>(start)->seconds) *
                           1e3);
  return CUDA_SUCCESS;
}

CUresult cuModuleLoadDataEx(CUmodule *module, const void *image,
                            unsigned int numOptions, CUjit_option *options,
                            void **values) {
  uint32_t magic;
  std::memcpy(&magic, image, 4);
  if (magic == 0x464C457Fu) { // "\x7fELF": machine code, which we cannot run
    if (logging())
      std::fprintf(stderr, "fake libcuda: refusing a cubin (PTX only)\n");
    return CUDA_ERROR_NO_BINARY_FOR_GPU;
  }
  auto *m = new FakeModule;
  if (magic == 0xBA55ED50u) { // a fatbin: one of palmrt's
    m->modules = palmrtModules();
  } else {
    std::string error;
    auto parsed = ptxi::parseModule(static_cast<const char *>(image), &error);
    if (!parsed) {
      for (unsigned i = 0; i + 1 < numOptions; ++i)
        if (options[i] == CU_JIT_ERROR_LOG_BUFFER &&
            options[i + 1] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
          std::snprintf(static_cast<char *>(values[i]),
                        reinterpret_cast<uintptr_t>(values[i + 1]),
                        "fake ptxas: %s", error.c_str());
      delete m;
      return CUDA_ERROR_INVALID_PTX;
    }
    m->modules.push_back(std::move(parsed));
  }
  *module = reinterpret_cast<CUmodule>(m);
  return CUDA_SUCCESS;
}

CUresult cuModuleUnload(CUmodule module) {
  delete reinterpret_cast<FakeModule *>(module);
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction *function, CUmodule module,
                             const char *name) {
  auto *m = reinterpret_cast<FakeModule *>(module);
  for (const auto &parsed : m->modules)
    if (const ptxi::Kernel *k = ptxi::findKernel(*parsed, name)) {
      *function = reinterpret_cast<CUfunction>(
          new FakeFunction{name, parsed, k, referenceFor(name)});
      return CUDA_SUCCESS;
    }
  return CUDA_ERROR_NOT_FOUND;
}

CUresult cuFuncSetAttribute(CUfunction, CUfunction_attribute attribute,
                            int value) {
  if (attribute != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES ||
      value > 232448)
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction function, unsigned int gridX,
                        unsigned int gridY, unsigned int gridZ,
                        unsigned int blockX, unsigned int blockY,
                        unsigned int blockZ, unsigned int sharedBytes,
                        CUstream stream, void **params, void **extra) {
  if (!stream || extra || !params)
    fail("cuLaunchKernel without a stream or with `extra`");
  if (sharedBytes > 48 * 1024 && sharedBytes > 232448)
    return CUDA_ERROR_INVALID_VALUE;
  const unsigned grid[3] = {gridX, gridY, gridZ};
  const unsigned block[3] = {blockX, blockY, blockZ};
  if (blockX * blockY * blockZ > 1024 || blockX * blockY * blockZ == 0 ||
      gridX == 0 || gridY == 0 || gridZ == 0)
    return CUDA_ERROR_INVALID_VALUE;
  const auto &f = *reinterpret_cast<FakeFunction *>(function);
  if (logging())
    std::fprintf(stderr, "fake libcuda: launch %s grid (%u,%u,%u) block "
                         "(%u,%u,%u) shared %u\n",
                 f.name.c_str(), gridX, gridY, gridZ, blockX, blockY, blockZ,
                 sharedBytes);
  if (f.name == "palmrt_init_normal" &&
      !std::getenv("PALMRT_FAKE_CUDA_INTERPRET_INIT")) {
    // The parameter generator runs natively, the kernel's own body
    // (param_init.h): interpreting it for the millions of elements of
    // `small` would take minutes. cuda-init-emulated.test interprets it.
    const auto &p = *static_cast<const palmrt::InitNormalParams *>(params[0]);
    for (int64_t i = 0; i < p.elements; ++i)
      palmrt::initNormalElement(p, i);
    return CUDA_SUCCESS;
  }
  ptxi::launch(*f.kernel, params, grid, block, sharedBytes, deviceRange);
  if (f.reference)
    checkAgainstReference(f, params, grid, block, sharedBytes);
  return CUDA_SUCCESS;
}

CUresult cuGetErrorName(CUresult error, const char **name) {
  switch (error) {
  case CUDA_SUCCESS:
    *name = "CUDA_SUCCESS";
    return CUDA_SUCCESS;
  case CUDA_ERROR_NOT_FOUND:
    *name = "CUDA_ERROR_NOT_FOUND";
    return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_PTX:
    *name = "CUDA_ERROR_INVALID_PTX";
    return CUDA_SUCCESS;
  case CUDA_ERROR_NO_DEVICE:
    *name = "CUDA_ERROR_NO_DEVICE";
    return CUDA_SUCCESS;
  case CUDA_ERROR_NO_BINARY_FOR_GPU:
    *name = "CUDA_ERROR_NO_BINARY_FOR_GPU";
    return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_IMAGE:
    *name = "CUDA_ERROR_INVALID_IMAGE";
    return CUDA_SUCCESS;
  default:
    return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult cuGetErrorString(CUresult error, const char **text) {
  *text = error == CUDA_SUCCESS ? "no error" : "fake driver error";
  return CUDA_SUCCESS;
}

} // extern "C"
