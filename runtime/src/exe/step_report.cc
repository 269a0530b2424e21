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

std::string metricsLine(const StepReport &r) {
  std::string line = absl::StrCat("{\"step\": ", r.step);
  auto add = [&](const char *name, std::optional<double> v) {
    if (!v)
      return;
    if (std::isfinite(*v))
      // 9 digits: an f32 result reads back as itself.
      absl::StrAppendFormat(&line, ", \"%s\": %.9g", name, *v);
    else
      absl::StrAppendFormat(&line, ", \"%s\": null", name);
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

} // namespace palmrt
