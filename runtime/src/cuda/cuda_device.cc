//===- cuda_device.cc - the cuda backend: device, memory, launches --------===//

#include "cuda/cuda_device.h"

#include "api/context.h"
#include "base/trace.h"
#include "cuda/cuda_gemm.h"
#include "cuda/embedded_kernels.h"
#include "io/json.h"
#include "io/program_info.h"
#include "job/process.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>

namespace palmrt {
namespace {

constexpr int64_t kMaxGridX = INT_MAX, kMaxGridYZ = 65535;
constexpr int64_t kMaxBlockThreads = 1024;

cu::DevicePtr devicePointer(const void *p) {
  return static_cast<cu::DevicePtr>(reinterpret_cast<uintptr_t>(p));
}

void *hostView(cu::DevicePtr p) {
  return reinterpret_cast<void *>(static_cast<uintptr_t>(p));
}

} // namespace

absl::StatusOr<std::unique_ptr<CudaDevice>>
CudaDevice::open(int localRank, int localSize, bool needNccl) {
  absl::StatusOr<const CudaDriver *> driver = loadCudaDriver();
  if (!driver.ok())
    return driver.status();
  std::unique_ptr<CudaDevice> device(new CudaDevice(**driver));
  if (absl::Status s = device->init(localRank, localSize, needNccl); !s.ok())
    return s;
  return device;
}

absl::Status CudaDevice::status(cu::Result result, const char *call) const {
  if (result == cu::kSuccess)
    return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("the CUDA driver failed: ", call,
                                             ": ", cu.errorString(result)));
}

void CudaDevice::waitIfWatchdogFired() const {
  // The watchdog's thread ends the process (within its bound on aborting).
  while (watchdog && watchdog->fired())
    std::this_thread::sleep_for(std::chrono::seconds(1));
}

void CudaDevice::check(cu::Result result, const char *call) const {
  if (result == cu::kSuccess)
    return;
  waitIfWatchdogFired();
  fatal(absl::StrCat(call, " failed on ", describe(), ": ",
                     cu.errorString(result)));
}

absl::Status CudaDevice::init(int localRank, int localSize, bool needNccl) {
  if (const char *choice = std::getenv("PALMRT_ATTENTION")) {
    std::string c = choice;
    if (c == "auto" || c.empty())
      attentionChoice = AttentionChoice::kAuto;
    else if (c == "cudnn")
      attentionChoice = AttentionChoice::kCudnn;
    else if (c == "palm")
      attentionChoice = AttentionChoice::kPalm;
    else
      return absl::InvalidArgumentError(absl::StrCat(
          "PALMRT_ATTENTION is '", c, "'; it must be auto, cudnn or palm"));
  }
  cu::Result r = cu.Init(0);
  if (r == cu::kErrorNoDevice)
    return absl::UnavailableError(
        "the machine has no CUDA device (cuInit: CUDA_ERROR_NO_DEVICE)");
  if (absl::Status s = status(r, "cuInit"); !s.ok())
    return s;
  if (absl::Status s =
          status(cu.DeviceGetCount(&deviceCount), "cuDeviceGetCount");
      !s.ok())
    return s;
  if (deviceCount <= 0)
    return absl::UnavailableError("the machine has no CUDA device");
  if (needNccl && localSize > deviceCount)
    return absl::FailedPreconditionError(absl::StrCat(
        "this node runs ", localSize, " processes but has ", deviceCount,
        deviceCount == 1 ? " GPU" : " GPUs",
        "; NCCL needs a GPU of its own for each process (run at most ",
        deviceCount, " processes per node)"));
  ordinal = localRank % deviceCount;
  if (absl::Status s = status(cu.DeviceGet(&device, ordinal), "cuDeviceGet");
      !s.ok())
    return s;
  char text[256] = {0};
  if (cu.DeviceGetName(text, sizeof(text) - 1, device) == cu::kSuccess)
    name = text;
  if (absl::Status s =
          status(cu.DeviceGetAttribute(&ccMajor,
                                       cu::kAttrComputeCapabilityMajor, device),
                 "cuDeviceGetAttribute");
      !s.ok())
    return s;
  cu.DeviceGetAttribute(&ccMinor, cu::kAttrComputeCapabilityMinor, device);
  cu.DeviceGetAttribute(&sharedOptin, cu::kAttrMaxSharedMemoryPerBlockOptin,
                        device);
  if (ccMajor < 8)
    return absl::UnavailableError(
        absl::StrCat(describe(), " is older than sm_80, which palmrt's GPU "
                                 "kernels need"));
  if (absl::Status s = status(cu.DevicePrimaryCtxRetain(&context, device),
                              "cuDevicePrimaryCtxRetain");
      !s.ok())
    return s;
  retained = true;
  absl::Status s = status(cu.CtxSetCurrent(context), "cuCtxSetCurrent");
  for (cu::Stream *stream : {&compute, &comms})
    if (s.ok())
      s = status(cu.StreamCreate(stream, cu::kStreamNonBlocking),
                 "cuStreamCreate");
  // Fences between the streams; they need no timing.
  for (cu::Event *event : {&computeReady, &commsDone})
    if (s.ok())
      s = status(cu.EventCreate(event, cu::kEventDisableTiming),
                 "cuEventCreate");
  if (!s.ok())
    return s;

  // Load the embedded modules now, so that a driver too old for them fails
  // at start-up with the others.
  for (const unsigned char *image :
       {palmrt_attention_fatbin, palmrt_attention_grad_fatbin,
        palmrt_block_copy_fatbin, palmrt_param_init_fatbin}) {
    cu::Module module = nullptr;
    char log[4096] = {0};
    int options[] = {cu::kJitErrorLogBuffer, cu::kJitErrorLogBufferSize};
    void *values[] = {log, reinterpret_cast<void *>(sizeof(log) - 1)};
    r = cu.ModuleLoadDataEx(&module, image, 2, options, values);
    if (r != cu::kSuccess)
      return absl::UnavailableError(absl::StrCat(
          "the CUDA driver cannot load palmrt's kernels for ", describe(), ": ",
          cu.errorString(r), log[0] ? ": " : "", log));
    modules[image] = module;
  }

  absl::StatusOr<const CublasLt *> cublas = loadCublasLt();
  if (!cublas.ok())
    return cublas.status();
  lt = *cublas;
  absl::StatusOr<std::unique_ptr<CublasGemm>> engine =
      CublasGemm::create(cu, *lt, compute);
  if (!engine.ok())
    return engine.status();
  gemmEngine = std::move(*engine);

  if (needNccl) {
    absl::StatusOr<const Nccl *> n = loadNccl();
    if (!n.ok())
      return n.status();
    nccl = *n;
  }
  return absl::OkStatus();
}

