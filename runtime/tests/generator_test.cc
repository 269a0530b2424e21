//===- generator_test.cc - Philox parameters and the token stream ---------===//

#include "base/normal_init.h"
#include "exe/generator.h"
#include "io/program_info.h"

#include "program_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace palmrt {
namespace {

TEST(Philox, RandomKnownAnswers) {
  // Random123's kat_vectors for philox4x32_10.
  EXPECT_EQ(philox4x32({0, 0, 0, 0}, {0, 0}),
            (PhiloxBlock{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                       {0xffffffff, 0xffffffff}),
            (PhiloxBlock{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                       {0xa4093822, 0x299f31d0}),
            (PhiloxBlock{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Fnv1a, KnownHashes) {
  EXPECT_EQ(fnv1a32(""), 0x811c9dc5u);
  EXPECT_EQ(fnv1a32("a"), 0xe40c292cu);
  EXPECT_EQ(fnv1a32("foobar"), 0xbf9cf968u);
}

TEST(BoxMuller, OwnLogAndCosAgreeWithLibm) {
  // normal_init.h's log and cos (shared with the GPU) against libm's, in
  // double, over Philox words and the ends of both ranges.
  double worstLog = 0, worstCos = 0;
  auto checkWords = [&](uint32_t w0, uint32_t w1) {
    double u1 = (static_cast<double>(w0) + 1.0) / 4294967296.0;
    double u2 = static_cast<double>(w1) / 4294967296.0;
    double wantLog = std::log(u1);
    double gotLog = normal_init::logOfFraction(uint64_t{w0} + 1);
    worstLog = std::max(worstLog, std::abs(gotLog - wantLog));
    double wantCos = std::cos(6.283185307179586476925286766559 * u2);
    worstCos =
        std::max(worstCos, std::abs(normal_init::cosOfTurn(w1) - wantCos));
  };
  for (uint32_t i = 0; i < 100000; ++i) {
    PhiloxBlock r = philox4x32({i, 0, 0, 0}, {1, 2});
    checkWords(r[0], r[1]);
  }
  for (uint32_t w : {0u, 1u, 0x3FFFFFFFu, 0x40000000u, 0x7FFFFFFFu,
                     0x80000000u, 0xBFFFFFFFu, 0xC0000000u, 0xFFFFFFFEu,
                     0xFFFFFFFFu})
    checkWords(w, w);
  // |log u1| <= 22.2 and |cos| <= 1: a few units in the last place.
  EXPECT_LT(worstLog, 1e-14);
  EXPECT_LT(worstCos, 1e-15);
  EXPECT_EQ(normal_init::logOfFraction(uint64_t{1} << 32), 0.0);
  EXPECT_EQ(normal_init::cosOfTurn(0), 1.0);
  EXPECT_EQ(normal_init::cosOfTurn(0x80000000u), -1.0);
}

TEST(BoxMuller, EdgesAreFinite) {
  EXPECT_TRUE(std::isfinite(boxMuller(0, 0)));
  EXPECT_TRUE(std::isfinite(boxMuller(0xffffffff, 0xffffffff)));
  EXPECT_EQ(boxMuller(0xffffffff, 0), 0.0); // u1 = 1: radius 0
}

ProgramInfo parse(const std::string &text) {
  auto info = parseProgramInfo(text);
  EXPECT_TRUE(info.ok()) << info.status();
  return *info;
}

/// The f32 parameter `w` on a mesh of `axes` split by `sharding` (mesh axes
/// per dimension), initialised by `init` with `stddev`.
std::string
description(const std::vector<std::pair<std::string, int64_t>> &axes,
            const std::vector<int64_t> &global,
            const std::vector<int64_t> &local,
            const std::vector<std::vector<std::string>> &sharding,
            const std::string &init, double stddev) {
  return programJson(
      axes, {}, "cpu",
      absl::StrCat(
          "[{\"index\":0,\"kind\":\"param\",\"name\":\"w\","
          "\"dtype\":\"f32\",\"global_shape\":[",
          absl::StrJoin(global, ","), "],\"local_shape\":[",
          absl::StrJoin(local, ","), "],\"sharding\":", axisListsJson(sharding),
          ",\"init\":{\"kind\":\"", init, "\",\"stddev\":", stddev, "}}]"));
}

TEST(Parameters, ShardsAreSlicesOfTheWholeTensor) {
  // [7, 5] over (data=2, model=3): dim 0 by model (3 per shard, last shard
  // one row of data and two of padding), dim 1 by data (3 per shard).
  std::vector<int64_t> global = {7, 5};
  ProgramInfo whole = parse(
      description({{"data", 1}}, global, global, {{}, {}}, "normal", 0.5));
  std::vector<float> full(35);
  fillParameter(whole, whole.args[0], 0, 42, full.data());
  ProgramInfo sharded =
      parse(description({{"data", 2}, {"model", 3}}, global, {3, 3},
                        {{"model"}, {"data"}}, "normal", 0.5));
  for (int64_t rank = 0; rank < 6; ++rank) {
    std::vector<float> shard(9, 1.0f);
    fillParameter(sharded, sharded.args[0], rank, 42, shard.data());
    int64_t row0 = (rank % 3) * 3, col0 = (rank / 3) * 3;
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        int64_t r = row0 + i, c = col0 + j;
        float want = r < 7 && c < 5 ? full[r * 5 + c] : 0.0f;
        EXPECT_EQ(shard[i * 3 + j], want)
            << "rank " << rank << " (" << i << ", " << j << ")";
      }
  }
}

TEST(Parameters, DeterministicAndSeeded) {
  ProgramInfo info =
      parse(description({{"x", 1}}, {1000}, {1000}, {{}}, "normal", 2));
  std::vector<float> a(1000), b(1000), c(1000);
  fillParameter(info, info.args[0], 0, 7, a.data());
  fillParameter(info, info.args[0], 0, 7, b.data());
  fillParameter(info, info.args[0], 0, 8, c.data());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double mean = 0, sq = 0;
  for (float v : a) {
    mean += v;
    sq += static_cast<double>(v) * v;
  }
  mean /= 1000;
  double sd = std::sqrt(sq / 1000 - mean * mean);
  EXPECT_NEAR(mean, 0.0, 6 * 2 / std::sqrt(1000.0));
  EXPECT_NEAR(sd, 2.0, 6 * 2 / std::sqrt(2000.0));
  // The first value is the definition applied by hand.
  EXPECT_EQ(a[0], static_cast<float>(2 * parameterNormal(7, fnv1a32("w"), 0)));
}

TEST(Parameters, OnesAndZerosLeavePaddingZero) {
  ProgramInfo info =
      parse(description({{"m", 4}}, {5}, {2}, {{"m"}}, "ones", 0));
  std::vector<std::vector<float>> want = {{1, 1}, {1, 1}, {1, 0}, {0, 0}};
  for (int64_t rank = 0; rank < 4; ++rank) {
    std::vector<float> shard(2, 7.0f);
    fillParameter(info, info.args[0], rank, 0, shard.data());
    EXPECT_EQ(shard, want[rank]) << rank;
  }
}

TEST(Parameters, Bf16IsTheRoundedF32) {
  std::string text = description({{"x", 1}}, {64}, {64}, {{}}, "normal", 1);
  ProgramInfo f = parse(text);
  text.replace(text.find("f32"), 3, "bf16");
  ProgramInfo b = parse(text);
  std::vector<float> wide(64);
  std::vector<uint16_t> narrow(64);
  fillParameter(f, f.args[0], 0, 3, wide.data());
  fillParameter(b, b.args[0], 0, 3, narrow.data());
  for (int i = 0; i < 64; ++i) {
    uint32_t bits = static_cast<uint32_t>(narrow[i]) << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    EXPECT_NEAR(v, wide[i], std::abs(wide[i]) / 128);
  }
}

TEST(Tokens, ShardedStreamMatchesTheDefinition) {
  // tokens [3, 4] over data=2 (batch 2 per shard, one padding row).
  ProgramInfo info = parse(programJson(
      {{"data", 2}}, {}, "cpu",
      R"([{"index": 0, "kind": "input", "name": "tokens", "dtype": "i32",
           "global_shape": [3, 4], "local_shape": [2, 4],
           "sharding": [["data"], []]}])"));
  int64_t vocab = 50;
  for (int64_t rank = 0; rank < 2; ++rank)
    for (int64_t shift : {0, 1}) {
      std::vector<int32_t> shard(8, -1);
      // Printed step 4 reads stream step 3.
      ASSERT_TRUE(fillTokens(info, info.args[0], rank,
                             SyntheticTokens(9, vocab), 4, shift, shard.data())
                      .ok());
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t p = 0; p < 4; ++p) {
          int64_t b = rank * 2 + i;
          int64_t want = b < 3 ? syntheticToken(9, 3, b, p + shift, vocab) : 0;
          EXPECT_EQ(shard[i * 4 + p], want);
          if (b < 3) {
            uint32_t raw = philox4x32({static_cast<uint32_t>(p + shift),
                                       static_cast<uint32_t>(b), 3, 0},
                                      {10, 0x70616c6d})[0];
            EXPECT_EQ(want, raw % vocab);
          }
        }
    }
}

} // namespace
} // namespace palmrt
