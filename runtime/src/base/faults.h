//===- faults.h - injected faults for tests (PALMRT_FAULT) ------*- C++ -*-===//
//
// Tests run as root, so a full disk, a process killed in the middle of a
// save or a poisoned batch cannot be made for real; the runtime asks this
// hook at named points instead. Off unless PALMRT_FAULT is set:
//
//   PALMRT_FAULT="ACTION@POINT[:N][,rank=R][;ACTION@POINT...]"
//
// ACTION is `kill` (the process sends itself SIGKILL: no clean-up, no
// message of its own), `enospc` (the write at that point fails with "No space
// left on device") or `poison` (the step's loss becomes NaN, as if its batch
// had made the loss overflow). N restricts it to step (or, for `batch`,
// batch index) N; rank=R to one rank. The points are listed in
// docs/checkpoints.md ("Injecting faults").
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_BASE_FAULTS_H
#define PALMRT_SRC_BASE_FAULTS_H

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

#include <cstdint>

namespace palmrt {

enum class FaultAction { Kill, Enospc, Poison };

/// Parses PALMRT_FAULT (once); an error names the bad part. Call at start-up
/// so that a mistyped fault is an error rather than a test that cannot fail.
absl::Status checkFaultSpec();

/// Checks a PALMRT_FAULT value without arming it.
absl::Status checkFaultSpecText(absl::string_view spec);

/// Whether a fault `action` is armed at `point` for `value` (a step or a
/// batch index) on rank `rank`.
bool faultArmed(FaultAction action, absl::string_view point, int64_t value,
                int64_t rank);

/// Ends the process with SIGKILL when a kill is armed at `point`.
void killIfArmed(absl::string_view point, int64_t value, int64_t rank);

/// ENOSPC for `path` when an enospc fault is armed at `point`, else OK.
absl::Status injectedWriteError(absl::string_view point, int64_t value,
                                int64_t rank, absl::string_view path);

} // namespace palmrt

#endif // PALMRT_SRC_BASE_FAULTS_H
