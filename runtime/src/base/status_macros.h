//===- status_macros.h - early returns on a failed absl::Status -*- C++ -*-===//
//
// The parsers check every field and return the first failure; these keep
// each check to one line.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_BASE_STATUS_MACROS_H
#define PALMRT_SRC_BASE_STATUS_MACROS_H

#include "absl/status/status.h"

#include <utility>

#define PALMRT_CONCAT_INNER(a, b) a##b
#define PALMRT_CONCAT(a, b) PALMRT_CONCAT_INNER(a, b)

/// Returns the status of `expr` when it is not OK.
#define PALMRT_RETURN_IF_ERROR(expr)                                           \
  do {                                                                         \
    if (absl::Status _palmrt_status = (expr); !_palmrt_status.ok())            \
      return _palmrt_status;                                                   \
  } while (false)

/// `lhs = *expr` for an absl::StatusOr `expr`, or returns its status. `lhs`
/// may declare a variable (`PALMRT_ASSIGN_OR_RETURN(auto x, f())`).
#define PALMRT_ASSIGN_OR_RETURN(lhs, expr)                                     \
  PALMRT_ASSIGN_OR_RETURN_IMPL(PALMRT_CONCAT(_palmrt_or_, __LINE__), lhs, expr)
#define PALMRT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)                           \
  auto tmp = (expr);                                                           \
  if (!tmp.ok())                                                               \
    return tmp.status();                                                       \
  lhs = *std::move(tmp)

#endif // PALMRT_SRC_BASE_STATUS_MACROS_H
