//===- TokenFile.cpp - palm token files -----------------------------------===//
//
// Reading, writing and statistics of the token file format (TokenFile.h).
//
//===----------------------------------------------------------------------===//

#include "TokenFile.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace palm::tokenize;

static const char kMagic[8] = {'P', 'A', 'L', 'M', 'T', 'O', 'K', '\0'};

static void putLE(std::string &out, uint64_t value, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

static uint64_t getLE(const std::string &in, size_t offset, unsigned bytes) {
  uint64_t value = 0;
  for (unsigned i = 0; i < bytes; ++i)
    value |= uint64_t(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  return value;
}

std::string palm::tokenize::writeFileAtomically(const std::string &path,
                                                const std::string &bytes) {
  // The temporary name is unique per process, so two writers of one path
  // never share it; rename then makes the last one win whole.
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return "cannot write '" + path + "': " + std::strerror(errno);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return "cannot write '" + path + "': " + err;
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return "cannot write '" + path + "': " + err;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return "cannot rename to '" + path + "': " + err;
  }
  return "";
}

std::string palm::tokenize::writeTokenFile(const std::string &path,
                                           uint64_t vocabSize,
                                           const std::vector<uint32_t> &tokens) {
  uint32_t width = tokenWidthFor(vocabSize);
  std::string bytes(kMagic, sizeof(kMagic));
  bytes.reserve(kTokenFileHeaderBytes + tokens.size() * width);
  putLE(bytes, kTokenFileVersion, 4);
  putLE(bytes, width, 4);
  putLE(bytes, vocabSize, 8);
  putLE(bytes, tokens.size(), 8);
  for (uint32_t id : tokens)
    putLE(bytes, id, width);
  return writeFileAtomically(path, bytes);
}

std::string palm::tokenize::readTokenFile(const std::string &path,
                                          TokenFile &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return "cannot open '" + path + "': " + std::strerror(errno);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string bytes = buffer.str();
  std::string where = "'" + path + "' is not a palm token file: ";
  if (bytes.size() < kTokenFileHeaderBytes)
    return where + "only " + std::to_string(bytes.size()) +
           " bytes, the header alone has 32";
  if (bytes.compare(0, 8, kMagic, 8) != 0)
    return where + "bad magic (expected \"PALMTOK\\0\")";
  out.version = uint32_t(getLE(bytes, 8, 4));
  if (out.version != kTokenFileVersion)
    return where + "unsupported version " + std::to_string(out.version) +
           " (this tool reads version 1)";
  out.width = uint32_t(getLE(bytes, 12, 4));
  if (out.width != 2 && out.width != 4)
    return where + "token width " + std::to_string(out.width) +
           " (must be 2 or 4)";
  out.vocabSize = getLE(bytes, 16, 8);
  if (out.width != tokenWidthFor(out.vocabSize))
    return where + "token width " + std::to_string(out.width) +
           " does not match vocabulary size " + std::to_string(out.vocabSize);
  uint64_t count = getLE(bytes, 24, 8);
  uint64_t payload = bytes.size() - kTokenFileHeaderBytes;
  if (count > payload / out.width || payload != count * out.width)
    return where + "size " + std::to_string(bytes.size()) + " is not 32 + " +
           std::to_string(count) + " tokens * " + std::to_string(out.width) +
           " bytes";
  out.tokens.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t id = getLE(bytes, kTokenFileHeaderBytes + i * out.width, out.width);
    if (id >= out.vocabSize)
      return where + "token " + std::to_string(i) + " is " +
             std::to_string(id) + ", not below the vocabulary size " +
             std::to_string(out.vocabSize);
    out.tokens[i] = uint32_t(id);
  }
  return "";
}

double palm::tokenize::unigramEntropy(const std::vector<uint32_t> &tokens,
                                      uint64_t vocabSize) {
  if (tokens.empty())
    return 0.0;
  std::vector<uint64_t> counts(vocabSize, 0);
  for (uint32_t id : tokens)
    ++counts[id];
  double total = double(tokens.size());
  double entropy = 0.0;
  for (uint64_t c : counts)
    if (c != 0) {
      double p = double(c) / total;
      entropy -= p * std::log(p);
    }
  return entropy;
}
