//===- collective_watchdog_test.cc - the collective watchdog on its own ---===//
//
// CollectiveWatchdog against a table of stub NCCL functions: an error one
// communicator reports, or a step past the time limit, aborts every
// communicator and reports once, naming what failed; nothing fires between
// steps or in a step that finishes in time. The failure's hooks record
// instead of ending the process. Needs no GPU. (The whole path, from a hung
// or failing peer to the job's exit, is test/e2e/cuda-watchdog.test.)
//
//===----------------------------------------------------------------------===//

#include "cuda/collective_watchdog.h"

#include "absl/strings/str_cat.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <vector>

namespace palmrt {
namespace {

/// What the stub functions read and write.
struct StubState {
  std::mutex mutex;
  std::map<nccl::Comm, nccl::Result> asyncErrors;
  std::vector<nccl::Comm> aborted;
};

StubState &stub() {
  static StubState s;
  return s;
}

nccl::Result stubGetAsyncError(nccl::Comm comm, nccl::Result *error) {
  std::lock_guard<std::mutex> lock(stub().mutex);
  auto it = stub().asyncErrors.find(comm);
  *error = it == stub().asyncErrors.end() ? nccl::kSuccess : it->second;
  return nccl::kSuccess;
}

nccl::Result stubAbort(nccl::Comm comm) {
  std::lock_guard<std::mutex> lock(stub().mutex);
  stub().aborted.push_back(comm);
  return nccl::kSuccess;
}

const char *stubErrorString(nccl::Result) { return "stub text"; }
const char *stubLastError(nccl::Comm) { return ""; }

const Nccl &stubNccl() {
  static const Nccl table = [] {
    Nccl n{};
    n.CommGetAsyncError = stubGetAsyncError;
    n.CommAbort = stubAbort;
    n.GetErrorString = stubErrorString;
    n.GetLastError = stubLastError;
    return n;
  }();
  return table;
}

nccl::Comm fakeComm(uintptr_t n) { return reinterpret_cast<nccl::Comm>(n); }

/// A watchdog over two stub communicators whose failure is recorded.
class Watchdog : public ::testing::Test {
protected:
  void SetUp() override {
    std::lock_guard<std::mutex> lock(stub().mutex);
    stub().asyncErrors.clear();
    stub().aborted.clear();
  }

  std::unique_ptr<CollectiveWatchdog> start(double timeoutSeconds) {
    CollectiveWatchdog::Options options;
    options.timeoutSeconds = timeoutSeconds;
    options.pollSeconds = 0.01;
    CollectiveWatchdog::Hooks hooks;
    hooks.report = [this](const std::string &why) {
      std::lock_guard<std::mutex> lock(mutex);
      reports.push_back(why);
    };
    hooks.exit = [this] {
      std::lock_guard<std::mutex> lock(mutex);
      exited = true;
      done.notify_all();
    };
    return std::make_unique<CollectiveWatchdog>(
        stubNccl(),
        std::vector<CollectiveWatchdog::Watched>{{fakeComm(1), "group 1"},
                                                 {fakeComm(2), "the job"}},
        options, hooks);
  }

  /// Whether the watchdog ended the "process" within `seconds`.
  bool exitsWithin(double seconds) {
    std::unique_lock<std::mutex> lock(mutex);
    return done.wait_for(lock, std::chrono::duration<double>(seconds),
                         [&] { return exited; });
  }

  std::vector<nccl::Comm> aborted() {
    std::lock_guard<std::mutex> lock(stub().mutex);
    return stub().aborted;
  }

  std::mutex mutex;
  std::condition_variable done;
  bool exited = false;
  std::vector<std::string> reports;
};

TEST_F(Watchdog, AsyncErrorAbortsEveryCommunicator) {
  auto watchdog = start(/*timeoutSeconds=*/0);
  watchdog->beginStep();
  watchdog->endStep();
  watchdog->beginStep();
  {
    std::lock_guard<std::mutex> lock(stub().mutex);
    stub().asyncErrors[fakeComm(1)] = 6; // ncclRemoteError
  }
  ASSERT_TRUE(exitsWithin(10));
  EXPECT_TRUE(watchdog->fired());
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0],
            "collective watchdog: NCCL reports an error on the communicator "
            "of group 1 in call 2 of the step function: NCCL error 6 (stub "
            "text); aborting NCCL and exiting");
  EXPECT_EQ(aborted(), (std::vector<nccl::Comm>{fakeComm(1), fakeComm(2)}));
}

TEST_F(Watchdog, InProgressIsNoError) {
  auto watchdog = start(/*timeoutSeconds=*/0);
  {
    std::lock_guard<std::mutex> lock(stub().mutex);
    stub().asyncErrors[fakeComm(2)] = 7; // ncclInProgress
  }
  watchdog->beginStep();
  EXPECT_FALSE(exitsWithin(0.2));
  watchdog->endStep();
  EXPECT_FALSE(watchdog->fired());
}

TEST_F(Watchdog, StepPastTheLimitNamesItsLastCollective) {
  auto watchdog = start(/*timeoutSeconds=*/0.2);
  watchdog->beginStep("step 7");
  watchdog->issued("all_reduce", 0);
  watchdog->issued("all_gather", 3);
  ASSERT_TRUE(exitsWithin(10));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(
      reports[0],
      "collective watchdog: no progress for 0.2 s in step 7 "
      "(PALMRT_COLLECTIVE_TIMEOUT); the last of the 2 "
      "collectives it issued is all_gather on group 3; another process may "
      "have died or hung; aborting NCCL and exiting");
  EXPECT_EQ(aborted().size(), 2u);
}

TEST_F(Watchdog, QuietBetweenStepsAndInStepsThatFinish) {
  auto watchdog = start(/*timeoutSeconds=*/0.5);
  // Errors are not looked at between steps, nor the clock.
  {
    std::lock_guard<std::mutex> lock(stub().mutex);
    stub().asyncErrors[fakeComm(1)] = 6;
  }
  EXPECT_FALSE(exitsWithin(0.6));
  {
    std::lock_guard<std::mutex> lock(stub().mutex);
    stub().asyncErrors.clear();
  }
  // Steps shorter than the limit, over more time than the limit.
  for (int i = 0; i < 12; ++i) {
    watchdog->beginStep();
    EXPECT_FALSE(exitsWithin(0.05));
    watchdog->endStep();
  }
  EXPECT_FALSE(watchdog->fired());
  EXPECT_TRUE(aborted().empty());
  EXPECT_TRUE(reports.empty());
}

TEST(CollectiveTimeout, Parses) {
  EXPECT_EQ(*parseCollectiveTimeout(nullptr), kDefaultCollectiveTimeout);
  EXPECT_EQ(*parseCollectiveTimeout("0"), 0);
  EXPECT_EQ(*parseCollectiveTimeout("2.5"), 2.5);
  EXPECT_EQ(*parseCollectiveTimeout("30"), 30);
  for (const char *bad : {"", "abc", "-1", "5s", "nan", "inf"}) {
    absl::StatusOr<double> t = parseCollectiveTimeout(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.status().message(),
              absl::StrCat("PALMRT_COLLECTIVE_TIMEOUT='", bad,
                           "': expected the seconds a step may run (0: no "
                           "limit)"));
  }
}

} // namespace
} // namespace palmrt
