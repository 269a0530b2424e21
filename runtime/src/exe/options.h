//===- options.h - the flags of a compiled program --------------*- C++ -*-===//
//
// What `./model --steps 3 --seed 1 ...` asks for (docs/runtime.md, Flags).
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_EXE_OPTIONS_H
#define PALMRT_SRC_EXE_OPTIONS_H

#include "absl/status/statusor.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace palmrt {

struct Options {
  int64_t steps = 1;
  uint64_t seed = 0;
  std::string weights, inputs, saveWeights, saveOutputs, trace;
  /// --data: a token file replacing the synthetic stream.
  std::string data;
  /// --eval-data: the held-out token file; evaluated every `evalEvery` steps
  /// (0: only after the last step) on `evalBatches` batches.
  std::string evalData;
  int64_t evalEvery = 0;
  int64_t evalBatches = 4;
  /// --metrics: the JSON-lines file rank 0 appends a line to per step.
  std::string metrics;
  /// --peak-flops: FLOP/s of one device, for the MFU; 0 when not given.
  double peakFlops = 0;
  /// --memory-report: rank 0 prints the planned and the measured memory.
  bool memoryReport = false;
  /// --skip-batches: ranges [first, last] of batch indices (from 1) the
  /// token stream skips, sorted and disjoint.
  std::vector<std::pair<int64_t, int64_t>> skipBatches;
  /// --checkpoint-dir: where checkpoints go (docs/checkpoints.md); saved
  /// every `checkpointEvery` steps (0: only after the last step), the newest
  /// `keep` kept.
  std::string checkpointDir;
  int64_t checkpointEvery = 0;
  int64_t keep = 3;
  /// --resume[=STEP]: continue from the checkpoint `latest` names (or from
  /// step `resumeStep` when it is not -1).
  bool resume = false;
  int64_t resumeStep = -1;
  /// --async-save: checkpoints are written by a thread from a copy.
  bool asyncSave = false;
  /// --spike-factor F (0: off), --spike-window W, --spike-skip M.
  double spikeFactor = 0;
  int64_t spikeWindow = 20;
  int64_t spikeSkip = 200;
  /// Whether --seed was given (a resumed run keeps its checkpoint's seed).
  bool seedGiven = false;
  bool help = false;
};

/// Sorts `ranges` and merges the ones that overlap or touch.
void mergeRanges(std::vector<std::pair<int64_t, int64_t>> &ranges);

/// The batch of the token stream that step `step` (from 1) reads: the
/// step-th batch index not in `skipped` (sorted, disjoint ranges).
int64_t batchOfStep(int64_t step,
                    const std::vector<std::pair<int64_t, int64_t>> &skipped);

/// Reads `--flag value` and `--flag=value`; errors name the flag.
absl::StatusOr<Options> parseFlags(int argc, char **argv);

/// Prints --help's text for the executable `argv0`.
void printUsage(const char *argv0);

} // namespace palmrt

#endif // PALMRT_SRC_EXE_OPTIONS_H
