//===- options.cc - the flags of a compiled program -----------------------===//

#include "exe/options.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

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
  --data FILE          read tokens and targets from the token file FILE
                       (docs/data.md) instead of the synthetic stream
  --eval-data FILE     evaluate the held-out loss on the token file FILE:
                       the loss of --eval-batches fixed batches of it, with
                       the parameters of that step, which then go on
                       training unchanged (docs/runtime.md)
  --eval-every N       ... every N steps and after the last (without it: only
                       after the last step)
  --eval-batches B     batches per evaluation (default 4)
  --save-weights DIR   write the parameters used to DIR before the first step
  --save-outputs DIR   after the last step, write every result and that step's
                       tokens and targets to DIR
  --trace FILE         write a Chrome trace-event JSON per rank to FILE with
                       .rank<R> before its extension (open it in Perfetto)
  --metrics FILE       append one JSON object per step to FILE (rank 0)
  --peak-flops X       peak FLOP/s of one device, for the mfu on any device
  --skip-batches A-B[,C-D...]
                       skip those batches of the token stream (synthetic or
                       --data; batches count from 1): step k reads the k-th
                       batch not skipped, while the step number (learning
                       rate, Adafactor's decay) stays k
  --checkpoint-dir DIR save checkpoints (parameters, optimizer state, step,
                       seed, skipped batches) under DIR after the last step
                       and every --checkpoint-every steps (docs/checkpoints.md)
  --checkpoint-every N ... every N steps
  --keep K             keep the newest K checkpoints (default 3)
  --resume[=STEP]      continue from the newest valid checkpoint in
                       --checkpoint-dir (or from STEP's); --steps still names
                       the last step of the whole run. The checkpoint may come
                       from another mesh or layout. Without a checkpoint in
                       DIR the run starts at step 1
  --async-save         write checkpoints from a copy in the background while
                       the steps go on
  --spike-factor F     on a loss above F times the median of the last
                       --spike-window steps (or a NaN/Inf loss or gradient
                       norm), roll back to the newest checkpoint before it and
                       skip the next --spike-skip batches
  --spike-window W     (default 20)
  --spike-skip M       (default 200)
  --memory-report      after the last step, print one device's planned memory
                       (palm-compile --memory-report's total) and rank 0's
                       peak resident memory (VmHWM)
  --help               print this text

Rank 0 prints one line per step:
  step <k> loss <l> [grad_norm <g> lr <r>] tokens/s <t> [mfu <m>%%] step_time <s> s collectives <c> s (<c/s>%%)
(grad_norm, lr: the program's results of those names, where it has them;
mfu: the program's model FLOPs per step over the time and the devices' peak,
where both are known: --peak-flops, or the GPU's.) With --eval-data, also:
  eval step <k> heldout_loss <l> (<B> batches)
)";

/// "A-B[,C-D...]" (a single "A" is A-A) as sorted, merged ranges.
absl::Status parseRanges(const std::string &value,
                         std::vector<std::pair<int64_t, int64_t>> &ranges) {
  auto bad = [&](const std::string &why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--skip-batches wants ranges of batches A-B[,C-D...] counted from 1 "
        "(A <= B), not '",
        value, "': ", why));
  };
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    std::pair<absl::string_view, absl::string_view> ends =
        absl::StrSplit(part, absl::MaxSplits('-', 1));
    int64_t first = 0, last = 0;
    if (!absl::SimpleAtoi(ends.first, &first))
      return bad(absl::StrCat("'", part, "' is not a range"));
    if (ends.second.empty() && part.find('-') == absl::string_view::npos)
      last = first;
    else if (!absl::SimpleAtoi(ends.second, &last))
      return bad(absl::StrCat("'", part, "' is not a range"));
    if (first < 1)
      return bad("batches count from 1");
    if (first > last)
      return bad(absl::StrCat(first, " > ", last));
    ranges.push_back({first, last});
  }
  mergeRanges(ranges);
  return absl::OkStatus();
}

/// A positive integer flag's value.
absl::Status parsePositive(const std::string &name, const std::string &value,
                           int64_t *out) {
  if (!absl::SimpleAtoi(value, out) || *out <= 0)
    return absl::InvalidArgumentError(
        absl::StrCat(name, " wants a positive integer, not '", value, "'"));
  return absl::OkStatus();
}

} // namespace

void mergeRanges(std::vector<std::pair<int64_t, int64_t>> &ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<int64_t, int64_t>> merged;
  for (auto range : ranges)
    if (!merged.empty() && range.first <= merged.back().second + 1)
      merged.back().second = std::max(merged.back().second, range.second);
    else
      merged.push_back(range);
  ranges = std::move(merged);
}

int64_t batchOfStep(int64_t step,
                    const std::vector<std::pair<int64_t, int64_t>> &skipped) {
  int64_t batch = step;
  for (auto [first, last] : skipped) {
    if (first > batch)
      break;
    batch += last - first + 1;
  }
  return batch;
}

