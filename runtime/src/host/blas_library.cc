//===- blas_library.cc - OpenBLAS loaded at first use ---------------------===//

#include "host/blas_library.h"

#include "job/process.h"

#include "absl/strings/str_cat.h"

#include <dlfcn.h>

namespace palmrt {
namespace {

BlasLibrary load() {
  // libopenblas.so.0 is Debian's alternative (pthread, openmp or serial
  // build); the unversioned name is the development link.
  std::string tried;
  void *handle = nullptr;
  for (const char *name : {"libopenblas.so.0", "libopenblas.so"}) {
    handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle)
      break;
    const char *why = dlerror();
    absl::StrAppend(&tried, tried.empty() ? "" : "; ", why ? why : name);
  }
  if (!handle)
    fatal(absl::StrCat("the host backend needs OpenBLAS for matrix products "
                       "but cannot load it (",
                       tried, "); install libopenblas0"));
  BlasLibrary lib;
  lib.sgemm =
      reinterpret_cast<decltype(lib.sgemm)>(dlsym(handle, "cblas_sgemm"));
  lib.setNumThreads = reinterpret_cast<decltype(lib.setNumThreads)>(
      dlsym(handle, "openblas_set_num_threads"));
  lib.getNumThreads = reinterpret_cast<decltype(lib.getNumThreads)>(
      dlsym(handle, "openblas_get_num_threads"));
  if (!lib.sgemm || !lib.setNumThreads || !lib.getNumThreads)
    fatal("the loaded OpenBLAS lacks cblas_sgemm, openblas_set_num_threads "
          "or openblas_get_num_threads");
  return lib;
}

} // namespace

const BlasLibrary &blas() {
  static const BlasLibrary lib = load();
  return lib;
}

} // namespace palmrt
