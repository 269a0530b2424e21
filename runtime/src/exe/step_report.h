//===- step_report.h - what rank 0 reports after a step ---------*- C++ -*-===//
//
// One step's numbers, printed as the step line (docs/runtime.md) and written
// as a JSON line by --metrics. A number the program cannot give (no loss
// result, no FLOP count) is absent from both.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_EXE_STEP_REPORT_H
#define PALMRT_SRC_EXE_STEP_REPORT_H

#include <cstdint>
#include <optional>
#include <string>

namespace palmrt {

struct StepReport {
  int64_t step = 0;
  std::optional<double> loss, gradNorm, lr, tokensPerSecond, mfu;
  double seconds = 0, collectiveSeconds = 0;
};

/// "step 3 loss 2.1 grad_norm 0.5 lr 1.000e-03 tokens/s ... (...%)".
std::string stepLine(const StepReport &report);

/// {"step": 3, "loss": ..., ...} on one line, without a newline; a number
/// that is not finite is written as null (JSON has no NaN).
std::string metricsLine(const StepReport &report);

/// "eval step 100 heldout_loss 4.123456 (4 batches)".
std::string evalLine(int64_t step, double heldoutLoss, int64_t batches);

/// {"step": 100, "heldout_loss": ...}, as metricsLine writes numbers.
std::string evalMetricsLine(int64_t step, double heldoutLoss);

} // namespace palmrt

#endif // PALMRT_SRC_EXE_STEP_REPORT_H
