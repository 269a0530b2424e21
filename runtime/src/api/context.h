//===- context.h - palmrt_context: mesh, groups, transports -----*- C++ -*-===//
//
// The state behind the C API's opaque palmrt_context: where this device sits
// in the mesh, one communicator per group of the program description, the
// scratch memory collectives pack into, and per-step accounting.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_API_CONTEXT_H
#define PALMRT_SRC_API_CONTEXT_H

#include "device.h"
#include "io/program_info.h"
#include "job/process.h"

#include "palmrt/palmrt.h"

#include "absl/status/statusor.h"

#include <memory>
#include <vector>

namespace palmrt {

/// A backend's communicator over the devices of one group. Buffers hold
/// `count` elements per device; `index` is the position in the group. All
/// devices of the group call each operation together. Failures are fatal.
class Transport {
public:
  virtual ~Transport() = default;
  /// buffer[i] = reduce over the group of buffer[i] (f32, i32, i64).
  virtual void allReduce(void *buffer, int64_t count, int32_t dtype,
                         int32_t reduction) = 0;
  /// out = [group size][count] gathered in group order.
  virtual void allGather(const void *in, void *out, int64_t count,
                         int32_t dtype) = 0;
  /// in = [group size][count]; out = reduced piece `index`.
  virtual void reduceScatter(const void *in, void *out, int64_t count,
                             int32_t dtype, int32_t reduction) = 0;
  /// in = [group size][count], piece j goes to device j; out = [group
  /// size][count], piece j came from device j.
  virtual void allToAll(const void *in, void *out, int64_t count,
                        int32_t dtype) = 0;
  /// Sends `in` to every device of `sendTo` and, when recvFrom >= 0,
  /// receives into `out` (distinct from `in`).
  virtual void permute(const void *in, void *out, int64_t count, int32_t dtype,
                       const std::vector<int64_t> &sendTo,
                       int64_t recvFrom) = 0;
  /// Copies `bytes` of device `root`'s buffer to every device's.
  virtual void broadcast(void *buffer, int64_t bytes, int64_t root) = 0;
};

/// Transports over MPI communicators split from MPI_COMM_WORLD.
std::unique_ptr<Transport> makeMpiTransport(MpiLibrary *mpi, int64_t color,
                                            int64_t key);

} // namespace palmrt

struct palmrt_context {
  struct Group {
    std::vector<int32_t> axes;
    int64_t index = 0;
    int64_t size = 1;
    /// Which of the groups over these axes this device is in (the devices
    /// of one group share it).
    int64_t color = 0;
    /// Null when the group has one device.
    std::unique_ptr<palmrt::Transport> transport;
  };

  palmrt::ProgramInfo info;
  int64_t rank = 0;
  std::vector<Group> groups;
  /// Every device of the job, in rank order; null in a job of one process.
  std::unique_ptr<palmrt::Transport> world;

  /// Seconds spent in collectives since the last reset (per step).
  double collectiveSeconds = 0;
  int64_t collectiveCalls = 0;

  /// Packing space for collectives, grown on demand and reused.
  std::vector<char> scratchIn, scratchOut;

  /// The backend serving the calls that touch buffers: a HostDevice from
  /// createContext, the GPU for a cuda program. Never null. Declared after
  /// `groups`, so it is destroyed first.
  std::unique_ptr<palmrt::Device> device;

  /// The group `id`, or a fatal error naming the bad id.
  Group &group(int32_t id);
  char *scratch(std::vector<char> &buffer, int64_t bytes);
};

namespace palmrt {

/// Builds the context of device `rank` for `info`: one communicator per
/// group, made with MPI_Comm_split (color = group id, key = index in group)
/// when the job has several processes. Collective over the job.
absl::StatusOr<std::unique_ptr<palmrt_context>>
createContext(const ProgramInfo &info);

} // namespace palmrt

#endif // PALMRT_SRC_API_CONTEXT_H
