//===- Corpus.h - text collection for palm-tokenize -------------*- C++ -*-===//
//
// Turns the --input paths into an ordered list of documents, one per file.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_TOKENIZE_CORPUS_H
#define PALM_TOKENIZE_CORPUS_H

#include <cstdint>
#include <string>
#include <vector>

namespace palm::tokenize {

struct Document {
  std::string path;
  std::string text;
};

/// Collects documents from `inputs` in command-line order. A file is taken
/// as given; a directory contributes every regular file below it whose name
/// matches `glob` (fnmatch), sorted by path, so the order never depends on
/// the file system. Empty files are skipped. Collection stops at `maxBytes`:
/// the document that crosses it is cut after its last newline within the
/// budget (or at a UTF-8 boundary when there is none), and nothing follows.
/// Returns an empty string on success, else the error.
std::string collectCorpus(const std::vector<std::string> &inputs,
                          const std::string &glob, uint64_t maxBytes,
                          std::vector<Document> &out);

/// Splits `text` into pieces of at most `maxBytes` bytes for the trainer,
/// each ending after a newline where possible, never inside a UTF-8
/// sequence. Concatenated, the pieces are `text`.
std::vector<std::string> splitForTraining(const std::string &text,
                                          size_t maxBytes);

} // namespace palm::tokenize

#endif // PALM_TOKENIZE_CORPUS_H
