//===- DimLists.h - lists of dimension numbers ------------------*- C++ -*-===//
//
// The dimension arithmetic of contractions that both the reverse-mode rule of
// dot_general (OpVjps.cpp) and its GEMM legalization (Legalize.cpp) need.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_DIALECT_PALM_IR_DIMLISTS_H
#define PALM_DIALECT_PALM_IR_DIMLISTS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>

namespace mlir::palm {

/// The dimensions of a rank-`rank` operand in none of `lists`, in order.
inline llvm::SmallVector<int64_t>
freeDims(int64_t rank, llvm::ArrayRef<llvm::ArrayRef<int64_t>> lists) {
  llvm::SmallVector<int64_t> free;
  for (int64_t d = 0; d < rank; ++d)
    if (llvm::none_of(lists, [&](llvm::ArrayRef<int64_t> l) {
          return llvm::is_contained(l, d);
        }))
      free.push_back(d);
  return free;
}

/// `count` consecutive dimensions from `from`.
inline llvm::SmallVector<int64_t> consecutiveDims(int64_t from, int64_t count) {
  llvm::SmallVector<int64_t> dims;
  for (int64_t i = 0; i < count; ++i)
    dims.push_back(from + i);
  return dims;
}

} // namespace mlir::palm

#endif // PALM_DIALECT_PALM_IR_DIMLISTS_H
