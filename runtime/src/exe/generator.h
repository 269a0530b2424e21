//===- generator.h - counter-based parameters and tokens --------*- C++ -*-===//
//
// Philox-4x32-10 (Salmon et al., SC'11): a pure function of a 128-bit counter
// and a 64-bit key. Parameter element i of `name` with seed s is
//   stddev * BoxMuller(Philox(key = (s, fnv1a32(name)), counter = (lo(i),
//   hi(i), 0, 0))[0..1])
// with i the row-major index in the global shape, so any shard can be
// generated alone and equals the matching slice of the whole tensor.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_EXE_GENERATOR_H
#define PALMRT_SRC_EXE_GENERATOR_H

#include "io/program_info.h"

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include <array>
#include <cstdint>

namespace palmrt {

using PhiloxBlock = std::array<uint32_t, 4>;

/// Philox-4x32 with 10 rounds.
PhiloxBlock philox4x32(PhiloxBlock counter, std::array<uint32_t, 2> key);

/// FNV-1a, 32 bits.
uint32_t fnv1a32(absl::string_view bytes);

/// N(0, 1) from two uniform 32-bit words by Box-Muller:
/// sqrt(-2 ln u1) cos(2 pi u2), u1 = (w0 + 1) / 2^32 in (0, 1], u2 = w1 / 2^32,
/// computed in double by base/normal_init.h, which the GPU's generator
/// shares: the same bits on both.
double boxMuller(uint32_t w0, uint32_t w1);

/// The standard normal of global element `index` of parameter `name`.
double parameterNormal(uint64_t seed, uint32_t nameHash, uint64_t index);

/// Fills device `rank`'s local shard of parameter `t` (init normal, ones or
/// zeros; padding zero). `out` holds t.localBytes() bytes. Integer
/// parameters take ones or zeros (a normal init of one is rejected earlier).
void fillParameter(const ProgramInfo &info, const TensorSpec &t, int64_t rank,
                   uint64_t seed, void *out);

/// Token `position` of sequence `sequence` at `step` of the synthetic stream:
/// Philox(key = (seed + 1, 0x70616c6d), counter = (position, sequence, step,
/// 0))[0] mod vocab.
int64_t syntheticToken(uint64_t seed, uint64_t step, int64_t sequence,
                       int64_t position, int64_t vocab);

/// The global token stream a program reads: token(step, row, position) for
/// the printed step k (1, 2, ...), a row of the global batch and a position in
/// [0, seq]. A source depends on neither the mesh nor the rank, so every
/// device fills its shard of the same global tensor.
class TokenSource {
public:
  virtual ~TokenSource() = default;
  virtual absl::StatusOr<int64_t> token(int64_t step, int64_t row,
                                        int64_t position) const = 0;
};

/// The synthetic stream: step k reads syntheticToken(seed, k - 1, ...).
class SyntheticTokens : public TokenSource {
public:
  SyntheticTokens(uint64_t seed, int64_t vocab) : seed(seed), vocab(vocab) {}
  absl::StatusOr<int64_t> token(int64_t step, int64_t row,
                                int64_t position) const override {
    return syntheticToken(seed, static_cast<uint64_t>(step - 1), row, position,
                          vocab);
  }

private:
  uint64_t seed;
  int64_t vocab;
};

/// The streams of windows a token file gives: the training batches of
/// --data and the held-out batches of --eval-data.
enum class DataStream : uint32_t { Train = 1, Eval = 2 };

/// Where row `row` of step `step` starts in a token file with `windows`
/// (count - seq) possible starts: with (w0, w1) = Philox(key = (seed,
/// 0x64617461), counter = (row, step, 0, stream)), (w0 + 2^32 w1) mod
/// windows. The last counter word keeps it apart from the parameter and token
/// streams, and the evaluation batches apart from the training ones.
uint64_t dataOffset(uint64_t seed, uint64_t step, int64_t row, uint64_t windows,
                    DataStream stream = DataStream::Train);

/// Fills device `rank`'s local shard of the tokens ([batch, seq]; `shift` 0)
/// or targets (`shift` 1) input `t` (i32 or i64; padding zero) from
/// `source` at `step` (micro-batch i of m: rows i * batch ... of the step's
/// m * batch); the source's first error, if any.
absl::Status fillTokens(const ProgramInfo &info, const TensorSpec &t,
                        int64_t rank, const TokenSource &source, int64_t step,
                        int64_t shift, void *out);

} // namespace palmrt

#endif // PALMRT_SRC_EXE_GENERATOR_H
