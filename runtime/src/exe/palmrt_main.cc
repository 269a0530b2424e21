//===- palmrt_main.cc - the executable around a compiled program ----------===//
//
// Flags, the job, the mesh check, buffers, parameters (generated or read),
// the per-step loop with its report line, and the files written at the end.
// Errors before the first step come from every rank and end every rank with
// a non-zero exit; nothing waits on a rank that already gave up.
//
//===----------------------------------------------------------------------===//

#include "api/context.h"
#include "base/trace.h"
#include "device.h"
#include "exe/generator.h"
#include "host/blas_library.h"
#include "io/json.h"
#include "io/program_info.h"
#include "io/shards.h"
#include "job/process.h"

#include "palmrt/palmrt.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace palmrt {
namespace {

constexpr const char kUsage[] =
    R"(usage: mpirun -np N %s [flags]     (or %s [flags] for a 1-device mesh)

Runs a program compiled by palm-compile: N must equal the devices of its mesh.

  --steps K            run K steps (default 1)
  --seed S             seed of parameters and synthetic tokens, 0..4294967295
                       (default 0)
  --weights DIR        read parameters from DIR (written by --save-weights)
                       instead of generating them
  --inputs DIR         read the inputs (tokens, targets) from DIR, a directory
                       written by --save-outputs, for every step, instead of
                       the synthetic token stream
  --save-weights DIR   write the parameters used to DIR before the first step
  --save-outputs DIR   after the last step, write every result and that step's
                       tokens and targets to DIR
  --trace FILE         write a Chrome trace-event JSON per rank to FILE with
                       .rank<R> before its extension (open it in Perfetto)
  --help               print this text

Rank 0 prints one line per step:
  step <k> loss <l> tokens/s <t> [mfu <m>%%] step_time <s> s collectives <c> s (<c/s>%%)
(mfu: the program's model FLOPs per step over the time and the GPUs' peak,
where both are known.)
)";

struct Options {
  int64_t steps = 1;
  uint64_t seed = 0;
  std::string weights, inputs, saveWeights, saveOutputs, trace;
  bool help = false;
};

absl::StatusOr<Options> parseFlags(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      o.help = true;
      continue;
    }
    std::string name = arg, value;
    bool hasValue = false;
    if (size_t eq = arg.find('=');
        arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      hasValue = true;
    }
    auto takeValue = [&]() -> absl::Status {
      if (hasValue)
        return absl::OkStatus();
      if (i + 1 >= argc)
        return absl::InvalidArgumentError(
            absl::StrCat(name, " needs a value (see --help)"));
      value = argv[++i];
      return absl::OkStatus();
    };
    std::string *text = nullptr;
    if (name == "--weights")
      text = &o.weights;
    else if (name == "--inputs")
      text = &o.inputs;
    else if (name == "--save-weights")
      text = &o.saveWeights;
    else if (name == "--save-outputs")
      text = &o.saveOutputs;
    else if (name == "--trace")
      text = &o.trace;
    if (text) {
      if (absl::Status s = takeValue(); !s.ok())
        return s;
      if (value.empty())
        return absl::InvalidArgumentError(absl::StrCat(name, " is empty"));
      *text = value;
    } else if (name == "--steps") {
      if (absl::Status s = takeValue(); !s.ok())
        return s;
      if (!absl::SimpleAtoi(value, &o.steps) || o.steps < 0)
        return absl::InvalidArgumentError(absl::StrCat(
            "--steps wants a non-negative integer, not '", value, "'"));
    } else if (name == "--seed") {
      if (absl::Status s = takeValue(); !s.ok())
        return s;
      if (!absl::SimpleAtoi(value, &o.seed) || o.seed > 0xFFFFFFFFu)
        return absl::InvalidArgumentError(absl::StrCat(
            "--seed wants an integer in [0, 4294967295], not '", value, "'"));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag '", arg, "' (see --help)"));
    }
  }
  return o;
}