absl::StatusOr<Options> parseFlags(int argc, char **argv) {
  Options o;
  bool evalEveryGiven = false, evalBatchesGiven = false;
  // The last flag given that needs --checkpoint-dir, and of those the last
  // that needs --spike-factor.
  std::string checkpointFlag, spikeFlag;
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
    else if (name == "--data")
      text = &o.data;
    else if (name == "--eval-data")
      text = &o.evalData;
    else if (name == "--metrics")
      text = &o.metrics;
    else if (name == "--checkpoint-dir")
      text = &o.checkpointDir;
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
    } else if (name == "--eval-every" || name == "--eval-batches") {
      if (absl::Status s = takeValue(); !s.ok())
        return s;
      int64_t *field = name == "--eval-every" ? &o.evalEvery : &o.evalBatches;
      if (absl::Status s = parsePositive(name, value, field); !s.ok())
        return s;
      (name == "--eval-every" ? evalEveryGiven : evalBatchesGiven) = true;
    } else if (name == "--checkpoint-every" || name == "--keep" ||
               name == "--spike-window" || name == "--spike-skip") {
      if (absl::Status s = takeValue(); !s.ok())
        return s;
      int64_t *field = name == "--checkpoint-every" ? &o.checkpointEvery
                       : name == "--keep"           ? &o.keep
                       : name == "--spike-window"   ? &o.spikeWindow
                                                    : &o.spikeSkip;
      if (absl::Status s = parsePositive(name, value, field); !s.ok())
        return s;
      checkpointFlag = name;
      if (name == "--spike-window" || name == "--spike-skip")
        spikeFlag = name;
    } else if (name == "--resume") {
      o.resume = true;
      checkpointFlag = name;
      if (hasValue) {
        if (!absl::SimpleAtoi(value, &o.resumeStep) || o.resumeStep < 1)
          return absl::InvalidArgumentError(absl::StrCat(
              "--resume=STEP wants a step number (>= 1), not '", value, "'"));
      }
    } else if (name == "--async-save") {
      if (hasValue)
        return absl::InvalidArgumentError("--async-save takes no value");
      o.asyncSave = true;
      checkpointFlag = name;
    } else if (name == "--spike-factor") {
      if (absl::Status s = takeValue(); !s.ok())
        return s;
      if (!absl::SimpleAtod(value, &o.spikeFactor) || !(o.spikeFactor > 1) ||
          !std::isfinite(o.spikeFactor))
        return absl::InvalidArgumentError(absl::StrCat(
            "--spike-factor wants a number above 1, not '", value, "'"));
      checkpointFlag = name;
    } else if (name == "--seed") {
      if (absl::Status s = takeValue(); !s.ok())
        return s;
      if (!absl::SimpleAtoi(value, &o.seed) || o.seed > 0xFFFFFFFFu)
        return absl::InvalidArgumentError(absl::StrCat(
            "--seed wants an integer in [0, 4294967295], not '", value, "'"));
      o.seedGiven = true;
    } else if (name == "--peak-flops") {
      if (absl::Status s = takeValue(); !s.ok())
        return s;
      if (!absl::SimpleAtod(value, &o.peakFlops) || !(o.peakFlops > 0) ||
          !std::isfinite(o.peakFlops))
        return absl::InvalidArgumentError(
            absl::StrCat("--peak-flops wants a positive number (FLOP/s), not '",
                         value, "'"));
    } else if (name == "--skip-batches") {
      if (absl::Status s = takeValue(); !s.ok())
        return s;
      if (absl::Status s = parseRanges(value, o.skipBatches); !s.ok())
        return s;
    } else if (name == "--memory-report") {
      if (hasValue)
        return absl::InvalidArgumentError("--memory-report takes no value");
      o.memoryReport = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag '", arg, "' (see --help)"));
    }
  }
  if (!o.data.empty() && !o.inputs.empty())
    return absl::InvalidArgumentError(
        "--data and --inputs both replace the synthetic tokens; give one");
  if (o.evalData.empty() && (evalEveryGiven || evalBatchesGiven))
    return absl::InvalidArgumentError(
        absl::StrCat(evalEveryGiven ? "--eval-every" : "--eval-batches",
                     " needs --eval-data FILE, the held-out tokens"));
  if (!o.skipBatches.empty() && !o.inputs.empty())
    return absl::InvalidArgumentError(
        "--skip-batches skips batches of the token stream; --inputs reads "
        "the same saved inputs every step");
  // Evaluating overwrites the inputs, which --inputs reads only once.
  if (!o.evalData.empty() && !o.inputs.empty())
    return absl::InvalidArgumentError(
        "--eval-data cannot be combined with --inputs");
  if (!checkpointFlag.empty() && o.checkpointDir.empty())
    return absl::InvalidArgumentError(absl::StrCat(
        checkpointFlag, " needs --checkpoint-dir DIR, where checkpoints are"));
  if (!spikeFlag.empty() && o.spikeFactor == 0)
    return absl::InvalidArgumentError(absl::StrCat(
        spikeFlag, " needs --spike-factor F, which turns spike recovery on"));
  if (!o.checkpointDir.empty() && !o.inputs.empty())
    return absl::InvalidArgumentError(
        "--checkpoint-dir saves a training run; --inputs repeats one saved "
        "step's inputs");
  return o;
}

void printUsage(const char *argv0) { std::printf(kUsage, argv0, argv0); }

} // namespace palmrt
