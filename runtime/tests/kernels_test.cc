//===- kernels_test.cc - the f32 kernels and GEMM against plain loops -----===//
//
// Each reference is the definition in palmrt.h written as directly as
// possible, in double.
//
//===----------------------------------------------------------------------===//

#include "palmrt/palmrt.h"
#include "random_values.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace {

using palmrt::randomVector;

void expectNear(const std::vector<float> &got, const std::vector<double> &want,
                double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << "at " << i;
}

TEST(LayerNorm, MatchesDefinition) {
  for (int64_t cols : {1, 7, 64, 1000}) {
    int64_t rows = 5;
    std::vector<float> x = randomVector(rows * cols, 1, 3.0f);
    for (float &v : x)
      v += 2.0f; // a mean far from zero
    std::vector<float> scale = randomVector(cols, 2), y(rows * cols);
    palmrt_layer_norm_f32(x.data(), scale.data(), y.data(), rows, cols, 1e-6f);
    std::vector<double> want(rows * cols);
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int64_t c = 0; c < cols; ++c)
        mean += x[r * cols + c];
      mean /= cols;
      for (int64_t c = 0; c < cols; ++c)
        var += (x[r * cols + c] - mean) * (x[r * cols + c] - mean);
      var /= cols;
      for (int64_t c = 0; c < cols; ++c)
        want[r * cols + c] =
            (x[r * cols + c] - mean) / std::sqrt(var + 1e-6) * scale[c];
    }
    expectNear(y, want, 1e-4);
  }
}

TEST(LayerNorm, SplitFeaturesMergeToTheWholeRow) {
  // 13 features over 3 shards of 5 (the last with 3 real ones and 2 of
  // padding, which must not count), far from zero so that E[x^2] - E[x]^2
  // would lose digits.
  int64_t rows = 4, cols = 13, shards = 3, local = 5;
  std::vector<float> x = randomVector(rows * cols, 12, 0.5f);
  for (float &v : x)
    v += 1000.0f;
  std::vector<float> scale = randomVector(cols, 13), whole(rows * cols);
  palmrt_layer_norm_f32(x.data(), scale.data(), whole.data(), rows, cols,
                        1e-6f);
  std::vector<float> moments(shards * 3 * rows);
  std::vector<std::vector<float>> xs(shards), ss(shards);
  for (int64_t s = 0; s < shards; ++s) {
    int64_t valid = std::min(local, cols - s * local);
    xs[s].assign(rows * local, -7.0f); // padding: any value
    ss[s].assign(local, 0.0f);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < valid; ++c)
        xs[s][r * local + c] = x[r * cols + s * local + c];
    for (int64_t c = 0; c < valid; ++c)
      ss[s][c] = scale[s * local + c];
    palmrt_row_moments_f32(xs[s].data(), moments.data() + s * 3 * rows, rows,
                           local, valid);
  }
  for (int64_t s = 0; s < shards; ++s) {
    int64_t valid = std::min(local, cols - s * local);
    std::vector<float> y(rows * local);
    palmrt_layer_norm_merged_f32(xs[s].data(), ss[s].data(), moments.data(),
                                 y.data(), rows, local, shards, 1e-6f);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < valid; ++c)
        EXPECT_NEAR(y[r * local + c], whole[r * cols + s * local + c], 1e-3)
            << "shard " << s << " row " << r << " column " << c;
  }
}

std::vector<double> ropeReference(const std::vector<float> &x, int64_t b,
                                  int64_t s, int64_t h, int64_t d,
                                  double base, int64_t offset = 0) {
  std::vector<double> y(x.size());
  int64_t half = d / 2;
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t p = 0; p < s; ++p)
      for (int64_t hi = 0; hi < h; ++hi)
        for (int64_t i = 0; i < half; ++i) {
          double angle = (offset + p) * std::pow(base, -2.0 * i / d);
          int64_t row = ((bi * s + p) * h + hi) * d;
          double a = x[row + i], c = x[row + i + half];
          y[row + i] = a * std::cos(angle) - c * std::sin(angle);
          y[row + i + half] = c * std::cos(angle) + a * std::sin(angle);
        }
  return y;
}

TEST(Rope, MatchesRotateHalfDefinition) {
  int64_t b = 2, s = 37, h = 3, d = 16;
  std::vector<float> x = randomVector(b * s * h * d, 3), y(x.size());
  palmrt_rope_f32(x.data(), y.data(), b, s, h, d, 10000.0f, 0, 0);
  expectNear(y, ropeReference(x, b, s, h, d, 10000.0), 1e-5);
  // In place gives the same.
  std::vector<float> z = x;
  palmrt_rope_f32(z.data(), z.data(), b, s, h, d, 10000.0f, 0, 0);
  EXPECT_EQ(z, y);
}