CudaDevice::~CudaDevice() {
  if (!retained)
    return;
  // Errors are ignored here: the process is ending, and a sticky device
  // error has been reported where it happened.
  watchdog.reset();
  cu.CtxSetCurrent(context);
  if (compute)
    cu.StreamSynchronize(compute);
  if (comms)
    cu.StreamSynchronize(comms);
  for (nccl::Comm c : groupComms)
    if (c)
      nccl->CommDestroy(c);
  if (worldComm)
    nccl->CommDestroy(worldComm);
  gemmEngine.reset();
  cudnn.reset();
  for (Scratch &s : scratchBuffers)
    if (s.pointer)
      cu.MemFree(s.pointer);
  for (cu::DevicePtr p : allocations)
    cu.MemFree(p);
  for (cu::Event e : eventPool)
    cu.EventDestroy(e);
  for (cu::Event e : {computeReady, commsDone})
    if (e)
      cu.EventDestroy(e);
  for (cu::Stream s : {compute, comms})
    if (s)
      cu.StreamDestroy(s);
  for (auto &[image, module] : modules)
    cu.ModuleUnload(module);
  cu.DevicePrimaryCtxRelease(device);
}

std::string CudaDevice::describe() const {
  return absl::StrCat("cuda device ", ordinal, " of ", deviceCount, " (",
                      name.empty() ? "unnamed" : name, ", sm_", ccMajor,
                      ccMinor, ")");
}

double CudaDevice::peakFlops(bool bf16) const {
  // Dense bf16 tensor-core and f32 peaks of the data-sheet SKUs, matched by
  // the driver's name (the first that the name contains); boost clocks.
  struct Peak {
    const char *name;
    double bf16, f32;
  };
  static const Peak peaks[] = {
      {"H200", 989e12, 67e12},      {"H100 PCIe", 756e12, 51e12},
      {"H100 NVL", 835e12, 60e12},  {"H100", 989e12, 67e12},
      {"A100", 312e12, 19.5e12}};
  for (const Peak &p : peaks)
    if (name.find(p.name) != std::string::npos)
      return bf16 ? p.bf16 : p.f32;
  return 0;
}

absl::StatusOr<void *> CudaDevice::allocate(int64_t bytes) {
  size_t rounded =
      static_cast<size_t>((std::max<int64_t>(bytes, 1) + 255) / 256 * 256);
  cu::DevicePtr p = 0;
  cu::Result r = cu.MemAlloc(&p, rounded);
  if (r != cu::kSuccess) {
    size_t free = 0, total = 0;
    cu.MemGetInfo(&free, &total);
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes on ", describe(), " (",
                     free, " of ", total, " bytes free): ", cu.errorString(r)));
  }
  allocations.insert(p);
  if (absl::Status s =
          status(cu.MemsetD8Async(p, 0, rounded, compute), "cuMemsetD8Async");
      !s.ok())
    return s;
  if (absl::Status s =
          status(cu.StreamSynchronize(compute), "cuStreamSynchronize");
      !s.ok())
    return s;
  return hostView(p);
}

