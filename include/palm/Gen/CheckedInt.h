//===- CheckedInt.h - int64 arithmetic that records overflow ----*- C++ -*-===//
//
// Sizes, parameter counts and FLOPs of absurd configs overflow int64; these
// values carry the overflow along so that a whole formula is checked once.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_GEN_CHECKEDINT_H
#define PALM_GEN_CHECKEDINT_H

#include "llvm/Support/MathExtras.h"

#include <cstdint>

namespace mlir::palm::gen {

/// A non-negative int64 that becomes "overflowed" (and stays so) when an
/// operation leaves the int64 range.
class CheckedInt {
public:
  CheckedInt(int64_t value = 0) : value(value) {}

  /// True when some step of the computation overflowed.
  bool overflowed() const { return overflow; }
  /// The value; meaningless when overflowed().
  int64_t get() const { return value; }

  CheckedInt operator+(CheckedInt other) const {
    CheckedInt result;
    result.overflow = overflow || other.overflow ||
                      llvm::AddOverflow(value, other.value, result.value);
    return result;
  }
  CheckedInt operator*(CheckedInt other) const {
    CheckedInt result;
    result.overflow = overflow || other.overflow ||
                      llvm::MulOverflow(value, other.value, result.value);
    return result;
  }
  CheckedInt &operator+=(CheckedInt other) { return *this = *this + other; }
  CheckedInt &operator*=(CheckedInt other) { return *this = *this * other; }

private:
  int64_t value = 0;
  bool overflow = false;
};

} // namespace mlir::palm::gen

#endif // PALM_GEN_CHECKEDINT_H