TEST(Rope, ShardOfASequenceRotatesAtItsGlobalPositions) {
  // Positions 40..52 of a longer sequence: the shard a device holds when
  // the sequence is split.
  int64_t b = 2, s = 13, h = 2, d = 8, offset = 40;
  std::vector<float> x = randomVector(b * s * h * d, 11), y(x.size());
  palmrt_rope_f32(x.data(), y.data(), b, s, h, d, 10000.0f, offset, 0);
  expectNear(y, ropeReference(x, b, s, h, d, 10000.0, offset), 1e-5);
}

TEST(Rope, PositionZeroIsIdentity) {
  std::vector<float> x = randomVector(4 * 8, 4), y(x.size());
  palmrt_rope_f32(x.data(), y.data(), 1, 1, 4, 8, 10000.0f, 0, 0);
  EXPECT_EQ(x, y);
}

TEST(Rope, InverseUndoesAndIsTheTranspose) {
  // A rotation's inverse is its transpose: rope_inverse(rope(x)) = x and
  // <rope(x), y> = <x, rope_inverse(y)>, which is what makes it the
  // backward.
  int64_t b = 2, s = 11, h = 3, d = 8, offset = 17;
  std::vector<float> x = randomVector(b * s * h * d, 21),
                     y = randomVector(x.size(), 22), rx(x.size()),
                     back(x.size()), ry(x.size());
  palmrt_rope_f32(x.data(), rx.data(), b, s, h, d, 10000.0f, offset, 0);
  palmrt_rope_f32(rx.data(), back.data(), b, s, h, d, 10000.0f, offset, 1);
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_NEAR(back[i], x[i], 1e-5 * (1 + std::abs(x[i]))) << "at " << i;
  palmrt_rope_f32(y.data(), ry.data(), b, s, h, d, 10000.0f, offset, 1);
  double forward = 0, transposed = 0, norm = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    forward += static_cast<double>(rx[i]) * y[i];
    transposed += static_cast<double>(x[i]) * ry[i];
    norm += std::abs(static_cast<double>(x[i]) * y[i]);
  }
  EXPECT_NEAR(forward, transposed, 1e-6 * norm);
  // And the inverse is the rotation by the negated angle.
  std::vector<double> want = ropeReference(y, b, s, h, d, 10000.0, offset);
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t p = 0; p < s; ++p)
      for (int64_t hi = 0; hi < h; ++hi)
        for (int64_t i = 0; i < d / 2; ++i) {
          double angle = -(offset + p) * std::pow(10000.0, -2.0 * i / d);
          int64_t row = ((bi * s + p) * h + hi) * d;
          double lo = y[row + i], hi2 = y[row + i + d / 2];
          want[row + i] = lo * std::cos(angle) - hi2 * std::sin(angle);
          want[row + i + d / 2] = hi2 * std::cos(angle) + lo * std::sin(angle);
        }
  expectNear(ry, want, 1e-5);
}

struct AttentionCase {
  int64_t b, s, t, h, g, dk, dv;
  bool causal;
  int64_t headOffset, headsPerGroup, globalHeads;
  int64_t queryOffset = 0;
};

std::vector<double> attentionReference(const std::vector<float> &q,
                                       const std::vector<float> &k,
                                       const std::vector<float> &v,
                                       const AttentionCase &c, float scale) {
  std::vector<double> out(c.b * c.s * c.h * c.dv, 0.0);
  for (int64_t bi = 0; bi < c.b; ++bi)
    for (int64_t hi = 0; hi < c.h; ++hi) {
      int64_t global = c.headOffset + hi;
      if (global >= c.globalHeads)
        continue;
      int64_t kv = global / c.headsPerGroup;
      for (int64_t p = 0; p < c.s; ++p) {
        int64_t keys =
            c.causal ? std::clamp<int64_t>(c.queryOffset + p + 1, 0, c.t) : c.t;
        std::vector<double> score(keys);
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < keys; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < c.dk; ++e)
            dot +=
                static_cast<double>(q[((bi * c.s + p) * c.h + hi) * c.dk + e]) *
                k[((bi * c.t + j) * c.g + kv) * c.dk + e];
          score[j] = dot * scale;
          m = std::max(m, score[j]);
        }
        double sum = 0;
        for (double &sc : score)
          sum += (sc = std::exp(sc - m));
        for (int64_t j = 0; j < keys; ++j)
          for (int64_t e = 0; e < c.dv; ++e)
            out[((bi * c.s + p) * c.h + hi) * c.dv + e] +=
                score[j] / sum * v[((bi * c.t + j) * c.g + kv) * c.dv + e];
      }
    }
  return out;
}

