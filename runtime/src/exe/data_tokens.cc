//===- data_tokens.cc - the token stream of --data ------------------------===//

#include "exe/data_tokens.h"

#include "absl/strings/str_cat.h"

namespace palmrt {

absl::StatusOr<std::unique_ptr<FileTokens>>
FileTokens::open(const std::string &path, uint64_t seed, int64_t seq,
                 int64_t modelVocab, DataStream stream) {
  absl::StatusOr<std::unique_ptr<TokenFile>> file = TokenFile::open(path);
  if (!file.ok())
    return file.status();
  // Tokens past the model's vocabulary would index past its embedding.
  if ((*file)->vocab() > static_cast<uint64_t>(modelVocab))
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the data's vocabulary (", (*file)->vocab(),
                     ") is larger than the model's (", modelVocab, ")"));
  if ((*file)->count() < static_cast<uint64_t>(seq) + 1)
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", (*file)->count(),
                     " tokens, fewer than one window of seq + 1 = ", seq + 1));
  return std::unique_ptr<FileTokens>(
      new FileTokens(*std::move(file), seed, seq, stream));
}

absl::StatusOr<int64_t> FileTokens::token(int64_t step, int64_t row,
                                          int64_t position) const {
  uint64_t windows = file->count() - static_cast<uint64_t>(seq);
  uint64_t start =
      dataOffset(seed, static_cast<uint64_t>(step), row, windows, stream);
  return file->token(start + static_cast<uint64_t>(position));
}

} // namespace palmrt
