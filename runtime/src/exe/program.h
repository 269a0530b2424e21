//===- program.h - a compiled program run by palmrt_main ---------*- C++
//-*-===//
//
// The executable around a compiled program: the mesh check, buffers,
// parameters (generated or read), the per-step loop with its report line,
// and the files written at the end. Errors before the first step come from
// every rank and end every rank with a non-zero exit; nothing waits on a
// rank that already gave up.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_EXE_PROGRAM_H
#define PALMRT_SRC_EXE_PROGRAM_H

#include "api/context.h"
#include "base/trace.h"
#include "device.h"
#include "exe/checkpoint.h"
#include "exe/generator.h"
#include "exe/options.h"
#include "exe/step_report.h"
#include "io/json.h"
#include "io/program_info.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <cstdio>
#include <memory>
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace palmrt {

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

class Program {
public:
  Program(const ProgramInfo &info, const Options &options, int64_t arenaBytes,
          palmrt_entry_fn entry, const char *argv0)
      : info(info), options(options), arenaBytes(arenaBytes), entry(entry),
        argv0(argv0) {}

  /// Runs the program as this rank of the job; the process's exit status.
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
  /// The GPU of a cuda program; null when the buffers are host memory.
  Device *device = nullptr;
  std::unique_ptr<Tracer> tracer;
  /// The tokens and targets inputs (micro-batch 0 of each when the step
  /// has several), and every input the token stream fills, with its shift
  /// (0 for tokens, 1 for targets).
  const TensorSpec *tokens = nullptr, *targets = nullptr;
  std::vector<std::pair<const TensorSpec *, int64_t>> tokenInputs;
  int64_t vocab = 0;
  /// Where tokens and targets come from (unless --inputs).
  std::unique_ptr<TokenSource> tokenSource;
  /// --eval-data's held-out batches, batch e = 1..B as the "step".
  std::unique_ptr<TokenSource> evalSource;
  /// The parameter and state arguments, and memory of the same device (host
  /// or GPU) that holds their values while an evaluation runs.
  std::vector<const TensorSpec *> trained;
  std::vector<void *> snapshot;
  /// --metrics, open on rank 0 only.
  struct CloseFile {
    void operator()(std::FILE *f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, CloseFile> metrics;
  /// Results that alias an argument hold its next value until the next step
  /// begins; then they swap buffers (see commitAliases).
  bool aliasesPending = false;

  /// The seed and skipped batches of the run: the flags', or the resumed
  /// checkpoint's (plus the flags' ranges and those a rollback adds).
  uint64_t seed = 0;
  std::vector<std::pair<int64_t, int64_t>> skipBatches;
  /// The first step this process runs (after the resumed checkpoint's).
  int64_t firstStep = 1;
  /// --checkpoint-dir's store, and the spike detector (rank 0's holds the
  /// losses; the others' is empty).
  std::unique_ptr<CheckpointStore> checkpoints;
  std::unique_ptr<SpikeDetector> spikes;
  int64_t rollbacks = 0;
  /// The last step a checkpoint holds (0: none this run).
  int64_t lastSaved = 0;
  /// An --async-save in flight: the host copy taken at its step's end, the
  /// thread writing this rank's file from it, and the outcome.
  struct PendingSave {
    RunState state;
    std::thread writer;
    std::atomic<bool> done{false};
    absl::StatusOr<FileChecksum> written;
    double start = 0;
  };
  std::unique_ptr<PendingSave> pendingSave;
  /// The host copies --async-save writes from, one per checkpoint tensor,
  /// allocated (and paged in) by the first save and reused: a save starts
  /// only when the previous one is committed.
  std::vector<std::unique_ptr<Buffer>> saveCopies;

  int64_t rank() const { return ctx ? ctx->rank : process().rank; }
  /// The job has as many processes as the mesh devices (else says so).
  bool checkJob();
  absl::Status checkProgram();
  /// Everything before the first step, each failure agreed on by all ranks.
  bool prepare();
  /// The steps, with rank 0's line per step; false when one failed (every
  /// rank has reported).
  bool runSteps();
  /// What rank 0 reports after step `step` of `seconds`.
  StepReport report(int64_t step, double seconds, double peak);
  /// Element 0 of the f32 result `name` (downloaded), if the program has one.
  std::optional<double> scalarResult(absl::string_view name);
  /// Makes every aliased argument hold its result's value: swaps the two
  /// buffers (host copies and device memory alike), so results keep the last
  /// step's values until the next step starts.
  void commitAliases();
  /// Swaps every aliased argument's buffers with its result's; its own
  /// inverse.
  void swapAliases();
  /// --eval-data: checks the program, opens the file, allocates the snapshot.
  absl::Status prepareEvaluation();
  /// The held-out loss of the parameters after step `step`, printed and
  /// written to --metrics by rank 0. Every parameter, state and aliased
  /// result is as it was before, so training goes on bit for bit as
  /// without it; the other results hold the last held-out batch's.
  void evaluate(int64_t step);
  /// Whether --eval-data evaluates after step `step`.
  bool evaluatesAfter(int64_t step) const {
    return evalSource && step > 0 &&
           (step == options.steps ||
            (options.evalEvery > 0 && step % options.evalEvery == 0));
  }
  /// The token source of --data or the synthetic stream; --metrics.
  absl::Status openTokenSource();
  absl::Status openMetrics();
  /// The job's peak FLOP/s for the MFU, 0 when unknown.
  double peakFlops() const;
  /// What is written after the last step.
  bool finish();
  /// --checkpoint-dir: opens the store; --resume: loads the checkpoint and
  /// takes its step, seed and skipped batches (collective).
  absl::Status openCheckpoints();
  absl::Status resume();
  /// The parameter and optimizer state arguments: what a checkpoint holds,
  /// and what an evaluation sets aside.
  std::vector<const TensorSpec *> checkpointTensors() const;
  /// Host memory holding `arg`'s value after the last step: its aliased
  /// result's while that is pending, downloaded from the device first.
  absl::StatusOr<const void *> currentValue(const TensorSpec &arg);
  /// Saves checkpoint `step` (collective); false after a failure every rank
  /// has reported. With --async-save it only copies the values and starts
  /// the writer.
  bool saveCheckpoint(int64_t step);
  /// Commits the pending --async-save once every rank has written its file
  /// (collective); `wait` waits for the writers, otherwise an unfinished save
  /// stays pending. False after a failure every rank has reported.
  bool finishPendingSave(bool wait);
  /// The save's error line and false.
  bool saveFailed(int64_t step);
  /// Whether rank 0 finds step `step` (its report `r`) a loss spike; the same
  /// answer on every rank (collective when spike recovery is on).
  bool isSpike(int64_t step, const StepReport *r);
  /// Rolls back to the newest checkpoint before `step` and skips the next
  /// --spike-skip batches; the step the run goes on after (collective).
  absl::StatusOr<int64_t> rollBack(int64_t step);
  /// --memory-report's line (rank 0).
  void reportMemory() const;
  /// Resident bytes when prepare() began, before any buffer.
  int64_t residentAtStart = 0;
  /// Opens the GPU of a cuda program and connects its groups (collective).
  absl::Status openDevice();
  absl::Status connectDevice();
  /// Allocates every buffer and the arena.
  absl::Status allocate();
  /// Copies tensors between the host copies and the device (no-ops on the
  /// host backend).
  absl::Status upload(const TensorSpec &t);
  absl::Status download(const TensorSpec &t);
  /// upload or download of every tensor of `tensors`, up to the first error.
  absl::Status transferAll(const std::vector<TensorSpec> &tensors,
                           bool toDevice);
  absl::Status initParameters();
  /// Generates parameter `t` on the GPU (and copies it to the host copy)
  /// where the device can; false when the host must.
  absl::StatusOr<bool> generateOnDevice(const TensorSpec &t);
  absl::Status saveTensors(const std::string &dir, const std::string &prefix,
                           bool outputs, const std::string &run);
  /// Writes step `step`'s step scalars, tokens and targets.
  void fillInputs(int64_t step);
  /// Writes `step` into the step scalars and the tokens and targets of
  /// `tokenStep` of `source` (null: only the step scalars).
  void fillInputsFrom(int64_t step, const TokenSource *source,
                      int64_t tokenStep);
  /// One call of the compiled entry, bracketed for the device; its seconds.
  double callEntry(const std::string &what);
  /// Reads every input argument from --inputs.
  absl::Status readInputs();
  /// The "run" member of the index files.
  std::string weightsRun() const {
    if (!options.weights.empty())
      return absl::StrCat("\"weights\": ", jsonQuote(options.weights));
    return absl::StrCat("\"seed\": ", seed);
  }
  std::string outputsRun() const {
    std::string run = absl::StrCat(
        "\"seed\": ", seed, ", \"steps\": ", options.steps,
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

} // namespace palmrt

#endif // PALMRT_SRC_EXE_PROGRAM_H
