//===- process.h - this process's place in the job --------------*- C++ -*-===//
//
// Whether the process runs alone or as one rank of an mpirun job, its rank,
// the job's size, and the one way to fail: a message naming the rank and a
// non-zero exit of the whole job.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_JOB_PROCESS_H
#define PALMRT_SRC_JOB_PROCESS_H

#include "job/mpi_library.h"

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

#include <cstdint>
#include <vector>

namespace palmrt {

/// The job as seen by this process. `mpi` is null when running alone.
struct ProcessInfo {
  int rank = 0;
  int size = 1;
  MpiLibrary *mpi = nullptr;
};

/// The rank and size the launcher announces in the environment (Open MPI's
/// OMPI_COMM_WORLD_RANK / _SIZE), usable before MPI starts: 0 and 1 when the
/// process was not launched by mpirun.
int launcherRank();
int launcherSize();

/// This process's rank among the job's processes on its node, and their
/// number (Open MPI's OMPI_COMM_WORLD_LOCAL_RANK / _SIZE, else MPICH's or
/// Slurm's). Without such a variable the job is taken to be on one node.
/// Valid after startProcess.
int localRank();
int localSize();

/// Starts MPI when the launcher says this is a job of several processes (or
/// an mpirun job of one), then starts the watchdog. Idempotent. Without a
/// launcher, or with a launcher of one process and no libmpi, the process runs
/// alone. Fails when mpirun started several processes but MPI cannot be used.
absl::Status startProcess(int *argc, char ***argv);

/// The job; valid after startProcess (before it: rank 0 of 1).
const ProcessInfo &process();

/// Shuts MPI down in order (after which the process may return from main).
void finishProcess();

/// Prints "palmrt: rank R: error: <message>" to stderr and ends the job with a
/// non-zero exit: MPI_Abort when MPI runs (the launcher then stops every
/// rank), exit(1) otherwise.
[[noreturn]] void fatal(absl::string_view message);

/// Prints one line to stderr prefixed with the rank, for messages every rank
/// gives (start-up errors).
void printRankMessage(absl::string_view kind, absl::string_view message);

/// Start-up agreement: every rank passes the outcome of a step that may fail
/// on some ranks only (reading its weights file). Returns OK when all ranks
/// succeeded. Otherwise every rank has printed a line: its own error, or the
/// list of ranks that failed. Collective over the whole job.
absl::Status agreeOnStatus(const absl::Status &local);

/// Every rank's `value`, in rank order (collective over the whole job; the
/// job ends with an error if MPI fails).
std::vector<int64_t> allgatherInt64(int64_t value);

} // namespace palmrt

#endif // PALMRT_SRC_JOB_PROCESS_H
