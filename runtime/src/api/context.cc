//===- context.cc - palmrt_context: mesh, groups, transports --------------===//

#include "api/context.h"

#include "host/host_device.h"

#include "palmrt/mesh.h"

#include "absl/strings/str_cat.h"

palmrt_context::Group &palmrt_context::group(int32_t id) {
  if (id < 0 || static_cast<size_t>(id) >= groups.size())
    palmrt::fatal(absl::StrCat("collective on group ", id,
                               ", but the program declares ", groups.size(),
                               " groups"));
  return groups[id];
}

char *palmrt_context::scratch(std::vector<char> &buffer, int64_t bytes) {
  if (static_cast<int64_t>(buffer.size()) < bytes)
    buffer.resize(bytes);
  return buffer.data();
}

namespace palmrt {

absl::StatusOr<std::unique_ptr<palmrt_context>>
createContext(const ProgramInfo &info) {
  const ProcessInfo &job = process();
  if (job.size != info.numDevices())
    return absl::FailedPreconditionError(absl::StrCat(
        "the job has ", job.size, " processes but the mesh (",
        info.meshString(), ") has ", info.numDevices(), " devices"));
  auto ctx = std::make_unique<palmrt_context>();
  ctx->info = info;
  // Every context starts on the host; a cuda program replaces the device.
  ctx->device = std::make_unique<HostDevice>(ctx.get());
  ctx->rank = job.rank;
  for (const std::vector<int32_t> &axes : info.groups) {
    palmrt_context::Group g;
    g.axes = axes;
    g.size = groupSize(info, axes);
    int64_t color = 0;
    if (!axes.empty()) {
      palmrt_mesh_status s = palmrt_mesh_group_position(
          static_cast<int32_t>(info.meshShape.size()), info.meshShape.data(),
          job.rank, static_cast<int32_t>(axes.size()), axes.data(), &g.index,
          &color);
      if (s != PALMRT_MESH_OK)
        return absl::InternalError(absl::StrCat("mesh position of rank ",
                                                job.rank, " failed (", s, ")"));
    }
    g.color = color;
    // Every rank sees the same group sizes, so all of them take part in the
    // same splits.
    if (g.size > 1) {
      if (!job.mpi)
        return absl::InternalError("groups of several devices without MPI");
      g.transport = makeMpiTransport(job.mpi, color, g.index);
    }
    ctx->groups.push_back(std::move(g));
  }
  // The cuda backend splits its NCCL communicators from a world one.
  if (job.size > 1 && job.mpi && info.target == Target::Cuda)
    ctx->world = makeMpiTransport(job.mpi, 0, job.rank);
  return ctx;
}

} // namespace palmrt
