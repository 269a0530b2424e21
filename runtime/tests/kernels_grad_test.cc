//===- kernels_grad_test.cc - the backward kernels against double math ----===//
//
// Each backward is compared with central finite differences of its forward
// written in double, or, where that would be slow (attention over hundreds
// of positions), with the chain rule written out in double, itself checked
// against finite differences on the small cases.
//
//===----------------------------------------------------------------------===//

#include "palmrt/palmrt.h"
#include "random_values.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

namespace {

using palmrt::randomVector;

/// |got - want| within tol times (1 + the largest |want|): gradients are
/// sums whose terms may cancel, so the error scales with the operands, not
/// with each result.
void expectClose(const std::vector<float> &got, const std::vector<double> &want,
                 double tol, const char *what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double largest = 0;
  for (double w : want)
    largest = std::max(largest, std::abs(w));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + largest)) << what << " at " << i;
}

/// d f / d x[i] for every i, by central differences (x is restored).
std::vector<double> finiteDifferences(std::vector<double> &x,
                                      const std::function<double()> &f) {
  std::vector<double> grad(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double saved = x[i], step = 1e-6 * (1 + std::abs(saved));
    x[i] = saved + step;
    double up = f();
    x[i] = saved - step;
    double down = f();
    x[i] = saved;
    grad[i] = (up - down) / (2 * step);
  }
  return grad;
}

std::vector<double> widen(const std::vector<float> &x) {
  return std::vector<double>(x.begin(), x.end());
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

struct AttentionCase {
  int64_t b, s, t, h, g, dk, dv;
  bool causal;
  int64_t headOffset, headsPerGroup, globalHeads;
  int64_t queryOffset = 0;
};

struct AttentionGrads {
  std::vector<double> dq, dk, dv;
};

/// The number of keys query row p sees.
int64_t keysOf(const AttentionCase &c, int64_t p) {
  return c.causal ? std::clamp<int64_t>(c.queryOffset + p + 1, 0, c.t) : c.t;
}

/// The probabilities of query row p of local head hi (batch bi) in double.
std::vector<double> probabilities(const std::vector<double> &q,
                                  const std::vector<double> &k,
                                  const AttentionCase &c, double scale,
                                  int64_t bi, int64_t p, int64_t hi) {
  int64_t kv = (c.headOffset + hi) / c.headsPerGroup;
  std::vector<double> prob(keysOf(c, p));
  double m = -std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < prob.size(); ++j) {
    double dot = 0;
    for (int64_t e = 0; e < c.dk; ++e)
      dot += q[((bi * c.s + p) * c.h + hi) * c.dk + e] *
             k[((bi * c.t + j) * c.g + kv) * c.dk + e];
    prob[j] = dot * scale;
    m = std::max(m, prob[j]);
  }
  double sum = 0;
  for (double &x : prob)
    sum += (x = std::exp(x - m));
  for (double &x : prob)
    x /= sum;
  return prob;
}

/// sum(dout * attention(q, k, v)) in double: the loss whose gradient the
/// backward computes.
double attentionLoss(const std::vector<double> &q, const std::vector<double> &k,
                     const std::vector<double> &v,
                     const std::vector<double> &dout, const AttentionCase &c,
                     double scale) {
  double loss = 0;
  for (int64_t bi = 0; bi < c.b; ++bi)
    for (int64_t hi = 0; hi < c.h; ++hi) {
      if (c.headOffset + hi >= c.globalHeads)
        continue;
      int64_t kv = (c.headOffset + hi) / c.headsPerGroup;
      for (int64_t p = 0; p < c.s; ++p) {
        std::vector<double> prob = probabilities(q, k, c, scale, bi, p, hi);
        for (size_t j = 0; j < prob.size(); ++j)
          for (int64_t e = 0; e < c.dv; ++e)
            loss += prob[j] * v[((bi * c.t + j) * c.g + kv) * c.dv + e] *
                    dout[((bi * c.s + p) * c.h + hi) * c.dv + e];
      }
    }
  return loss;
}