/// 64-byte aligned, zero-filled memory that outlives the steps.
class Buffer {
public:
  explicit Buffer(int64_t bytes) {
    size_t rounded =
        static_cast<size_t>((std::max<int64_t>(bytes, 1) + 63) / 64 * 64);
    data = std::aligned_alloc(64, rounded);
    if (!data)
      fatal(absl::StrCat("cannot allocate ", bytes, " bytes"));
    std::memset(data, 0, rounded);
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  void *data;
};

/// Unless the user chose, split the cores of this node among its ranks so
/// OpenBLAS threads of different ranks do not fight over them.
void chooseBlasThreads() {
  if (std::getenv("OPENBLAS_NUM_THREADS") || std::getenv("OMP_NUM_THREADS"))
    return;
  const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  int ranksHere = 1;
  if (!local || !absl::SimpleAtoi(local, &ranksHere) || ranksHere < 1)
    ranksHere = 1;
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  blas().setNumThreads(std::max(1, cores / ranksHere));
}

class Program {
public:
  Program(const ProgramInfo &info, const Options &options, int64_t arenaBytes,
          palmrt_entry_fn entry, const char *argv0)
      : info(info), options(options), arenaBytes(arenaBytes), entry(entry),
        argv0(argv0) {}

  int run();

private:
  const ProgramInfo &info;
  const Options &options;
  int64_t arenaBytes;
  palmrt_entry_fn entry;
  const char *argv0;

  std::unique_ptr<palmrt_context> ctx;
  /// Host memory of every argument and result: the program's buffers on the
  /// host backend, the host copies of them on a device.
  std::vector<std::unique_ptr<Buffer>> buffers;
  /// The buffers the entry gets (host or device memory).
  std::vector<void *> pointers;
  std::unique_ptr<Buffer> arena;
  void *arenaPointer = nullptr;
  Device *device = nullptr;
  std::unique_ptr<Tracer> tracer;
  const TensorSpec *tokens = nullptr, *targets = nullptr;
  int64_t vocab = 0;

  int64_t rank() const { return ctx ? ctx->rank : process().rank; }
  absl::Status checkProgram();
  /// Opens the GPU of a cuda program and connects its groups (collective).
  absl::Status openDevice();
  absl::Status connectDevice();
  /// Allocates every buffer and the arena.
  absl::Status allocate();
  /// Copies tensors between the host copies and the device (no-ops on the
  /// host backend).
  absl::Status upload(const TensorSpec &t);
  absl::Status download(const TensorSpec &t);
  absl::Status initParameters();
  absl::Status saveTensors(const std::string &dir, const std::string &prefix,
                           bool outputs, const std::string &run);
  void fillInputs(int64_t step);
  /// Reads every input argument from --inputs.
  absl::Status readInputs();
  /// The "run" member of the index files.
  std::string weightsRun() const {
    if (!options.weights.empty())
      return absl::StrCat("\"weights\": ", jsonQuote(options.weights));
    return absl::StrCat("\"seed\": ", options.seed);
  }
  std::string outputsRun() const {
    std::string run = absl::StrCat(
        "\"seed\": ", options.seed, ", \"steps\": ", options.steps,
        ", \"token_step\": ", std::max<int64_t>(options.steps - 1, 0));
    if (!options.weights.empty())
      absl::StrAppend(&run, ", \"weights\": ", jsonQuote(options.weights));
    return run;
  }
  size_t slotOf(const TensorSpec &t) const {
    return t.kind == TensorKind::Result ? info.args.size() + t.index : t.index;
  }
  /// The host memory of `t`.
  void *bufferOf(const TensorSpec &t) { return buffers[slotOf(t)]->data; }
};

absl::Status Program::checkProgram() {
  if (!entry)
    return absl::InvalidArgumentError("the program has no entry function");
  if (arenaBytes < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("negative arena size ", arenaBytes));
  tokens = info.findArg("tokens");
  targets = info.findArg("targets");
  for (const TensorSpec *t : {tokens, targets}) {
    if (!t)
      continue;
    if (t->kind != TensorKind::Input || t->globalShape.size() != 2 ||
        (t->dtype != PALMRT_I32 && t->dtype != PALMRT_I64))
      return absl::InvalidArgumentError(
          absl::StrCat("argument '", t->name,
                       "' must be an i32 or i64 input of shape [batch, seq]"));
  }
  if (tokens || targets) {
    vocab = info.vocab;
    const TensorSpec *embedding = info.findArg("embedding");
    if (vocab == 0 && embedding && !embedding->globalShape.empty())
      vocab = embedding->globalShape[0];
    if (vocab <= 0)
      return absl::InvalidArgumentError(
          "the program reads tokens but names no vocabulary: it needs a "
          "'vocab <n>' line or an 'embedding' parameter [vocab, d_model]");
  }
  for (const TensorSpec &t : info.args)
    if (t.kind == TensorKind::Param && t.init == InitKind::Normal &&
        t.dtype != PALMRT_F32 && t.dtype != PALMRT_BF16)
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", t.name, "' of type ", dtypeName(t.dtype),
                       " cannot be initialised from a normal distribution"));
  return absl::OkStatus();
}

