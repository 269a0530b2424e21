//===- program_checkpoint.cc - checkpoints, resume and rollback -----------===//
//
// The executable's side of docs/checkpoints.md: what a checkpoint holds (the
// parameter and optimizer state arguments, as of the end of a step), when it
// is saved, how a run resumes from one, and the loss-spike rollback.
//
//===----------------------------------------------------------------------===//

#include "exe/program.h"

#include "base/status_macros.h"
#include "job/process.h"

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

#include <algorithm>
#include <cstring>

namespace palmrt {
namespace {

/// A run that keeps spiking after this many rollbacks stops: skipping more
/// data would not help.
constexpr int64_t kMaxRollbacks = 10;

std::string rangesText(const std::vector<std::pair<int64_t, int64_t>> &r) {
  std::vector<std::string> parts;
  for (auto [first, last] : r)
    parts.push_back(first == last ? absl::StrCat(first)
                                  : absl::StrCat(first, "-", last));
  return parts.empty() ? "none" : absl::StrJoin(parts, ",");
}

} // namespace

std::vector<const TensorSpec *> Program::checkpointTensors() const {
  std::vector<const TensorSpec *> tensors;
  for (const TensorSpec &t : info.args)
    if (t.kind == TensorKind::Param || t.kind == TensorKind::State)
      tensors.push_back(&t);
  return tensors;
}

absl::StatusOr<const void *> Program::currentValue(const TensorSpec &arg) {
  const TensorSpec *holder = &arg;
  if (aliasesPending)
    for (const TensorSpec &r : info.results)
      if (r.aliases == arg.index)
        holder = &r;
  if (absl::Status s = download(*holder); !s.ok())
    return s;
  return bufferOf(*holder);
}

absl::Status Program::openCheckpoints() {
  if (options.checkpointDir.empty())
    return absl::OkStatus();
  if (checkpointTensors().empty())
    return absl::InvalidArgumentError(
        "--checkpoint-dir saves parameters and optimizer state, but the "
        "program has no param or state argument");
  if (options.spikeFactor > 0 && !info.findResult("loss"))
    return absl::InvalidArgumentError(
        "--spike-factor watches the 'loss' result, but the program has none");
  checkpoints =
      std::make_unique<CheckpointStore>(options.checkpointDir, options.keep);
  spikes = std::make_unique<SpikeDetector>(options.spikeFactor,
                                           options.spikeWindow);
  return checkpoints->open(rank());
}

absl::Status Program::resume() {
  if (!options.resume)
    return absl::OkStatus();
  const std::string &dir = checkpoints->directory();
  std::vector<int64_t> candidates;
  if (options.resumeStep > 0)
    candidates.push_back(options.resumeStep);
  else
    candidates = checkpoints->committed();
  if (candidates.empty()) {
    if (rank() == 0)
      std::printf("resume: no committed checkpoint in %s (no 'latest'); "
                  "starting at step 1\n",
                  dir.c_str());
    return absl::OkStatus();
  }
  std::vector<const TensorSpec *> tensors = checkpointTensors();
  std::vector<void *> buffers;
  for (const TensorSpec *t : tensors)
    buffers.push_back(bufferOf(*t));
  for (size_t i = 0; i < candidates.size(); ++i) {
    absl::StatusOr<RunState> state =
        checkpoints->load(candidates[i], info, rank(), tensors, buffers);
    if (!state.ok()) {
      if (options.resumeStep > 0 || i + 1 == candidates.size()) {
        std::string why = absl::StrCat(
            options.resumeStep > 0 ? "--resume=" : "--resume: ",
            options.resumeStep > 0 ? absl::StrCat(options.resumeStep, ": ")
                                   : "no valid checkpoint left: ",
            state.status().message());
        printRankMessage("error", why);
        return absl::Status(state.status().code(), why);
      }
      if (rank() == 0)
        std::printf("resume: the checkpoint of step %lld is unusable (%s); "
                    "trying step %lld\n",
                    static_cast<long long>(candidates[i]),
                    std::string(state.status().message()).c_str(),
                    static_cast<long long>(candidates[i + 1]));
      continue;
    }
    if (options.seedGiven && options.seed != state->seed) {
      std::string why = absl::StrCat(
          "--seed ", options.seed, " differs from the resumed run's seed ",
          state->seed, " (leave --seed out when resuming)");
      printRankMessage("error", why);
      return absl::InvalidArgumentError(why);
    }
    seed = state->seed;
    skipBatches.insert(skipBatches.end(), state->skipBatches.begin(),
                       state->skipBatches.end());
    mergeRanges(skipBatches);
    firstStep = state->step + 1;
    lastSaved = state->step;
    rollbacks = state->rollbacks;
    if (rank() == 0) {
      spikes->recent = state->recentLosses;
      std::printf("resume: step %lld from %s/%s (seed %llu, skipped batches "
                  "%s); running steps %lld to %lld\n",
                  static_cast<long long>(state->step), dir.c_str(),
                  checkpointName(state->step).c_str(),
                  static_cast<unsigned long long>(seed),
                  rangesText(skipBatches).c_str(),
                  static_cast<long long>(firstStep),
                  static_cast<long long>(options.steps));
      std::fflush(stdout);
    }
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

bool Program::saveFailed(int64_t step) {
  if (rank() == 0)
    printRankMessage(
        "error", absl::StrCat("checkpoint of step ", step, " failed; ",
                              lastSaved > 0
                                  ? absl::StrCat("the checkpoint of step ",
                                                 lastSaved, " is intact")
                                  : std::string("no earlier checkpoint")));
  return false;
}

bool Program::saveCheckpoint(int64_t step) {
  if (!finishPendingSave(/*wait=*/true))
    return false;
  double start = nowSeconds();
  std::vector<const TensorSpec *> tensors = checkpointTensors();
  std::vector<const void *> buffers;
  absl::Status local;
  for (const TensorSpec *t : tensors) {
    absl::StatusOr<const void *> value = currentValue(*t);
    if (!value.ok()) {
      local = value.status();
      break;
    }
    buffers.push_back(*value);
  }
  if (!agreeOnStatus(local).ok())
    return false;
  RunState state;
  state.step = step;
  state.seed = seed;
  state.skipBatches = skipBatches;
  state.recentLosses = spikes->recent;
  state.rollbacks = rollbacks;
  if (options.asyncSave) {
    // The values of this step, copied before the next step changes them.
    auto pending = std::make_unique<PendingSave>();
    pending->state = state;
    pending->start = start;
    std::vector<const void *> copies;
    for (size_t i = 0; i < tensors.size(); ++i) {
      int64_t bytes = tensors[i]->localBytes();
      if (saveCopies.size() <= i)
        saveCopies.push_back(std::make_unique<Buffer>(bytes));
      std::memcpy(saveCopies[i]->data, buffers[i], static_cast<size_t>(bytes));
      copies.push_back(saveCopies[i]->data);
    }
    if (!checkpoints->begin(step, rank()).ok())
      return saveFailed(step);
    PendingSave *p = pending.get();
    p->writer = std::thread([this, p, tensors, copies, step] {
      p->written =
          checkpoints->writeFile(info, rank(), step, tensors, copies);
      p->done.store(true);
    });
    pendingSave = std::move(pending);
    return true;
  }
  if (!checkpoints->save(info, rank(), tensors, buffers, state).ok())
    return saveFailed(step);
  lastSaved = step;
  if (rank() == 0) {
    std::printf("checkpoint: step %lld saved to %s/%s in %.3f s\n",
                static_cast<long long>(step),
                checkpoints->directory().c_str(),
                checkpointName(step).c_str(), nowSeconds() - start);
    std::fflush(stdout);
  }
  return true;
}

bool Program::finishPendingSave(bool wait) {
  if (!pendingSave)
    return true;
  if (!wait) {
    std::vector<int64_t> done = allgatherInt64(pendingSave->done.load());
    if (std::find(done.begin(), done.end(), 0) != done.end())
      return true;
  }
  std::unique_ptr<PendingSave> p = std::move(pendingSave);
  p->writer.join();
  int64_t step = p->state.step;
  if (!checkpoints
           ->commit(info, rank(), checkpointTensors(), p->state, p->written)
           .ok())
    return saveFailed(step);
  lastSaved = step;
  if (rank() == 0) {
    std::printf("checkpoint: step %lld saved to %s/%s (in the background, "
                "committed %.3f s after its step)\n",
                static_cast<long long>(step),
                checkpoints->directory().c_str(),
                checkpointName(step).c_str(), nowSeconds() - p->start);
    std::fflush(stdout);
  }
  return true;
}

bool Program::isSpike(int64_t step, const StepReport *r) {
  if (options.spikeFactor <= 0)
    return false;
  int64_t spike = 0;
  if (rank() == 0) {
    std::string why =
        r && r->loss ? spikes->check(*r->loss, r->gradNorm) : std::string();
    if (!why.empty()) {
      spike = 1;
      std::printf("spike: step %lld: %s\n", static_cast<long long>(step),
                  why.c_str());
      std::fflush(stdout);
    } else if (r && r->loss) {
      spikes->record(*r->loss);
    }
  }
  return allgatherInt64(spike)[0] != 0;
}

absl::StatusOr<int64_t> Program::rollBack(int64_t step) {
  // A save still being written is of an earlier step: it may be the one to
  // go back to.
  if (!finishPendingSave(/*wait=*/true))
    return absl::AbortedError("the pending checkpoint could not be saved");
  if (rollbacks >= kMaxRollbacks)
    return absl::AbortedError(absl::StrCat(
        "loss spike at step ", step, " after ", rollbacks,
        " rollbacks; stopping (skipping more batches does not help)"));
  std::vector<int64_t> candidates;
  for (int64_t c : checkpoints->committed())
    if (c < step)
      candidates.push_back(c);
  // Every rank must pick the same checkpoint: rank 0's list decides.
  int64_t count = allgatherInt64(static_cast<int64_t>(candidates.size()))[0];
  if (count == 0)
    return absl::FailedPreconditionError(absl::StrCat(
        "loss spike at step ", step, " but no checkpoint before it in ",
        checkpoints->directory(), " to roll back to"));
  commitAliases();
  std::vector<const TensorSpec *> tensors = checkpointTensors();
  std::vector<void *> buffers;
  for (const TensorSpec *t : tensors)
    buffers.push_back(bufferOf(*t));
  for (int64_t i = 0; i < count; ++i) {
    int64_t target = allgatherInt64(candidates[i])[0];
    absl::StatusOr<RunState> state =
        checkpoints->load(target, info, rank(), tensors, buffers);
    if (!state.ok())
      continue;
    for (const TensorSpec *t : tensors)
      PALMRT_RETURN_IF_ERROR(upload(*t));
    int64_t first = batchOfStep(target + 1, skipBatches);
    int64_t last = first + options.spikeSkip - 1;
    skipBatches.push_back({first, last});
    mergeRanges(skipBatches);
    ++rollbacks;
    if (rank() == 0) {
      spikes->recent = state->recentLosses;
      std::printf("rollback: to step %lld (%s/%s), skipping batches "
                  "%lld-%lld (skipped now: %s)\n",
                  static_cast<long long>(target),
                  checkpoints->directory().c_str(),
                  checkpointName(target).c_str(),
                  static_cast<long long>(first), static_cast<long long>(last),
                  rangesText(skipBatches).c_str());
      std::fflush(stdout);
      if (metrics) {
        std::fprintf(metrics.get(),
                     "{\"event\": \"rollback\", \"spike_step\": %lld, "
                     "\"to_step\": %lld, \"skip\": [%lld, %lld]}\n",
                     static_cast<long long>(step),
                     static_cast<long long>(target),
                     static_cast<long long>(first),
                     static_cast<long long>(last));
        std::fflush(metrics.get());
      }
    }
    return target;
  }
  return absl::DataLossError(absl::StrCat(
      "loss spike at step ", step, ": no checkpoint before it could be "
      "loaded"));
}

} // namespace palmrt
