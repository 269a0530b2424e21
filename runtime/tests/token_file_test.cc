//===- token_file_test.cc - token files and the --data batches ------------===//

#include "exe/data_tokens.h"
#include "exe/generator.h"
#include "io/program_info.h"
#include "io/token_file.h"

#include "program_json.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

namespace palmrt {
namespace {

/// The bytes of a token file (little-endian header, then the tokens).
std::string tokenBytes(const std::vector<uint32_t> &tokens, uint32_t width,
                       uint64_t vocab, uint32_t version = 1,
                       int64_t count = -1) {
  std::string out(kTokenFileMagic, sizeof(kTokenFileMagic));
  auto put = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
      out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  put(version, 4);
  put(width, 4);
  put(vocab, 8);
  put(count < 0 ? tokens.size() : static_cast<uint64_t>(count), 8);
  for (uint32_t t : tokens)
    put(t, width);
  return out;
}

class TokenFiles : public TempDir {
protected:
  std::string write(const std::string &name, const std::string &bytes) {
    std::string file = path(name);
    std::FILE *f = std::fopen(file.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    return file;
  }
};

TEST_F(TokenFiles, ReadsBothWidths) {
  std::vector<uint32_t> tokens = {0, 7, 65535, 3, 1};
  for (uint32_t width : {2u, 4u}) {
    std::string file =
        write(absl::StrCat("w", width), tokenBytes(tokens, width, 65536));
    auto opened = TokenFile::open(file);
    ASSERT_TRUE(opened.ok()) << opened.status();
    const TokenFile &f = **opened;
    EXPECT_EQ(f.width(), width);
    EXPECT_EQ(f.vocab(), 65536u);
    ASSERT_EQ(f.count(), tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i)
      EXPECT_EQ(*f.token(i), tokens[i]);
  }
  auto wide = TokenFile::open(write("big", tokenBytes({100000}, 4, 1 << 20)));
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(*(*wide)->token(0), 100000);
}

TEST_F(TokenFiles, MalformedFilesAreNamedAndExplained) {
  std::string good = tokenBytes({1, 2, 3}, 2, 10);
  std::string badMagic = good;
  badMagic[7] = 'X';
  struct Case {
    std::string name, bytes, message;
  } cases[] = {
      {"empty", "", "it has 0 bytes, less than the 32-byte header"},
      {"short", good.substr(0, 20), "less than the 32-byte header"},
      {"magic", badMagic, "bad magic"},
      {"version", tokenBytes({1}, 2, 10, 2),
       "version 2 (this runtime reads "
       "version 1)"},
      {"width", tokenBytes({1}, 3, 10), "token width 3 bytes (2 or 4"},
      {"vocab", tokenBytes({}, 2, 0), "vocabulary size 0"},
      {"truncated", good.substr(0, good.size() - 1),
       "the header declares 3 tokens of 2 bytes, but the file has 37 bytes"},
      {"long", good + "x", "but the file has 39 bytes"},
      {"overflow", tokenBytes({1}, 4, 10, 1, INT64_MAX),
       "truncated or corrupt"},
  };
  for (const Case &c : cases) {
    std::string file = write(c.name, c.bytes);
    auto opened = TokenFile::open(file);
    ASSERT_FALSE(opened.ok()) << c.name;
    std::string message(opened.status().message());
    EXPECT_NE(message.find(file), std::string::npos) << message;
    EXPECT_NE(message.find(c.message), std::string::npos)
        << message << "\nwanted: " << c.message;
  }
  auto missing = TokenFile::open(path("nowhere"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nowhere: cannot open"),
            std::string::npos);
}

TEST_F(TokenFiles, TokensPastTheVocabularyAreErrors) {
  auto f = TokenFile::open(write("t", tokenBytes({1, 10, 2}, 2, 10)));
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE((*f)->token(0).ok());
  absl::StatusOr<int64_t> bad = (*f)->token(1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(
                "token 1 is 10, not below the declared vocabulary size 10"),
            std::string::npos)
      << bad.status();
}

TEST_F(TokenFiles, DataSourceChecksVocabularyAndLength) {
  std::string file = write("t", tokenBytes({1, 2, 3, 4, 5}, 2, 20));
  auto big = FileTokens::open(file, 0, 2, 16);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find(
                "the data's vocabulary (20) is larger than the model's (16)"),
            std::string::npos)
      << big.status();
  auto shortFile = FileTokens::open(file, 0, 5, 20);
  ASSERT_FALSE(shortFile.ok());
  EXPECT_NE(shortFile.status().message().find(
                "5 tokens, fewer than one window of seq + 1 = 6"),
            std::string::npos)
      << shortFile.status();
  // Exactly one window: every row starts at 0.
  auto one = FileTokens::open(file, 7, 4, 20);
  ASSERT_TRUE(one.ok()) << one.status();
  for (int64_t p = 0; p <= 4; ++p)
    EXPECT_EQ(*(*one)->token(3, 9, p), p + 1);
}

TEST(DataOffsets, DeterministicSpreadAndKeyed) {
  EXPECT_EQ(dataOffset(5, 1, 0, 1000), dataOffset(5, 1, 0, 1000));
  std::set<uint64_t> seen;
  for (int64_t row = 0; row < 64; ++row)
    for (uint64_t step = 1; step <= 4; ++step) {
      uint64_t o = dataOffset(5, step, row, 1000003);
      EXPECT_LT(o, 1000003u);
      seen.insert(o);
    }
  EXPECT_GT(seen.size(), 250u); // 256 draws from a million: few repeats
  EXPECT_NE(dataOffset(5, 1, 0, 1u << 30), dataOffset(6, 1, 0, 1u << 30));
  EXPECT_NE(dataOffset(5, 1, 0, 1u << 30), dataOffset(5, 2, 0, 1u << 30));
  // The definition (docs/data.md), spelled out once.
  PhiloxBlock r = philox4x32({3, 2, 0, 1}, {5, 0x64617461});
  uint64_t draw = (static_cast<uint64_t>(r[1]) << 32) | r[0];
  EXPECT_EQ(dataOffset(5, 2, 3, 999), draw % 999);
}

TEST(DataOffsets, EvaluationHasItsOwnStream) {
  // --eval-data's batch e reads counter (row, e, 0, 2): not a training step's
  // windows, and the same whatever step training has reached.
  PhiloxBlock r = philox4x32({3, 2, 0, 2}, {5, 0x64617461});
  uint64_t draw = (static_cast<uint64_t>(r[1]) << 32) | r[0];
  EXPECT_EQ(dataOffset(5, 2, 3, 999, DataStream::Eval), draw % 999);
  EXPECT_NE(dataOffset(5, 1, 0, 1u << 30, DataStream::Eval),
            dataOffset(5, 1, 0, 1u << 30, DataStream::Train));
}

TEST_F(TokenFiles, EvaluationBatchesReadTheirStream) {
  std::vector<uint32_t> tokens(40);
  for (uint32_t i = 0; i < 40; ++i)
    tokens[i] = i;
  std::string file = write("e", tokenBytes(tokens, 2, 40));
  auto source = FileTokens::open(file, 11, 4, 40, DataStream::Eval);
  ASSERT_TRUE(source.ok()) << source.status();
  for (int64_t row = 0; row < 3; ++row)
    for (int64_t p = 0; p <= 4; ++p)
      EXPECT_EQ(
          *(*source)->token(2, row, p),
          static_cast<int64_t>(dataOffset(11, 2, row, 36, DataStream::Eval)) +
              p);
}

TEST_F(TokenFiles, ShardsOfEveryMeshAssembleOneBatch) {
  // 40 tokens, vocab 40, token i = i: a window's tokens are its offsets.
  std::vector<uint32_t> tokens(40);
  for (uint32_t i = 0; i < 40; ++i)
    tokens[i] = i;
  std::string file = write("t", tokenBytes(tokens, 4, 40));
  auto source = FileTokens::open(file, 11, 4, 50);
  ASSERT_TRUE(source.ok()) << source.status();
  // tokens [3, 4] whole, over data=2 (one padding row) and data=3.
  std::vector<std::vector<int32_t>> global;
  for (int64_t shards : {1, 2, 3}) {
    int64_t local = (3 + shards - 1) / shards;
    ProgramInfo info = *parseProgramInfo(programJson(
        {{"data", shards}}, {}, "cpu",
        absl::StrCat(R"([{"index": 0, "kind": "input", "name": "tokens",
             "dtype": "i32", "global_shape": [3, 4], "local_shape": [)",
                     local, R"(, 4], "sharding": [["data"], []]}])")));
    for (int64_t shift : {0, 1}) {
      std::vector<int32_t> whole(12, -1);
      for (int64_t rank = 0; rank < shards; ++rank) {
        std::vector<int32_t> shard(local * 4, -1);
        ASSERT_TRUE(fillTokens(info, info.args[0], rank, **source, 2, shift,
                               shard.data())
                        .ok());
        for (int64_t i = 0; i < local; ++i) {
          int64_t row = rank * local + i;
          for (int64_t p = 0; p < 4; ++p) {
            if (row < 3)
              whole[row * 4 + p] = shard[i * 4 + p];
            else
              EXPECT_EQ(shard[i * 4 + p], 0) << "padding";
          }
        }
      }
      for (int64_t row = 0; row < 3; ++row)
        for (int64_t p = 0; p < 4; ++p)
          EXPECT_EQ(whole[row * 4 + p],
                    static_cast<int32_t>(dataOffset(11, 2, row, 36)) + p +
                        shift);
      global.push_back(whole);
    }
  }
  for (size_t i = 2; i < global.size(); ++i)
    EXPECT_EQ(global[i], global[i % 2]) << "mesh " << i / 2;
}

} // namespace
} // namespace palmrt