absl::Status Program::openDevice() {
  bool needNccl = false;
  for (const palmrt_context::Group &g : ctx->groups)
    needNccl |= g.size > 1;
  auto opened = openCudaDevice(localRank(), localSize(), needNccl);
  if (!opened.ok())
    return absl::Status(opened.status().code(),
                        absl::StrCat("this program was compiled for cuda, but ",
                                     opened.status().message()));
  ctx->device = std::move(*opened);
  device = ctx->device.get();
  return absl::OkStatus();
}

absl::Status Program::connectDevice() {
  if (absl::Status s = device->connect(*ctx); !s.ok())
    return absl::Status(
        s.code(), absl::StrCat("on ", device->describe(), ": ", s.message()));
  return absl::OkStatus();
}

absl::Status Program::allocate() {
  for (const auto *list : {&info.args, &info.results})
    for (const TensorSpec &t : *list) {
      buffers.push_back(std::make_unique<Buffer>(t.localBytes()));
      if (!device) {
        pointers.push_back(buffers.back()->data);
        continue;
      }
      absl::StatusOr<void *> memory = device->allocate(t.localBytes());
      if (!memory.ok())
        return memory.status();
      pointers.push_back(*memory);
    }
  if (!device) {
    arena = std::make_unique<Buffer>(arenaBytes);
    arenaPointer = arena->data;
    return absl::OkStatus();
  }
  absl::StatusOr<void *> memory = device->allocate(arenaBytes);
  if (!memory.ok())
    return memory.status();
  arenaPointer = *memory;
  return absl::OkStatus();
}

absl::Status Program::upload(const TensorSpec &t) {
  if (!device)
    return absl::OkStatus();
  return device->upload(pointers[slotOf(t)], bufferOf(t), t.localBytes());
}

absl::Status Program::download(const TensorSpec &t) {
  if (!device)
    return absl::OkStatus();
  return device->download(bufferOf(t), pointers[slotOf(t)], t.localBytes());
}

absl::Status Program::initParameters() {
  std::vector<const TensorSpec *> params;
  std::vector<void *> destinations;
  for (const TensorSpec &t : info.args)
    if (t.kind == TensorKind::Param) {
      params.push_back(&t);
      destinations.push_back(bufferOf(t));
    }
  if (!options.weights.empty())
    return readShards(options.weights, "weights", info, rank(), params,
                      destinations);
  for (const TensorSpec *t : params)
    fillParameter(info, *t, rank(), options.seed, bufferOf(*t));
  return absl::OkStatus();
}