class Attention : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(Attention, MatchesSoftmaxDefinition) {
  const AttentionCase &c = GetParam();
  std::vector<float> q = randomVector(c.b * c.s * c.h * c.dk, 5);
  std::vector<float> k = randomVector(c.b * c.t * c.g * c.dk, 6);
  std::vector<float> v = randomVector(c.b * c.t * c.g * c.dv, 7);
  std::vector<float> out(c.b * c.s * c.h * c.dv, 123.0f);
  float scale = 1.0f / std::sqrt(static_cast<float>(c.dk));
  palmrt_attention_f32(q.data(), k.data(), v.data(), out.data(), c.b, c.s, c.t,
                       c.h, c.g, c.dk, c.dv, c.causal, scale, c.headOffset,
                       c.headsPerGroup, c.globalHeads, c.queryOffset, nullptr);
  expectNear(out, attentionReference(q, k, v, c, scale), 2e-5);
  // The log-sum-exp output changes nothing else.
  std::vector<float> again(out.size(), -5.0f), lse(c.b * c.s * c.h, 77.0f);
  palmrt_attention_f32(q.data(), k.data(), v.data(), again.data(), c.b, c.s,
                       c.t, c.h, c.g, c.dk, c.dv, c.causal, scale, c.headOffset,
                       c.headsPerGroup, c.globalHeads, c.queryOffset,
                       lse.data());
  EXPECT_EQ(again, out);
  for (int64_t bi = 0; bi < c.b; ++bi)
    for (int64_t p = 0; p < c.s; ++p)
      for (int64_t hi = 0; hi < c.h; ++hi) {
        float got = lse[(bi * c.s + p) * c.h + hi];
        int64_t global = c.headOffset + hi;
        int64_t keys =
            c.causal ? std::clamp<int64_t>(c.queryOffset + p + 1, 0, c.t) : c.t;
        if (global >= c.globalHeads || keys == 0) {
          EXPECT_TRUE(std::isinf(got) && got < 0)
              << "padding head " << hi << " at " << p << ": " << got;
          continue;
        }
        int64_t kv = global / c.headsPerGroup;
        double sum = 0;
        for (int64_t j = 0; j < keys; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < c.dk; ++e)
            dot +=
                static_cast<double>(q[((bi * c.s + p) * c.h + hi) * c.dk + e]) *
                k[((bi * c.t + j) * c.g + kv) * c.dk + e];
          sum += std::exp(dot * scale);
        }
        ASSERT_NEAR(got, std::log(sum), 1e-5 * (1 + std::abs(std::log(sum))))
            << "batch " << bi << " position " << p << " head " << hi;
      }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Attention,
    ::testing::Values(
        // Multi-query, causal, one block.
        AttentionCase{2, 9, 9, 4, 1, 16, 16, true, 0, 4, 4},
        // Several query and key blocks, dk != dv.
        AttentionCase{1, 300, 300, 2, 1, 8, 12, true, 0, 2, 2},
        AttentionCase{1, 130, 520, 2, 1, 8, 8, false, 0, 2, 2},
        // Grouped: 6 heads over 3 key/value heads.
        AttentionCase{1, 17, 17, 6, 3, 8, 8, true, 0, 2, 6},
        // Heads 3..5 of 5 (a shard with padding heads at its end).
        AttentionCase{2, 11, 11, 3, 1, 8, 8, true, 3, 5, 5},
        // A shard holding only padding heads.
        AttentionCase{1, 5, 5, 2, 1, 4, 4, true, 6, 6, 5},
        // Fewer keys than queries (causal rows past t see every key).
        AttentionCase{1, 10, 4, 1, 1, 4, 4, true, 0, 1, 1},
        // Queries 20..26 of 40 (a sequence shard), causal over all keys:
        // multi-query and per-head paths.
        AttentionCase{2, 7, 40, 4, 1, 8, 8, true, 0, 4, 4, 20},
        AttentionCase{1, 7, 40, 4, 2, 8, 8, true, 0, 2, 4, 20},
        // The last shard of an uneven split: rows past the sequence.
        AttentionCase{1, 9, 30, 2, 1, 8, 8, true, 0, 2, 2, 27}));

