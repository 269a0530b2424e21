//===- json.cc - JSON documents read with nlohmann-json -------------------===//

#include "io/json.h"

#include "base/status_macros.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include <set>

namespace palmrt {

absl::StatusOr<Json> parseJson(absl::string_view text) {
  // nlohmann-json keeps the last of duplicate keys; a file that says two
  // things about one tensor is corrupt, so the callback tracks the keys of
  // each open object. Values nested too deep are dropped and refused after.
  std::vector<std::set<std::string>> openObjects;
  std::string duplicate;
  bool tooDeep = false;
  auto callback = [&](int depth, Json::parse_event_t event, Json &parsed) {
    switch (event) {
    case Json::parse_event_t::object_start:
    case Json::parse_event_t::array_start:
      if (depth >= kMaxJsonDepth) {
        tooDeep = true;
        return false;
      }
      if (event == Json::parse_event_t::object_start)
        openObjects.emplace_back();
      return true;
    case Json::parse_event_t::object_end:
      if (!openObjects.empty())
        openObjects.pop_back();
      return true;
    case Json::parse_event_t::key:
      if (!openObjects.empty() &&
          !openObjects.back().insert(parsed.get<std::string>()).second &&
          duplicate.empty())
        duplicate = parsed.get<std::string>();
      return true;
    default:
      return true;
    }
  };
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::exception &e) {
    // what() starts with "[json.exception.parse_error.101] ", which says
    // nothing to a reader of the file.
    absl::string_view message = e.what();
    if (size_t end = message.find("] "); end != absl::string_view::npos)
      message.remove_prefix(end + 2);
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", message));
  }
  if (tooDeep)
    return absl::InvalidArgumentError(
        absl::StrCat("JSON nested deeper than ", kMaxJsonDepth, " levels"));
  if (!duplicate.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("JSON object with the key '", duplicate, "' twice"));
  return doc;
}

std::string jsonQuote(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\r':
      out += "\\r";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20)
        absl::StrAppendFormat(&out, "\\u%04x", c);
      else
        out += c;
    }
  }
  out += '"';
  return out;
}

absl::Status JsonNode::error(absl::string_view message) const {
  if (path.empty())
    return absl::InvalidArgumentError(absl::StrCat(document, ": ", message));
  return absl::InvalidArgumentError(
      absl::StrCat(document, ": ", path, ": ", message));
}

/// "expected an array, got a string".
static std::string mismatch(absl::string_view expected, const Json &got) {
  absl::string_view name = got.type_name();
  const char *article = name == "array" || name == "object" ? "an " : "a ";
  if (got.is_null())
    article = "";
  return absl::StrCat("expected ", expected, ", got ", article, name);
}

absl::StatusOr<JsonNode> JsonNode::get(absl::string_view key) const {
  PALMRT_ASSIGN_OR_RETURN(std::optional<JsonNode> member, find(key));
  if (!member)
    return error(absl::StrCat("missing \"", key, "\""));
  return *member;
}

absl::StatusOr<std::optional<JsonNode>>
JsonNode::find(absl::string_view key) const {
  if (!value->is_object())
    return error(mismatch("an object", *value));
  auto it = value->find(std::string(key));
  if (it == value->end())
    return std::optional<JsonNode>();
  std::string step = path.empty() ? std::string(key) : absl::StrCat(".", key);
  return std::optional<JsonNode>(child(*it, step));
}

absl::StatusOr<std::vector<std::pair<std::string, JsonNode>>>
JsonNode::members() const {
  if (!value->is_object())
    return error(mismatch("an object", *value));
  std::vector<std::pair<std::string, JsonNode>> out;
  for (auto it = value->begin(); it != value->end(); ++it)
    out.emplace_back(it.key(),
                     child(*it, path.empty() ? it.key() : "." + it.key()));
  return out;
}

absl::StatusOr<std::vector<JsonNode>> JsonNode::elements() const {
  if (!value->is_array())
    return error(mismatch("an array", *value));
  std::vector<JsonNode> out;
  for (size_t i = 0; i < value->size(); ++i)
    out.push_back(child((*value)[i], absl::StrCat("[", i, "]")));
  return out;
}

absl::StatusOr<std::string> JsonNode::string() const {
  if (!value->is_string())
    return error(mismatch("a string", *value));
  return value->get<std::string>();
}

absl::StatusOr<int64_t> JsonNode::integer(int64_t min, int64_t max) const {
  if (!value->is_number_integer())
    return error(mismatch("an integer", *value));
  // Unsigned values above INT64_MAX are out of every range asked for.
  if (value->is_number_unsigned() &&
      value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    return error(absl::StrCat(value->get<uint64_t>(), " is not in [", min, ", ",
                              max, "]"));
  int64_t v = value->get<int64_t>();
  if (v < min || v > max)
    return error(absl::StrCat(v, " is not in [", min, ", ", max, "]"));
  return v;
}

absl::StatusOr<uint64_t> JsonNode::unsignedInteger() const {
  if (!value->is_number_integer())
    return error(mismatch("an integer", *value));
  if (!value->is_number_unsigned() && value->get<int64_t>() < 0)
    return error(absl::StrCat(value->get<int64_t>(), " is negative"));
  return value->get<uint64_t>();
}

absl::StatusOr<double> JsonNode::number() const {
  if (!value->is_number())
    return error(mismatch("a number", *value));
  return value->get<double>();
}

absl::StatusOr<std::vector<int64_t>> JsonNode::integers(int64_t min,
                                                        int64_t max) const {
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> items, elements());
  std::vector<int64_t> out;
  for (const JsonNode &item : items) {
    PALMRT_ASSIGN_OR_RETURN(out.emplace_back(), item.integer(min, max));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> JsonNode::strings() const {
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> items, elements());
  std::vector<std::string> out;
  for (const JsonNode &item : items) {
    PALMRT_ASSIGN_OR_RETURN(out.emplace_back(), item.string());
  }
  return out;
}

absl::StatusOr<std::string> JsonNode::getString(absl::string_view key) const {
  PALMRT_ASSIGN_OR_RETURN(JsonNode member, get(key));
  return member.string();
}

absl::StatusOr<int64_t> JsonNode::getInteger(absl::string_view key, int64_t min,
                                             int64_t max) const {
  PALMRT_ASSIGN_OR_RETURN(JsonNode member, get(key));
  return member.integer(min, max);
}

absl::StatusOr<std::vector<int64_t>>
JsonNode::getIntegers(absl::string_view key, int64_t min, int64_t max) const {
  PALMRT_ASSIGN_OR_RETURN(JsonNode member, get(key));
  return member.integers(min, max);
}

absl::StatusOr<std::vector<std::string>>
JsonNode::getStrings(absl::string_view key) const {
  PALMRT_ASSIGN_OR_RETURN(JsonNode member, get(key));
  return member.strings();
}

} // namespace palmrt
