//===- blas_library.h - OpenBLAS loaded at first use ------------*- C++ -*-===//
//
// The host backend multiplies with OpenBLAS, but nothing else needs it: a
// program compiled for cuda must run where OpenBLAS is not installed. So the
// runtime never links it; the first host GEMM dlopens it and resolves the
// functions used. cblas.h is read at build time for their prototypes only.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_HOST_BLAS_LIBRARY_H
#define PALMRT_SRC_HOST_BLAS_LIBRARY_H

#include <cblas.h>

namespace palmrt {

struct BlasLibrary {
  decltype(&cblas_sgemm) sgemm = nullptr;
  decltype(&openblas_set_num_threads) setNumThreads = nullptr;
  decltype(&openblas_get_num_threads) getNumThreads = nullptr;
};

/// OpenBLAS, loaded on the first call (thread-safe). When it cannot be
/// loaded this is a fatal error that says which library was looked for.
const BlasLibrary &blas();

} // namespace palmrt

#endif // PALMRT_SRC_HOST_BLAS_LIBRARY_H
