//===- trace.cc - Chrome trace-event recording ----------------------------===//

#include "base/trace.h"

#include "base/file_util.h"
#include "io/json.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace palmrt {
namespace {
Tracer *gActive = nullptr;
} // namespace

Tracer *activeTracer() { return gActive; }
void setActiveTracer(Tracer *tracer) { gActive = tracer; }

void Tracer::complete(absl::string_view name, absl::string_view category,
                      double start, double end, absl::string_view args,
                      int track) {
  events.push_back({std::string(name), std::string(category), std::string(args),
                    start - origin, end - start, track});
}

void Tracer::nameTrack(int track, absl::string_view name) {
  for (const auto &[t, n] : trackNames)
    if (t == track)
      return;
  trackNames.emplace_back(track, std::string(name));
}

std::string Tracer::json() const {
  std::string out = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
  absl::StrAppend(&out,
                  "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":", rank,
                  ",\"tid\":0,\"args\":{\"name\":\"rank ", rank, "\"}}");
  for (const auto &[track, name] : trackNames)
    absl::StrAppend(
        &out, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":", rank,
        ",\"tid\":", track, ",\"args\":{\"name\":", jsonQuote(name), "}}");
  for (const Event &e : events) {
    // Microseconds with nanosecond resolution, as the format expects.
    absl::StrAppend(&out, ",\n{\"name\":", jsonQuote(e.name),
                    ",\"cat\":", jsonQuote(e.category),
                    ",\"ph\":\"X\",\"pid\":", rank, ",\"tid\":", e.track,
                    ",\"ts\":", absl::StrFormat("%.3f", e.start * 1e6),
                    ",\"dur\":", absl::StrFormat("%.3f", e.duration * 1e6));
    if (!e.args.empty())
      absl::StrAppend(&out, ",\"args\":{", e.args, "}");
    out += "}";
  }
  out += "\n]}\n";
  return out;
}

absl::Status Tracer::write(const std::string &path) const {
  return writeFileAtomically(path, json());
}

std::string rankTracePath(const std::string &path, int rank) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  std::string tag = absl::StrCat(".rank", rank);
  // A dot in a directory name, or a leading dot of a hidden file, is no
  // extension.
  if (dot == std::string::npos || dot == 0 ||
      (slash != std::string::npos && dot <= slash + 1))
    return path + tag;
  return absl::StrCat(path.substr(0, dot), tag, path.substr(dot));
}

} // namespace palmrt
