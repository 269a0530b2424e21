//===- ShardingRule.h - the factor form of a sharding rule ------*- C++ -*-===//
//
// A sharding rule relates the dimensions of an op's operands and results
// through factors, in the manner of an einsum: `([i, j, k], [k, l]) -> ([i,
// j, l])`. Propagation and partitioning read only these rules. Each op
// builds its own in lib/Dialect/Palm/IR/OpShardingRules.cpp, through
// ShardingRuleOpInterface (PalmInterfaces.td).
//
//===----------------------------------------------------------------------===//

#ifndef PALM_DIALECT_PALM_IR_SHARDINGRULE_H
#define PALM_DIALECT_PALM_IR_SHARDINGRULE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>

namespace mlir::palm {

/// What splitting a factor over mesh axes means for the op.
enum class FactorKind {
  /// Splits every tensor it appears in alike; each device computes its part.
  Parallel,
  /// Appears in operands only: splitting it leaves a partial sum in results.
  Reduction,
  /// May not be split: the op needs the whole dimension on every device.
  Replicated,
  /// A gather's table dimension: a split table gives a masked local lookup
  /// whose result is a partial sum.
  MaskedGather,
  /// A softmax class dimension: a split needs a max and a sum of
  /// exponentials across devices, each the size of the other dimensions.
  LogSumExp,
  /// A position (RoPE's sequence, attention's queries): splits like a
  /// parallel factor, and each shard computes at its global offset.
  /// Propagation takes such a split only from a user's annotation of the
  /// tensor, so sequence parallelism stays the user's choice.
  Positional,
  /// Follows another factor, its leader (grouped key/value heads follow the
  /// query heads): split over the leader's axes when both sizes divide
  /// evenly among them, so each shard holds exactly the members its share
  /// of the leader uses; never split otherwise.
  Grouped,
  /// The dimension a row statistic runs over (LayerNorm's features): split,
  /// each shard computes its rows' count, mean and sum of squared
  /// deviations, and one small collective of those merges them. That
  /// collective is only worth it where the dimension is split already, so
  /// the partitioner splits the factor only where the operand it is largest
  /// in already is; propagation takes such a split only from a user's
  /// annotation.
  RowStatistics,
};

/// Returns the keyword used when printing `kind`.
llvm::StringRef stringifyFactorKind(FactorKind kind);

/// One factor: its size and its kind (and, for a grouped factor, the index
/// of the factor it follows).
struct Factor {
  int64_t size;
  FactorKind kind;
  int64_t leader = -1;
};

/// Factors of an op and the factor each operand and result dimension maps to.
class ShardingRule {
public:
  /// Adds a factor and returns its index.
  int64_t addFactor(int64_t size, FactorKind kind);
  /// Adds a grouped factor that follows factor `leader`.
  int64_t addGroupedFactor(int64_t size, int64_t leader);
  /// Appends the mapping for the next operand (one factor per dimension).
  void addOperand(llvm::ArrayRef<int64_t> factors);
  /// Appends the mapping for the next result. `identicalOver` lists
  /// factors the result lacks but is not summed over: every shard of them
  /// computes the same whole result (attention's log-sum-exp, which each
  /// shard of the value head dimension computes from whole scores).
  void addResult(llvm::ArrayRef<int64_t> factors,
                 llvm::ArrayRef<int64_t> identicalOver = {});

  llvm::ArrayRef<Factor> getFactors() const { return factors; }
  const Factor &getFactor(int64_t index) const { return factors[index]; }
  int64_t getNumOperands() const { return operandDims.size(); }
  int64_t getNumResults() const { return resultDims.size(); }
  llvm::ArrayRef<int64_t> getOperandFactors(int64_t i) const {
    return operandDims[i];
  }
  llvm::ArrayRef<int64_t> getResultFactors(int64_t i) const {
    return resultDims[i];
  }
  /// The factors result `i` lacks but is identical over (addResult).
  llvm::ArrayRef<int64_t> getResultIdenticalOver(int64_t i) const {
    return resultIdenticalOver[i];
  }

  /// The number of devices factor `f` may be split over when the factors
  /// it depends on are split over `leaderShards` devices (its leader's):
  /// for a grouped factor, `leaderShards` when that divides both its size
  /// and the leader's, else 1.
  int64_t groupedShards(int64_t f, int64_t leaderShards) const;

  /// Prints in einsum style with one letter per factor, e.g.
  /// `([i, j, k], [k, l]) -> ([i, j, l]) {i=4, j=256, k=512, l=2048}
  /// reduction={k}`.
  void print(llvm::raw_ostream &os) const;

private:
  llvm::SmallVector<Factor> factors;
  llvm::SmallVector<llvm::SmallVector<int64_t, 4>> operandDims;
  llvm::SmallVector<llvm::SmallVector<int64_t, 4>> resultDims;
  llvm::SmallVector<llvm::SmallVector<int64_t, 1>> resultIdenticalOver;
};

} // namespace mlir::palm

#endif // PALM_DIALECT_PALM_IR_SHARDINGRULE_H
