//===- data_movement_test.cc - slices, padding, masks, transposes ---------===//

#include "palmrt/palmrt.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

namespace {

/// Row-major linear index of `idx` in `shape`.
int64_t linear(const std::vector<int64_t> &shape,
               const std::vector<int64_t> &idx) {
  int64_t l = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    l = l * shape[d] + idx[d];
  return l;
}

/// Calls fn(idx) for every index of `shape`.
template <typename Fn>
void forEachIndex(const std::vector<int64_t> &shape, Fn fn) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::vector<int64_t> idx(shape.size());
  for (int64_t l = 0; l < n; ++l) {
    int64_t rest = l;
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      idx[d] = rest % shape[d];
      rest /= shape[d];
    }
    fn(idx);
  }
}

template <typename T> std::vector<T> iota(int64_t n) {
  std::vector<T> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = static_cast<T>(i + 1);
  return v;
}

template <typename T>
void checkTranspose(std::vector<int64_t> shape, std::vector<int64_t> perm) {
  int64_t n = std::accumulate(shape.begin(), shape.end(), int64_t{1},
                              std::multiplies<int64_t>());
  std::vector<T> in = iota<T>(n), out(n);
  palmrt_transpose(in.data(), out.data(), shape.size(), shape.data(),
                   perm.data(), sizeof(T));
  std::vector<int64_t> outShape(shape.size());
  for (size_t j = 0; j < perm.size(); ++j)
    outShape[j] = shape[perm[j]];
  forEachIndex(outShape, [&](const std::vector<int64_t> &o) {
    std::vector<int64_t> i(shape.size());
    for (size_t j = 0; j < perm.size(); ++j)
      i[perm[j]] = o[j];
    ASSERT_EQ(out[linear(outShape, o)], in[linear(shape, i)]);
  });
}

TEST(Transpose, EveryPermutationOfRank3) {
  std::vector<int64_t> perm = {0, 1, 2};
  do {
    checkTranspose<float>({3, 4, 5}, perm);
    checkTranspose<uint16_t>({2, 33, 35}, perm);
    checkTranspose<int64_t>({5, 1, 3}, perm);
    checkTranspose<uint8_t>({4, 3, 2}, perm);
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(Transpose, Rank4AndRank1) {
  checkTranspose<float>({2, 3, 4, 5}, {2, 0, 3, 1});
  checkTranspose<float>({2, 3, 4, 5}, {0, 2, 1, 3});
  checkTranspose<int32_t>({7}, {0});
  checkTranspose<float>({70, 40}, {1, 0});
}

TEST(Slices, ExtractThenInsertRoundTrips) {
  std::vector<int64_t> shape = {4, 5, 6}, block = {2, 3, 6},
                       offsets = {1, 2, 0};
  std::vector<float> in = iota<float>(120), piece(36);
  palmrt_extract_slice(in.data(), piece.data(), 3, shape.data(), block.data(),
                       offsets.data(), sizeof(float));
  forEachIndex(block, [&](const std::vector<int64_t> &b) {
    std::vector<int64_t> i = {b[0] + 1, b[1] + 2, b[2]};
    ASSERT_EQ(piece[linear(block, b)], in[linear(shape, i)]);
  });
  std::vector<float> out(120, -1.0f);
  palmrt_insert_slice(piece.data(), out.data(), 3, block.data(), shape.data(),
                      offsets.data(), sizeof(float));
  forEachIndex(shape, [&](const std::vector<int64_t> &i) {
    bool inside = i[0] >= 1 && i[0] < 3 && i[1] >= 2 && i[1] < 5;
    ASSERT_EQ(out[linear(shape, i)], inside ? in[linear(shape, i)] : -1.0f);
  });
}

TEST(Slices, InnerSlice) {
  std::vector<int64_t> shape = {3, 8}, block = {3, 3}, offsets = {0, 4};
  std::vector<int32_t> in = iota<int32_t>(24), out(9);
  palmrt_extract_slice(in.data(), out.data(), 2, shape.data(), block.data(),
                       offsets.data(), sizeof(int32_t));
  EXPECT_EQ(out, (std::vector<int32_t>{5, 6, 7, 13, 14, 15, 21, 22, 23}));
}

TEST(Pad, ZeroFillsTheHighEnd) {
  std::vector<int64_t> in = {2, 3}, out = {3, 5};
  std::vector<int64_t> x = {1, 2, 3, 4, 5, 6}, y(15, 7);
  palmrt_pad(x.data(), y.data(), 2, in.data(), out.data(), sizeof(int64_t));
  EXPECT_EQ(
      y, (std::vector<int64_t>{1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(MaskPadding, ZeroesPastValidAlongADimension) {
  std::vector<int64_t> shape = {2, 3, 2};
  std::vector<float> in = iota<float>(12), out(12, 9.0f);
  palmrt_mask_padding(in.data(), out.data(), 3, shape.data(), 1, 2,
                      sizeof(float));
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 4, 0, 0, 7, 8, 9, 10, 0, 0}));
  // In place, on the last dimension.
  palmrt_mask_padding(in.data(), in.data(), 3, shape.data(), 2, 1,
                      sizeof(float));
  EXPECT_EQ(in, (std::vector<float>{1, 0, 3, 0, 5, 0, 7, 0, 9, 0, 11, 0}));
  // valid beyond the extent keeps everything; valid <= 0 clears everything.
  std::vector<float> all = iota<float>(12), none(12, 1.0f);
  palmrt_mask_padding(all.data(), out.data(), 3, shape.data(), 0, 5,
                      sizeof(float));
  EXPECT_EQ(out, all);
  palmrt_mask_padding(all.data(), none.data(), 3, shape.data(), 0, 0,
                      sizeof(float));
  EXPECT_EQ(none, std::vector<float>(12, 0.0f));
}

} // namespace
