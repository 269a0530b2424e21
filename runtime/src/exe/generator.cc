//===- generator.cc - counter-based parameters and tokens -----------------===//

#include "exe/generator.h"

#include "base/bf16.h"
#include "base/normal_init.h"

#include <cmath>
#include <vector>

namespace palmrt {

PhiloxBlock philox4x32(PhiloxBlock c, std::array<uint32_t, 2> key) {
  normal_init::philox(c.data(), key[0], key[1]);
  return c;
}

uint32_t fnv1a32(absl::string_view bytes) {
  uint32_t h = 0x811C9DC5u;
  for (char c : bytes) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x01000193u;
  }
  return h;
}

double boxMuller(uint32_t w0, uint32_t w1) {
  return normal_init::normalOfWords(w0, w1);
}

double parameterNormal(uint64_t seed, uint32_t nameHash, uint64_t index) {
  return normal_init::parameterNormal(static_cast<uint32_t>(seed), nameHash,
                                      index);
}

namespace {

/// Calls fn(localOffset, globalIndex) for every real (non-padding) element of
/// device `rank`'s shard of `t`, innermost dimension fastest.
template <typename Fn>
void forEachShardElement(const ProgramInfo &info, const TensorSpec &t,
                         int64_t rank, Fn fn) {
  size_t rank_ = t.localShape.size();
  std::vector<int64_t> offsets = shardOffsets(info, t, rank);
  std::vector<int64_t> extent(rank_);
  for (size_t d = 0; d < rank_; ++d) {
    extent[d] = std::max<int64_t>(
        0, std::min(t.localShape[d], t.globalShape[d] - offsets[d]));
    if (extent[d] == 0)
      return;
  }
  if (rank_ == 0) {
    fn(0, 0);
    return;
  }
  std::vector<int64_t> idx(rank_, 0);
  int64_t inner = extent[rank_ - 1];
  while (true) {
    int64_t local = 0, global = 0;
    for (size_t d = 0; d < rank_; ++d) {
      local = local * t.localShape[d] + idx[d];
      global = global * t.globalShape[d] + offsets[d] + idx[d];
    }
    for (int64_t i = 0; i < inner; ++i)
      fn(local + i, global + i);
    // Advance the odometer over every dimension but the innermost.
    int64_t d = static_cast<int64_t>(rank_) - 2;
    for (; d >= 0; --d) {
      if (++idx[d] < extent[d])
        break;
      idx[d] = 0;
    }
    if (d < 0)
      return;
  }
}

} // namespace

void fillParameter(const ProgramInfo &info, const TensorSpec &t, int64_t rank,
                   uint64_t seed, void *out) {
  std::fill_n(static_cast<char *>(out), t.localBytes(), 0);
  uint32_t hash = fnv1a32(t.name);
  double stddev = t.stddev;
  forEachShardElement(info, t, rank, [&](int64_t local, int64_t global) {
    double v;
    switch (t.init) {
    case InitKind::Normal:
      v = stddev * parameterNormal(seed, hash, static_cast<uint64_t>(global));
      break;
    case InitKind::Ones:
      v = 1.0;
      break;
    default:
      v = 0.0;
    }
    switch (t.dtype) {
    case PALMRT_F32:
      static_cast<float *>(out)[local] = static_cast<float>(v);
      break;
    case PALMRT_BF16:
      static_cast<uint16_t *>(out)[local] = floatToBf16(static_cast<float>(v));
      break;
    case PALMRT_I32:
      static_cast<int32_t *>(out)[local] = static_cast<int32_t>(v);
      break;
    default:
      static_cast<int64_t *>(out)[local] = static_cast<int64_t>(v);
    }
  });
}

int64_t syntheticToken(uint64_t seed, uint64_t step, int64_t sequence,
                       int64_t position, int64_t vocab) {
  PhiloxBlock r = philox4x32({static_cast<uint32_t>(position),
                              static_cast<uint32_t>(sequence),
                              static_cast<uint32_t>(step), 0},
                             {static_cast<uint32_t>(seed + 1), 0x70616C6Du});
  return static_cast<int64_t>(r[0] % static_cast<uint64_t>(vocab));
}

uint64_t dataOffset(uint64_t seed, uint64_t step, int64_t row, uint64_t windows,
                    DataStream stream) {
  PhiloxBlock r =
      philox4x32({static_cast<uint32_t>(row), static_cast<uint32_t>(step), 0,
                  static_cast<uint32_t>(stream)},
                 {static_cast<uint32_t>(seed), 0x64617461u});
  return ((static_cast<uint64_t>(r[1]) << 32) | r[0]) % windows;
}

absl::Status fillTokens(const ProgramInfo &info, const TensorSpec &t,
                        int64_t rank, const TokenSource &source, int64_t step,
                        int64_t shift, void *out) {
  std::fill_n(static_cast<char *>(out), t.localBytes(), 0);
  int64_t seq = t.globalShape.size() == 2 ? t.globalShape[1] : 1;
  // Micro-batch i of the step's batch is its rows i * n ... (i + 1) * n - 1.
  int64_t firstRow =
      t.microbatch * (t.globalShape.empty() ? 1 : t.globalShape[0]);
  absl::Status status;
  forEachShardElement(info, t, rank, [&](int64_t local, int64_t global) {
    if (!status.ok())
      return;
    absl::StatusOr<int64_t> token =
        source.token(step, firstRow + global / seq, global % seq + shift);
    if (!token.ok()) {
      status = token.status();
      return;
    }
    if (t.dtype == PALMRT_I64)
      static_cast<int64_t *>(out)[local] = *token;
    else
      static_cast<int32_t *>(out)[local] = static_cast<int32_t>(*token);
  });
  return status;
}

} // namespace palmrt
