//===- Corpus.cpp - text collection for palm-tokenize ---------------------===//
//
// File walking, the byte budget and the trainer's sentence splitting.
//
//===----------------------------------------------------------------------===//

#include "Corpus.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fnmatch.h>
#include <fstream>
#include <sstream>
#include <system_error>

using namespace palm::tokenize;
namespace fs = std::filesystem;

static bool isUtf8Continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xc0) == 0x80;
}

/// The largest cut <= `limit` that keeps lines whole, or failing that UTF-8
/// sequences whole. `limit` < text.size().
static size_t cutPoint(const std::string &text, size_t limit) {
  size_t newline = text.rfind('\n', limit - 1);
  if (newline != std::string::npos)
    return newline + 1;
  size_t cut = limit;
  while (cut > 0 && isUtf8Continuation(text[cut]))
    --cut;
  return cut;
}

static std::string readWhole(const std::string &path, std::string &text) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return "cannot read '" + path + "': " + std::strerror(errno);
  std::stringstream buffer;
  buffer << in.rdbuf();
  text = buffer.str();
  return "";
}

std::string palm::tokenize::collectCorpus(const std::vector<std::string> &inputs,
                                          const std::string &glob,
                                          uint64_t maxBytes,
                                          std::vector<Document> &out) {
  std::vector<std::string> files;
  for (const std::string &input : inputs) {
    std::error_code ec;
    fs::file_status status = fs::status(input, ec);
    if (ec || !fs::exists(status))
      return "input '" + input + "' does not exist";
    if (fs::is_regular_file(status)) {
      files.push_back(input);
      continue;
    }
    if (!fs::is_directory(status))
      return "input '" + input + "' is neither a file nor a directory";
    std::vector<std::string> found;
    for (fs::recursive_directory_iterator it(input, ec), end; !ec && it != end;
         it.increment(ec)) {
      if (!it->is_regular_file())
        continue;
      std::string name = it->path().filename().string();
      if (fnmatch(glob.c_str(), name.c_str(), 0) == 0)
        found.push_back(it->path().string());
    }
    if (ec)
      return "cannot walk '" + input + "': " + ec.message();
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }

  uint64_t total = 0;
  for (const std::string &path : files) {
    Document doc{path, {}};
    if (std::string err = readWhole(path, doc.text); !err.empty())
      return err;
    bool last = doc.text.size() > maxBytes - total;
    if (last)
      doc.text.resize(cutPoint(doc.text, maxBytes - total));
    total += doc.text.size();
    if (!doc.text.empty())
      out.push_back(std::move(doc));
    if (last)
      break;
  }
  return "";
}

std::vector<std::string>
palm::tokenize::splitForTraining(const std::string &text, size_t maxBytes) {
  std::vector<std::string> pieces;
  size_t begin = 0;
  while (text.size() - begin > maxBytes) {
    size_t cut = begin + cutPoint(text.substr(begin, maxBytes + 1), maxBytes);
    if (cut == begin) // a malformed run of continuation bytes: cut anyway
      cut = begin + maxBytes;
    pieces.push_back(text.substr(begin, cut - begin));
    begin = cut;
  }
  if (begin < text.size())
    pieces.push_back(text.substr(begin));
  return pieces;
}
