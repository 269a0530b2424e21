//===- collective_watchdog.cc - ends a job whose collectives stall --------===//

#include "cuda/collective_watchdog.h"

#include "job/process.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include <cstdio>
#include <memory>
#include <unistd.h>

namespace palmrt {
namespace {

/// ncclInProgress: a non-blocking communicator still connecting, not a
/// failure.
constexpr nccl::Result kInProgress = 7;

using Clock = std::chrono::steady_clock;

std::chrono::nanoseconds toDuration(double seconds) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(seconds));
}

} // namespace

absl::StatusOr<double> parseCollectiveTimeout(const char *text) {
  if (!text)
    return kDefaultCollectiveTimeout;
  double seconds;
  if (!absl::SimpleAtod(text, &seconds) || !(seconds >= 0) || seconds > 1e9)
    return absl::InvalidArgumentError(
        absl::StrCat(kCollectiveTimeoutVariable, "='", text,
                     "': expected the seconds a step may run (0: no limit)"));
  return seconds;
}

CollectiveWatchdog::CollectiveWatchdog(const Nccl &nccl,
                                       std::vector<Watched> comms,
                                       Options options, Hooks hooks)
    : nccl(nccl), comms(std::move(comms)), options(options),
      hooks(std::move(hooks)) {
  if (!this->hooks.report)
    this->hooks.report = [](const std::string &why) {
      std::fflush(stdout);
      printRankMessage("error", why);
    };
  if (!this->hooks.exit)
    this->hooks.exit = [] { _exit(1); };
  thread = std::thread([this] { run(); });
}

CollectiveWatchdog::~CollectiveWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  wake.notify_all();
  thread.join();
}

void CollectiveWatchdog::beginStep(const std::string &what) {
  std::lock_guard<std::mutex> lock(mutex);
  inStep = true;
  ++calls;
  label = what;
  stepStart = Clock::now();
  lastName = nullptr;
  lastGroup = -1;
  issuedInStep = 0;
}

void CollectiveWatchdog::endStep() {
  std::lock_guard<std::mutex> lock(mutex);
  inStep = false;
}

void CollectiveWatchdog::issued(const char *name, int32_t group) {
  std::lock_guard<std::mutex> lock(mutex);
  lastName = name;
  lastGroup = group;
  ++issuedInStep;
}

void CollectiveWatchdog::run() {
  std::unique_lock<std::mutex> lock(mutex);
  while (!stopping) {
    wake.wait_for(lock, toDuration(options.pollSeconds));
    if (stopping || !inStep)
      continue;
    // NCCL is polled unlocked: the step goes on meanwhile, and the
    // communicators outlive this thread.
    lock.unlock();
    std::string why = check();
    if (!why.empty()) {
      fail(why);
      return;
    }
    lock.lock();
  }
}

std::string CollectiveWatchdog::check() {
  std::string where;
  double elapsed;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!inStep)
      return "";
    where = label.empty()
                ? absl::StrCat("call ", calls, " of the step function")
                : label;
    elapsed = std::chrono::duration<double>(Clock::now() - stepStart).count();
  }
  // An error NCCL saw says more than the clock, so it is looked at first.
  for (const Watched &w : comms) {
    nccl::Result error = nccl::kSuccess;
    nccl::Result r = nccl.CommGetAsyncError(w.comm, &error);
    if (r != nccl::kSuccess)
      error = r;
    if (error != nccl::kSuccess && error != kInProgress)
      return absl::StrCat("collective watchdog: NCCL reports an error on the "
                          "communicator of ",
                          w.name, " in ", where, ": ",
                          nccl.errorString(error, w.comm),
                          "; aborting NCCL and exiting");
  }
  if (options.timeoutSeconds <= 0 || elapsed < options.timeoutSeconds)
    return "";
  std::lock_guard<std::mutex> lock(mutex);
  std::string last = lastName ? absl::StrCat("; the last of the ", issuedInStep,
                                             " collectives it issued is ",
                                             lastName, " on group ", lastGroup)
                              : "; it issued no collective";
  return absl::StrCat("collective watchdog: no progress for ",
                      options.timeoutSeconds, " s in ", where, " (",
                      kCollectiveTimeoutVariable, ")", last,
                      "; another process may have died or hung; aborting "
                      "NCCL and exiting");
}

void CollectiveWatchdog::fail(const std::string &why) {
  hasFired.store(true);
  // The line goes out before anything that may hang.
  hooks.report(why);
  abortAll();
  hooks.exit();
}

void CollectiveWatchdog::abortAll() {
  // On a thread of its own, so that an abort that never returns cannot keep
  // the process alive; the thread owns what it reads.
  struct Shared {
    std::mutex mutex;
    std::condition_variable done;
    bool finished = false;
  };
  auto shared = std::make_shared<Shared>();
  std::thread([shared, nccl = &nccl, comms = comms] {
    for (const Watched &w : comms)
      nccl->CommAbort(w.comm);
    std::lock_guard<std::mutex> lock(shared->mutex);
    shared->finished = true;
    shared->done.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(shared->mutex);
  if (!shared->done.wait_for(lock, toDuration(options.abortSeconds),
                             [&] { return shared->finished; }))
    hooks.report(absl::StrCat("collective watchdog: ncclCommAbort did not "
                              "return in ",
                              options.abortSeconds, " s; exiting without it"));
}

} // namespace palmrt
