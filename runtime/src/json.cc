//===- json.cc - the JSON the runtime reads and writes --------------------===//

#include "json.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include <cstdlib>

namespace palmrt {
namespace {

constexpr int kMaxDepth = 64;

class Parser {
public:
  explicit Parser(absl::string_view text) : text(text) {}

  absl::StatusOr<JsonValue> parseDocument() {
    JsonValue value;
    if (absl::Status s = parseValue(value, 0); !s.ok())
      return s;
    skipSpace();
    if (pos != text.size())
      return error("unexpected text after the value");
    return value;
  }

private:
  absl::string_view text;
  size_t pos = 0;

  absl::Status error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at byte ", pos, ": ", what));
  }

  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }

  bool consume(absl::string_view word) {
    if (text.substr(pos, word.size()) != word)
      return false;
    pos += word.size();
    return true;
  }

  absl::Status parseValue(JsonValue &out, int depth) {
    if (depth > kMaxDepth)
      return error("nesting too deep");
    skipSpace();
    if (pos >= text.size())
      return error("unexpected end");
    char c = text[pos];
    if (c == '{')
      return parseObject(out, depth);
    if (c == '[')
      return parseArray(out, depth);
    if (c == '"') {
      out.kind = JsonValue::Kind::String;
      return parseString(out.string);
    }
    if (consume("true")) {
      out.kind = JsonValue::Kind::Bool;
      out.boolean = true;
      return absl::OkStatus();
    }
    if (consume("false")) {
      out.kind = JsonValue::Kind::Bool;
      return absl::OkStatus();
    }
    if (consume("null"))
      return absl::OkStatus();
    return parseNumber(out);
  }

  absl::Status parseObject(JsonValue &out, int depth) {
    out.kind = JsonValue::Kind::Object;
    ++pos;
    skipSpace();
    if (pos < text.size() && text[pos] == '}') {
      ++pos;
      return absl::OkStatus();
    }
    while (true) {
      skipSpace();
      if (pos >= text.size() || text[pos] != '"')
        return error("expected a string key");
      std::string key;
      if (absl::Status s = parseString(key); !s.ok())
        return s;
      if (out.find(key))
        return error(absl::StrCat("duplicate key \"", key, "\""));
      skipSpace();
      if (pos >= text.size() || text[pos] != ':')
        return error("expected ':'");
      ++pos;
      JsonValue value;
      if (absl::Status s = parseValue(value, depth + 1); !s.ok())
        return s;
      out.object.emplace_back(std::move(key), std::move(value));
      skipSpace();
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == '}') {
        ++pos;
        return absl::OkStatus();
      }
      return error("expected ',' or '}'");
    }
  }

  absl::Status parseArray(JsonValue &out, int depth) {
    out.kind = JsonValue::Kind::Array;
    ++pos;
    skipSpace();
    if (pos < text.size() && text[pos] == ']') {
      ++pos;
      return absl::OkStatus();
    }
    while (true) {
      JsonValue value;
      if (absl::Status s = parseValue(value, depth + 1); !s.ok())
        return s;
      out.array.push_back(std::move(value));
      skipSpace();
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == ']') {
        ++pos;
        return absl::OkStatus();
      }
      return error("expected ',' or ']'");
    }
  }

  static void appendUtf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  absl::Status parseHex4(uint32_t &out) {
    if (pos + 4 > text.size())
      return error("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text[pos++];
      out <<= 4;
      if (c >= '0' && c <= '9')
        out |= c - '0';
      else if (c >= 'a' && c <= 'f')
        out |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        out |= c - 'A' + 10;
      else
        return error("bad \\u escape");
    }
    return absl::OkStatus();
  }

  absl::Status parseString(std::string &out) {
    ++pos; // opening quote
    while (true) {
      if (pos >= text.size())
        return error("unterminated string");
      char c = text[pos++];
      if (c == '"')
        return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20)
        return error("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos >= text.size())
        return error("unterminated escape");
      char e = text[pos++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp = 0;
        if (absl::Status s = parseHex4(cp); !s.ok())
          return s;
        if (cp >= 0xD800 && cp < 0xDC00) {
          uint32_t low = 0;
          if (!consume("\\u"))
            return error("unpaired surrogate");
          if (absl::Status s = parseHex4(low); !s.ok())
            return s;
          if (low < 0xDC00 || low >= 0xE000)
            return error("unpaired surrogate");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp < 0xE000) {
          return error("unpaired surrogate");
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        return error("bad escape");
      }
    }
  }

  absl::Status parseNumber(JsonValue &out) {
    size_t start = pos;
    bool integral = true;
    if (pos < text.size() && text[pos] == '-')
      ++pos;
    if (pos >= text.size() || !(text[pos] >= '0' && text[pos] <= '9'))
      return error("expected a value");
    if (text[pos] == '0' && pos + 1 < text.size() && text[pos + 1] >= '0' &&
        text[pos + 1] <= '9')
      return error("leading zero");
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
      ++pos;
    if (pos < text.size() && text[pos] == '.') {
      integral = false;
      ++pos;
      if (pos >= text.size() || !(text[pos] >= '0' && text[pos] <= '9'))
        return error("digit expected after '.'");
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
        ++pos;
    }
    if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
      integral = false;
      ++pos;
      if (pos < text.size() && (text[pos] == '+' || text[pos] == '-'))
        ++pos;
      if (pos >= text.size() || !(text[pos] >= '0' && text[pos] <= '9'))
        return error("digit expected in exponent");
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
        ++pos;
    }
    std::string literal(text.substr(start, pos - start));
    out.kind = JsonValue::Kind::Number;
    out.number = std::strtod(literal.c_str(), nullptr);
    out.isInteger = integral && absl::SimpleAtoi(literal, &out.integer);
    return absl::OkStatus();
  }
};

} // namespace

const JsonValue *JsonValue::find(absl::string_view key) const {
  for (const auto &[name, value] : object)
    if (name == key)
      return &value;
  return nullptr;
}

absl::StatusOr<JsonValue> parseJson(absl::string_view text) {
  return Parser(text).parseDocument();
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

} // namespace palmrt
