//===- file_util.h - atomic files and directories ---------------*- C++ -*-===//

#ifndef PALMRT_SRC_BASE_FILE_UTIL_H
#define PALMRT_SRC_BASE_FILE_UTIL_H

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include <cstdint>
#include <string>
#include <vector>

namespace palmrt {

/// Creates `path` and its missing parents; succeeds when it already exists.
absl::Status makeDirectories(const std::string &path);

/// The CRC-32 (zlib's crc32) of the whole file and its size in bytes.
struct FileChecksum {
  uint32_t crc32 = 0;
  int64_t bytes = 0;
};

/// Writes `pieces` back to back to `path` so that readers see either the old
/// file or the whole new one: a temporary file beside it, fsync, rename, then
/// fsync of the directory. With `sum`, also the CRC-32 and size of what was
/// written.
absl::Status writeFileAtomically(const std::string &path,
                                 const std::vector<absl::string_view> &pieces,
                                 FileChecksum *sum = nullptr);
inline absl::Status writeFileAtomically(const std::string &path,
                                        absl::string_view contents) {
  return writeFileAtomically(path, std::vector<absl::string_view>{contents});
}

/// The whole file.
absl::StatusOr<std::string> readFile(const std::string &path);

absl::StatusOr<FileChecksum> fileChecksum(const std::string &path);

/// The names in directory `path` (not "." or ".."), sorted; an error when it
/// cannot be read.
absl::StatusOr<std::vector<std::string>> listDirectory(const std::string &path);

/// Whether `path` exists (as anything).
bool pathExists(const std::string &path);

/// Removes `path` and, for a directory, everything under it; succeeds when
/// it does not exist.
absl::Status removeTree(const std::string &path);

/// Renames `from` to `to` (rename(2): atomic on one file system) and makes
/// the change durable (fsync of the parent directory).
absl::Status renameDurably(const std::string &from, const std::string &to);

/// fsync of a directory (its entries durable).
absl::Status syncDirectory(const std::string &path);

/// `dir/name`.
std::string joinPath(absl::string_view dir, absl::string_view name);

} // namespace palmrt

#endif // PALMRT_SRC_BASE_FILE_UTIL_H
