//===- checkpoint.cc - checkpoints, resume and loss spikes ----------------===//

#include "exe/checkpoint.h"

#include "base/faults.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "io/json.h"
#include "io/shards.h"
#include "job/process.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

#include <algorithm>
#include <cmath>

namespace palmrt {
namespace {

constexpr const char kPrefix[] = "checkpoint";
constexpr const char kPartial[] = ".partial-";
constexpr const char kLatest[] = "latest";

/// The step of a directory named "step-NNNNNNNN", if it is one.
std::optional<int64_t> stepOfName(absl::string_view name) {
  int64_t step;
  if (!absl::ConsumePrefix(&name, "step-") || name.size() != 8 ||
      !absl::SimpleAtoi(name, &step) || step < 0)
    return std::nullopt;
  return step;
}

absl::StatusOr<RunState> parseRunState(const ShardIndex &index) {
  JsonNode root(index.json, index.path);
  PALMRT_ASSIGN_OR_RETURN(JsonNode run, root.get("run"));
  RunState state;
  PALMRT_ASSIGN_OR_RETURN(state.step, run.getInteger("step", 0, INT64_MAX));
  PALMRT_ASSIGN_OR_RETURN(int64_t seed,
                          run.getInteger("seed", 0, 0xFFFFFFFFll));
  state.seed = static_cast<uint64_t>(seed);
  PALMRT_ASSIGN_OR_RETURN(JsonNode skips, run.get("skip_batches"));
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> ranges, skips.elements());
  for (const JsonNode &range : ranges) {
    PALMRT_ASSIGN_OR_RETURN(std::vector<int64_t> ends,
                            range.integers(1, INT64_MAX));
    if (ends.size() != 2 || ends[0] > ends[1])
      return range.error("expected [first, last] with first <= last");
    state.skipBatches.push_back({ends[0], ends[1]});
  }
  PALMRT_ASSIGN_OR_RETURN(JsonNode losses, run.get("recent_losses"));
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> values, losses.elements());
  for (const JsonNode &v : values) {
    PALMRT_ASSIGN_OR_RETURN(double loss, v.number());
    state.recentLosses.push_back(loss);
  }
  PALMRT_ASSIGN_OR_RETURN(state.rollbacks,
                          run.getInteger("rollbacks", 0, INT64_MAX));
  return state;
}

/// Every rank's outcome: OK when all succeeded; otherwise each failing rank
/// prints its error as a warning (the caller decides what failure means)
/// and every rank gets the same error.
absl::Status agreeQuietly(const absl::Status &local, absl::string_view what) {
  std::vector<int64_t> failed = allgatherInt64(local.ok() ? 0 : 1);
  std::vector<int64_t> ranks;
  for (size_t r = 0; r < failed.size(); ++r)
    if (failed[r])
      ranks.push_back(static_cast<int64_t>(r));
  if (ranks.empty())
    return absl::OkStatus();
  if (!local.ok())
    printRankMessage("warning", local.message());
  if (!local.ok() && failed.size() == 1)
    return local;
  return absl::DataLossError(absl::StrCat(what, " (rank",
                                          ranks.size() > 1 ? "s " : " ",
                                          absl::StrJoin(ranks, ", "), ")"));
}

} // namespace

std::string checkpointName(int64_t step) {
  return absl::StrFormat("step-%08d", step);
}

std::string runStateJson(const RunState &state) {
  std::vector<std::string> ranges, losses;
  for (auto [first, last] : state.skipBatches)
    ranges.push_back(absl::StrCat("[", first, ", ", last, "]"));
  for (double loss : state.recentLosses)
    losses.push_back(absl::StrFormat("%.17g", loss));
  return absl::StrCat("\"step\": ", state.step, ", \"seed\": ", state.seed,
                      ", \"skip_batches\": [", absl::StrJoin(ranges, ", "),
                      "], \"recent_losses\": [", absl::StrJoin(losses, ", "),
                      "], \"rollbacks\": ", state.rollbacks);
}

