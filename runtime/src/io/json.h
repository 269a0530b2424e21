//===- json.h - JSON documents read with nlohmann-json ----------*- C++ -*-===//
//
// Every JSON file palmrt reads (the program description, safetensors
// headers, shard indexes) is untrusted: parseJson is nlohmann-json's strict
// RFC 8259 parser plus two rules it lacks, no duplicate keys and bounded
// nesting, and JsonNode reads fields with errors that name the document and
// the path of the bad value ("program description: args[2].local_shape[1]:
// expected an integer, got a string").
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_IO_JSON_H
#define PALMRT_SRC_IO_JSON_H

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace palmrt {

using Json = nlohmann::json;

/// Deeper documents are refused: none of ours nests more than 4 levels.
constexpr int kMaxJsonDepth = 64;

/// Parses `text`; errors say where (line and column) and what was expected.
absl::StatusOr<Json> parseJson(absl::string_view text);

/// `text` as a JSON string literal, quotes included (the writers build their
/// documents as text, to keep the files' layout).
std::string jsonQuote(absl::string_view text);

/// A value of a parsed document, with the document's name and the value's
/// path in it for errors. Does not own the value.
class JsonNode {
public:
  JsonNode(const Json &value, std::string document, std::string path = "")
      : value(&value), document(std::move(document)), path(std::move(path)) {}

  const Json &json() const { return *value; }
  const std::string &where() const { return path; }

  /// InvalidArgument "<document>: <path>: <message>".
  absl::Status error(absl::string_view message) const;

  /// Member `key` of this object; an error when absent or not an object.
  absl::StatusOr<JsonNode> get(absl::string_view key) const;
  /// Member `key`, or nullopt when absent; an error when not an object.
  absl::StatusOr<std::optional<JsonNode>> find(absl::string_view key) const;
  /// The members of this object (in key order), or an error.
  absl::StatusOr<std::vector<std::pair<std::string, JsonNode>>> members() const;
  /// The elements of this array, or an error.
  absl::StatusOr<std::vector<JsonNode>> elements() const;

  absl::StatusOr<std::string> string() const;
  /// An integer in [min, max] (a JSON number without fraction or exponent).
  absl::StatusOr<int64_t> integer(int64_t min, int64_t max) const;
  /// A non-negative integer up to 2^64 - 1 (safetensors offsets).
  absl::StatusOr<uint64_t> unsignedInteger() const;
  absl::StatusOr<double> number() const;
  /// An array of integers in [min, max], or of strings.
  absl::StatusOr<std::vector<int64_t>> integers(int64_t min, int64_t max) const;
  absl::StatusOr<std::vector<std::string>> strings() const;

  // Member `key` read as above, for fields that are only read.
  absl::StatusOr<std::string> getString(absl::string_view key) const;
  absl::StatusOr<int64_t> getInteger(absl::string_view key, int64_t min,
                                     int64_t max) const;
  absl::StatusOr<std::vector<int64_t>>
  getIntegers(absl::string_view key, int64_t min, int64_t max) const;
  absl::StatusOr<std::vector<std::string>>
  getStrings(absl::string_view key) const;

private:
  JsonNode child(const Json &v, std::string step) const {
    return JsonNode(v, document, path + step);
  }

  const Json *value;
  std::string document;
  std::string path;
};

} // namespace palmrt

#endif // PALMRT_SRC_IO_JSON_H
