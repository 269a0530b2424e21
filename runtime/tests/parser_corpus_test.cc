//===- parser_corpus_test.cc - hostile inputs to every file parser --------===//
//
// Each file palmrt reads can be truncated, corrupted or written by someone
// else: a safetensors file, a shard index, the program description. Every
// input here must give an error that names the file or the field, never a
// crash, a hang or a huge allocation. The corpora are built from valid
// files: every truncation, every value of the JSON replaced by a value of
// another type, and hand-written lies (lengths past the end, shapes whose
// sizes overflow, offsets outside the data, duplicate keys).
//
//===----------------------------------------------------------------------===//

#include "base/file_util.h"
#include "io/json.h"
#include "io/program_info.h"
#include "io/safetensors.h"
#include "io/shards.h"
#include "program_json.h"
#include "temp_dir.h"

#include "absl/strings/str_cat.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <unistd.h>

namespace palmrt {
namespace {

/// Values of every JSON type, to put where another type belongs.
const std::vector<Json> &otherValues() {
  static const auto *values =
      new std::vector<Json>{Json(),
                            Json(true),
                            Json(-1),
                            Json(1.5),
                            Json("x"),
                            Json::array(),
                            Json::object(),
                            Json(9223372036854775807LL),
                            Json(std::numeric_limits<uint64_t>::max())};
  return *values;
}

/// Whether `to` is not a value of `from`'s type: another JSON type, or a
/// fraction where an integer was.
bool changesType(const Json &from, const Json &to) {
  return std::string(from.type_name()) != to.type_name() ||
         (from.is_number_integer() && !to.is_number_integer());
}

/// Calls `visit` with `doc` where one value (at every place in it, the
/// whole document included) is replaced by each of otherValues(), and
/// whether the replacement changed that value's type.
void forEachMutation(const Json &doc,
                     const std::function<void(const Json &, bool)> &visit) {
  Json flat = doc.flatten();
  std::vector<std::string> places;
  for (auto it = flat.begin(); it != flat.end(); ++it)
    places.push_back(it.key());
  // Containers as well as leaves: every prefix of a leaf's pointer.
  std::vector<std::string> prefixes = {""};
  for (const std::string &p : places)
    for (size_t at = p.find('/', 1); at != std::string::npos;
         at = p.find('/', at + 1))
      prefixes.push_back(p.substr(0, at));
  places.insert(places.end(), prefixes.begin(), prefixes.end());
  for (const std::string &place : places) {
    Json::json_pointer pointer(place);
    for (const Json &value : otherValues()) {
      Json mutated = doc;
      bool changed = changesType(mutated[pointer], value);
      mutated[pointer] = value;
      visit(mutated, changed);
    }
  }
}

/// A valid description: two axes, groups, an input, a sharded parameter
/// with padding, a result.
std::string validDescription() {
  return R"({"format": "palm-program", "version": 2, "target": "cpu",
    "flops": 100, "vocab": 33,
    "mesh": {"axes": [{"name": "data", "size": 2}, {"name": "model", "size": 2}]},
    "groups": [["model"], ["data", "model"]],
    "args": [
      {"index": 0, "kind": "input", "name": "tokens", "dtype": "i32",
       "global_shape": [2, 8], "local_shape": [1, 8], "sharding": [["data"], []]},
      {"index": 1, "kind": "param", "name": "embedding", "dtype": "bf16",
       "global_shape": [33, 16], "local_shape": [17, 8],
       "sharding": [["model"], ["data"]], "init": {"kind": "normal", "stddev": 0.02}}],
    "results": [{"index": 0, "name": "loss", "dtype": "f32", "global_shape": [],
                 "local_shape": [], "sharding": []}]})";
}

void expectProgramError(const std::string &text) {
  auto info = parseProgramInfo(text);
  ASSERT_FALSE(info.ok()) << text;
  EXPECT_EQ(info.status().message().rfind("program description", 0), 0u)
      << info.status();
}

TEST(ParserCorpus, ProgramDescriptionTruncated) {
  std::string valid = validDescription();
  ASSERT_TRUE(parseProgramInfo(valid).ok());
  for (size_t n = 0; n + 1 < valid.size(); ++n)
    expectProgramError(valid.substr(0, n));
}

TEST(ParserCorpus, ProgramDescriptionWrongTypes) {
  Json valid = Json::parse(validDescription());
  int rejected = 0;
  forEachMutation(valid, [&](const Json &mutated, bool changesType) {
    auto info = parseProgramInfo(mutated.dump());
    if (changesType) {
      EXPECT_FALSE(info.ok()) << mutated.dump();
      ++rejected;
    }
    if (!info.ok())
      EXPECT_EQ(info.status().message().rfind("program description", 0), 0u);
  });
  EXPECT_GT(rejected, 300);
}