std::string SpikeDetector::check(double loss,
                                 std::optional<double> gradNorm) const {
  if (!std::isfinite(loss))
    return absl::StrCat("loss ", loss);
  if (gradNorm && !std::isfinite(*gradNorm))
    return absl::StrCat("grad_norm ", *gradNorm);
  if (static_cast<int64_t>(recent.size()) < window)
    return "";
  std::vector<double> sorted = recent;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  double median =
      n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  if (loss > factor * median)
    return absl::StrFormat("loss %.6g > %g x %.6g, the median of the last %d "
                           "steps",
                           loss, factor, median, window);
  return "";
}

void SpikeDetector::record(double loss) {
  recent.push_back(loss);
  if (static_cast<int64_t>(recent.size()) > window)
    recent.erase(recent.begin());
}

absl::Status CheckpointStore::open(int64_t rank) {
  absl::Status local;
  if (rank == 0) {
    local = makeDirectories(dir);
    // Writable: a probe file now rather than a failed save hours later.
    if (local.ok()) {
      std::string probe = joinPath(dir, ".palmrt-write-test");
      local = writeFileAtomically(probe, "");
      if (local.ok())
        local = removeTree(probe);
    }
    if (!local.ok())
      local = absl::Status(local.code(),
                           absl::StrCat("--checkpoint-dir ", dir, ": ",
                                        local.message()));
  }
  return agreeOnStatus(local);
}

std::optional<int64_t> CheckpointStore::latest() const {
  absl::StatusOr<std::string> text = readFile(joinPath(dir, kLatest));
  if (!text.ok())
    return std::nullopt;
  return stepOfName(absl::StripAsciiWhitespace(*text));
}