/// The chain rule through softmax, row by row, in double.
AttentionGrads attentionGradReference(const std::vector<double> &q,
                                      const std::vector<double> &k,
                                      const std::vector<double> &v,
                                      const std::vector<double> &dout,
                                      const AttentionCase &c, double scale) {
  AttentionGrads grads{std::vector<double>(q.size()),
                       std::vector<double>(k.size()),
                       std::vector<double>(v.size())};
  for (int64_t bi = 0; bi < c.b; ++bi)
    for (int64_t hi = 0; hi < c.h; ++hi) {
      if (c.headOffset + hi >= c.globalHeads)
        continue;
      int64_t kv = (c.headOffset + hi) / c.headsPerGroup;
      for (int64_t p = 0; p < c.s; ++p) {
        std::vector<double> prob = probabilities(q, k, c, scale, bi, p, hi);
        const double *dor = &dout[((bi * c.s + p) * c.h + hi) * c.dv];
        const double *qr = &q[((bi * c.s + p) * c.h + hi) * c.dk];
        double *dqr = &grads.dq[((bi * c.s + p) * c.h + hi) * c.dk];
        std::vector<double> dprob(prob.size());
        double mean = 0;
        for (size_t j = 0; j < prob.size(); ++j) {
          for (int64_t e = 0; e < c.dv; ++e)
            dprob[j] += dor[e] * v[((bi * c.t + j) * c.g + kv) * c.dv + e];
          mean += prob[j] * dprob[j];
        }
        for (size_t j = 0; j < prob.size(); ++j) {
          double dscore = prob[j] * (dprob[j] - mean) * scale;
          int64_t key = (bi * c.t + j) * c.g + kv;
          for (int64_t e = 0; e < c.dk; ++e) {
            dqr[e] += dscore * k[key * c.dk + e];
            grads.dk[key * c.dk + e] += dscore * qr[e];
          }
          for (int64_t e = 0; e < c.dv; ++e)
            grads.dv[key * c.dv + e] += prob[j] * dor[e];
        }
      }
    }
  return grads;
}

