//===- formats_test.cc - description, JSON, safetensors, shard sets -------===//

#include "file_util.h"
#include "json.h"
#include "program_info.h"
#include "safetensors.h"
#include "shards.h"
#include "trace.h"

#include "absl/strings/str_cat.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <unistd.h>

namespace palmrt {
namespace {

constexpr const char kTiny[] =
    "palm-program 1\n"
    "mesh 2 data 2 model 2\n"
    "group 0 1 model\n"
    "group 1 1 data\n"
    "group 2 2 data model\n"
    "arg 0 input tokens i32 2 2 8 1 8 data -\n"
    "arg 1 param embedding f32 2 33 16 17 8 model data init normal 1\n"
    "arg 2 param layers.0.ln f32 1 16 8 data init ones 0\n"
    "result 0 loss f32 0\n";

TEST(ProgramInfo, ParsesTheExample) {
  auto info = parseProgramInfo(kTiny);
  ASSERT_TRUE(info.ok()) << info.status();
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

TEST(ProgramInfo, ErrorsNameTheLine) {
  struct Case {
    const char *text, *message;
  } cases[] = {
      {"", "empty"},
      {"palm-program 2\nmesh 1 x 2\n", "version 2"},
      {"mesh 1 x 2\n", "palm-program"},
      {"palm-program 1\n", "no mesh"},
      {"palm-program 1\nmesh 1 x 0\n", "line 2: bad axis size"},
      {"palm-program 1\nmesh 1 x 2\ngroup 1 1 x\n", "count up from 0"},
      {"palm-program 1\nmesh 1 x 2\ngroup 0 1 y\n", "unknown mesh axis 'y'"},
      {"palm-program 1\nmesh 1 x 2\narg 0 param w f32 1 4 2 x\n", "no init"},
      {"palm-program 1\nmesh 1 x 2\narg 0 input t f16 1 4 2 x\n",
       "unknown dtype"},
      {"palm-program 1\nmesh 1 x 2\narg 0 input t f32 1 5 2 x\n",
       "local size 2 is not ceil(5 / 2) = 3"},
      {"palm-program 1\nmesh 1 x 2\narg 0 input t f32 2 4 4 2 2 x x\n",
       "twice"},
      {"palm-program 1\nmesh 1 x 2\nresult 0 r f32 1 4\n",
       "missing local dimension"},
      {"palm-program 1\nmesh 1 x 2\nresult 0 r f32 0\nresult 1 r f32 0\n",
       "two results named 'r'"},
      {"palm-program 1\nmesh 0\ntarget tpu\n", "line 3: unknown target 'tpu'"},
      {"palm-program 1\nmesh 0\ntarget cuda\ntarget cuda\n",
       "line 4: a second target"},
      {"palm-program 1\nmesh 0\ntarget cuda 1\n", "after the target"},
  };
  for (const Case &c : cases) {
    auto info = parseProgramInfo(c.text);
    ASSERT_FALSE(info.ok()) << c.text;
    EXPECT_NE(info.status().message().find(c.message), std::string::npos)
        << info.status().message();
  }
}

TEST(ProgramInfo, IgnoresUnknownKeywordsAndReadsVocabAndFlops) {
  auto info = parseProgramInfo(
      "palm-program 1\nmesh 0\nchecksum 12\nvocab 77\nflops 270336\n");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->vocab, 77);
  EXPECT_EQ(info->flops, 270336);
  EXPECT_EQ(info->numDevices(), 1);
  EXPECT_EQ(info->target, Target::Cpu);
  auto negative = parseProgramInfo("palm-program 1\nmesh 0\nflops -5\n");
  EXPECT_FALSE(negative.ok());
}

TEST(ProgramInfo, ReadsTheTarget) {
  for (const char *name : {"cpu", "cuda"}) {
    auto info = parseProgramInfo(
        absl::StrCat("palm-program 1\nmesh 1 x 2\ntarget ", name, "\n"));
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->target, name[1] == 'p' ? Target::Cpu : Target::Cuda);
  }
}

TEST(Json, ParsesAndRejects) {
  auto v = parseJson(R"({"a": [1, -2.5e1, "x\u00e9\n"], "b": {"c": null,
                        "d": true}, "big": 9007199254740993})");
  ASSERT_TRUE(v.ok()) << v.status();
  const JsonValue *a = v->find("a");
  ASSERT_TRUE(a && a->isArray());
  EXPECT_EQ(a->array[0].integer, 1);
  EXPECT_EQ(a->array[1].number, -25.0);
  EXPECT_EQ(a->array[2].string, "x\xc3\xa9\n");
  EXPECT_EQ(v->find("big")->integer, 9007199254740993LL);
  for (const char *bad : {"", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01",
                          "\"\\q\"", "{\"a\":1,\"a\":2}", "[1] 2", "nul"})
    EXPECT_FALSE(parseJson(bad).ok()) << bad;
  EXPECT_EQ(jsonQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

class TempDir : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/palmrt-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir = pattern;
  }
  void TearDown() override {
    std::string command = "rm -rf '" + dir + "'";
    ASSERT_EQ(std::system(command.c_str()), 0);
  }
  std::string path(const std::string &name) const {
    return joinPath(dir, name);
  }
  std::string dir;
};

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
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "", "needs dtype"},
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
  EXPECT_EQ(json->find("files")->array[3].string,
            "weights-rank00003.safetensors");
  const JsonValue *emb = json->find("tensors")->find("embedding");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->find("sharding")->array[0].array[0].string, "model");
  EXPECT_EQ(emb->find("global_shape")->array[0].integer, 33);

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
  other.replace(other.find("mesh 2 data 2 model 2"), 21,
                "mesh 2 data 1 model 4");
  other.replace(other.find("2 8 1 8 data"), 12, "2 8 2 8 data");
  other.replace(other.find("33 16 17 8"), 10, "33 16 9 16");
  other.replace(other.find("16 8 data"), 9, "16 16 data");
  auto otherInfo = parseProgramInfo(other);
  ASSERT_TRUE(otherInfo.ok()) << otherInfo.status();
  std::vector<float> e(9 * 16), ln(16);
  absl::Status s = readShards(path("w"), "weights", *otherInfo, 0,
                              {&otherInfo->args[1], &otherInfo->args[2]},
                              {e.data(), ln.data()});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("saved for mesh (data=2,model=2), but this "
                             "program runs on mesh (data=1,model=4)"),
            std::string::npos)
      << s;

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
  const JsonValue *events = json->find("traceEvents");
  ASSERT_EQ(events->array.size(), 2u);
  const JsonValue &e = events->array[1];
  EXPECT_EQ(e.find("name")->string, "gemm \"x\"");
  EXPECT_EQ(e.find("ts")->number, 500000.0);
  EXPECT_EQ(e.find("dur")->number, 250000.0);
  EXPECT_EQ(e.find("pid")->integer, 2);
  EXPECT_EQ(e.find("args")->find("m")->integer, 4);
}

} // namespace
} // namespace palmrt
