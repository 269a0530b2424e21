//===- device_none.cc - a palmrt built without the cuda backend -----------===//
//
// Compiled instead of cuda/ when the build found no CUDA toolkit: cuda
// programs then fail at start-up with this reason.
//
//===----------------------------------------------------------------------===//

#include "device.h"

namespace palmrt {

bool haveCudaBackend() { return false; }

absl::StatusOr<std::unique_ptr<Device>> openCudaDevice(int, int, bool) {
  return absl::UnavailableError(
      "this palmrt was built without the cuda backend (no CUDA toolkit was "
      "found when it was built)");
}

} // namespace palmrt