TEST(Attention, LargeScoresStayFinite) {
  AttentionCase c{1, 40, 40, 1, 1, 4, 4, true, 0, 1, 1};
  std::vector<float> q = randomVector(40 * 4, 8, 30.0f);
  std::vector<float> k = randomVector(40 * 4, 9, 30.0f);
  std::vector<float> v = randomVector(40 * 4, 10);
  std::vector<float> out(40 * 4);
  palmrt_attention_f32(q.data(), k.data(), v.data(), out.data(), 1, 40, 40, 1,
                       1, 4, 4, 1, 1.0f, 0, 1, 1, 0, nullptr);
  expectNear(out, attentionReference(q, k, v, c, 1.0f), 1e-4);
}

TEST(Embedding, MasksRowsOutsideTheShard) {
  int64_t rows = 3, d = 4, offset = 3;
  std::vector<float> table = randomVector(rows * d, 11);
  std::vector<int32_t> ids = {0, 3, 4, 5, 6, 2, -1};
  std::vector<float> out(ids.size() * d, 9.0f);
  palmrt_embedding_f32(table.data(), ids.data(), out.data(), ids.size(), rows,
                       d, offset);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t e = 0; e < d; ++e) {
      int64_t row = ids[i] - offset;
      float want = row >= 0 && row < rows ? table[row * d + e] : 0.0f;
      EXPECT_EQ(out[i * d + e], want) << "id " << ids[i];
    }
}

TEST(Softmax, MaxOverValidClasses) {
  std::vector<float> logits = {1,  5,  2,  9, //
                               -3, -1, -2, 100};
  std::vector<float> out(2);
  palmrt_softmax_max_f32(logits.data(), out.data(), 2, 4, 3);
  EXPECT_EQ(out[0], 5.0f);
  EXPECT_EQ(out[1], -1.0f);
  palmrt_softmax_max_f32(logits.data(), out.data(), 2, 4, 0);
  EXPECT_TRUE(std::isinf(out[0]) && out[0] < 0);
  palmrt_softmax_max_f32(logits.data(), out.data(), 2, 4, -2);
  EXPECT_TRUE(std::isinf(out[1]) && out[1] < 0);
}

TEST(Softmax, SumsAndTargetLogits) {
  int64_t tokens = 3, vocab = 5, valid = 4, offset = 10;
  std::vector<float> logits = randomVector(tokens * vocab, 12);
  std::vector<float> max = {0.5f, -0.25f, 1.0f};
  std::vector<int32_t> targets = {12, 14, 9}; // in shard, padding, before
  std::vector<float> out(2 * tokens);
  palmrt_softmax_sums_f32(logits.data(), max.data(), targets.data(), out.data(),
                          tokens, vocab, valid, offset);
  for (int64_t i = 0; i < tokens; ++i) {
    double sum = 0;
    for (int64_t c = 0; c < valid; ++c)
      sum += std::exp(static_cast<double>(logits[i * vocab + c]) - max[i]);
    EXPECT_NEAR(out[i], sum, 1e-6 * sum);
  }
  EXPECT_EQ(out[tokens + 0], logits[0 * vocab + 2]);
  EXPECT_EQ(out[tokens + 1], 0.0f);
  EXPECT_EQ(out[tokens + 2], 0.0f);
}

double crossEntropyReference(const std::vector<float> &logits,
                             const std::vector<int32_t> &targets,
                             const std::vector<int64_t> &shape,
                             const std::vector<int64_t> &valid, int64_t vocab,
                             double z, int64_t count) {
  double total = 0;
  for (int64_t i = 0; i < shape[0]; ++i)
    for (int64_t j = 0; j < shape[1]; ++j) {
      if (i >= valid[0] || j >= valid[1])
        continue;
      int64_t tok = i * shape[1] + j;
      double m = -1e300, sum = 0;
      for (int64_t c = 0; c < vocab; ++c)
        m = std::max(m, static_cast<double>(logits[tok * vocab + c]));
      for (int64_t c = 0; c < vocab; ++c)
        sum += std::exp(logits[tok * vocab + c] - m);
      double logZ = m + std::log(sum);
      total += logZ - logits[tok * vocab + targets[tok]] + z * logZ * logZ;
    }
  return total / count;
}

