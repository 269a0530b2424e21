//===- token_file.h - a token file, memory-mapped ---------------*- C++ -*-===//
//
// The training data of --data (docs/data.md): a 32-byte little-endian header
// (the magic "PALMTOK\0", u32 version 1, u32 token width 2 or 4, u64
// vocabulary, u64 token count) followed by the tokens. The file is mapped
// read-only, so a job of many ranks on one node shares one copy.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_IO_TOKEN_FILE_H
#define PALMRT_SRC_IO_TOKEN_FILE_H

#include "absl/status/statusor.h"

#include <cstdint>
#include <memory>
#include <string>

namespace palmrt {

constexpr char kTokenFileMagic[8] = {'P', 'A', 'L', 'M', 'T', 'O', 'K', 0};
constexpr uint32_t kTokenFileVersion = 1;
constexpr int64_t kTokenFileHeaderBytes = 32;

class TokenFile {
public:
  /// Maps `path` and checks its header and size; errors name the file.
  static absl::StatusOr<std::unique_ptr<TokenFile>>
  open(const std::string &path);
  ~TokenFile();
  TokenFile(const TokenFile &) = delete;
  TokenFile &operator=(const TokenFile &) = delete;

  const std::string &path() const { return path_; }
  uint32_t width() const { return width_; }
  uint64_t vocab() const { return vocab_; }
  uint64_t count() const { return count_; }
  /// Token `i` (< count()), checked against the declared vocabulary: a
  /// corrupt token is an error naming the file and its index.
  absl::StatusOr<int64_t> token(uint64_t i) const;

private:
  TokenFile() = default;
  std::string path_;
  const unsigned char *data_ = nullptr;
  size_t bytes_ = 0;
  uint32_t width_ = 0;
  uint64_t vocab_ = 0, count_ = 0;
};

} // namespace palmrt

#endif // PALMRT_SRC_IO_TOKEN_FILE_H