class AttentionGrad : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionGrad, MatchesChainRule) {
  const AttentionCase &c = GetParam();
  std::vector<float> q = randomVector(c.b * c.s * c.h * c.dk, 31);
  std::vector<float> k = randomVector(c.b * c.t * c.g * c.dk, 32);
  std::vector<float> v = randomVector(c.b * c.t * c.g * c.dv, 33);
  std::vector<float> dout = randomVector(c.b * c.s * c.h * c.dv, 34);
  std::vector<float> out(dout.size()), lse(c.b * c.s * c.h);
  float scale = 1.0f / std::sqrt(static_cast<float>(c.dk));
  palmrt_attention_f32(q.data(), k.data(), v.data(), out.data(), c.b, c.s, c.t,
                       c.h, c.g, c.dk, c.dv, c.causal, scale, c.headOffset,
                       c.headsPerGroup, c.globalHeads, c.queryOffset,
                       lse.data());
  // dk and dv are overwritten, not added to.
  std::vector<float> dq(q.size(), 3.0f), dk(k.size(), 3.0f), dv(v.size(), 3.0f);
  auto backward = [&] {
    palmrt_attention_grad_f32(q.data(), k.data(), v.data(), out.data(),
                              lse.data(), dout.data(), dq.data(), dk.data(),
                              dv.data(), c.b, c.s, c.t, c.h, c.g, c.dk, c.dv,
                              c.causal, scale, c.headOffset, c.headsPerGroup,
                              c.globalHeads, c.queryOffset);
  };
  backward();
  std::vector<double> qd = widen(q), kd = widen(k), vd = widen(v),
                      doutd = widen(dout);
  AttentionGrads want = attentionGradReference(qd, kd, vd, doutd, c, scale);
  expectClose(dq, want.dq, 1e-5, "dq");
  expectClose(dk, want.dk, 1e-5, "dk");
  expectClose(dv, want.dv, 1e-5, "dv");
  // Padding heads: no gradient.
  for (int64_t i = 0; i < c.b * c.s * c.h; ++i)
    if (c.headOffset + i % c.h >= c.globalHeads)
      for (int64_t e = 0; e < c.dk; ++e)
        ASSERT_EQ(dq[i * c.dk + e], 0.0f) << "padding row " << i;
  // Bitwise the same on a second run.
  std::vector<float> dq1 = dq, dk1 = dk, dv1 = dv;
  backward();
  EXPECT_EQ(dq, dq1);
  EXPECT_EQ(dk, dk1);
  EXPECT_EQ(dv, dv1);
  // The chain rule itself, by differences, where that is cheap.
  if (q.size() + k.size() + v.size() > 400)
    return;
  auto loss = [&] { return attentionLoss(qd, kd, vd, doutd, c, scale); };
  AttentionGrads numeric{finiteDifferences(qd, loss),
                         finiteDifferences(kd, loss),
                         finiteDifferences(vd, loss)};
  for (auto [a, b] :
       {std::pair(&want.dq, &numeric.dq), std::pair(&want.dk, &numeric.dk),
        std::pair(&want.dv, &numeric.dv)})
    for (size_t i = 0; i < a->size(); ++i)
      ASSERT_NEAR((*a)[i], (*b)[i], 1e-7 * (1 + std::abs((*a)[i])))
          << "reference at " << i;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AttentionGrad,
    ::testing::Values(
        // Multi-query (one key/value head), causal: the packed path.
        AttentionCase{2, 5, 5, 4, 1, 4, 4, true, 0, 4, 4},
        // Grouped, two query heads per key/value head: per head.
        AttentionCase{1, 6, 6, 4, 2, 4, 4, true, 0, 2, 4},
        // Multi-head, not causal, fewer queries than keys, dv != dk.
        AttentionCase{1, 4, 7, 3, 3, 4, 6, false, 0, 1, 3},
        // A shard of the queries (positions 5..8 of 9), causal, both paths.
        AttentionCase{2, 4, 9, 2, 1, 4, 3, true, 0, 2, 2, 5},
        AttentionCase{1, 4, 9, 4, 2, 4, 3, true, 0, 2, 4, 5},
        // Padding heads: heads 3..5 of 5 sharing one key/value head
        // (packed), and heads 2..5 of 5 over two (per head).
        AttentionCase{1, 5, 5, 3, 1, 4, 4, true, 3, 5, 5},
        AttentionCase{1, 5, 5, 4, 3, 4, 4, true, 2, 2, 5},
        // Only padding heads.
        AttentionCase{1, 5, 5, 2, 1, 4, 4, true, 6, 6, 5},
        // Several query and key blocks, causal and not, both paths.
        AttentionCase{1, 300, 300, 2, 1, 8, 12, true, 0, 2, 2},
        AttentionCase{1, 130, 520, 2, 2, 8, 8, false, 0, 1, 2},
        AttentionCase{2, 200, 300, 4, 2, 16, 8, true, 0, 2, 4, 100},
        // Rows past the sequence's end see every key.
        AttentionCase{1, 9, 30, 2, 1, 8, 8, true, 0, 2, 2, 27}));

//===----------------------------------------------------------------------===//
// Layer norm
//===----------------------------------------------------------------------===//

/// sum over row r of dy * layer_norm(x) in double.
double layerNormRowLoss(const std::vector<double> &x,
                        const std::vector<double> &scale,
                        const std::vector<float> &dy, int64_t r, int64_t cols,
                        double eps) {
  double mean = 0, var = 0;
  for (int64_t c = 0; c < cols; ++c)
    mean += x[r * cols + c];
  mean /= cols;
  for (int64_t c = 0; c < cols; ++c)
    var += (x[r * cols + c] - mean) * (x[r * cols + c] - mean);
  var /= cols;
  double loss = 0;
  for (int64_t c = 0; c < cols; ++c)
    loss += dy[r * cols + c] * (x[r * cols + c] - mean) / std::sqrt(var + eps) *
            scale[c];
  return loss;
}