TEST(CrossEntropy, SkipsPaddingTokens) {
  std::vector<int64_t> shape = {3, 4}, valid = {2, 3};
  int64_t vocab = 7;
  std::vector<float> logits = randomVector(12 * vocab, 13, 2.0f);
  std::vector<int32_t> targets(12);
  for (int i = 0; i < 12; ++i)
    targets[i] = (i * 5) % vocab;
  // Padding tokens may hold anything, even targets out of range.
  targets[11] = 1000;
  float out = 0;
  palmrt_cross_entropy_f32(logits.data(), targets.data(), &out, 2, shape.data(),
                           valid.data(), vocab, 1e-4f, 20);
  EXPECT_NEAR(
      out,
      crossEntropyReference(logits, targets, shape, valid, vocab, 1e-4, 20),
      1e-5);
}

TEST(CrossEntropy, ShardedStatisticsGiveTheSameLoss) {
  // Vocabulary 7 over two shards of 4 (the second has one padding class).
  std::vector<int64_t> shape = {2, 3}, valid = {2, 2};
  int64_t vocab = 7, tokens = 6, local = 4;
  std::vector<float> logits = randomVector(tokens * vocab, 14, 3.0f);
  std::vector<int32_t> targets = {0, 6, 3, 4, 5, 1};
  std::vector<std::vector<float>> shard(2, std::vector<float>(tokens * local));
  for (int64_t s = 0; s < 2; ++s)
    for (int64_t i = 0; i < tokens; ++i)
      for (int64_t c = 0; c < local; ++c) {
        int64_t g = s * local + c;
        shard[s][i * local + c] = g < vocab ? logits[i * vocab + g] : 0.0f;
      }
  std::vector<float> max(tokens), m1(tokens), sums(2 * tokens, 0.0f),
      part(2 * tokens);
  palmrt_softmax_max_f32(shard[0].data(), max.data(), tokens, local, 4);
  palmrt_softmax_max_f32(shard[1].data(), m1.data(), tokens, local, 3);
  for (int64_t i = 0; i < tokens; ++i)
    max[i] = std::max(max[i], m1[i]);
  for (int64_t s = 0; s < 2; ++s) {
    palmrt_softmax_sums_f32(shard[s].data(), max.data(), targets.data(),
                            part.data(), tokens, local, s == 0 ? 4 : 3,
                            s * local);
    for (int64_t i = 0; i < 2 * tokens; ++i)
      sums[i] += part[i];
  }
  float sharded = 0, whole = 0;
  palmrt_cross_entropy_loss_f32(max.data(), sums.data(), &sharded, 2,
                                shape.data(), valid.data(), 1e-4f, 4);
  palmrt_cross_entropy_f32(logits.data(), targets.data(), &whole, 2,
                           shape.data(), valid.data(), vocab, 1e-4f, 4);
  EXPECT_NEAR(sharded, whole, 1e-5 * std::abs(whole));
  EXPECT_NEAR(
      whole,
      crossEntropyReference(logits, targets, shape, valid, vocab, 1e-4, 4),
      1e-5);
}

TEST(CrossEntropy, ScalarTokenGrid) {
  std::vector<float> logits = {0.0f, std::log(3.0f)};
  int32_t target = 1;
  float out = 0;
  palmrt_cross_entropy_f32(logits.data(), &target, &out, 0, nullptr, nullptr, 2,
                           0.0f, 1);
  EXPECT_NEAR(out, std::log(4.0) - std::log(3.0), 1e-6);
}

class Gemm : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(Gemm, MatchesTripleLoop) {
  auto [ta, tb] = GetParam();
  int64_t batch = 3, m = 5, n = 7, k = 4;
  std::vector<float> a = randomVector(batch * m * k, 15);
  std::vector<float> b = randomVector(batch * k * n, 16);
  std::vector<float> c(batch * m * n, 99.0f);
  palmrt_gemm(nullptr, PALMRT_F32, batch, m, n, k, a.data(), ta, b.data(), tb,
              c.data());
  std::vector<double> want(c.size(), 0.0);
  for (int64_t p = 0; p < batch; ++p)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t l = 0; l < k; ++l) {
          float av = ta ? a[p * m * k + l * m + i] : a[p * m * k + i * k + l];
          float bv = tb ? b[p * k * n + j * k + l] : b[p * k * n + l * n + j];
          want[p * m * n + i * n + j] += static_cast<double>(av) * bv;
        }
  expectNear(c, want, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Transposes, Gemm,
                         ::testing::Combine(::testing::Values(0, 1),
                                            ::testing::Values(0, 1)));

