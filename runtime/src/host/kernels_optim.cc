//===- kernels_optim.cc - the optimizer's f32 kernels ---------------------===//
//
// Adafactor (unfactored) and AdamW as optax computes them, one tensor shard
// at a time; the sums of squares that make a tensor's RMS and the global
// gradient norm are partial sums the compiled program all-reduces between
// the calls. Sums accumulate in double over fixed chunks of the index range,
// each chunk in a fixed order and the chunks' sums in chunk order, so every
// step is bitwise reproducible at any number of threads. The elementwise
// loops run their chunks on the pool's threads (parallel.h). The clipping of
// the gradient by the global norm is optax's clip_by_global_norm: unchanged
// below the threshold, else divided by the norm and multiplied by the
// threshold.
//
//===----------------------------------------------------------------------===//

#include "base/trace.h"
#include "host/kernel_util.h"

#include "palmrt/palmrt.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

/// The factor clip_by_global_norm applies, as a divisor and a multiplier:
/// g -> g / divisor * max_norm when clipping, else g (divisor 0).
struct GlobalClip {
  float norm = 0.0f, maxNorm = 1.0f;
  bool clips = false;

  GlobalClip(const float *sumSquares, float maxNorm)
      : norm(std::sqrt(sumSquares[0])), maxNorm(maxNorm),
        clips(!(norm < maxNorm)) {}
  float operator()(float g) const { return clips ? g / norm * maxNorm : g; }
};

/// Elements per chunk: enough to amortize a wake-up of the pool, few enough
/// that the largest tensors split evenly over a few threads.
constexpr int64_t kChunk = 1 << 16;

/// sum_{begin <= i < end} of f(i) (a double), vectorized.
template <typename F> double chunkSum(int64_t begin, int64_t end, F f) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = begin; i < end; ++i)
    sum += f(i);
  return sum;
}

/// The sum of body(begin, end) over the chunks of [0, n) (body returns its
/// chunk's sum), added in chunk order once every chunk is done.
template <typename Body> double chunkedSum(int64_t n, Body body) {
  std::vector<double> partial(
      std::max<int64_t>(palmrt::chunkCount(n, kChunk), 1), 0.0);
  palmrt::kernelFor(n, kChunk, [&](int64_t begin, int64_t end) {
    partial[begin / kChunk] = body(begin, end);
  });
  double sum = 0.0;
  for (double p : partial)
    sum += p;
  return sum;
}

double sumSquares(const float *x, int64_t n) {
  return chunkedSum(n, [&](int64_t begin, int64_t end) {
    return chunkSum(begin, end, [&](int64_t i) {
      return static_cast<double>(x[i]) * x[i];
    });
  });
}

} // namespace

extern "C" {

void palmrt_sum_squares_f32(const float *x, float *out, int64_t n) {
  palmrt::TraceScope trace("sum_squares", "kernel");
  out[0] = static_cast<float>(sumSquares(x, n));
}

void palmrt_learning_rate_f32(const float *step, float *out, int32_t schedule,
                              float peak, int64_t warmup_steps,
                              int64_t total_steps, float final_lr) {
  double k = step[0];
  if (schedule == 0) {
    out[0] = static_cast<float>(
        peak / std::sqrt(std::max(k, static_cast<double>(warmup_steps))));
    return;
  }
  double t = k - 1.0, warmup = static_cast<double>(warmup_steps);
  if (t < warmup) {
    out[0] = static_cast<float>(peak * t / warmup);
    return;
  }
  double p =
      std::min(1.0, (t - warmup) / (static_cast<double>(total_steps) - warmup));
  out[0] = static_cast<float>(final_lr + (peak - final_lr) *
                                             (1.0 + std::cos(M_PI * p)) / 2.0);
}

void palmrt_adafactor_moments_f32(const float *grad, const float *v,
                                  const float *grad_sum_squares,
                                  const float *step, float *new_v,
                                  float *update_sum_squares, int64_t n,
                                  float decay_rate, float epsilon,
                                  float max_norm) {
  palmrt::TraceScope trace("adafactor_moments", "kernel");
  GlobalClip clip(grad_sum_squares, max_norm);
  float beta2 = 1.0f - std::pow(step[0], -decay_rate);
  double sum = chunkedSum(n, [&](int64_t begin, int64_t end) {
    return chunkSum(begin, end, [&](int64_t i) {
      float g = clip(grad[i]);
      float nv = beta2 * v[i] + (1.0f - beta2) * (g * g + epsilon);
      new_v[i] = nv;
      float u = g / std::sqrt(nv);
      return static_cast<double>(u) * u;
    });
  });
  update_sum_squares[0] = static_cast<float>(sum);
}

void palmrt_adafactor_apply_f32(const float *param, const float *grad,
                                const float *new_v, const float *m,
                                const float *grad_sum_squares,
                                const float *update_sum_squares,
                                const float *param_sum_squares, const float *lr,
                                float *new_param, float *new_m, int64_t n,
                                int64_t count, float beta1,
                                float clipping_threshold, float scale_floor,
                                float max_norm, float weight_decay) {
  palmrt::TraceScope trace("adafactor_apply", "kernel");
  GlobalClip clip(grad_sum_squares, max_norm);
  float updateRms =
      std::sqrt(update_sum_squares[0] / static_cast<float>(count));
  float updateDivisor = std::max(1.0f, updateRms / clipping_threshold);
  float paramScale = std::max(
      scale_floor, std::sqrt(param_sum_squares[0] / static_cast<float>(count)));
  float rate = lr[0];
  float decay = weight_decay * rate * rate;
  palmrt::kernelFor(n, kChunk, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      float u = clip(grad[i]) / std::sqrt(new_v[i]) / updateDivisor;
      u = u * rate * paramScale;
      float nm = beta1 * m[i] + (1.0f - beta1) * u;
      new_m[i] = nm;
      new_param[i] = param[i] - (nm + decay * param[i]);
    }
  });
}

void palmrt_adamw_apply_f32(const float *param, const float *grad,
                            const float *m, const float *v,
                            const float *grad_sum_squares, const float *lr,
                            const float *step, float *new_param, float *new_m,
                            float *new_v, int64_t n, float beta1, float beta2,
                            float epsilon, float max_norm, float weight_decay) {
  palmrt::TraceScope trace("adamw_apply", "kernel");
  GlobalClip clip(grad_sum_squares, max_norm);
  float k = step[0];
  float mCorrection = 1.0f - std::pow(beta1, k);
  float vCorrection = 1.0f - std::pow(beta2, k);
  float rate = lr[0];
  palmrt::kernelFor(n, kChunk, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      float g = clip(grad[i]);
      float nm = beta1 * m[i] + (1.0f - beta1) * g;
      float nv = beta2 * v[i] + (1.0f - beta2) * g * g;
      new_m[i] = nm;
      new_v[i] = nv;
      float update =
          (nm / mCorrection) / (std::sqrt(nv / vCorrection) + epsilon);
      new_param[i] = param[i] - rate * (update + weight_decay * param[i]);
    }
  });
}

} // extern "C"