absl::Status Program::saveTensors(const std::string &dir,
                                  const std::string &prefix, bool outputs,
                                  const std::string &run) {
  std::vector<const TensorSpec *> tensors;
  if (outputs) {
    for (const TensorSpec &t : info.results)
      tensors.push_back(&t);
    // A result of the same name wins: names in a file are unique.
    for (const TensorSpec *t : {tokens, targets})
      if (t && !info.findResult(t->name))
        tensors.push_back(t);
  } else {
    for (const TensorSpec &t : info.args)
      if (t.kind == TensorKind::Param)
        tensors.push_back(&t);
  }
  std::vector<const void *> data;
  for (const TensorSpec *t : tensors)
    data.push_back(bufferOf(*t));
  return writeShards(dir, prefix, info, rank(), tensors, data, run);
}

absl::Status Program::readInputs() {
  std::vector<const TensorSpec *> inputs;
  std::vector<void *> destinations;
  for (const TensorSpec &t : info.args)
    if (t.kind == TensorKind::Input) {
      inputs.push_back(&t);
      destinations.push_back(bufferOf(t));
    }
  return readShards(options.inputs, "outputs", info, rank(), inputs,
                    destinations);
}

void Program::fillInputs(int64_t step) {
  if (!options.inputs.empty())
    return;
  // The stream is indexed from step 0; the report counts from 1.
  uint64_t streamStep = static_cast<uint64_t>(step - 1);
  for (auto [t, shift] : {std::pair{tokens, 0}, {targets, 1}}) {
    if (!t)
      continue;
    fillTokens(info, *t, rank(), options.seed, streamStep, vocab, shift,
               bufferOf(*t));
    if (absl::Status s = upload(*t); !s.ok())
      fatal(s.message());
  }
}