void CudaDevice::release(void *memory) {
  cu::DevicePtr p = devicePointer(memory);
  if (!allocations.erase(p))
    fatal("release of memory the cuda backend did not allocate");
  check(cu.StreamSynchronize(comms), "cuStreamSynchronize");
  check(cu.StreamSynchronize(compute), "cuStreamSynchronize");
  check(cu.MemFree(p), "cuMemFree");
}

absl::Status CudaDevice::upload(void *device, const void *host, int64_t bytes) {
  if (bytes <= 0)
    return absl::OkStatus();
  if (absl::Status s = status(
          cu.MemcpyHtoDAsync(devicePointer(device), host, bytes, compute),
          "cuMemcpyHtoDAsync");
      !s.ok())
    return s;
  return status(cu.StreamSynchronize(compute), "cuStreamSynchronize");
}

absl::Status CudaDevice::download(void *host, const void *device,
                                  int64_t bytes) {
  if (bytes <= 0)
    return absl::OkStatus();
  if (absl::Status s = status(
          cu.MemcpyDtoHAsync(host, devicePointer(device), bytes, compute),
          "cuMemcpyDtoHAsync");
      !s.ok())
    return s;
  return status(cu.StreamSynchronize(compute), "cuStreamSynchronize");
}

cu::Event CudaDevice::timingEvent() {
  if (eventsUsed == eventPool.size()) {
    cu::Event e = nullptr;
    check(cu.EventCreate(&e, cu::kEventDefault), "cuEventCreate");
    eventPool.push_back(e);
  }
  return eventPool[eventsUsed++];
}

void CudaDevice::recordSpan(cu::Event start, cu::Event end, const char *name,
                            const char *category, std::string args,
                            bool collective) {
  spans.push_back({start, end, name, category, std::move(args), collective});
}

cu::Event CudaDevice::traceStart() {
  if (!inStep || !activeTracer())
    return nullptr;
  cu::Event start = timingEvent();
  check(cu.EventRecord(start, compute), "cuEventRecord");
  return start;
}

void CudaDevice::traceEnd(cu::Event start, const char *name,
                          const char *category, std::string args) {
  if (!start)
    return;
  cu::Event end = timingEvent();
  check(cu.EventRecord(end, compute), "cuEventRecord");
  recordSpan(start, end, name, category, std::move(args), false);
}

void CudaDevice::beginStep(const std::string &what) {
  inStep = true;
  eventsUsed = 0;
  spans.clear();
  stepStart = timingEvent();
  check(cu.EventRecord(stepStart, compute), "cuEventRecord");
  stepStartSeconds = nowSeconds();
  if (watchdog)
    watchdog->beginStep(what);
}

StepTimes CudaDevice::finishStep() {
  // Work of the step that failed on the device surfaces here.
  check(cu.StreamSynchronize(comms), "the step's collectives");
  check(cu.StreamSynchronize(compute), "the step's kernels");
  if (watchdog)
    watchdog->endStep();
  StepTimes times;
  Tracer *tracer = activeTracer();
  for (const Span &span : spans) {
    float ms = 0, offsetMs = 0;
    check(cu.EventElapsedTime(&ms, span.start, span.end), "cuEventElapsedTime");
    if (span.collective) {
      times.collectiveSeconds += ms * 1e-3;
      ++times.collectives;
    }
    if (tracer) {
      check(cu.EventElapsedTime(&offsetMs, stepStart, span.start),
            "cuEventElapsedTime");
      double start = stepStartSeconds + offsetMs * 1e-3;
      // Track 1 is the compute stream, 2 the comm stream.
      int track = span.collective ? 2 : 1;
      tracer->nameTrack(track, track == 1 ? "cuda compute stream"
                                          : "cuda comm stream");
      tracer->complete(span.name, span.category, start, start + ms * 1e-3,
                       span.args, track);
    }
  }
  spans.clear();
  inStep = false;
  return times;
}

namespace {

/// What to load from a GPU image: a palm-compile image ("PALMGPU1",
/// docs/runtime-abi.md) gives its cubin for `sm`, if it has one, and its
/// PTX; any other image (PTX text, a fatbin) is loaded as it is.
struct ImagePieces {
  const void *cubin = nullptr;
  const void *rest = nullptr;
};

ImagePieces piecesOf(const void *image, uint32_t sm) {
  const char *bytes = static_cast<const char *>(image);
  if (std::memcmp(bytes, "PALMGPU1", 8) != 0)
    return {nullptr, image};
  uint32_t count;
  std::memcpy(&count, bytes + 8, 4);
  ImagePieces pieces;
  for (uint32_t i = 0; i < count; ++i) {
    const char *entry = bytes + 16 + 24 * i;
    uint32_t kind, entrySm;
    uint64_t offset;
    std::memcpy(&kind, entry, 4);
    std::memcpy(&entrySm, entry + 4, 4);
    std::memcpy(&offset, entry + 8, 8);
    if (kind == 0)
      pieces.rest = bytes + offset;
    else if (kind == 1 && entrySm == sm)
      pieces.cubin = bytes + offset;
  }
  return pieces;
}

} // namespace

