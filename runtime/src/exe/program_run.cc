//===- program_run.cc - a compiled program: the job, steps, files ---------===//

#include "exe/program.h"

#include "base/faults.h"
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

/// This process's resident memory (`field` "VmRSS") or its peak ("VmHWM")
/// in bytes, from /proc/self/status; 0 where that cannot be read.
int64_t residentBytes(const char *field) {
  long long kb = 0;
  std::string format = std::string(field) + ": %lld kB";
  if (std::FILE *status = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, status))
      if (std::sscanf(line, format.c_str(), &kb) == 1)
        break;
    std::fclose(status);
  }
  return static_cast<int64_t>(kb) * 1024;
}

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
  residentAtStart = residentBytes("VmRSS");
  seed = options.seed;
  skipBatches = options.skipBatches;
  if (absl::Status s = checkFaultSpec(); !s.ok()) {
    printRankMessage("error", s.message());
    return false;
  }
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

  // resume() agrees on its own outcome and prints its own errors.
  if (!agreeOnStatus(initParameters()).ok() ||
      !agreeOnStatus(openCheckpoints()).ok() || !resume().ok() ||
      !agreeOnStatus(openTokenSource()).ok() ||
      !agreeOnStatus(prepareEvaluation()).ok() ||
      !agreeOnStatus(openMetrics()).ok())
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
  // and either the user or the device its peak.
  if (info.flops <= 0)
    return 0;
  double devices = static_cast<double>(info.numDevices());
  if (options.peakFlops > 0)
    return options.peakFlops * devices;
  if (!device)
    return 0;
  bool bf16 =
      std::any_of(info.args.begin(), info.args.end(), [](const TensorSpec &t) {
        return t.kind == TensorKind::Param && t.dtype == PALMRT_BF16;
      });
  return device->peakFlops(bf16) * devices;
}

std::optional<double> Program::scalarResult(absl::string_view name) {
  const TensorSpec *t = info.findResult(name);
  if (!t || t->dtype != PALMRT_F32 || t->localElements() < 1)
    return std::nullopt;
  if (absl::Status s = download(*t); !s.ok())
    fatal(s.message());
  return *static_cast<const float *>(bufferOf(*t));
}

StepReport Program::report(int64_t step, double seconds, double peak) {
  StepReport r;
  r.step = step;
  r.loss = scalarResult("loss");
  r.gradNorm = scalarResult("grad_norm");
  r.lr = scalarResult("lr");
  int64_t tokensPerStep =
      tokens ? tokens->globalElements() * tokens->microbatches : 0;
  if (tokensPerStep > 0)
    r.tokensPerSecond = seconds > 0 ? tokensPerStep / seconds : 0.0;
  if (peak > 0 && seconds > 0)
    r.mfu = static_cast<double>(info.flops) / (seconds * peak);
  r.seconds = seconds;
  r.collectiveSeconds = ctx->collectiveSeconds;
  return r;
}

double Program::callEntry(const std::string &what) {
  ctx->collectiveSeconds = 0;
  ctx->collectiveCalls = 0;
  double start = nowSeconds();
  if (device)
    device->beginStep(what);
  entry(pointers.data(), arenaPointer, ctx.get());
  if (device) {
    // The step ends when the device is done with it.
    StepTimes times = device->finishStep();
    ctx->collectiveSeconds = times.collectiveSeconds;
    ctx->collectiveCalls = times.collectives;
  }
  return nowSeconds() - start;
}

bool Program::runSteps() {
  double peak = peakFlops();
  for (int64_t step = firstStep; step <= options.steps; ++step) {
    if (!finishPendingSave(/*wait=*/false))
      return false;
    commitAliases();
    fillInputs(step);
    killIfArmed("step", step, rank());
    double start = nowSeconds();
    double end = start + callEntry(absl::StrCat("step ", step));
    aliasesPending = true;
    if (tracer)
      tracer->complete(absl::StrCat("step ", step), "step", start, end,
                       absl::StrCat("\"collectives\":", ctx->collectiveCalls));
    std::optional<StepReport> r;
    if (process().rank == 0) {
      r = report(step, end - start, peak);
      if (r->loss && faultArmed(FaultAction::Poison, "batch",
                                batchOfStep(step, skipBatches), 0))
        r->loss = std::nan("");
      std::printf("%s\n", stepLine(*r).c_str());
      std::fflush(stdout);
      if (metrics) {
        // One flushed line per step: a reader tailing the file, or a job that
        // dies later, sees every finished step.
        std::fprintf(metrics.get(), "%s\n", metricsLine(*r).c_str());
        std::fflush(metrics.get());
      }
    }
    if (isSpike(step, r ? &*r : nullptr)) {
      absl::StatusOr<int64_t> back = rollBack(step);
      if (!back.ok()) {
        if (rank() == 0)
          printRankMessage("error", back.status().message());
        return false;
      }
      step = *back;
      continue;
    }
    if (checkpoints && (step == options.steps ||
                        (options.checkpointEvery > 0 &&
                         step % options.checkpointEvery == 0)))
      if (!saveCheckpoint(step))
        return false;
    // The last step's evaluation waits until --save-outputs has the step's
    // results (finish).
    if (step < options.steps && evaluatesAfter(step))
      evaluate(step);
  }
  return finishPendingSave(/*wait=*/true);
}

bool Program::finish() {
  if (!options.saveOutputs.empty() && firstStep > options.steps) {
    printRankMessage("error", "--save-outputs: no step ran, so there are no "
                              "outputs to save");
    return false;
  }
  if (!options.saveOutputs.empty()) {
    if (!agreeOnStatus(transferAll(info.results, /*toDevice=*/false)).ok())
      return false;
    if (!agreeOnStatus(
             saveTensors(options.saveOutputs, "outputs", true, outputsRun()))
             .ok())
      return false;
  }
  if (evaluatesAfter(options.steps))
    evaluate(options.steps);
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
  if (firstStep > options.steps && process().rank == 0)
    std::printf("resume: the checkpoint is at step %lld, --steps is %lld: "
                "no step to run\n",
                static_cast<long long>(firstStep - 1),
                static_cast<long long>(options.steps));
  bool ran = runSteps();
  setActiveTracer(nullptr);
  if (!ran || !finish())
    return 1;
  if (options.memoryReport && process().rank == 0)
    reportMemory();
  ctx.reset();
  return 0;
}

void Program::reportMemory() const {
  int64_t args = 0, results = 0;
  for (const TensorSpec &t : info.args)
    args += t.localBytes();
  for (const TensorSpec &t : info.results)
    results += t.localBytes();
  int64_t planned = args + results + arenaBytes + info.collectiveStaging;
  int64_t peak = residentBytes("VmHWM");
  constexpr double kMiB = 1048576.0;
  std::printf("memory: planned %lld bytes per device (%.2f MiB: arguments "
              "%.2f, results %.2f, arena %.2f, collective staging %.2f); peak "
              "resident %lld bytes on "
              "rank 0 (%.2f MiB, %.3f of planned%s), %lld before allocating "
              "(%.2f MiB: libraries, MPI)\n",
              static_cast<long long>(planned), planned / kMiB, args / kMiB,
              results / kMiB, arenaBytes / kMiB,
              info.collectiveStaging / kMiB, static_cast<long long>(peak),
              peak / kMiB, planned > 0 ? double(peak) / double(planned) : 0.0,
              device ? "; host memory, the plan is the GPU's" : "",
              static_cast<long long>(residentAtStart),
              residentAtStart / kMiB);
  std::fflush(stdout);
}

} // namespace palmrt
