//===- kernels_optim_test.cc - the optimizer kernels ----------------------===//
//
// The kernels are checked against the update equations written out in
// double here, and for the property the partitioner relies on: a tensor
// updated in two shards, with the sums of squares added across them, is
// updated exactly as when whole. The end-to-end oracle is optax
// (test/e2e/jax_optimizer.py).
//
//===----------------------------------------------------------------------===//

#include "palmrt/palmrt.h"
#include "random_values.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

using palmrt::randomVector;

double sumSq(const std::vector<float> &x) {
  double s = 0;
  for (float v : x)
    s += double(v) * v;
  return s;
}

TEST(SumSquares, AccumulatesInDouble) {
  std::vector<float> x = randomVector(1000, 3);
  float got = 0;
  palmrt_sum_squares_f32(x.data(), &got, x.size());
  EXPECT_FLOAT_EQ(got, static_cast<float>(sumSq(x)));
}

TEST(LearningRate, Schedules) {
  float lr = 0, k = 1;
  palmrt_learning_rate_f32(&k, &lr, 0, 1.0f, 10000, 0, 0.0f);
  EXPECT_FLOAT_EQ(lr, 0.01f);
  k = 40000;
  palmrt_learning_rate_f32(&k, &lr, 0, 1.0f, 10000, 0, 0.0f);
  EXPECT_FLOAT_EQ(lr, 0.005f);
  // Warmup: step 1 is t = 0, so lr 0; halfway through the warmup, half.
  k = 1;
  palmrt_learning_rate_f32(&k, &lr, 1, 2.0f, 10, 110, 0.5f);
  EXPECT_FLOAT_EQ(lr, 0.0f);
  k = 6;
  palmrt_learning_rate_f32(&k, &lr, 1, 2.0f, 10, 110, 0.5f);
  EXPECT_FLOAT_EQ(lr, 1.0f);
  // Halfway through the decay: the mean of peak and final; after it, final.
  k = 61;
  palmrt_learning_rate_f32(&k, &lr, 1, 2.0f, 10, 110, 0.5f);
  EXPECT_NEAR(lr, 1.25f, 1e-6);
  k = 500;
  palmrt_learning_rate_f32(&k, &lr, 1, 2.0f, 10, 110, 0.5f);
  EXPECT_FLOAT_EQ(lr, 0.5f);
}

/// One Adafactor step in double, as docs/training.md writes it.
void adafactorReference(std::vector<double> &w, const std::vector<double> &g0,
                        std::vector<double> &v, std::vector<double> &m,
                        double gradNormSq, double k, double lr) {
  double n = std::sqrt(gradNormSq);
  std::vector<double> g(g0);
  if (!(n < 1.0))
    for (double &x : g)
      x /= n;
  double beta2 = 1.0 - std::pow(k, -0.8);
  double usq = 0, wsq = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    v[i] = beta2 * v[i] + (1 - beta2) * (g[i] * g[i] + 1e-30);
    usq += g[i] * g[i] / v[i];
    wsq += w[i] * w[i];
  }
  double count = g.size();
  double clip = std::max(1.0, std::sqrt(usq / count));
  double scale = std::max(1e-3, std::sqrt(wsq / count));
  for (size_t i = 0; i < g.size(); ++i) {
    double u = g[i] / std::sqrt(v[i]) / clip * lr * scale;
    m[i] = 0.9 * m[i] + 0.1 * u;
    w[i] = w[i] - (m[i] + lr * lr * w[i]);
  }
}