CudaDevice::Kernel &CudaDevice::kernel(const void *image, const char *name) {
  auto [it, inserted] = modules.try_emplace(image, nullptr);
  if (inserted) {
    char log[8192] = {0};
    int options[] = {cu::kJitErrorLogBuffer, cu::kJitErrorLogBufferSize};
    void *values[] = {log, reinterpret_cast<void *>(sizeof(log) - 1)};
    ImagePieces pieces = piecesOf(image, ccMajor * 10 + ccMinor);
    // The machine code for this GPU when there is some; the PTX (which the
    // driver compiles) if there is none or it does not load.
    std::string cubinError;
    cu::Result r = cu::kSuccess;
    if (pieces.cubin) {
      r = cu.ModuleLoadDataEx(&it->second, pieces.cubin, 2, options, values);
      if (r != cu::kSuccess)
        cubinError = absl::StrCat(" (its sm_", ccMajor, ccMinor,
                                  " machine code did not load either: ",
                                  cu.errorString(r), ")");
    }
    if (!pieces.cubin || r != cu::kSuccess) {
      log[0] = 0;
      r = pieces.rest ? cu.ModuleLoadDataEx(&it->second, pieces.rest, 2,
                                            options, values)
                      : cu::kErrorInvalidImage;
    }
    if (r != cu::kSuccess) {
      modules.erase(it);
      fatal(absl::StrCat("palmrt_launch: the GPU module holding kernel '", name,
                         "' does not load on ", describe(), ": ",
                         cu.errorString(r), cubinError, log[0] ? "\n" : "",
                         log));
    }
  }
  auto [kt, added] = kernels.try_emplace({it->second, name});
  if (added) {
    cu::Result r = cu.ModuleGetFunction(&kt->second.function, it->second, name);
    if (r != cu::kSuccess) {
      kernels.erase(kt);
      fatal(absl::StrCat("palmrt_launch: kernel '", name,
                         "' is not in its GPU module: ", cu.errorString(r)));
    }
  }
  return kt->second;
}

void CudaDevice::launchOn(cu::Stream stream, Kernel &k, const int64_t grid[3],
                          const int64_t block[3], int32_t sharedBytes,
                          void **args) {
  if (sharedBytes > k.sharedLimit) {
    check(cu.FuncSetAttribute(k.function, cu::kFuncAttrMaxDynamicSharedSize,
                              sharedBytes),
          "cuFuncSetAttribute");
    k.sharedLimit = sharedBytes;
  }
  check(cu.LaunchKernel(
            k.function, static_cast<unsigned>(grid[0]),
            static_cast<unsigned>(grid[1]), static_cast<unsigned>(grid[2]),
            static_cast<unsigned>(block[0]), static_cast<unsigned>(block[1]),
            static_cast<unsigned>(block[2]), static_cast<unsigned>(sharedBytes),
            stream, args, nullptr),
        "cuLaunchKernel");
}

void CudaDevice::launch(const char *image, const char *kernelName,
                        const int64_t grid[3], const int64_t block[3],
                        int32_t sharedBytes, void **args) {
  if (!image || !kernelName)
    fatal(absl::StrCat("palmrt_launch: kernel '",
                       kernelName ? kernelName : "(null)",
                       "' without a module"));
  for (int i = 0; i < 3; ++i)
    if (grid[i] < 0 || block[i] < 0)
      fatal(absl::StrCat("palmrt_launch: kernel '", kernelName,
                         "' has a negative grid or block size"));
  // A grid without blocks (an empty tensor) runs nothing.
  if (grid[0] * grid[1] * grid[2] == 0 || block[0] * block[1] * block[2] == 0)
    return;
  if (grid[0] > kMaxGridX || grid[1] > kMaxGridYZ || grid[2] > kMaxGridYZ ||
      block[0] > kMaxBlockThreads || block[1] > kMaxBlockThreads ||
      block[2] > 64 || block[0] * block[1] * block[2] > kMaxBlockThreads)
    fatal(absl::StrCat("palmrt_launch: kernel '", kernelName, "' asks for a ",
                       grid[0], "x", grid[1], "x", grid[2], " grid of ",
                       block[0], "x", block[1], "x", block[2],
                       " blocks, beyond CUDA's limits"));
  if (sharedBytes < 0 || sharedBytes > sharedOptin)
    fatal(absl::StrCat("palmrt_launch: kernel '", kernelName, "' asks for ",
                       sharedBytes, " bytes of shared memory; ", describe(),
                       " allows ", sharedOptin));
  Kernel &k = kernel(image, kernelName);
  cu::Event start = traceStart();
  launchOn(compute, k, grid, block, sharedBytes, args);
  if (start)
    traceEnd(start, "launch", "kernel",
             absl::StrCat("\"kernel\":", jsonQuote(kernelName)));
}