std::vector<int64_t> CheckpointStore::committed() const {
  std::optional<int64_t> newest = latest();
  absl::StatusOr<std::vector<std::string>> names = listDirectory(dir);
  std::vector<int64_t> steps;
  if (!newest || !names.ok())
    return steps;
  for (const std::string &name : *names)
    if (std::optional<int64_t> step = stepOfName(name);
        step && *step <= *newest)
      steps.push_back(*step);
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

absl::Status CheckpointStore::save(
    const ProgramInfo &info, int64_t rank,
    const std::vector<const TensorSpec *> &tensors,
    const std::vector<const void *> &buffers, const RunState &state) {
  PALMRT_RETURN_IF_ERROR(begin(state.step, rank));
  return commit(info, rank, tensors, state,
                writeFile(info, rank, state.step, tensors, buffers));
}

absl::Status CheckpointStore::begin(int64_t step, int64_t rank) {
  killIfArmed("save-begin", step, rank);
  absl::Status local;
  if (rank == 0) {
    if (absl::StatusOr<std::vector<std::string>> names = listDirectory(dir);
        names.ok())
      for (const std::string &n : *names)
        if (absl::StartsWith(n, kPartial) && local.ok())
          local = removeTree(joinPath(dir, n));
    if (local.ok())
      local = makeDirectories(
          joinPath(dir, absl::StrCat(kPartial, checkpointName(step))));
  }
  return agreeOnStatus(local);
}

absl::StatusOr<FileChecksum>
CheckpointStore::writeFile(const ProgramInfo &info, int64_t rank, int64_t step,
                           const std::vector<const TensorSpec *> &tensors,
                           const std::vector<const void *> &buffers) const {
  std::string partial =
      joinPath(dir, absl::StrCat(kPartial, checkpointName(step)));
  std::string file = joinPath(partial, shardFileName(kPrefix, rank));
  PALMRT_RETURN_IF_ERROR(injectedWriteError("save-shard", step, rank, file));
  // The checksum of the bytes as they are written: reading the file back
  // would only read the page cache's copy of the same bytes.
  FileChecksum sum;
  PALMRT_RETURN_IF_ERROR(
      writeShardFile(partial, kPrefix, info, rank, tensors, buffers, &sum));
  killIfArmed("save-written", step, rank);
  return sum;
}

absl::Status CheckpointStore::commit(
    const ProgramInfo &info, int64_t rank,
    const std::vector<const TensorSpec *> &tensors, const RunState &state,
    const absl::StatusOr<FileChecksum> &written) {
  int64_t step = state.step;
  std::string name = checkpointName(step);
  std::string partial = joinPath(dir, absl::StrCat(kPartial, name));
  std::string final = joinPath(dir, name);
  if (absl::Status s = agreeOnStatus(written.status()); !s.ok()) {
    if (rank == 0)
      removeTree(partial).IgnoreError();
    return s;
  }
  std::vector<int64_t> crcs = allgatherInt64(written->crc32);
  std::vector<int64_t> sizes = allgatherInt64(written->bytes);

  // Rank 0 commits: index, rename, `latest`.
  absl::Status local;
  if (rank == 0) {
    std::vector<FileChecksum> sums(crcs.size());
    for (size_t r = 0; r < sums.size(); ++r)
      sums[r] = {static_cast<uint32_t>(crcs[r]), sizes[r]};
    std::string indexPath =
        joinPath(partial, absl::StrCat(kPrefix, ".index.json"));
    killIfArmed("save-index", step, rank);
    local = injectedWriteError("save-index", step, rank, indexPath);
    if (local.ok())
      local = writeFileAtomically(
          indexPath, shardIndexJson(info, tensors, kPrefix,
                                    runStateJson(state), sums));
    if (local.ok()) {
      killIfArmed("save-commit", step, rank);
      // A checkpoint of this step from an abandoned future is replaced.
      local = removeTree(final);
    }
    if (local.ok())
      local = renameDurably(partial, final);
    if (local.ok()) {
      killIfArmed("save-latest", step, rank);
      local = injectedWriteError("save-latest", step, rank,
                                 joinPath(dir, kLatest));
    }
    if (local.ok())
      local = writeFileAtomically(joinPath(dir, kLatest), name + "\n");
    if (local.ok())
      local = prune(step);
    if (!local.ok())
      removeTree(partial).IgnoreError();
  }
  return agreeOnStatus(local);
}

absl::Status CheckpointStore::prune(int64_t step) const {
  PALMRT_ASSIGN_OR_RETURN(std::vector<std::string> names, listDirectory(dir));
  std::vector<int64_t> kept;
  for (const std::string &name : names) {
    std::optional<int64_t> s = stepOfName(name);
    if (!s)
      continue;
    if (*s > step)
      PALMRT_RETURN_IF_ERROR(removeTree(joinPath(dir, name)));
    else
      kept.push_back(*s);
  }
  std::sort(kept.rbegin(), kept.rend());
  for (size_t i = static_cast<size_t>(keep); i < kept.size(); ++i)
    PALMRT_RETURN_IF_ERROR(removeTree(joinPath(dir, checkpointName(kept[i]))));
  return absl::OkStatus();
}

absl::StatusOr<RunState>
CheckpointStore::load(int64_t step, const ProgramInfo &info, int64_t rank,
                      const std::vector<const TensorSpec *> &tensors,
                      const std::vector<void *> &buffers) const {
  std::string where = joinPath(dir, checkpointName(step));
  RunState state;
  absl::Status local = [&]() -> absl::Status {
    PALMRT_ASSIGN_OR_RETURN(ShardIndex index, readShardIndex(where, kPrefix));
    PALMRT_ASSIGN_OR_RETURN(state, parseRunState(index));
    if (state.step != step)
      return absl::DataLossError(absl::StrCat(
          index.path, ": holds step ", state.step, ", not ", step));
    for (int64_t file : filesNeeded(index, info, rank, tensors))
      PALMRT_RETURN_IF_ERROR(verifyShardFile(index, file));
    return readShards(index, info, rank, tensors, buffers);
  }();
  PALMRT_RETURN_IF_ERROR(
      agreeQuietly(local, absl::StrCat("checkpoint ", where, " cannot be loaded")));
  return state;
}

} // namespace palmrt
