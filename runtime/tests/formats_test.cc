//===- formats_test.cc - description, JSON, safetensors, shard sets -------===//

#include "base/file_util.h"
#include "base/trace.h"
#include "io/json.h"
#include "io/program_info.h"
#include "io/safetensors.h"
#include "io/shards.h"
#include "program_json.h"
#include "temp_dir.h"

#include "absl/strings/str_cat.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <unistd.h>

namespace palmrt {
namespace {

/// tiny's description, abridged, on a data=2,model=2 mesh; embedding has
/// 33 rows so its model shards are padded.
constexpr const char kTiny[] = R"({
  "format": "palm-program", "version": 2, "target": "cpu",
  "mesh": {"axes": [{"name": "data", "size": 2}, {"name": "model", "size": 2}]},
  "groups": [["model"], ["data"], ["data", "model"]],
  "args": [
    {"index": 0, "kind": "input", "name": "tokens", "dtype": "i32",
     "global_shape": [2, 8], "local_shape": [1, 8], "sharding": [["data"], []]},
    {"index": 1, "kind": "param", "name": "embedding", "dtype": "f32",
     "global_shape": [33, 16], "local_shape": [17, 8],
     "sharding": [["model"], ["data"]], "init": {"kind": "normal", "stddev": 1}},
    {"index": 2, "kind": "param", "name": "layers.0.ln", "dtype": "f32",
     "global_shape": [16], "local_shape": [8], "sharding": [["data"]],
     "init": {"kind": "ones", "stddev": 0}}],
  "results": [{"index": 0, "name": "loss", "dtype": "f32", "global_shape": [],
               "local_shape": [], "sharding": []}]})";

TEST(ProgramInfo, ParsesTheExample) {
  auto info = parseProgramInfo(kTiny);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->version, 2);
  EXPECT_EQ(info->meshString(), "data=2,model=2");
  EXPECT_EQ(info->numDevices(), 4);
  ASSERT_EQ(info->groups.size(), 3u);
  EXPECT_EQ(info->groups[2], (std::vector<int32_t>{0, 1}));
  ASSERT_EQ(info->args.size(), 3u);
  const TensorSpec &e = info->args[1];
  EXPECT_EQ(e.kind, TensorKind::Param);
  EXPECT_EQ(e.localShape, (std::vector<int64_t>{17, 8}));
  EXPECT_EQ(e.sharding[0], (std::vector<int32_t>{1}));
  EXPECT_EQ(e.init, InitKind::Normal);
  EXPECT_EQ(info->results[0].localShape.size(), 0u);
  // Rank 3 = (data 1, model 1): rows from 17, columns from 8.
  EXPECT_EQ(shardOffsets(*info, e, 3), (std::vector<int64_t>{17, 8}));
  EXPECT_EQ(indexInGroup(*info, 2, info->groups[2]), 2);
}

/// A description on mesh x=2 with `rest` (members after "groups").
std::string onX2(const std::string &rest) {
  return R"({"format": "palm-program", "version": 2, "target": "cpu",
             "mesh": {"axes": [{"name": "x", "size": 2}]}, )" +
         rest + "}";
}

/// A description on mesh x=2 with one argument `arg` (a JSON object).
std::string withArg(const std::string &arg) {
  return onX2(R"("groups": [], "results": [], "args": [)" + arg + "]");
}