// Large enough that the runtime splits it over its threads (by rows, and by
// columns when c is much wider than tall), with parts that are not whole
// multiples of the split's alignment; the ctest palmrt-unit-tests-3-threads
// runs this with three threads.
class GemmSplit
    : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

TEST_P(GemmSplit, MatchesTripleLoop) {
  auto [ta, tb, wide] = GetParam();
  int64_t m = wide ? 37 : 203, n = wide ? 531 : 97, k = 257;
  std::vector<float> a = randomVector(m * k, 25);
  std::vector<float> b = randomVector(k * n, 26);
  std::vector<float> c(m * n, 99.0f);
  palmrt_gemm(nullptr, PALMRT_F32, 1, m, n, k, a.data(), ta, b.data(), tb,
              c.data());
  std::vector<double> want(c.size(), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t l = 0; l < k; ++l) {
        float av = ta ? a[l * m + i] : a[i * k + l];
        float bv = tb ? b[j * k + l] : b[l * n + j];
        want[i * n + j] += static_cast<double>(av) * bv;
      }
  expectNear(c, want, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Transposes, GemmSplit,
                         ::testing::Combine(::testing::Values(0, 1),
                                            ::testing::Values(0, 1),
                                            ::testing::Values(0, 1)));

// palmrt_gemm_add: the addend plus the products, split over threads too
// (and the addend alone when there is nothing to contract).
TEST(Gemm, AddAddsTheAddend) {
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{5, 7, 4},
                         {203, 97, 257}, {2, 3, 0}}) {
    std::vector<float> a = randomVector(m * std::max<int64_t>(k, 1), 31);
    std::vector<float> b = randomVector(std::max<int64_t>(k, 1) * n, 32);
    std::vector<float> addend = randomVector(m * n, 33);
    std::vector<float> c(m * n, 99.0f);
    palmrt_gemm_add(nullptr, PALMRT_F32, 1, m, n, k, a.data(), 0, b.data(), 0,
                    addend.data(), c.data());
    std::vector<double> want(addend.begin(), addend.end());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t l = 0; l < k; ++l)
          want[i * n + j] += static_cast<double>(a[i * k + l]) * b[l * n + j];
    expectNear(c, want, 1e-4);
  }
  // bf16: small integers, exact: [1 2; 3 4] I + [1 1; 1 1].
  std::vector<uint16_t> a = {0x3F80, 0x4000, 0x4040, 0x4080};
  std::vector<uint16_t> b = {0x3F80, 0x0000, 0x0000, 0x3F80};
  std::vector<uint16_t> ones(4, 0x3F80), c(4);
  palmrt_gemm_add(nullptr, PALMRT_BF16, 1, 2, 2, 2, a.data(), 0, b.data(), 0,
                  ones.data(), c.data());
  EXPECT_EQ(c, (std::vector<uint16_t>{0x4000, 0x4040, 0x4080, 0x40A0}));
}

TEST(GemmDeathTest, AddNeedsAnAddend) {
  float x = 1;
  EXPECT_EXIT(palmrt_gemm_add(nullptr, PALMRT_F32, 1, 1, 1, 1, &x, 0, &x, 0,
                              nullptr, &x),
              ::testing::ExitedWithCode(1), "the addend is a null pointer");
}

TEST(Gemm, EmptyContractionGivesZeros) {
  std::vector<float> c(6, 5.0f);
  float dummy = 0;
  palmrt_gemm(nullptr, PALMRT_F32, 1, 2, 3, 0, &dummy, 0, &dummy, 0, c.data());
  for (float v : c)
    EXPECT_EQ(v, 0.0f);
}

TEST(Gemm, Bf16RoundsOnce) {
  // Small integers are exact in bf16, so the product is exact too.
  std::vector<uint16_t> a = {0x3F80, 0x4000, 0x4040, 0x4080}; // 1 2 3 4
  std::vector<uint16_t> b = {0x3F80, 0x0000, 0x0000, 0x3F80}; // identity
  std::vector<uint16_t> c(4);
  palmrt_gemm(nullptr, PALMRT_BF16, 1, 2, 2, 2, a.data(), 0, b.data(), 0,
              c.data());
  EXPECT_EQ(c, a);
}

TEST(GemmDeathTest, IntegerTypesAreRejected) {
  int32_t x = 1;
  EXPECT_EXIT(palmrt_gemm(nullptr, PALMRT_I32, 1, 1, 1, 1, &x, 0, &x, 0, &x),
              ::testing::ExitedWithCode(1), "not supported on the host");
}

} // namespace
