//===- fake_device_memory.h - device-memory checks for the fake libraries -===//
//
// The fake cuBLASLt and NCCL check the device addresses they are given
// against the fake driver's allocations (palmrtFakeCheckRange in
// fake_driver.cc), which must already be loaded in the process.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_TESTS_FAKE_CUDA_FAKE_DEVICE_MEMORY_H
#define PALMRT_TESTS_FAKE_CUDA_FAKE_DEVICE_MEMORY_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>

/// Aborts (through the fake driver) unless [p, p + bytes) lies in one
/// device allocation; `library` names the caller in messages.
inline void checkDeviceRange(const char *library, const void *p, size_t bytes,
                             const char *what) {
  using Check = void (*)(const void *, size_t, const char *);
  static Check check = [] {
    void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    return driver
               ? reinterpret_cast<Check>(dlsym(driver, "palmrtFakeCheckRange"))
               : nullptr;
  }();
  if (!check) {
    std::fprintf(stderr, "%s: the fake libcuda.so.1 is not loaded\n", library);
    std::fflush(stderr);
    std::abort();
  }
  check(p, bytes, what);
}

#endif // PALMRT_TESTS_FAKE_CUDA_FAKE_DEVICE_MEMORY_H