TEST(ProgramInfo, ErrorsNameTheField) {
  struct Case {
    std::string text, message;
  } cases[] = {
      {"", "invalid JSON"},
      {R"({"format": "palm-program", "version": 1})",
       "version 1 is not supported (this runtime reads version 2)"},
      {R"({"version": 2, "mesh": {"axes": []}})",
       "not a palm program description"},
      {R"({"format": "palm-program", "version": 2, "target": "cpu"})",
       "program description: missing \"mesh\""},
      {R"({"format": "palm-program", "version": 2, "target": "cpu",
           "mesh": {"axes": [{"name": "x", "size": 0}]}})",
       "mesh.axes[0].size: 0 is not in [1, "},
      {onX2(R"("groups": ["x"])"),
       "groups[0]: expected an array, got a string"},
      {onX2(R"("groups": [["y"]])"), "groups[0][0]: unknown mesh axis 'y'"},
      {withArg(R"({"index": 1, "kind": "input", "name": "t", "dtype": "f32",
                   "global_shape": [], "local_shape": [], "sharding": []})"),
       "args[0]: index 1 at position 0 (indices count up from 0)"},
      {withArg(R"({"index": 0, "kind": "param", "name": "w", "dtype": "f32",
                   "global_shape": [4], "local_shape": [2],
                   "sharding": [["x"]]})"),
       "args[0]: parameter 'w' has no init"},
      {withArg(R"({"index": 0, "kind": "input", "name": "t", "dtype": "f16",
                   "global_shape": [4], "local_shape": [2],
                   "sharding": [["x"]]})"),
       "args[0].dtype: unknown dtype 'f16'"},
      {withArg(R"({"index": 0, "kind": "input", "name": "t", "dtype": "f32",
                   "global_shape": [5], "local_shape": [2],
                   "sharding": [["x"]]})"),
       "local size 2 is not ceil(5 / 2) = 3"},
      {withArg(R"({"index": 0, "kind": "input", "name": "t", "dtype": "f32",
                   "global_shape": [4, 4], "local_shape": [2, 2],
                   "sharding": [["x"], ["x"]]})"),
       "args[0].sharding[1][0]: mesh axis 'x' is used twice"},
      {onX2(R"("groups": [], "args": [], "results": [
                {"index": 0, "name": "r", "dtype": "f32", "global_shape": [4],
                 "local_shape": [], "sharding": [[]]}])"),
       "results[0]: global_shape, local_shape and sharding have different "
       "ranks (1, 0, 1)"},
      {onX2(R"("groups": [], "args": [], "results": [
                {"index": 0, "name": "r", "dtype": "f32", "global_shape": [],
                 "local_shape": [], "sharding": []},
                {"index": 1, "name": "r", "dtype": "f32", "global_shape": [],
                 "local_shape": [], "sharding": []}])"),
       "results[1]: two results named 'r'"},
      {R"({"format": "palm-program", "version": 2, "target": "tpu"})",
       "target: unknown target 'tpu'"},
      {R"({"format": "palm-program", "version": 2, "target": "cuda",
           "target": "cuda"})",
       "the key 'target' twice"},
      {R"({"format": "palm-program", "version": 2, "target": ["cuda", 1]})",
       "target: expected a string, got an array"},
  };
  for (const Case &c : cases) {
    auto info = parseProgramInfo(c.text);
    ASSERT_FALSE(info.ok()) << c.text;
    EXPECT_NE(info.status().message().find(c.message), std::string::npos)
        << info.status().message();
  }
}

TEST(ProgramInfo, IgnoresUnknownMembersAndReadsVocabAndFlops) {
  auto info = parseProgramInfo(
      R"({"format": "palm-program", "version": 2, "target": "cpu",
          "checksum": 12, "vocab": 77, "flops": 270336,
          "mesh": {"axes": []}, "groups": [], "args": [], "results": []})");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->vocab, 77);
  EXPECT_EQ(info->flops, 270336);
  EXPECT_EQ(info->numDevices(), 1);
  EXPECT_EQ(info->target, Target::Cpu);
  auto negative = parseProgramInfo(
      R"({"format": "palm-program", "version": 2, "target": "cpu",
          "flops": -5, "mesh": {"axes": []}, "groups": [], "args": [],
          "results": []})");
  EXPECT_FALSE(negative.ok());
}

TEST(ProgramInfo, ReadsTheTarget) {
  for (const char *name : {"cpu", "cuda"}) {
    auto info = parseProgramInfo(programJson({{"x", 2}}, {}, name));
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->target, name[1] == 'p' ? Target::Cpu : Target::Cuda);
  }
}

