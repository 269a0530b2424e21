//===- token_file.cc - a token file, memory-mapped ------------------------===//

#include "io/token_file.h"

#include "absl/strings/str_cat.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace palmrt {
namespace {

/// Little-endian whatever the host; the format fixes the byte order.
uint64_t readLe(const unsigned char *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

absl::Status fileError(const std::string &path, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": not a usable token file: ", what));
}

} // namespace

absl::StatusOr<std::unique_ptr<TokenFile>>
TokenFile::open(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::NotFoundError(absl::StrCat(
        path, ": cannot open the token file: ", std::strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat(path, ": ", std::strerror(e)));
  }
  std::unique_ptr<TokenFile> file(new TokenFile);
  file->path_ = path;
  file->bytes_ = static_cast<size_t>(st.st_size);
  if (file->bytes_ > 0) {
    void *map = mmap(nullptr, file->bytes_, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat(
          path, ": cannot map the token file: ", std::strerror(e)));
    }
    file->data_ = static_cast<const unsigned char *>(map);
  }
  // The mapping outlives the descriptor.
  ::close(fd);

  const unsigned char *h = file->data_;
  if (file->bytes_ < static_cast<size_t>(kTokenFileHeaderBytes))
    return fileError(path,
                     absl::StrCat("it has ", file->bytes_,
                                  " bytes, less than the 32-byte header"));
  if (std::memcmp(h, kTokenFileMagic, sizeof(kTokenFileMagic)) != 0)
    return fileError(path, "bad magic (the file must start with PALMTOK\\0)");
  uint64_t version = readLe(h + 8, 4);
  if (version != kTokenFileVersion)
    return fileError(path, absl::StrCat("version ", version,
                                        " (this runtime reads version ",
                                        kTokenFileVersion, ")"));
  file->width_ = static_cast<uint32_t>(readLe(h + 12, 4));
  if (file->width_ != 2 && file->width_ != 4)
    return fileError(path, absl::StrCat("token width ", file->width_,
                                        " bytes (2 or 4 are allowed)"));
  file->vocab_ = readLe(h + 16, 8);
  file->count_ = readLe(h + 24, 8);
  if (file->vocab_ == 0)
    return fileError(path, "vocabulary size 0");
  uint64_t expected;
  if (__builtin_mul_overflow(file->count_, uint64_t{file->width_}, &expected) ||
      __builtin_add_overflow(expected, uint64_t{kTokenFileHeaderBytes},
                             &expected) ||
      expected != file->bytes_)
    return fileError(
        path, absl::StrCat("the header declares ", file->count_, " tokens of ",
                           file->width_, " bytes, but the file has ",
                           file->bytes_, " bytes (truncated or corrupt)"));
  return file;
}

TokenFile::~TokenFile() {
  if (data_)
    munmap(const_cast<unsigned char *>(data_), bytes_);
}

absl::StatusOr<int64_t> TokenFile::token(uint64_t i) const {
  if (i >= count_)
    return absl::OutOfRangeError(absl::StrCat(
        path_, ": token ", i, " is past the last (", count_, " tokens)"));
  uint64_t v = readLe(data_ + kTokenFileHeaderBytes + i * width_,
                      static_cast<int>(width_));
  if (v >= vocab_)
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": token ", i, " is ", v,
                     ", not below the declared vocabulary size ", vocab_));
  return static_cast<int64_t>(v);
}

} // namespace palmrt
