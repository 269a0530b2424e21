//===- checkpoint.h - checkpoints, resume and loss spikes -------*- C++ -*-===//
//
// A checkpoint directory (docs/checkpoints.md):
//
//   DIR/latest                   "step-00000010": the committed checkpoint
//   DIR/step-00000010/           one checkpoint, a palm-shards set:
//       checkpoint.index.json    shapes, shardings, checksums, "run"
//       checkpoint-rank00000.safetensors ...
//   DIR/.partial-step-00000012/  a save in progress (removed when found)
//
// A save is collective: every rank writes and syncs its file into the
// partial directory, the ranks' checksums reach rank 0, which writes the
// index, renames the directory into place and then replaces `latest`. A
// process killed anywhere in between leaves `latest` naming the previous
// checkpoint, whose files are untouched.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_EXE_CHECKPOINT_H
#define PALMRT_SRC_EXE_CHECKPOINT_H

#include "base/file_util.h"
#include "io/program_info.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace palmrt {

/// What a checkpoint records besides the tensors (its index's "run").
struct RunState {
  /// The last step done: a resumed run starts at step + 1.
  int64_t step = 0;
  uint64_t seed = 0;
  std::vector<std::pair<int64_t, int64_t>> skipBatches;
  /// The spike detector's trailing losses, oldest first.
  std::vector<double> recentLosses;
  /// How many rollbacks the run has made.
  int64_t rollbacks = 0;
};

/// The "run" member's inside for `state`.
std::string runStateJson(const RunState &state);

/// The loss-spike rule: a NaN or infinite loss or gradient norm, or, once
/// `window` losses are known, a loss above `factor` times their median.
class SpikeDetector {
public:
  SpikeDetector(double factor, int64_t window)
      : factor(factor), window(window) {}
  /// Why this step is a spike ("" when it is not).
  std::string check(double loss, std::optional<double> gradNorm) const;
  /// Adds a step's loss to the trailing window.
  void record(double loss);
  std::vector<double> recent;

private:
  double factor;
  int64_t window;
};

/// "step-00000010".
std::string checkpointName(int64_t step);

/// The checkpoint store of one --checkpoint-dir. Every method that says
/// "collective" is called by every rank in the same order.
class CheckpointStore {
public:
  CheckpointStore(std::string dir, int64_t keep)
      : dir(std::move(dir)), keep(keep) {}

  /// Creates the directory (collective); a clear error when it cannot be
  /// written.
  absl::Status open(int64_t rank);

  /// Saves rank `rank`'s `tensors` (buffers[i] holds tensors[i]'s local
  /// shard) as checkpoint `state.step` (collective); then removes the
  /// checkpoints newer than it (an abandoned future) and all but the newest
  /// `keep`. On failure the previous checkpoint is untouched.
  absl::Status save(const ProgramInfo &info, int64_t rank,
                    const std::vector<const TensorSpec *> &tensors,
                    const std::vector<const void *> &buffers,
                    const RunState &state);

  /// The three phases of save(), for a save whose file is written by
  /// another thread (--async-save). begin: rank 0 clears the debris of
  /// killed saves and makes the partial directory (collective).
  /// writeFile: this rank's file, synced, and its checksum (no
  /// communication: any thread). commit: agrees on every rank's write,
  /// then rank 0 writes the index, renames and points `latest` at it
  /// (collective).
  absl::Status begin(int64_t step, int64_t rank);
  absl::StatusOr<FileChecksum>
  writeFile(const ProgramInfo &info, int64_t rank, int64_t step,
            const std::vector<const TensorSpec *> &tensors,
            const std::vector<const void *> &buffers) const;
  absl::Status commit(const ProgramInfo &info, int64_t rank,
                      const std::vector<const TensorSpec *> &tensors,
                      const RunState &state,
                      const absl::StatusOr<FileChecksum> &written);

  /// The step `latest` names, if any.
  std::optional<int64_t> latest() const;
  /// The committed checkpoints' steps, newest first: `latest`'s and the ones
  /// before it.
  std::vector<int64_t> committed() const;

  /// Loads checkpoint `step` into `buffers` (re-partitioned for `info` when
  /// it was saved on another mesh or layout), after checking the checksum
  /// of every file this rank reads (collective). An error on any rank fails
  /// it on every rank; the failing ranks print why.
  absl::StatusOr<RunState>
  load(int64_t step, const ProgramInfo &info, int64_t rank,
       const std::vector<const TensorSpec *> &tensors,
       const std::vector<void *> &buffers) const;

  const std::string &directory() const { return dir; }

private:
  std::string dir;
  int64_t keep;
  /// Removes checkpoints newer than `step` and all but the newest `keep`
  /// (rank 0).
  absl::Status prune(int64_t step) const;
};

} // namespace palmrt

#endif // PALMRT_SRC_EXE_CHECKPOINT_H