TEST(Json, ParsesAndRejects) {
  auto v = parseJson(R"({"a": [1, -2.5e1, "x\u00e9\n"], "b": {"c": null,
                        "d": true}, "big": 9007199254740993})");
  ASSERT_TRUE(v.ok()) << v.status();
  const Json &a = (*v)["a"];
  ASSERT_TRUE(a.is_array());
  EXPECT_EQ(a[0].get<int64_t>(), 1);
  EXPECT_EQ(a[1].get<double>(), -25.0);
  EXPECT_EQ(a[2].get<std::string>(), "x\xc3\xa9\n");
  EXPECT_EQ((*v)["big"].get<int64_t>(), 9007199254740993LL);
  for (const char *bad : {"", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01",
                          "\"\\q\"", "{\"a\":1,\"a\":2}", "[1] 2", "nul"})
    EXPECT_FALSE(parseJson(bad).ok()) << bad;
  EXPECT_EQ(jsonQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

using Safetensors = TempDir;

TEST_F(Safetensors, RoundTripsEveryDtype) {
  std::vector<float> f = {1.5f, -2, 3, 4, 5, 6};
  std::vector<uint16_t> h = {0x3f80, 0xc000};
  std::vector<int32_t> i = {7};
  std::vector<int64_t> l = {1LL << 40, -3};
  float scalar = 0.25f;
  std::vector<TensorView> tensors = {{"f", PALMRT_F32, {2, 3}, f.data()},
                                     {"h", PALMRT_BF16, {2}, h.data()},
                                     {"i", PALMRT_I32, {1, 1}, i.data()},
                                     {"l", PALMRT_I64, {2}, l.data()},
                                     {"scalar", PALMRT_F32, {}, &scalar},
                                     {"empty", PALMRT_F32, {0, 4}, nullptr}};
  ASSERT_TRUE(writeSafetensors(path("t.safetensors"), tensors,
                               {{"format", "palm-shards"}})
                  .ok());
  auto file = SafetensorsFile::open(path("t.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata().at("format"), "palm-shards");
  EXPECT_EQ((*file)->entries().size(), 6u);
  std::vector<float> f2(6);
  ASSERT_TRUE((*file)->read("f", PALMRT_F32, {2, 3}, f2.data()).ok());
  EXPECT_EQ(f2, f);
  std::vector<int64_t> l2(2);
  ASSERT_TRUE((*file)->read("l", PALMRT_I64, {2}, l2.data()).ok());
  EXPECT_EQ(l2, l);
  float s2 = 0;
  ASSERT_TRUE((*file)->read("scalar", PALMRT_F32, {}, &s2).ok());
  EXPECT_EQ(s2, scalar);
  // The data starts 8-byte aligned.
  auto bytes = readFile(path("t.safetensors"));
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(static_cast<unsigned char>((*bytes)[0]) % 8, 0);

  absl::Status wrongDtype = (*file)->read("f", PALMRT_I32, {2, 3}, f2.data());
  EXPECT_NE(wrongDtype.message().find("tensor 'f' is F32"), std::string::npos)
      << wrongDtype;
  absl::Status wrongShape = (*file)->read("f", PALMRT_F32, {3, 2}, f2.data());
  EXPECT_NE(wrongShape.message().find("has shape [2, 3] but the program "
                                      "expects [3, 2]"),
            std::string::npos)
      << wrongShape;
  absl::Status missing = (*file)->read("g", PALMRT_F32, {1}, f2.data());
  EXPECT_NE(missing.message().find("no tensor 'g'"), std::string::npos);
}

/// Writes `header` as a safetensors header followed by `data`.
void writeRaw(const std::string &file, const std::string &header,
              const std::string &data) {
  std::ofstream out(file, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << data;
}

TEST_F(Safetensors, CorruptFilesAreNamedAndExplained) {
  std::string file = path("bad.safetensors");
  struct Case {
    std::string header, data, message;
  } cases[] = {
      {"{}", "", ""}, // valid: no tensors
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
       "1234", "outside the 4 bytes of data (truncated file?)"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",
       "1234", "holds 4 bytes but shape [2] of F32 needs 8"},
      {"{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
       "1234", "unsupported dtype 'F16'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       "1234", "overlap"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       "12345678", "hole"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       "12345678", "4 bytes after the last tensor"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "",
       "tensor 'a': missing \"data_offsets\""},
      {"{\"a\":", "", "invalid JSON"},
      {"[1]", "", "not a JSON object"},
  };
  for (const Case &c : cases) {
    writeRaw(file, c.header, c.data);
    auto opened = SafetensorsFile::open(file);
    if (c.message.empty()) {
      EXPECT_TRUE(opened.ok()) << opened.status();
      continue;
    }
    ASSERT_FALSE(opened.ok()) << c.header;
    std::string message(opened.status().message());
    EXPECT_NE(message.find(file), std::string::npos) << message;
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
  }
  // A header length past the end of the file, and a file too short.
  writeRaw(file, "", "");
  {
    std::ofstream out(file, std::ios::binary);
    out << std::string("\xff\xff\x00\x00\x00\x00\x00\x00{}", 10);
  }
  auto huge = SafetensorsFile::open(file);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("does not fit the file"),
            std::string::npos);
  {
    std::ofstream out(file, std::ios::binary);
    out << "abc";
  }
  EXPECT_FALSE(SafetensorsFile::open(file).ok());
  auto absent = SafetensorsFile::open(path("absent.safetensors"));
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.status().message().find("absent.safetensors: cannot open"),
            std::string::npos);
}

TEST_F(Safetensors, TruncatedWriteIsDetected) {
  std::vector<float> f(100, 1.0f);
  ASSERT_TRUE(writeSafetensors(path("t.safetensors"),
                               {{"f", PALMRT_F32, {100}, f.data()}})
                  .ok());
  ASSERT_EQ(truncate(path("t.safetensors").c_str(), 300), 0);
  auto file = SafetensorsFile::open(path("t.safetensors"));
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("tensor 'f'"), std::string::npos)
      << file.status();
}

