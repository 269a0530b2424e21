//===- collective_watchdog.h - stalled collectives end the job --*- C++ -*-===//
//
// NCCL reports a peer that died or a broken connection only through
// ncclCommGetAsyncError, and a collective waiting for a peer that hangs
// reports nothing at all: the GPU work behind it never finishes, so the
// process would wait forever in the step's synchronization. While a step
// runs, a thread of the watchdog polls every communicator and watches the
// clock. On an error, or a step older than the time limit, it prints one
// line naming what failed, aborts every communicator (ncclCommAbort, so that
// no kernel keeps waiting on a peer) and ends the process with _exit(1);
// mpirun then stops the other ranks.
//
// Not fatal(): the main thread is blocked inside a CUDA or NCCL call, so
// exit() would run static destructors under it (the device's would wait on
// streams that never finish), and MPI_Abort may itself wait for the peer
// that is gone. Aborting is bounded too: some NCCL versions hang in
// ncclCommAbort when a peer is unreachable.
//
// Thread-safety: beginStep, issued, endStep and the destructor are called
// from the thread that runs the steps; fired from any thread.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_CUDA_COLLECTIVE_WATCHDOG_H
#define PALMRT_SRC_CUDA_COLLECTIVE_WATCHDOG_H

#include "cuda/dynamic_libraries.h"

#include "absl/status/statusor.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace palmrt {

/// The environment variable that sets the time limit of a step, in seconds.
inline constexpr const char *kCollectiveTimeoutVariable =
    "PALMRT_COLLECTIVE_TIMEOUT";
/// The limit when the variable is not set: long enough for the first step
/// of a large model (kernel loading, cuBLASLt's heuristics, NCCL's lazy
/// connections) on a loaded machine.
inline constexpr double kDefaultCollectiveTimeout = 600;

/// The time limit `text` (the variable's value, null when unset) asks for:
/// seconds, 0 for none; an error naming the variable for anything else.
absl::StatusOr<double> parseCollectiveTimeout(const char *text);

class CollectiveWatchdog {
public:
  struct Watched {
    nccl::Comm comm;
    /// How the message names it: "group 2", "the job".
    std::string name;
  };
  struct Options {
    /// Seconds a step may run; 0 for no limit (errors are still polled).
    double timeoutSeconds = kDefaultCollectiveTimeout;
    double pollSeconds = 0.5;
    /// How long aborting the communicators may take before the process
    /// ends regardless.
    double abortSeconds = 10;
  };
  /// What a failure does around the aborts; tests replace both. The
  /// defaults print "palmrt: rank R: error: <why>" and _exit(1).
  struct Hooks {
    std::function<void(const std::string &why)> report;
    std::function<void()> exit;
  };

  /// Starts the thread; `comms` stay valid until the watchdog is destroyed.
  CollectiveWatchdog(const Nccl &nccl, std::vector<Watched> comms,
                     Options options, Hooks hooks = {});
  ~CollectiveWatchdog();
  CollectiveWatchdog(const CollectiveWatchdog &) = delete;
  CollectiveWatchdog &operator=(const CollectiveWatchdog &) = delete;

  /// Brackets one call of the step function: only then is the job watched
  /// (no collective runs between calls).
  void beginStep(const std::string &what = "");
  void endStep();
  /// Notes the collective the step is issuing, for the timeout's message.
  void issued(const char *name, int32_t group);
  /// Whether the watchdog has failed the process: the main thread's own
  /// errors after that are consequences of the abort, not news.
  bool fired() const { return hasFired.load(); }

private:
  void run();
  /// Why the step must end, or empty.
  std::string check();
  void fail(const std::string &why);
  void abortAll();

  const Nccl &nccl;
  const std::vector<Watched> comms;
  const Options options;
  Hooks hooks;

  std::mutex mutex;
  std::condition_variable wake;
  // Guarded by mutex.
  bool stopping = false, inStep = false;
  int64_t calls = 0;
  /// What the running call is (beginStep's `what`).
  std::string label;
  std::chrono::steady_clock::time_point stepStart;
  const char *lastName = nullptr;
  int32_t lastGroup = -1;
  int64_t issuedInStep = 0;

  std::atomic<bool> hasFired{false};
  std::thread thread;
};

} // namespace palmrt

#endif // PALMRT_SRC_CUDA_COLLECTIVE_WATCHDOG_H