/// Runs the two kernels over `shards` equal pieces of the tensor, adding
/// the pieces' sums of squares as the partitioner's all-reduce does.
void adafactorKernels(std::vector<float> &w, const std::vector<float> &g,
                      std::vector<float> &v, std::vector<float> &m,
                      float gradNormSq, float k, float lr, int shards) {
  size_t n = w.size() / shards;
  std::vector<float> newV(w.size()), newW(w.size()), newM(w.size());
  float usq = 0, wsq = 0;
  for (int s = 0; s < shards; ++s) {
    float partU = 0, partW = 0;
    palmrt_adafactor_moments_f32(g.data() + s * n, v.data() + s * n,
                                 &gradNormSq, &k, newV.data() + s * n, &partU,
                                 n, 0.8f, 1e-30f, 1.0f);
    palmrt_sum_squares_f32(w.data() + s * n, &partW, n);
    usq += partU;
    wsq += partW;
  }
  for (int s = 0; s < shards; ++s)
    palmrt_adafactor_apply_f32(w.data() + s * n, g.data() + s * n,
                               newV.data() + s * n, m.data() + s * n,
                               &gradNormSq, &usq, &wsq, &lr,
                               newW.data() + s * n, newM.data() + s * n, n,
                               w.size(), 0.9f, 1.0f, 1e-3f, 1.0f, 1.0f);
  w = newW;
  v = newV;
  m = newM;
}

TEST(Adafactor, MatchesTheEquationsAndShardsAlike) {
  // Three steps: the first with the global norm below 1, then clipped.
  std::vector<float> w = randomVector(64, 11), v(64, 0.0f), m(64, 0.0f);
  std::vector<double> wd(w.begin(), w.end()), vd(64, 0.0), md(64, 0.0);
  std::vector<float> w2 = w, v2 = v, m2 = m;
  for (int k = 1; k <= 3; ++k) {
    std::vector<float> g = randomVector(64, 20 + k);
    for (float &x : g)
      x *= k == 1 ? 0.05f : 1.0f;
    float normSq = static_cast<float>(sumSq(g));
    float lr = 0.01f * k;
    adafactorKernels(w, g, v, m, normSq, k, lr, 1);
    adafactorKernels(w2, g, v2, m2, normSq, k, lr, 4);
    adafactorReference(wd, std::vector<double>(g.begin(), g.end()), vd, md,
                       normSq, k, lr);
    for (size_t i = 0; i < w.size(); ++i) {
      ASSERT_NEAR(w[i], wd[i], 1e-5 * (1 + std::abs(wd[i]))) << k << ":" << i;
      ASSERT_NEAR(m[i], md[i], 1e-5 * (1e-3 + std::abs(md[i])))
          << k << ":" << i;
    }
    // Shards differ from the whole only in the order of the float sums of
    // squares: to rounding.
    for (size_t i = 0; i < w.size(); ++i)
      ASSERT_NEAR(w2[i], w[i], 1e-6 * (1 + std::abs(w[i])));
  }
}

TEST(AdamW, MatchesTheEquations) {
  std::vector<float> w = randomVector(32, 5), m(32, 0.0f), v(32, 0.0f);
  std::vector<double> wd(w.begin(), w.end()), md(32, 0.0), vd(32, 0.0);
  for (int k = 1; k <= 3; ++k) {
    std::vector<float> g = randomVector(32, 40 + k);
    float normSq = static_cast<float>(sumSq(g)), kf = k, lr = 1e-3f;
    std::vector<float> nw(32), nm(32), nv(32);
    palmrt_adamw_apply_f32(w.data(), g.data(), m.data(), v.data(), &normSq,
                           &lr, &kf, nw.data(), nm.data(), nv.data(), 32,
                           0.9f, 0.95f, 1e-8f, 1.0f, 0.1f);
    w = nw, m = nm, v = nv;
    double norm = std::sqrt(double(normSq));
    for (size_t i = 0; i < 32; ++i) {
      double gi = norm < 1 ? g[i] : g[i] / norm;
      md[i] = 0.9 * md[i] + 0.1 * gi;
      vd[i] = 0.95 * vd[i] + 0.05 * gi * gi;
      double mh = md[i] / (1 - std::pow(0.9, k));
      double vh = vd[i] / (1 - std::pow(0.95, k));
      wd[i] -= 1e-3 * (mh / (std::sqrt(vh) + 1e-8) + 0.1 * wd[i]);
      ASSERT_NEAR(w[i], wd[i], 1e-6 * (1 + std::abs(wd[i]))) << k << ":" << i;
    }
  }
}

} // namespace
