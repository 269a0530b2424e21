//===- file_util.cc - atomic files and directories ------------------------===//

#include "base/file_util.h"

#include "absl/strings/str_cat.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <functional>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace palmrt {
namespace {

absl::Status errnoError(absl::string_view what, const std::string &path) {
  return absl::UnavailableError(
      absl::StrCat(path, ": ", what, ": ", std::strerror(errno)));
}

std::string parentOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// Reads `path` from start to end, handing each chunk to `consume`.
absl::Status readChunks(const std::string &path,
                        const std::function<void(const char *, size_t)> &consume) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errnoError("cannot open", path);
  std::vector<char> buffer(1 << 20);
  while (true) {
    ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      absl::Status s = errnoError("read failed", path);
      close(fd);
      return s;
    }
    if (n == 0)
      break;
    consume(buffer.data(), static_cast<size_t>(n));
  }
  close(fd);
  return absl::OkStatus();
}

} // namespace

std::string joinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty())
    return std::string(name);
  if (dir.back() == '/')
    return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

absl::Status makeDirectories(const std::string &path) {
  struct stat st;
  if (path.empty() || stat(path.c_str(), &st) == 0) {
    if (!path.empty() && !S_ISDIR(st.st_mode))
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": exists and is not a directory"));
    return absl::OkStatus();
  }
  std::string parent = parentOf(path);
  if (parent != path && parent != "." && parent != "/")
    if (absl::Status s = makeDirectories(parent); !s.ok())
      return s;
  // Other ranks may create it at the same moment.
  if (mkdir(path.c_str(), 0777) != 0 && errno != EEXIST)
    return errnoError("cannot create directory", path);
  return absl::OkStatus();
}

absl::Status writeFileAtomically(const std::string &path,
                                 const std::vector<absl::string_view> &pieces,
                                 FileChecksum *sum) {
  std::string temp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return errnoError("cannot create", temp);
  uLong crc = crc32(0L, Z_NULL, 0);
  int64_t total = 0;
  for (absl::string_view piece : pieces) {
    if (sum) {
      // zlib takes 32-bit lengths: a piece may be larger.
      for (size_t at = 0; at < piece.size(); at += 1u << 30) {
        size_t n = std::min<size_t>(piece.size() - at, 1u << 30);
        crc = crc32(crc, reinterpret_cast<const Bytef *>(piece.data() + at),
                    static_cast<uInt>(n));
      }
      total += static_cast<int64_t>(piece.size());
    }
    const char *data = piece.data();
    size_t left = piece.size();
    while (left > 0) {
      ssize_t n = write(fd, data, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        absl::Status s = errnoError("write failed", temp);
        close(fd);
        unlink(temp.c_str());
        return s;
      }
      data += n;
      left -= static_cast<size_t>(n);
    }
  }
  if (fsync(fd) != 0) {
    absl::Status s = errnoError("fsync failed", temp);
    close(fd);
    unlink(temp.c_str());
    return s;
  }
  if (close(fd) != 0) {
    unlink(temp.c_str());
    return errnoError("close failed", temp);
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    absl::Status s = errnoError("cannot rename into place", path);
    unlink(temp.c_str());
    return s;
  }
  if (sum)
    *sum = {static_cast<uint32_t>(crc), total};
  // The rename is durable only once the directory entry is.
  std::string dir = parentOf(path);
  int dirFd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd >= 0) {
    fsync(dirFd);
    close(dirFd);
  }
  return absl::OkStatus();
}

absl::StatusOr<FileChecksum> fileChecksum(const std::string &path) {
  FileChecksum sum;
  uLong crc = crc32(0L, Z_NULL, 0);
  absl::Status s = readChunks(path, [&](const char *data, size_t n) {
    crc = crc32(crc, reinterpret_cast<const Bytef *>(data),
                static_cast<uInt>(n));
    sum.bytes += static_cast<int64_t>(n);
  });
  if (!s.ok())
    return s;
  sum.crc32 = static_cast<uint32_t>(crc);
  return sum;
}

absl::StatusOr<std::vector<std::string>>
listDirectory(const std::string &path) {
  DIR *dir = opendir(path.c_str());
  if (!dir)
    return errnoError("cannot list", path);
  std::vector<std::string> names;
  while (struct dirent *e = readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..")
      names.push_back(std::move(name));
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

bool pathExists(const std::string &path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

absl::Status removeTree(const std::string &path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0)
    return errno == ENOENT ? absl::OkStatus()
                           : errnoError("cannot inspect", path);
  if (S_ISDIR(st.st_mode)) {
    absl::StatusOr<std::vector<std::string>> names = listDirectory(path);
    if (!names.ok())
      return names.status();
    for (const std::string &name : *names)
      if (absl::Status s = removeTree(joinPath(path, name)); !s.ok())
        return s;
    if (rmdir(path.c_str()) != 0 && errno != ENOENT)
      return errnoError("cannot remove directory", path);
    return absl::OkStatus();
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT)
    return errnoError("cannot remove", path);
  return absl::OkStatus();
}

absl::Status syncDirectory(const std::string &path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return errnoError("cannot open directory", path);
  int rc = fsync(fd);
  close(fd);
  if (rc != 0)
    return errnoError("fsync failed", path);
  return absl::OkStatus();
}

absl::Status renameDurably(const std::string &from, const std::string &to) {
  if (rename(from.c_str(), to.c_str()) != 0)
    return absl::UnavailableError(absl::StrCat("cannot rename ", from, " to ",
                                               to, ": ", std::strerror(errno)));
  return syncDirectory(parentOf(to));
}

absl::StatusOr<std::string> readFile(const std::string &path) {
  std::string out;
  absl::Status s = readChunks(
      path, [&](const char *data, size_t n) { out.append(data, n); });
  if (!s.ok())
    return s;
  return out;
}

} // namespace palmrt