TEST(LayerNormGrad, MatchesFiniteDifferences) {
  for (int64_t cols : {1, 7, 64, 300}) {
    int64_t rows = 5;
    double eps = 1e-5;
    std::vector<float> x = randomVector(rows * cols, 41, 3.0f);
    for (float &v : x)
      v += 2.0f; // a mean far from zero
    std::vector<float> scale = randomVector(cols, 42),
                       dy = randomVector(rows * cols, 43);
    std::vector<float> dx(rows * cols, 9.0f), dscale(cols, 9.0f);
    palmrt_layer_norm_grad_f32(x.data(), scale.data(), dy.data(), dx.data(),
                               dscale.data(), rows, cols,
                               static_cast<float>(eps));
    std::vector<double> xd = widen(x), sd = widen(scale);
    std::vector<double> wantDx(rows * cols);
    for (int64_t r = 0; r < rows; ++r) {
      // x[r, :] reaches row r's output only.
      std::vector<double> xr(xd.begin() + r * cols,
                             xd.begin() + (r + 1) * cols);
      std::vector<float> dyr(dy.begin() + r * cols,
                             dy.begin() + (r + 1) * cols);
      std::vector<double> g = finiteDifferences(
          xr, [&] { return layerNormRowLoss(xr, sd, dyr, 0, cols, eps); });
      std::copy(g.begin(), g.end(), wantDx.begin() + r * cols);
    }
    std::vector<double> wantDscale = finiteDifferences(sd, [&] {
      double loss = 0;
      for (int64_t r = 0; r < rows; ++r)
        loss += layerNormRowLoss(xd, sd, dy, r, cols, eps);
      return loss;
    });
    expectClose(dx, wantDx, 1e-5, "dx");
    expectClose(dscale, wantDscale, 1e-5, "dscale");
  }
}

//===----------------------------------------------------------------------===//
// Embedding
//===----------------------------------------------------------------------===//

TEST(EmbeddingGrad, SumsTheRowsOfThisShardInIdOrder) {
  int64_t rows = 3, d = 4, offset = 3;
  std::vector<int32_t> ids = {0, 3, 4, 5, 3, 6, 2, -1, 4, 3};
  std::vector<float> dy = randomVector(ids.size() * d, 51);
  std::vector<float> dtable(rows * d, 7.0f);
  palmrt_embedding_grad_f32(ids.data(), dy.data(), dtable.data(), ids.size(),
                            rows, d, offset);
  // The same sums in the same order: equal, not just close.
  std::vector<float> want(rows * d, 0.0f);
  for (size_t i = 0; i < ids.size(); ++i) {
    int64_t row = ids[i] - offset;
    if (row < 0 || row >= rows)
      continue;
    for (int64_t e = 0; e < d; ++e)
      want[row * d + e] += dy[i * d + e];
  }
  EXPECT_EQ(dtable, want);
}

//===----------------------------------------------------------------------===//
// Cross-entropy
//===----------------------------------------------------------------------===//

/// Token `tok`'s loss logZ - x_target + z logZ^2 over classes [0, valid).
double tokenLoss(const std::vector<double> &logits, int64_t tok, int64_t vocab,
                 int64_t valid, int64_t target, double z) {
  const double *row = &logits[tok * vocab];
  double m = *std::max_element(row, row + valid), sum = 0;
  for (int64_t c = 0; c < valid; ++c)
    sum += std::exp(row[c] - m);
  double logZ = m + std::log(sum);
  return logZ - row[target] + z * logZ * logZ;
}