absl::StatusOr<bool> CudaDevice::initNormal(const NormalInit &init) {
  InitNormalParams p{};
  int32_t rank = static_cast<int32_t>(init.localShape.size());
  if (rank > kInitMaxRank)
    return false; // the host generates it
  p.out = init.out;
  p.stddev = init.stddev;
  p.rank = rank;
  p.bf16 = init.bf16;
  p.seed = init.seed;
  p.nameHash = init.nameHash;
  p.elements = 1;
  for (int32_t d = 0; d < rank; ++d) {
    p.localShape[d] = init.localShape[d];
    p.offset[d] = init.offset[d];
    p.globalShape[d] = init.globalShape[d];
    p.elements *= init.localShape[d];
  }
  if (p.elements == 0)
    return true;
  constexpr int64_t kThreads = 256;
  int64_t grid[3] = {
      std::clamp<int64_t>((p.elements + kThreads - 1) / kThreads, 1, 65535), 1,
      1};
  int64_t block[3] = {kThreads, 1, 1};
  void *args[] = {&p};
  launchOn(compute, kernel(palmrt_param_init_fatbin, "palmrt_init_normal"),
           grid, block, 0, args);
  return true;
}

void CudaDevice::copy(void *dst, const void *src, int64_t bytes) {
  cu::Event start = traceStart();
  check(cu.MemcpyDtoDAsync(devicePointer(dst), devicePointer(src),
                           static_cast<size_t>(bytes), compute),
        "cuMemcpyDtoDAsync");
  if (start)
    traceEnd(start, "copy", "data", absl::StrCat("\"bytes\":", bytes));
}

void CudaDevice::gemm(int32_t dtype, int64_t batch, int64_t m, int64_t n,
                      int64_t k, const void *a, bool transA, const void *b,
                      bool transB, const void *addend, void *c) {
  cu::Event start = traceStart();
  gemmEngine->run(dtype, batch, m, n, k, a, transA, b, transB, addend, c);
  if (start)
    traceEnd(start, "gemm", "gemm",
             absl::StrCat("\"batch\":", batch, ",\"m\":", m, ",\"n\":", n,
                          ",\"k\":", k, ",\"ta\":", transA ? 1 : 0,
                          ",\"tb\":", transB ? 1 : 0,
                          addend ? ",\"add\":1" : ""));
}

CudnnAttention *CudaDevice::cudnnAttention() {
  if (cudnnTried)
    return cudnn.get();
  cudnnTried = true;
  absl::StatusOr<const Cudnn *> lib = loadCudnn();
  if (!lib.ok()) {
    cudnnMissing = std::string(lib.status().message());
    return nullptr;
  }
  CudnnServices services;
  services.workspace = [this](int64_t bytes) { return scratch(3, bytes); };
  services.transpose = [this](const float *src, float *dst, int64_t batch,
                              int64_t rows, int64_t cols) {
    // src as [batch, rows, cols, 1], dst as [batch, 1, cols, rows]: piece
    // r moves column block r of each batch.
    BlockCopy c;
    c.src = src;
    c.dst = dst;
    c.srcShape = {batch, rows, cols, 1};
    c.dstShape = {batch, 1, cols, rows};
    c.block = {batch, 1, cols, 1};
    c.pieces = rows;
    c.srcPieceStride = cols;
    c.dstPieceStride = 1;
    c.elemBytes = 4;
    blockCopy(compute, c);
  };
  absl::StatusOr<std::unique_ptr<CudnnAttention>> made =
      CudnnAttention::create(**lib, compute, ccMajor, std::move(services));
  if (!made.ok()) {
    cudnnMissing = std::string(made.status().message());
    return nullptr;
  }
  cudnn = std::move(*made);
  return cudnn.get();
}

namespace {
absl::Status runOn(CudnnAttention &dnn, const AttentionArgs &a) {
  return dnn.forward(a);
}
absl::Status runOn(CudnnAttention &dnn, const AttentionGradArgs &a) {
  return dnn.backward(a);
}
int64_t headSize(const AttentionArgs &a) { return a.dk; }
int64_t headSize(const AttentionGradArgs &a) { return a.dkSize; }
} // namespace