using Shards = TempDir;

TEST_F(Shards, WriteThenReadEveryRank) {
  auto info = parseProgramInfo(kTiny);
  ASSERT_TRUE(info.ok());
  std::vector<const TensorSpec *> params = {&info->args[1], &info->args[2]};
  for (int64_t rank = 0; rank < 4; ++rank) {
    std::vector<float> e(136, static_cast<float>(rank)), ln(8, 1.0f + rank);
    ASSERT_TRUE(writeShards(path("w"), "weights", *info, rank, params,
                            {e.data(), ln.data()})
                    .ok());
  }
  auto index = readFile(path("w/weights.index.json"));
  ASSERT_TRUE(index.ok());
  auto json = parseJson(*index);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)["files"][3], "weights-rank00003.safetensors");
  const Json &emb = (*json)["tensors"]["embedding"];
  ASSERT_TRUE(emb.is_object());
  EXPECT_EQ(emb["sharding"][0][0], "model");
  EXPECT_EQ(emb["global_shape"][0], 33);

  for (int64_t rank = 0; rank < 4; ++rank) {
    std::vector<float> e(136), ln(8);
    absl::Status s = readShards(path("w"), "weights", *info, rank, params,
                                {e.data(), ln.data()});
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(e[135], static_cast<float>(rank));
    EXPECT_EQ(ln[0], 1.0f + rank);
  }

  // Another mesh: refused with both meshes named.
  std::string other(kTiny);
  auto replace = [&](const std::string &from, const std::string &to) {
    ASSERT_NE(other.find(from), std::string::npos) << from;
    other.replace(other.find(from), from.size(), to);
  };
  replace(R"("name": "data", "size": 2)", R"("name": "data", "size": 1)");
  replace(R"("name": "model", "size": 2)", R"("name": "model", "size": 4)");
  replace(R"("local_shape": [1, 8])", R"("local_shape": [2, 8])");
  replace(R"("local_shape": [17, 8])", R"("local_shape": [9, 16])");
  replace(R"("local_shape": [8])", R"("local_shape": [16])");
  auto otherInfo = parseProgramInfo(other);
  ASSERT_TRUE(otherInfo.ok()) << otherInfo.status();
  // Another mesh: re-partitioned on load. Saved element values are their
  // global row-major index, padding -1 (never read).
  for (int64_t rank = 0; rank < 4; ++rank) {
    std::vector<float> e(136, -1.0f), ln(8, -1.0f);
    std::vector<int64_t> eo = shardOffsets(*info, *params[0], rank);
    std::vector<int64_t> lo = shardOffsets(*info, *params[1], rank);
    for (int64_t i = 0; i < 17; ++i)
      for (int64_t j = 0; j < 8; ++j)
        if (eo[0] + i < 33)
          e[i * 8 + j] = static_cast<float>((eo[0] + i) * 16 + eo[1] + j);
    for (int64_t j = 0; j < 8; ++j)
      ln[j] = static_cast<float>(lo[0] + j);
    ASSERT_TRUE(writeShards(path("g"), "weights", *info, rank, params,
                            {e.data(), ln.data()})
                    .ok());
  }
  for (int64_t rank = 0; rank < 4; ++rank) {
    std::vector<float> e(9 * 16, 7.0f), ln(16, 7.0f);
    absl::Status s = readShards(path("g"), "weights", *otherInfo, rank,
                                {&otherInfo->args[1], &otherInfo->args[2]},
                                {e.data(), ln.data()});
    ASSERT_TRUE(s.ok()) << s;
    for (int64_t i = 0; i < 9; ++i)
      for (int64_t j = 0; j < 16; ++j) {
        int64_t row = rank * 9 + i;
        // Rows past 33 are padding: zero.
        float want = row < 33 ? static_cast<float>(row * 16 + j) : 0.0f;
        ASSERT_EQ(e[i * 16 + j], want) << "rank " << rank << " " << i << ","
                                       << j;
      }
    for (int64_t j = 0; j < 16; ++j)
      ASSERT_EQ(ln[j], static_cast<float>(j));
  }
  std::vector<float> e(136), ln(8);
  absl::Status s;

  // A missing directory names the index it looked for.
  s = readShards(path("nowhere"), "weights", *info, 0, params,
                 {e.data(), ln.data()});
  EXPECT_NE(s.message().find("nowhere/weights.index.json"), std::string::npos)
      << s;
}

TEST(Trace, RankFileNames) {
  EXPECT_EQ(rankTracePath("trace.json", 3), "trace.rank3.json");
  EXPECT_EQ(rankTracePath("out/trace", 0), "out/trace.rank0");
  EXPECT_EQ(rankTracePath("a.b/trace", 1), "a.b/trace.rank1");
  EXPECT_EQ(rankTracePath(".trace", 1), ".trace.rank1");
}

TEST(Trace, WritesValidJson) {
  Tracer tracer(2, 100.0);
  tracer.complete("gemm \"x\"", "gemm", 100.5, 100.75, "\"m\":4");
  auto json = parseJson(tracer.json());
  ASSERT_TRUE(json.ok()) << json.status() << tracer.json();
  const Json &events = (*json)["traceEvents"];
  ASSERT_EQ(events.size(), 2u);
  const Json &e = events[1];
  EXPECT_EQ(e["name"], "gemm \"x\"");
  EXPECT_EQ(e["ts"].get<double>(), 500000.0);
  EXPECT_EQ(e["dur"].get<double>(), 250000.0);
  EXPECT_EQ(e["pid"], 2);
  EXPECT_EQ(e["args"]["m"], 4);
}

} // namespace
} // namespace palmrt
