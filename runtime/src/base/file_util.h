//===- file_util.h - atomic files and directories ---------------*- C++ -*-===//

#ifndef PALMRT_SRC_BASE_FILE_UTIL_H
#define PALMRT_SRC_BASE_FILE_UTIL_H

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include <string>
#include <vector>

namespace palmrt {

/// Creates `path` and its missing parents; succeeds when it already exists.
absl::Status makeDirectories(const std::string &path);

/// Writes `pieces` back to back to `path` so that readers see either the old
/// file or the whole new one: a temporary file beside it, fsync, rename, then
/// fsync of the directory.
absl::Status writeFileAtomically(const std::string &path,
                                 const std::vector<absl::string_view> &pieces);
inline absl::Status writeFileAtomically(const std::string &path,
                                        absl::string_view contents) {
  return writeFileAtomically(path, std::vector<absl::string_view>{contents});
}

/// The whole file.
absl::StatusOr<std::string> readFile(const std::string &path);

/// `dir/name`.
std::string joinPath(absl::string_view dir, absl::string_view name);

} // namespace palmrt

#endif // PALMRT_SRC_BASE_FILE_UTIL_H
