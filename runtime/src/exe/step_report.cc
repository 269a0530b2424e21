//===- step_report.cc - what rank 0 reports after a step ------------------===//

#include "exe/step_report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include <cmath>

namespace palmrt {

std::string stepLine(const StepReport &r) {
  std::string line = absl::StrCat("step ", r.step);
  if (r.loss)
    absl::StrAppendFormat(&line, " loss %.6f", *r.loss);
  // Both or neither: a program that reports one of them reports the other.
  if (r.gradNorm)
    absl::StrAppendFormat(&line, " grad_norm %.4f", *r.gradNorm);
  if (r.lr)
    absl::StrAppendFormat(&line, " lr %.3e", *r.lr);
  if (r.tokensPerSecond)
    absl::StrAppendFormat(&line, " tokens/s %.1f", *r.tokensPerSecond);
  if (r.mfu)
    absl::StrAppendFormat(&line, " mfu %.1f%%", 100.0 * *r.mfu);
  absl::StrAppendFormat(&line, " step_time %.4f s collectives %.4f s (%.1f%%)",
                        r.seconds, r.collectiveSeconds,
                        r.seconds > 0 ? 100 * r.collectiveSeconds / r.seconds
                                      : 0.0);
  return line;
}

namespace {

/// Appends `, "name": v` to a metrics line; nothing when v is absent.
void appendMember(std::string &line, const char *name,
                  std::optional<double> v) {
  if (!v)
    return;
  if (std::isfinite(*v))
    // 9 digits: an f32 result reads back as itself.
    absl::StrAppendFormat(&line, ", \"%s\": %.9g", name, *v);
  else
    absl::StrAppendFormat(&line, ", \"%s\": null", name);
}

} // namespace

std::string metricsLine(const StepReport &r) {
  std::string line = absl::StrCat("{\"step\": ", r.step);
  auto add = [&](const char *name, std::optional<double> v) {
    appendMember(line, name, v);
  };
  add("loss", r.loss);
  add("grad_norm", r.gradNorm);
  add("lr", r.lr);
  add("tokens_per_s", r.tokensPerSecond);
  add("step_s", r.seconds);
  add("mfu", r.mfu);
  line += "}";
  return line;
}

std::string evalLine(int64_t step, double heldoutLoss, int64_t batches) {
  return absl::StrFormat("eval step %d heldout_loss %.6f (%d %s)", step,
                         heldoutLoss, batches,
                         batches == 1 ? "batch" : "batches");
}

std::string evalMetricsLine(int64_t step, double heldoutLoss) {
  std::string line = absl::StrCat("{\"step\": ", step);
  appendMember(line, "heldout_loss", heldoutLoss);
  line += "}";
  return line;
}

} // namespace palmrt
