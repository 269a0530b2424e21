//===- process.cc - this process's place in the job -----------------------===//

#include "job/process.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <unistd.h>
#include <vector>

namespace palmrt {
namespace {

ProcessInfo gProcess;
std::unique_ptr<MpiLibrary> gMpi;
bool gStarted = false;
std::atomic<bool> gFinished{false};

int envInt(const char *name, int fallback) {
  const char *text = std::getenv(name);
  int value;
  if (!text || !absl::SimpleAtoi(text, &value))
    return fallback;
  return value;
}

/// mpirun kills every rank when one dies (its default, which we rely on). What
/// it cannot do is outlive itself: if the launcher is killed, ranks blocked in
/// a collective would wait forever. The watchdog notices that the process was
/// re-parented and ends it.
void startWatchdog() {
  pid_t parent = getppid();
  std::thread([parent] {
    while (!gFinished.load()) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      if (getppid() != parent && !gFinished.load()) {
        std::fprintf(stderr,
                     "palmrt: rank %d: error: the launcher (pid %d) is gone; "
                     "exiting\n",
                     gProcess.rank, static_cast<int>(parent));
        std::fflush(stderr);
        _exit(1);
      }
    }
  }).detach();
}

} // namespace

int launcherRank() { return envInt("OMPI_COMM_WORLD_RANK", 0); }
int launcherSize() { return envInt("OMPI_COMM_WORLD_SIZE", 1); }

int localRank() {
  for (const char *name :
       {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (int value = envInt(name, -1); value >= 0)
      return value;
  return gProcess.rank;
}

int localSize() {
  for (const char *name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"})
    if (int value = envInt(name, -1); value > 0)
      return value;
  return gProcess.size;
}

absl::Status startProcess(int *argc, char ***argv) {
  if (gStarted)
    return absl::OkStatus();
  gStarted = true;
  if (!std::getenv("OMPI_COMM_WORLD_SIZE"))
    return absl::OkStatus();
  gProcess.rank = launcherRank();
  int expected = launcherSize();
  auto lib = MpiLibrary::load();
  if (!lib.ok()) {
    if (expected == 1)
      return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "mpirun started ", expected,
        " processes but MPI is unusable: ", lib.status().message()));
  }
  gMpi = std::move(*lib);
  int rc = gMpi->Init(argc, argv);
  if (rc != mpi::kSuccess)
    return absl::InternalError(
        absl::StrCat("MPI_Init failed: ", gMpi->errorString(rc)));
  gMpi->Comm_rank(gMpi->commWorld, &gProcess.rank);
  gMpi->Comm_size(gMpi->commWorld, &gProcess.size);
  gProcess.mpi = gMpi.get();
  startWatchdog();
  return absl::OkStatus();
}

const ProcessInfo &process() { return gProcess; }

void finishProcess() {
  gFinished.store(true);
  if (gProcess.mpi) {
    gProcess.mpi->Finalize();
    gProcess.mpi = nullptr;
  }
}

void printRankMessage(absl::string_view kind, absl::string_view message) {
  int rank = gStarted ? gProcess.rank : launcherRank();
  std::string line =
      absl::StrCat("palmrt: rank ", rank, ": ", kind, ": ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void fatal(absl::string_view message) {
  std::fflush(stdout);
  printRankMessage("error", message);
  if (gProcess.mpi)
    gProcess.mpi->Abort(gProcess.mpi->commWorld, 1);
  std::exit(1);
}

std::vector<int64_t> allgatherInt64(int64_t value) {
  std::vector<int64_t> all(gProcess.size, value);
  if (gProcess.mpi && gProcess.size > 1) {
    int rc = gProcess.mpi->Allgather(&value, 1, gProcess.mpi->typeInt64,
                                     all.data(), 1, gProcess.mpi->typeInt64,
                                     gProcess.mpi->commWorld);
    if (rc != mpi::kSuccess)
      fatal(absl::StrCat("MPI_Allgather failed: ",
                         gProcess.mpi->errorString(rc)));
  }
  return all;
}

absl::Status agreeOnStatus(const absl::Status &local) {
  std::vector<int64_t> all = allgatherInt64(local.ok() ? 0 : 1);
  std::vector<int> failedRanks;
  for (int r = 0; r < gProcess.size; ++r)
    if (all[r])
      failedRanks.push_back(r);
  if (failedRanks.empty())
    return absl::OkStatus();
  if (!local.ok()) {
    printRankMessage("error", local.message());
    return local;
  }
  std::string why = absl::StrCat(
      "stopping: rank", failedRanks.size() > 1 ? "s " : " ",
      absl::StrJoin(failedRanks, ", "), " failed (see their messages)");
  printRankMessage("error", why);
  return absl::AbortedError(why);
}

} // namespace palmrt