template <typename Args> bool CudaDevice::attentionOnCudnn(const Args &a) {
  if (attentionChoice == AttentionChoice::kPalm)
    return false;
  constexpr bool backward = std::is_same_v<Args, AttentionGradArgs>;
  const char *call = backward ? "palmrt_attention_grad" : "palmrt_attention";
  bool required = attentionChoice == AttentionChoice::kCudnn;
  std::string why = cudnnUnsupported(a);
  if (!why.empty()) {
    if (required)
      fatal(absl::StrCat(call, ": PALMRT_ATTENTION=cudnn, but cuDNN cannot "
                               "compute this call: ",
                         why));
    return false;
  }
  CudnnAttention *dnn = cudnnAttention();
  if (!dnn) {
    if (required)
      fatal(absl::StrCat(call, ": PALMRT_ATTENTION=cudnn, but ",
                         cudnnMissing));
    return false;
  }
  cu::Event start = traceStart();
  absl::Status s = runOn(*dnn, a);
  if (!s.ok()) {
    if (required)
      fatal(absl::StrCat(call, ": PALMRT_ATTENTION=cudnn, but ", s.message()));
    // Said once per process: palmrt's kernel runs instead, correctly but
    // perhaps slower.
    if (!cudnnDeclineReported) {
      cudnnDeclineReported = true;
      std::fprintf(stderr,
                   "palmrt: %s declined %s for b=%lld s=%lld t=%lld h=%lld "
                   "g=%lld; palmrt's kernel runs it: %s\n",
                   dnn->version().c_str(), call, static_cast<long long>(a.b),
                   static_cast<long long>(a.s), static_cast<long long>(a.t),
                   static_cast<long long>(a.h), static_cast<long long>(a.g),
                   std::string(s.message()).c_str());
    }
    return false;
  }
  if (start)
    traceEnd(start, backward ? "attention_grad" : "attention", "kernel",
             absl::StrCat("\"b\":", a.b, ",\"s\":", a.s, ",\"t\":", a.t,
                          ",\"h\":", a.h, ",\"g\":", a.g, ",\"dk\":",
                          headSize(a), ",\"dv\":", headSize(a),
                          ",\"impl\":\"cudnn\""));
  return true;
}

void CudaDevice::attention(const AttentionArgs &a) {
  if (a.b <= 0 || a.s <= 0 || a.h <= 0 || a.dv <= 0)
    return;
  if (attentionOnCudnn(a))
    return;
  // bf16 heads of 64, 128 or 256 elements with aligned tensors go to the
  // tensor-core kernels; everything else to the CUDA-core ones.
  auto aligned = [](const void *p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
  };
  bool mma = a.dtype == 1 && a.dk == a.dv &&
             (a.dk == 64 || a.dk == 128 || a.dk == 256) && aligned(a.q) &&
             aligned(a.k) && aligned(a.v) && aligned(a.out) &&
             attentionMmaSharedBytes(a.dk) <= sharedOptin;
  int64_t maxDv = a.dv <= 64 ? 64 : a.dv <= 128 ? 128 : 256;
  if (a.dv > 256)
    fatal(absl::StrCat("palmrt_attention: value heads of ", a.dv,
                       " elements are not supported on cuda (at most 256)"));
  int64_t shared = mma ? attentionMmaSharedBytes(a.dk)
                       : attentionSharedBytes(std::max<int64_t>(a.dk, 0), a.dv);
  if (shared > sharedOptin)
    fatal(absl::StrCat("palmrt_attention: heads of ", a.dk, " and ", a.dv,
                       " elements need ", shared,
                       " bytes of shared memory per block; ", describe(),
                       " allows ", sharedOptin));
  int64_t rows = mma ? attentionMmaRows(a.dk) : kAttentionRows;
  int64_t qTiles = (a.s + rows - 1) / rows;
  if (qTiles * a.h * a.b > kMaxGridX)
    fatal(absl::StrCat("palmrt_attention: ", a.b, " x ", a.h, " x ", a.s,
                       " query rows exceed one launch"));
  AttentionParams p;
  p.q = a.q;
  p.k = a.k;
  p.v = a.v;
  p.out = a.out;
  p.lse = a.lse;
  p.b = a.b;
  p.s = a.s;
  p.t = a.t;
  p.h = a.h;
  p.g = a.g;
  p.dk = a.dk;
  p.dv = a.dv;
  p.headOffset = a.headOffset;
  p.headsPerGroup = a.headsPerGroup;
  p.globalHeads = a.globalHeads;
  p.queryOffset = a.queryOffset;
  p.qTiles = qTiles;
  p.scale = a.scale;
  p.causal = a.causal;
  std::string kernelName =
      mma ? absl::StrCat("palmrt_attention_mma_bf16_", a.dk)
          : absl::StrCat("palmrt_attention_", a.dtype == 1 ? "bf16_" : "f32_",
                         maxDv);
  Kernel &k = kernel(palmrt_attention_fatbin, kernelName.c_str());
  int64_t grid[3] = {qTiles * a.h * a.b, 1, 1};
  int64_t block[3] = {mma ? kAttentionMmaThreads : kAttentionThreads, 1, 1};
  void *args[] = {&p};
  cu::Event start = traceStart();
  launchOn(compute, k, grid, block, static_cast<int32_t>(shared), args);
  if (start)
    traceEnd(start, "attention", "kernel",
             absl::StrCat("\"b\":", a.b, ",\"s\":", a.s, ",\"t\":", a.t,
                          ",\"h\":", a.h, ",\"g\":", a.g, ",\"dk\":", a.dk,
                          ",\"dv\":", a.dv));
}

