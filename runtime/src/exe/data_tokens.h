//===- data_tokens.h - the token stream of --data ---------------*- C++ -*-===//
//
// Real tokens for training: row r of step k is the window of seq + 1 tokens
// of a token file starting at dataOffset(seed, k, r, count - seq); tokens are
// its first seq, targets its last seq (docs/data.md). The held-out batches of
// --eval-data are read the same way from their own stream, batch e = 1..B in
// place of the step.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_EXE_DATA_TOKENS_H
#define PALMRT_SRC_EXE_DATA_TOKENS_H

#include "exe/generator.h"
#include "io/token_file.h"

#include <memory>

namespace palmrt {

class FileTokens : public TokenSource {
public:
  /// Opens `path` to feed windows of `seq` + 1 tokens to a model whose
  /// vocabulary is `modelVocab`; errors name the file.
  static absl::StatusOr<std::unique_ptr<FileTokens>>
  open(const std::string &path, uint64_t seed, int64_t seq, int64_t modelVocab,
       DataStream stream = DataStream::Train);

  absl::StatusOr<int64_t> token(int64_t step, int64_t row,
                                int64_t position) const override;

private:
  FileTokens(std::unique_ptr<TokenFile> file, uint64_t seed, int64_t seq,
             DataStream stream)
      : file(std::move(file)), seed(seed), seq(seq), stream(stream) {}
  std::unique_ptr<TokenFile> file;
  uint64_t seed;
  int64_t seq;
  DataStream stream;
};

} // namespace palmrt

#endif // PALMRT_SRC_EXE_DATA_TOKENS_H
