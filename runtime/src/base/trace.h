//===- trace.h - Chrome trace-event recording -------------------*- C++ -*-===//
//
// Complete ("X") events for steps, collectives, GEMMs and kernels, kept in
// memory and written once at the end as the JSON object format that
// chrome://tracing and Perfetto open. Each rank writes its own file; pid is
// the rank so merged files keep ranks apart.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_BASE_TRACE_H
#define PALMRT_SRC_BASE_TRACE_H

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

#include <chrono>
#include <string>
#include <vector>

namespace palmrt {

/// Seconds on a monotonic clock.
inline double nowSeconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Tracer {
public:
  /// Times are recorded relative to `origin` (seconds on nowSeconds' clock).
  Tracer(int rank, double origin) : rank(rank), origin(origin) {}

  /// Records an event from `start` to `end` (nowSeconds' clock). `args` is
  /// the inside of a JSON object ("\"m\":4,\"n\":8") or empty. `track` is
  /// the trace's thread id: 0 for the host, others for device streams.
  void complete(absl::string_view name, absl::string_view category,
                double start, double end, absl::string_view args = {},
                int track = 0);

  /// Names track `track` in the viewer ("cuda compute stream").
  void nameTrack(int track, absl::string_view name);

  /// The whole trace as JSON.
  std::string json() const;

  /// Writes json() to `path` atomically.
  absl::Status write(const std::string &path) const;

  size_t size() const { return events.size(); }

private:
  struct Event {
    std::string name, category, args;
    double start, duration;
    int track;
  };
  int rank;
  double origin;
  std::vector<Event> events;
  std::vector<std::pair<int, std::string>> trackNames;
};

/// The tracer of the running program, or null when it does not trace. Kernels
/// take no context, so they find it here.
Tracer *activeTracer();
void setActiveTracer(Tracer *tracer);

/// `FILE` with ".rank<R>" before its extension: trace.json -> trace.rank0.json.
std::string rankTracePath(const std::string &path, int rank);

/// Traces the enclosing scope as one event when a tracer is active.
class TraceScope {
public:
  TraceScope(const char *name, const char *category)
      : tracer(activeTracer()), name(name), category(category) {
    if (tracer)
      start = nowSeconds();
  }
  ~TraceScope() {
    if (tracer)
      tracer->complete(name, category, start, nowSeconds(), args);
  }
  TraceScope(const TraceScope &) = delete;
  TraceScope &operator=(const TraceScope &) = delete;

  /// Whether arguments are worth formatting.
  bool active() const { return tracer != nullptr; }
  void setArgs(std::string text) { args = std::move(text); }

private:
  Tracer *tracer;
  const char *name;
  const char *category;
  double start = 0;
  std::string args;
};

} // namespace palmrt

#endif // PALMRT_SRC_BASE_TRACE_H