void CudaDevice::attentionGrad(const AttentionGradArgs &a) {
  if (a.b <= 0 || a.h <= 0)
    return;
  if (a.s > 0 && a.t > 0 && attentionOnCudnn(a))
    return;
  int64_t maxD = std::max(a.dkSize, a.dvSize);
  if (maxD > 256)
    fatal(absl::StrCat("palmrt_attention_grad: heads of ", a.dkSize, " and ",
                       a.dvSize,
                       " elements are not supported on cuda (at most 256)"));
  maxD = maxD <= 64 ? 64 : maxD <= 128 ? 128 : 256;
  // bf16 heads of 64 or 128 elements with aligned tensors go to the
  // tensor-core kernels; everything else to the CUDA-core ones.
  bool mma = a.dtype == 1 && a.dkSize == a.dvSize &&
             (a.dkSize == 64 || a.dkSize == 128) &&
             attentionGradMmaDkvSharedBytes(a.dkSize) <= sharedOptin;
  for (const void *tensor :
       {a.q, a.k, a.v, a.out, a.dout, static_cast<const void *>(a.dq),
        static_cast<const void *>(a.dk), static_cast<const void *>(a.dv)})
    mma = mma && reinterpret_cast<uintptr_t>(tensor) % 16 == 0;
  int64_t sharedDq = mma ? attentionGradMmaDqSharedBytes(a.dkSize)
                         : attentionGradDqSharedBytes(a.dkSize, a.dvSize);
  int64_t sharedDkv = mma ? attentionGradMmaDkvSharedBytes(a.dkSize)
                          : attentionGradDkvSharedBytes(a.dkSize, a.dvSize);
  if (sharedDkv > sharedOptin)
    fatal(absl::StrCat("palmrt_attention_grad: heads of ", a.dkSize, " and ",
                       a.dvSize, " elements need ", sharedDkv,
                       " bytes of shared memory per block; ", describe(),
                       " allows ", sharedOptin));
  int64_t rows = mma ? kAttentionGradMmaRows : kAttentionGradRows;
  int64_t keys = mma ? kAttentionGradMmaKeys : kAttentionGradKeys;
  int64_t qTiles = (a.s + rows - 1) / rows;
  int64_t kTiles = (a.t + keys - 1) / keys;
  if (qTiles * a.h * a.b > kMaxGridX || kTiles * a.g * a.b > kMaxGridX)
    fatal(absl::StrCat("palmrt_attention_grad: ", a.b, " x ", a.h, " x ", a.s,
                       " query rows or ", a.b, " x ", a.g, " x ", a.t,
                       " keys exceed one launch"));
  AttentionGradParams p;
  p.q = a.q;
  p.k = a.k;
  p.v = a.v;
  p.out = a.out;
  p.dout = a.dout;
  p.lse = a.lse;
  p.delta = static_cast<float *>(
      scratch(2, std::max<int64_t>(a.b * a.s * a.h, 1) * sizeof(float)));
  p.dQuery = a.dq;
  p.dKey = a.dk;
  p.dValue = a.dv;
  p.b = a.b;
  p.s = a.s;
  p.t = a.t;
  p.h = a.h;
  p.g = a.g;
  p.dk = a.dkSize;
  p.dv = a.dvSize;
  p.headOffset = a.headOffset;
  p.headsPerGroup = a.headsPerGroup;
  p.globalHeads = a.globalHeads;
  p.queryOffset = a.queryOffset;
  p.qTiles = qTiles;
  p.kTiles = kTiles;
  p.scale = a.scale;
  p.causal = a.causal;
  std::string suffix =
      mma ? absl::StrCat("bf16_", a.dkSize)
          : absl::StrCat(a.dtype == 1 ? "bf16_" : "f32_", maxD);
  std::string prefix =
      mma ? "palmrt_attention_grad_mma_" : "palmrt_attention_grad_";
  // dq first: it writes delta, which the dk/dv kernel reads.
  Kernel &dq = kernel(palmrt_attention_grad_fatbin,
                      (prefix + "dq_" + suffix).c_str());
  Kernel &dkv = kernel(palmrt_attention_grad_fatbin,
                       (prefix + "dkv_" + suffix).c_str());
  int64_t block[3] = {mma ? kAttentionGradMmaThreads : kAttentionGradThreads,
                      1, 1};
  int64_t gridDq[3] = {qTiles * a.h * a.b, 1, 1};
  int64_t gridDkv[3] = {kTiles * a.g * a.b, 1, 1};
  void *args[] = {&p};
  cu::Event start = traceStart();
  // An empty grid (no query rows, or no keys) is not a launch.
  if (gridDq[0] > 0)
    launchOn(compute, dq, gridDq, block, static_cast<int32_t>(sharedDq), args);
  if (gridDkv[0] > 0)
    launchOn(compute, dkv, gridDkv, block, static_cast<int32_t>(sharedDkv),
             args);
  if (start)
    traceEnd(start, "attention_grad", "kernel",
             absl::StrCat("\"b\":", a.b, ",\"s\":", a.s, ",\"t\":", a.t,
                          ",\"h\":", a.h, ",\"g\":", a.g, ",\"dk\":", a.dkSize,
                          ",\"dv\":", a.dvSize));
}

