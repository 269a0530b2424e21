//===- options.cc - the flags of a compiled program -----------------------===//

#include "exe/options.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

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

} // namespace

absl::StatusOr<Options> parseFlags(int argc, char **argv) {
  Options o;
  bool evalEveryGiven = false, evalBatchesGiven = false;
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
      if (!absl::SimpleAtoi(value, field) || *field <= 0)
        return absl::InvalidArgumentError(
            absl::StrCat(name, " wants a positive integer, not '", value, "'"));
      (name == "--eval-every" ? evalEveryGiven : evalBatchesGiven) = true;
    } else if (name == "--seed") {
      if (absl::Status s = takeValue(); !s.ok())
        return s;
      if (!absl::SimpleAtoi(value, &o.seed) || o.seed > 0xFFFFFFFFu)
        return absl::InvalidArgumentError(absl::StrCat(
            "--seed wants an integer in [0, 4294967295], not '", value, "'"));
    } else if (name == "--peak-flops") {
      if (absl::Status s = takeValue(); !s.ok())
        return s;
      if (!absl::SimpleAtod(value, &o.peakFlops) || !(o.peakFlops > 0) ||
          !std::isfinite(o.peakFlops))
        return absl::InvalidArgumentError(
            absl::StrCat("--peak-flops wants a positive number (FLOP/s), not '",
                         value, "'"));
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
  // Evaluating overwrites the inputs, which --inputs reads only once.
  if (!o.evalData.empty() && !o.inputs.empty())
    return absl::InvalidArgumentError(
        "--eval-data cannot be combined with --inputs");
  return o;
}

void printUsage(const char *argv0) { std::printf(kUsage, argv0, argv0); }

} // namespace palmrt