TEST(CrossEntropyGrad, MatchesFiniteDifferences) {
  // Tokens [3, 4], of which [2, 3] are real; 8 classes, the last padding.
  std::vector<int64_t> shape = {3, 4}, valid = {2, 3};
  int64_t tokens = 12, vocab = 8, real = 7, count = 20;
  double z = 0.01, dloss = 0.7;
  std::vector<float> logits = randomVector(tokens * vocab, 61, 2.0f);
  std::vector<int32_t> targets(tokens);
  for (int64_t i = 0; i < tokens; ++i)
    targets[i] = static_cast<int32_t>((i * 5) % real);
  targets[11] = 1000; // padding tokens may hold anything
  float dl = static_cast<float>(dloss);
  std::vector<float> dlogits(tokens * vocab, 5.0f);
  palmrt_cross_entropy_grad_f32(
      logits.data(), targets.data(), &dl, nullptr, nullptr, dlogits.data(), 2,
      shape.data(), valid.data(), vocab, real, 0, static_cast<float>(z), count);
  std::vector<double> ld = widen(logits), want(tokens * vocab, 0.0);
  for (int64_t i = 0; i < shape[0]; ++i)
    for (int64_t j = 0; j < shape[1]; ++j) {
      if (i >= valid[0] || j >= valid[1])
        continue;
      int64_t tok = i * shape[1] + j;
      std::vector<double> row(ld.begin() + tok * vocab,
                              ld.begin() + (tok + 1) * vocab);
      std::vector<double> g = finiteDifferences(
          row, [&] { return tokenLoss(row, 0, vocab, real, targets[tok], z); });
      for (int64_t c = 0; c < real; ++c)
        want[tok * vocab + c] = g[c] * dloss / count;
    }
  expectClose(dlogits, want, 1e-6, "dlogits");
  // Padding classes and padding tokens get exactly zero.
  for (int64_t tok = 0; tok < tokens; ++tok)
    for (int64_t c = 0; c < vocab; ++c)
      if (c >= real || tok / 4 >= 2 || tok % 4 >= 3)
        ASSERT_EQ(dlogits[tok * vocab + c], 0.0f) << tok << ", " << c;
}

TEST(CrossEntropyGrad, SplitVocabularyMatchesWhole) {
  // Vocabulary 7 over two shards of 4 (the second has one padding class),
  // the statistics combined as the partitioner does: the maximum of the
  // shards' maxima, then each shard's sums against it, added.
  std::vector<int64_t> shape = {2, 3}, valid = {2, 2};
  int64_t vocab = 7, tokens = 6, local = 4, count = 4;
  float z = 0.01f, dloss = 1.3f;
  std::vector<float> logits = randomVector(tokens * vocab, 62, 3.0f);
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
  std::vector<float> whole(tokens * vocab);
  palmrt_cross_entropy_grad_f32(logits.data(), targets.data(), &dloss, nullptr,
                                nullptr, whole.data(), 2, shape.data(),
                                valid.data(), vocab, vocab, 0, z, count);
  for (int64_t s = 0; s < 2; ++s) {
    std::vector<float> got(tokens * local, 5.0f);
    palmrt_cross_entropy_grad_f32(shard[s].data(), targets.data(), &dloss,
                                  max.data(), sums.data(), got.data(), 2,
                                  shape.data(), valid.data(), local,
                                  s == 0 ? 4 : 3, s * local, z, count);
    for (int64_t i = 0; i < tokens; ++i)
      for (int64_t c = 0; c < local; ++c) {
        int64_t g = s * local + c;
        float want = g < vocab ? whole[i * vocab + g] : 0.0f;
        EXPECT_NEAR(got[i * local + c], want, 1e-6)
            << "shard " << s << " token " << i << " class " << c;
      }
  }
}

TEST(CrossEntropyGradDeathTest, TargetOutsideTheWholeVocabulary) {
  std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  int32_t target = 3;
  float dloss = 1, dlogits[3];
  EXPECT_DEATH(palmrt_cross_entropy_grad_f32(
                   logits.data(), &target, &dloss, nullptr, nullptr, dlogits, 0,
                   nullptr, nullptr, 3, 3, 0, 0.0f, 1),
               "outside the vocabulary");
}

} // namespace
