//===- TokenFile.h - palm token files ---------------------------*- C++ -*-===//
//
// The token file palm-tokenize writes and palm's training reads, all fields
// little-endian:
//   bytes 0-7   magic "PALMTOK\0"
//   u32         version (1)
//   u32         token width in bytes (2 when vocab <= 65536, else 4)
//   u64         vocabulary size
//   u64         token count
//   width * count bytes of token ids, each < vocabulary size
//
//===----------------------------------------------------------------------===//

#ifndef PALM_TOKENIZE_TOKENFILE_H
#define PALM_TOKENIZE_TOKENFILE_H

#include <cstdint>
#include <string>
#include <vector>

namespace palm::tokenize {

constexpr uint32_t kTokenFileVersion = 1;
constexpr uint64_t kTokenFileHeaderBytes = 32;

/// The width a file of this vocabulary stores its ids with.
inline uint32_t tokenWidthFor(uint64_t vocabSize) {
  return vocabSize <= 65536 ? 2 : 4;
}

struct TokenFile {
  uint32_t version = kTokenFileVersion;
  uint32_t width = 2;
  uint64_t vocabSize = 0;
  std::vector<uint32_t> tokens;
};

/// Writes `tokens` to `path` atomically: a temporary file beside it, fsync,
/// rename. Returns an empty string on success, else the error.
std::string writeTokenFile(const std::string &path, uint64_t vocabSize,
                           const std::vector<uint32_t> &tokens);

/// Reads and validates a token file (magic, version, width, size, ids in
/// range). Returns an empty string on success, else the error.
std::string readTokenFile(const std::string &path, TokenFile &out);

/// Writes `bytes` to `path` atomically, as writeTokenFile does.
std::string writeFileAtomically(const std::string &path,
                                const std::string &bytes);

/// Unigram entropy in nats per token: sum over ids of -p ln p, p the id's
/// empirical frequency in `tokens`. Zero for an empty sequence.
double unigramEntropy(const std::vector<uint32_t> &tokens, uint64_t vocabSize);

} // namespace palm::tokenize

#endif // PALM_TOKENIZE_TOKENFILE_H
