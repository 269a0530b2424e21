//===- json.h - the JSON the runtime reads and writes -----------*- C++ -*-===//
//
// Enough JSON for safetensors headers and shard indexes: a strict parser
// (RFC 8259, no trailing commas, no comments) with a depth limit, and string
// quoting for writers. Integers are kept exactly (safetensors offsets may
// exceed 2^53).
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_JSON_H
#define PALMRT_SRC_JSON_H

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace palmrt {

struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  /// Numbers: the value, and whether it is an integer that fits int64_t.
  double number = 0;
  bool isInteger = false;
  int64_t integer = 0;
  std::string string;
  std::vector<JsonValue> array;
  /// Members in file order; duplicate keys are rejected by the parser.
  std::vector<std::pair<std::string, JsonValue>> object;

  bool isObject() const { return kind == Kind::Object; }
  bool isArray() const { return kind == Kind::Array; }
  bool isString() const { return kind == Kind::String; }

  /// The member `key` of an object, or null.
  const JsonValue *find(absl::string_view key) const;
};

absl::StatusOr<JsonValue> parseJson(absl::string_view text);

/// `text` as a JSON string literal, quotes included.
std::string jsonQuote(absl::string_view text);

} // namespace palmrt

#endif // PALMRT_SRC_JSON_H