TEST(ParserCorpus, ProgramDescriptionLies) {
  const std::string tensor = R"("dtype": "f32", "sharding": [[], []])";
  auto withShapes = [&](const std::string &global, const std::string &local) {
    return programJson(
        {{"x", 1}}, {}, "cpu",
        absl::StrCat(R"([{"index": 0, "kind": "input", "name": "t", )", tensor,
                     R"(, "global_shape": )", global, R"(, "local_shape": )",
                     local, "}]"));
  };
  struct Case {
    std::string text, message;
  } cases[] = {
      {withShapes("[4611686018427387903, 4]", "[4611686018427387903, 4]"),
       "more than 2^63 elements"},
      {withShapes("[3037000499, 3037000499]", "[3037000499, 3037000499]"),
       "more than 2^63 bytes"},
      {withShapes("[9223372036854775807, 1]", "[9223372036854775807, 1]"),
       "is not in [0, "},
      {withShapes("[-1, 2]", "[-1, 2]"), "-1 is not in [0, "},
      {withShapes("[2]", "[2]"), "different ranks"},
      {withShapes("[2, 2]", "[2, 3]"), "local size 3 is not ceil(2 / 1) = 2"},
      {withShapes("[2, 2.0]", "[2, 2]"), "expected an integer, got a number"},
      {programJson({{"x", 1 << 13}, {"y", 1 << 12}}, {}), "more than 16777216"},
      {programJson({{"x", 2}, {"x", 2}}, {}), "axis 'x' declared twice"},
      {programJson({{"", 2}}, {}), "empty axis name"},
      {programJson({{"x", 2}}, {{"x", "x"}}), "groups[0][1]: mesh axis 'x'"},
      {R"({"format": "palm-program", "format": "palm-program"})",
       "the key 'format' twice"},
      {std::string(100000, '[') + std::string(100000, ']'),
       "nested deeper than 64"},
      {"\xff\xfe{}", "invalid JSON"},
      {R"({"format": "palm-program", "version": 2, "target": "cpu", "mesh": {"axes": []}, "groups": [], "args": [], "results": [], "vocab": 0})",
       "vocab: 0 is not in [1, "},
  };
  for (const Case &c : cases) {
    auto info = parseProgramInfo(c.text);
    ASSERT_FALSE(info.ok()) << c.text.substr(0, 200);
    EXPECT_NE(info.status().message().find(c.message), std::string::npos)
        << info.status().message();
  }
}

class FileCorpus : public TempDir {
protected:
  void write(const std::string &name, const std::string &bytes) {
    std::ofstream out(path(name), std::ios::binary | std::ios::trunc);
    out << bytes;
  }
};

/// A safetensors file of `header` (its length first) and `data`.
std::string safetensors(const std::string &header, const std::string &data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

void expectFileError(const std::string &file) {
  auto opened = SafetensorsFile::open(file);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().message().rfind(file, 0), 0u) << opened.status();
}

TEST_F(FileCorpus, SafetensorsTruncated) {
  std::vector<float> f = {1, 2, 3, 4, 5, 6};
  std::vector<int64_t> l = {7, 8};
  ASSERT_TRUE(writeSafetensors(path("valid.safetensors"),
                               {{"f", PALMRT_F32, {2, 3}, f.data()},
                                {"l", PALMRT_I64, {2}, l.data()}},
                               {{"format", "palm-shards"}})
                  .ok());
  auto bytes = readFile(path("valid.safetensors"));
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(SafetensorsFile::open(path("valid.safetensors")).ok());
  for (size_t n = 0; n < bytes->size(); ++n) {
    write("cut.safetensors", bytes->substr(0, n));
    expectFileError(path("cut.safetensors"));
  }
}

TEST_F(FileCorpus, SafetensorsHeaderWrongTypes) {
  Json valid = Json::parse(
      R"({"__metadata__": {"format": "palm-shards"},
          "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "b": {"dtype": "I32", "shape": [1], "data_offsets": [8, 12]}})");
  std::string data(12, '\x01');
  write("valid.safetensors", safetensors(valid.dump(), data));
  ASSERT_TRUE(SafetensorsFile::open(path("valid.safetensors")).ok());
  int rejected = 0;
  forEachMutation(valid, [&](const Json &mutated, bool changesType) {
    write("m.safetensors", safetensors(mutated.dump(), data));
    auto opened = SafetensorsFile::open(path("m.safetensors"));
    if (changesType) {
      EXPECT_FALSE(opened.ok()) << mutated.dump();
      ++rejected;
    }
    if (!opened.ok())
      EXPECT_EQ(opened.status().message().rfind(path("m.safetensors"), 0), 0u);
  });
  EXPECT_GT(rejected, 100);
}

