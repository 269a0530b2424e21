//===- random_values.h - reproducible test inputs ---------------*- C++ -*-===//

#ifndef PALMRT_TESTS_RANDOM_VALUES_H
#define PALMRT_TESTS_RANDOM_VALUES_H

#include <cstddef>
#include <random>
#include <vector>

namespace palmrt {

/// `n` values drawn from N(0, scale^2) by a generator seeded with `seed`.
inline std::vector<float> randomVector(size_t n, unsigned seed,
                                       float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

} // namespace palmrt

#endif // PALMRT_TESTS_RANDOM_VALUES_H
