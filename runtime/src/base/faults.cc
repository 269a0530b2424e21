//===- faults.cc - injected faults for tests (PALMRT_FAULT) ---------------===//

#include "base/faults.h"

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

namespace palmrt {
namespace {

struct Fault {
  FaultAction action;
  std::string point;
  std::optional<int64_t> value, rank;
};

struct Faults {
  absl::Status status;
  std::vector<Fault> list;
};

absl::StatusOr<Fault> parseFault(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("PALMRT_FAULT: '", text, "': ", why,
                     " (expected ACTION@POINT[:N][,rank=R], ACTION one of "
                     "kill, enospc, poison)"));
  };
  std::vector<absl::string_view> parts = absl::StrSplit(text, ',');
  Fault f;
  std::pair<absl::string_view, absl::string_view> what =
      absl::StrSplit(parts[0], absl::MaxSplits('@', 1));
  if (what.first == "kill")
    f.action = FaultAction::Kill;
  else if (what.first == "enospc")
    f.action = FaultAction::Enospc;
  else if (what.first == "poison")
    f.action = FaultAction::Poison;
  else
    return bad(absl::StrCat("unknown action '", what.first, "'"));
  std::pair<absl::string_view, absl::string_view> where =
      absl::StrSplit(what.second, absl::MaxSplits(':', 1));
  if (where.first.empty())
    return bad("no point");
  f.point = std::string(where.first);
  int64_t n;
  if (!where.second.empty()) {
    if (!absl::SimpleAtoi(where.second, &n) || n < 0)
      return bad(absl::StrCat("'", where.second, "' is not a step number"));
    f.value = n;
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    if (!absl::ConsumePrefix(&parts[i], "rank=") ||
        !absl::SimpleAtoi(parts[i], &n) || n < 0)
      return bad(absl::StrCat("'", parts[i], "' is not rank=R"));
    f.rank = n;
  }
  return f;
}

Faults parseFaults(absl::string_view spec) {
  Faults out;
  for (absl::string_view item : absl::StrSplit(spec, ';', absl::SkipEmpty())) {
    absl::StatusOr<Fault> f = parseFault(item);
    if (!f.ok()) {
      out.status = f.status();
      out.list.clear();
      break;
    }
    out.list.push_back(*f);
  }
  return out;
}

const Faults &faults() {
  static const Faults *parsed = [] {
    const char *spec = std::getenv("PALMRT_FAULT");
    return new Faults(parseFaults(spec ? spec : ""));
  }();
  return *parsed;
}

} // namespace

absl::Status checkFaultSpec() { return faults().status; }

absl::Status checkFaultSpecText(absl::string_view spec) {
  return parseFaults(spec).status;
}

bool faultArmed(FaultAction action, absl::string_view point, int64_t value,
                int64_t rank) {
  for (const Fault &f : faults().list)
    if (f.action == action && f.point == point &&
        (!f.value || *f.value == value) && (!f.rank || *f.rank == rank))
      return true;
  return false;
}

void killIfArmed(absl::string_view point, int64_t value, int64_t rank) {
  if (!faultArmed(FaultAction::Kill, point, value, rank))
    return;
  std::fflush(stdout);
  std::fflush(stderr);
  kill(getpid(), SIGKILL);
  _exit(137);
}

absl::Status injectedWriteError(absl::string_view point, int64_t value,
                                int64_t rank, absl::string_view path) {
  if (!faultArmed(FaultAction::Enospc, point, value, rank))
    return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat(path, ": write failed: ", std::strerror(ENOSPC),
                   " (injected by PALMRT_FAULT)"));
}

} // namespace palmrt