void CudaDevice::blockCopy(cu::Stream stream, const BlockCopy &c) {
  int32_t rank = static_cast<int32_t>(c.block.size());
  std::vector<int64_t> srcStride(rank, 1), dstStride(rank, 1);
  for (int32_t d = rank - 2; d >= 0; --d) {
    srcStride[d] = srcStride[d + 1] * c.srcShape[d + 1];
    dstStride[d] = dstStride[d + 1] * c.dstShape[d + 1];
  }
  int64_t srcOffset = 0, dstOffset = 0;
  for (int32_t d = 0; d < rank; ++d) {
    if (c.block[d] == 0)
      return;
    if (!c.srcAt.empty())
      srcOffset += c.srcAt[d] * srcStride[d];
    if (!c.dstAt.empty())
      dstOffset += c.dstAt[d] * dstStride[d];
  }
  if (c.pieces <= 0)
    return;
  int64_t srcPieceStride = c.srcPieceStride, dstPieceStride = c.dstPieceStride;

  // Merge dimensions contiguous in both tensors; drop those of extent 1.
  struct Dim {
    int64_t extent, src, dst;
  };
  std::vector<Dim> dims;
  for (int32_t d = 0; d < rank; ++d) {
    if (c.block[d] == 1)
      continue;
    Dim next{c.block[d], srcStride[d], dstStride[d]};
    if (!dims.empty() && dims.back().src == next.extent * next.src &&
        dims.back().dst == next.extent * next.dst) {
      dims.back().extent *= next.extent;
      dims.back().src = next.src;
      dims.back().dst = next.dst;
      continue;
    }
    dims.push_back(next);
  }
  if (dims.empty())
    dims.push_back({1, 1, 1});

  // The widest word every address, stride and run length allows.
  int64_t word = c.elemBytes;
  if (dims.back().src == 1 && dims.back().dst == 1) {
    auto fits = [&](int64_t w) {
      auto ok = [&](int64_t elements) {
        return elements * c.elemBytes % w == 0;
      };
      if (reinterpret_cast<uintptr_t>(c.src) % w ||
          reinterpret_cast<uintptr_t>(c.dst) % w || !ok(dims.back().extent) ||
          !ok(srcOffset) || !ok(dstOffset) || !ok(srcPieceStride) ||
          !ok(dstPieceStride))
        return false;
      for (size_t i = 0; i + 1 < dims.size(); ++i)
        if (!ok(dims[i].src) || !ok(dims[i].dst))
          return false;
      return true;
    };
    for (int64_t w : {16, 8, 4, 2})
      if (w > word && fits(w)) {
        word = w;
        break;
      }
  }
  int64_t f = word / c.elemBytes;
  if (static_cast<int32_t>(dims.size()) > kBlockCopyMaxRank)
    fatal(absl::StrCat("a block copy over ", dims.size(),
                       " dimensions (at most ", kBlockCopyMaxRank, ")"));
  BlockCopyParams p{};
  p.src = c.src;
  p.dst = c.dst;
  p.rank = static_cast<int32_t>(dims.size());
  p.words = 1;
  for (int32_t d = 0; d < p.rank; ++d) {
    bool inner = d == p.rank - 1;
    p.block[d] = inner ? dims[d].extent / f : dims[d].extent;
    p.srcStride[d] = inner ? dims[d].src : dims[d].src / f;
    p.dstStride[d] = inner ? dims[d].dst : dims[d].dst / f;
    p.words *= p.block[d];
  }
  p.pieces = c.pieces;
  p.srcOffset = srcOffset / f;
  p.dstOffset = dstOffset / f;
  p.srcPieceStride = srcPieceStride / f;
  p.dstPieceStride = dstPieceStride / f;

  constexpr int64_t kThreads = 256;
  int64_t grid[3] = {
      std::clamp<int64_t>((p.words + kThreads - 1) / kThreads, 1, 65535),
      std::min<int64_t>(p.pieces, kMaxGridYZ), 1};
  int64_t block[3] = {kThreads, 1, 1};
  std::string name = absl::StrCat("palmrt_block_copy_", word);
  void *args[] = {&p};
  launchOn(stream, kernel(palmrt_block_copy_fatbin, name.c_str()), grid, block,
           0, args);
}

} // namespace palmrt

namespace palmrt {

bool haveCudaBackend() { return true; }

absl::StatusOr<std::unique_ptr<Device>>
openCudaDevice(int localRank, int localSize, bool needNccl) {
  absl::StatusOr<std::unique_ptr<CudaDevice>> device =
      CudaDevice::open(localRank, localSize, needNccl);
  if (!device.ok())
    return device.status();
  return std::unique_ptr<Device>(std::move(*device));
}

} // namespace palmrt