int Program::run() {
  const ProcessInfo &job = process();
  if (job.size != info.numDevices()) {
    int64_t n = info.numDevices();
    std::string how =
        n == 1 ? absl::StrCat("run it as ", argv0, " (or mpirun -np 1 ", argv0,
                              ")")
               : absl::StrCat("run it with: mpirun -np ", n, " ", argv0);
    printRankMessage("error",
                     absl::StrCat("this program needs ", n,
                                  n == 1 ? " process" : " processes", " (mesh ",
                                  info.meshString(), ") but ",
                                  job.size == 1 && !job.mpi
                                      ? "runs as 1 process"
                                      : absl::StrCat("the job has ", job.size),
                                  "; ", how));
    return 1;
  }
  if (absl::Status s = checkProgram(); !s.ok()) {
    printRankMessage("error", s.message());
    return 1;
  }
  auto context = createContext(info);
  if (!context.ok()) {
    printRankMessage("error", context.status().message());
    return 1;
  }
  ctx = *std::move(context);
  if (info.target == Target::Cuda) {
    // Every rank opens its GPU before any connects, so that no rank waits
    // in NCCL for one that has no GPU.
    if (!agreeOnStatus(openDevice()).ok() ||
        !agreeOnStatus(connectDevice()).ok())
      return 1;
  } else {
    chooseBlasThreads();
  }
  if (!agreeOnStatus(allocate()).ok())
    return 1;

  if (!agreeOnStatus(initParameters()).ok())
    return 1;
  if (!options.inputs.empty() && !agreeOnStatus(readInputs()).ok())
    return 1;
  absl::Status uploaded;
  for (const TensorSpec &t : info.args)
    if (uploaded.ok())
      uploaded = upload(t);
  if (!agreeOnStatus(uploaded).ok())
    return 1;
  if (!options.saveWeights.empty() &&
      !agreeOnStatus(
           saveTensors(options.saveWeights, "weights", false, weightsRun()))
           .ok())
    return 1;

  if (!options.trace.empty()) {
    if (job.mpi)
      job.mpi->Barrier(job.mpi->commWorld);
    tracer = std::make_unique<Tracer>(job.rank, nowSeconds());
    setActiveTracer(tracer.get());
  }
  const TensorSpec *loss = info.findResult("loss");
  if (loss && (loss->dtype != PALMRT_F32 || loss->localElements() < 1))
    loss = nullptr;
  int64_t tokensPerStep = tokens ? tokens->globalElements() : 0;
  // The job's peak FLOP/s (every device alike), when the program knows its
  // FLOPs and the device its peak.
  double peak = 0;
  if (info.flops > 0 && device) {
    bool bf16 = std::any_of(info.args.begin(), info.args.end(),
                            [](const TensorSpec &t) {
                              return t.kind == TensorKind::Param &&
                                     t.dtype == PALMRT_BF16;
                            });
    peak = device->peakFlops(bf16) * static_cast<double>(job.size);
  }

  for (int64_t step = 1; step <= options.steps; ++step) {
    fillInputs(step);
    ctx->collectiveSeconds = 0;
    ctx->collectiveCalls = 0;
    double start = nowSeconds();
    if (device)
      device->beginStep();
    entry(pointers.data(), arenaPointer, ctx.get());
    if (device) {
      // The step ends when the device is done with it.
      StepTimes times = device->finishStep();
      ctx->collectiveSeconds = times.collectiveSeconds;
      ctx->collectiveCalls = times.collectives;
    }
    double end = nowSeconds();
    if (tracer)
      tracer->complete(absl::StrCat("step ", step), "step", start, end,
                       absl::StrCat("\"collectives\":", ctx->collectiveCalls));
    if (job.rank != 0)
      continue;
    double seconds = end - start;
    std::string line = absl::StrCat("step ", step);
    if (loss) {
      if (absl::Status s = download(*loss); !s.ok())
        fatal(s.message());
      absl::StrAppendFormat(&line, " loss %.6f",
                            *static_cast<const float *>(bufferOf(*loss)));
    }
    if (tokensPerStep > 0)
      absl::StrAppendFormat(&line, " tokens/s %.1f",
                            seconds > 0 ? tokensPerStep / seconds : 0.0);
    if (peak > 0 && seconds > 0)
      absl::StrAppendFormat(&line, " mfu %.1f%%",
                            100.0 * static_cast<double>(info.flops) /
                                (seconds * peak));
    absl::StrAppendFormat(
        &line, " step_time %.4f s collectives %.4f s (%.1f%%)", seconds,
        ctx->collectiveSeconds,
        seconds > 0 ? 100 * ctx->collectiveSeconds / seconds : 0.0);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
  setActiveTracer(nullptr);

  if (!options.saveOutputs.empty()) {
    absl::Status downloaded;
    for (const TensorSpec &t : info.results)
      if (downloaded.ok())
        downloaded = download(t);
    if (!agreeOnStatus(downloaded).ok())
      return 1;
  }
  if (!options.saveOutputs.empty() &&
      !agreeOnStatus(
           saveTensors(options.saveOutputs, "outputs", true, outputsRun()))
           .ok())
    return 1;
  if (tracer &&
      !agreeOnStatus(tracer->write(rankTracePath(options.trace, job.rank)))
           .ok())
    return 1;
  ctx.reset();
  return 0;
}

} // namespace
} // namespace palmrt

using namespace palmrt;

extern "C" int palmrt_main(int argc, char **argv, const char *program_info,
                           int64_t arena_bytes, palmrt_entry_fn entry) {
  const char *argv0 = argc > 0 ? argv[0] : "model";
  auto options = parseFlags(argc, argv);
  if (!options.ok()) {
    printRankMessage("error", options.status().message());
    return 2;
  }
  if (options->help) {
    if (launcherRank() == 0)
      std::printf(kUsage, argv0, argv0);
    return 0;
  }
  if (absl::Status s = startProcess(&argc, &argv); !s.ok()) {
    printRankMessage("error", s.message());
    return 1;
  }
  int rc;
  auto info = parseProgramInfo(program_info ? program_info : "");
  if (!info.ok()) {
    printRankMessage("error", info.status().message());
    rc = 1;
  } else {
    rc = Program(*info, *options, arena_bytes, entry, argv0).run();
  }
  finishProcess();
  return rc;
}