TEST_F(FileCorpus, SafetensorsLies) {
  auto entry = [](const std::string &dtype, const std::string &shape,
                  const std::string &offsets) {
    return absl::StrCat(R"({"a": {"dtype": )", dtype, R"(, "shape": )", shape,
                        R"(, "data_offsets": )", offsets, "}}");
  };
  struct Case {
    std::string bytes, message;
  } cases[] = {
      {std::string("\xff\xff\xff\xff\xff\xff\xff\xff{}", 10),
       "does not fit the file"},
      {std::string("\x03\x00\x00\x00\x00\x00\x00\x00{}", 10),
       "does not fit the file"},
      {std::string("\x00\x00\x00\x00\x00\x00\x00\x00", 8), "invalid JSON"},
      {safetensors(entry(R"("F16")", "[2]", "[0, 4]"), "1234"),
       "unsupported dtype 'F16'"},
      {safetensors(entry(R"("F32")", "[4611686018427387904, 4]", "[0, 4]"),
                   "1234"),
       "has more bytes than 2^64"},
      {safetensors(entry(R"("F32")", "[-1]", "[0, 4]"), "1234"),
       "shape[0]: -1 is not in [0, "},
      {safetensors(entry(R"("F32")", "[1]", "[4, 0]"), "1234"),
       "data_offsets [4, 0] outside"},
      {safetensors(entry(R"("F32")", "[1]", "[18446744073709551612, 4]"),
                   "1234"),
       "outside the 4 bytes of data"},
      {safetensors(entry(R"("F32")", "[1]", "[0, -4]"), "1234"),
       "data_offsets[1]: -4 is negative"},
      {safetensors(entry(R"("F32")", "[1]", "[0, 4, 8]"), "1234"),
       "data_offsets: expected [begin, end]"},
      {safetensors(
           R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                       "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
           "1234"),
       "the key 'a' twice"},
      {safetensors(R"({"__metadata__": {"k": 1}})", ""),
       "__metadata__: k: expected a string, got a number"},
      {safetensors(std::string(200000, '[') + std::string(200000, ']'), ""),
       "nested deeper than 64"},
      {safetensors("{\"a\xff\": 1}", ""), "invalid JSON"},
  };
  for (const Case &c : cases) {
    write("lie.safetensors", c.bytes);
    auto opened = SafetensorsFile::open(path("lie.safetensors"));
    ASSERT_FALSE(opened.ok()) << c.message;
    std::string message(opened.status().message());
    EXPECT_EQ(message.rfind(path("lie.safetensors"), 0), 0u) << message;
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
  }
}

/// The program whose weights the index tests read: one parameter.
ProgramInfo indexProgram() {
  auto info = parseProgramInfo(
      programJson({{"data", 2}}, {}, "cpu",
                  R"([{"index": 0, "kind": "param", "name": "w", "dtype": "f32",
           "global_shape": [3, 2], "local_shape": [2, 2],
           "sharding": [["data"], []], "init": {"kind": "ones", "stddev": 0}}])"));
  EXPECT_TRUE(info.ok()) << info.status();
  return *info;
}

TEST_F(FileCorpus, WeightsIndexCorrupt) {
  ProgramInfo info = indexProgram();
  std::vector<const TensorSpec *> params = {&info.args[0]};
  std::vector<float> w(4, 1.0f);
  for (int64_t rank = 0; rank < 2; ++rank)
    ASSERT_TRUE(
        writeShards(path("w"), "weights", info, rank, params, {w.data()}).ok());
  auto text = readFile(path("w/weights.index.json"));
  ASSERT_TRUE(text.ok());
  std::string index = joinPath(path("w"), "weights.index.json");
  auto read = [&]() {
    std::vector<float> out(4);
    return readShards(path("w"), "weights", info, 1, params, {out.data()});
  };
  ASSERT_TRUE(read().ok());
  auto expectIndexError = [&](const std::string &content, bool mustFail) {
    std::ofstream(index, std::ios::trunc) << content;
    absl::Status s = read();
    if (mustFail)
      EXPECT_FALSE(s.ok()) << content;
    // The error names the index, or the shard file it pointed to.
    if (!s.ok())
      EXPECT_EQ(s.message().rfind(path("w"), 0), 0u) << s;
  };
  for (size_t n = 0; n + 2 < text->size(); ++n)
    expectIndexError(text->substr(0, n), true);
  Json valid = Json::parse(*text);
  forEachMutation(valid, [&](const Json &mutated, bool changesType) {
    // "run" is information for people; nothing reads it.
    bool informational =
        mutated.contains("run") && mutated["run"] != valid["run"];
    expectIndexError(mutated.dump(), changesType && !informational);
  });
  Json lie = valid;
  lie["files"][1] = "../../etc/passwd";
  expectIndexError(lie.dump(), true);
  lie = valid;
  lie["files"].push_back("weights-rank00002.safetensors");
  expectIndexError(lie.dump(), true);
  expectIndexError(R"({"format": "palm-shards", "format": "palm-shards"})",
                   true);
}

} // namespace
} // namespace palmrt
