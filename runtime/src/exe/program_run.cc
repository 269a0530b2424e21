//===- program_run.cc - a compiled program: the job, steps, files ---------===//

#include "exe/program.h"

#include "host/blas_library.h"
#include "job/process.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace palmrt {
namespace {

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

} // namespace

bool Program::checkJob() {
  const ProcessInfo &job = process();
  if (job.size == info.numDevices())
    return true;
  int64_t n = info.numDevices();
  std::string how =
      n == 1
          ? absl::StrCat("run it as ", argv0, " (or mpirun -np 1 ", argv0, ")")
          : absl::StrCat("run it with: mpirun -np ", n, " ", argv0);
  printRankMessage("error",
                   absl::StrCat("this program needs ", n,
                                n == 1 ? " process" : " processes", " (mesh ",
                                info.meshString(), ") but ",
                                job.size == 1 && !job.mpi
                                    ? "runs as 1 process"
                                    : absl::StrCat("the job has ", job.size),
                                "; ", how));
  return false;
}

bool Program::prepare() {
  if (absl::Status s = checkProgram(); !s.ok()) {
    printRankMessage("error", s.message());
    return false;
  }
  auto context = createContext(info);
  if (!context.ok()) {
    printRankMessage("error", context.status().message());
    return false;
  }
  ctx = *std::move(context);
  if (info.target == Target::Cuda) {
    // Every rank opens its GPU before any connects, so that no rank waits
    // in NCCL for one that has no GPU.
    if (!agreeOnStatus(openDevice()).ok() ||
        !agreeOnStatus(connectDevice()).ok())
      return false;
  } else {
    chooseBlasThreads();
  }
  if (!agreeOnStatus(allocate()).ok())
    return false;

  if (!agreeOnStatus(initParameters()).ok())
    return false;
  if (!options.inputs.empty() && !agreeOnStatus(readInputs()).ok())
    return false;
  if (!agreeOnStatus(transferAll(info.args, /*toDevice=*/true)).ok())
    return false;
  return options.saveWeights.empty() ||
         agreeOnStatus(
             saveTensors(options.saveWeights, "weights", false, weightsRun()))
             .ok();
}

double Program::peakFlops() const {
  // Every device of the job alike; known when the program knows its FLOPs
  // and the device its peak.
  if (info.flops <= 0 || !device)
    return 0;
  bool bf16 =
      std::any_of(info.args.begin(), info.args.end(), [](const TensorSpec &t) {
        return t.kind == TensorKind::Param && t.dtype == PALMRT_BF16;
      });
  return device->peakFlops(bf16) * static_cast<double>(process().size);
}

std::string Program::stepLine(int64_t step, double seconds, double peak) {
  std::string line = absl::StrCat("step ", step);
  const TensorSpec *loss = info.findResult("loss");
  if (loss && loss->dtype == PALMRT_F32 && loss->localElements() >= 1) {
    if (absl::Status s = download(*loss); !s.ok())
      fatal(s.message());
    absl::StrAppendFormat(&line, " loss %.6f",
                          *static_cast<const float *>(bufferOf(*loss)));
  }
  int64_t tokensPerStep = tokens ? tokens->globalElements() : 0;
  if (tokensPerStep > 0)
    absl::StrAppendFormat(&line, " tokens/s %.1f",
                          seconds > 0 ? tokensPerStep / seconds : 0.0);
  if (peak > 0 && seconds > 0)
    absl::StrAppendFormat(&line, " mfu %.1f%%",
                          100.0 * static_cast<double>(info.flops) /
                              (seconds * peak));
  absl::StrAppendFormat(&line, " step_time %.4f s collectives %.4f s (%.1f%%)",
                        seconds, ctx->collectiveSeconds,
                        seconds > 0 ? 100 * ctx->collectiveSeconds / seconds
                                    : 0.0);
  return line;
}

void Program::runSteps() {
  double peak = peakFlops();
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
    if (process().rank != 0)
      continue;
    std::printf("%s\n", stepLine(step, end - start, peak).c_str());
    std::fflush(stdout);
  }
}

bool Program::finish() {
  if (!options.saveOutputs.empty()) {
    if (!agreeOnStatus(transferAll(info.results, /*toDevice=*/false)).ok())
      return false;
    if (!agreeOnStatus(
             saveTensors(options.saveOutputs, "outputs", true, outputsRun()))
             .ok())
      return false;
  }
  return !tracer ||
         agreeOnStatus(tracer->write(rankTracePath(options.trace, rank())))
             .ok();
}

int Program::run() {
  if (!checkJob() || !prepare())
    return 1;
  if (!options.trace.empty()) {
    const ProcessInfo &job = process();
    if (job.mpi)
      job.mpi->Barrier(job.mpi->commWorld);
    tracer = std::make_unique<Tracer>(job.rank, nowSeconds());
    setActiveTracer(tracer.get());
  }
  runSteps();
  setActiveTracer(nullptr);
  if (!finish())
    return 1;
  ctx.reset();
  return 0;
}

} // namespace palmrt
