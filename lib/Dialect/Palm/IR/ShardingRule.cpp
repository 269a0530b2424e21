//===- ShardingRule.cpp - the factor form of a sharding rule --------------===//

#include "palm/Dialect/Palm/IR/ShardingRule.h"

#include "llvm/ADT/STLExtras.h"

#include <string>

using namespace mlir::palm;

llvm::StringRef mlir::palm::stringifyFactorKind(FactorKind kind) {
  switch (kind) {
  case FactorKind::Parallel:
    return "parallel";
  case FactorKind::Reduction:
    return "reduction";
  case FactorKind::Replicated:
    return "replicated";
  case FactorKind::MaskedGather:
    return "masked_gather";
  case FactorKind::LogSumExp:
    return "logsumexp";
  case FactorKind::Positional:
    return "positional";
  case FactorKind::Grouped:
    return "grouped";
  case FactorKind::RowStatistics:
    return "row_statistics";
  }
  llvm_unreachable("unknown factor kind");
}

int64_t ShardingRule::addFactor(int64_t size, FactorKind kind) {
  factors.push_back({size, kind});
  return factors.size() - 1;
}

int64_t ShardingRule::addGroupedFactor(int64_t size, int64_t leader) {
  factors.push_back({size, FactorKind::Grouped, leader});
  return factors.size() - 1;
}

int64_t ShardingRule::groupedShards(int64_t f, int64_t leaderShards) const {
  const Factor &factor = factors[f];
  const Factor &leader = factors[factor.leader];
  if (leaderShards > 1 && factor.size % leaderShards == 0 &&
      leader.size % leaderShards == 0)
    return leaderShards;
  return 1;
}

void ShardingRule::addOperand(llvm::ArrayRef<int64_t> dims) {
  operandDims.emplace_back(dims.begin(), dims.end());
}

void ShardingRule::addResult(llvm::ArrayRef<int64_t> dims,
                             llvm::ArrayRef<int64_t> identicalOver) {
  resultDims.emplace_back(dims.begin(), dims.end());
  resultIdenticalOver.emplace_back(identicalOver.begin(), identicalOver.end());
}

/// Factor names: i..z, then a..h, then f<index>.
static std::string factorName(int64_t index) {
  static constexpr llvm::StringLiteral kLetters = "ijklmnopqrstuvwxyzabcdefgh";
  if (index < static_cast<int64_t>(kLetters.size()))
    return std::string(1, kLetters[index]);
  return "f" + std::to_string(index);
}

void ShardingRule::print(llvm::raw_ostream &os) const {
  // Letters follow first appearance (operands, then results), so rules read
  // like einsum strings whatever order the factors were created in.
  llvm::SmallVector<int64_t> letterOf(factors.size(), -1);
  llvm::SmallVector<int64_t> byLetter;
  for (const auto *list : {&operandDims, &resultDims})
    for (const auto &tensor : *list)
      for (int64_t f : tensor)
        if (letterOf[f] < 0) {
          letterOf[f] = byLetter.size();
          byLetter.push_back(f);
        }
  for (auto [f, letter] : llvm::enumerate(letterOf))
    if (letter < 0) {
      letter = byLetter.size();
      byLetter.push_back(f);
    }
  auto name = [&](int64_t f) { return factorName(letterOf[f]); };
  auto printTensors = [&](llvm::ArrayRef<llvm::SmallVector<int64_t, 4>> list) {
    os << '(';
    llvm::interleaveComma(list, os, [&](const llvm::SmallVector<int64_t, 4> &t) {
      os << '[';
      llvm::interleaveComma(t, os, [&](int64_t f) { os << name(f); });
      os << ']';
    });
    os << ')';
  };
  printTensors(operandDims);
  os << " -> ";
  printTensors(resultDims);
  os << " {";
  llvm::interleaveComma(byLetter, os, [&](int64_t f) {
    os << name(f) << '=' << factors[f].size;
  });
  os << '}';
  for (FactorKind kind :
       {FactorKind::Reduction, FactorKind::Replicated,
        FactorKind::MaskedGather, FactorKind::LogSumExp,
        FactorKind::Positional, FactorKind::RowStatistics}) {
    llvm::SmallVector<int64_t> ofKind;
    for (int64_t f : byLetter)
      if (factors[f].kind == kind)
        ofKind.push_back(f);
    if (ofKind.empty())
      continue;
    os << ' ' << stringifyFactorKind(kind) << "={";
    llvm::interleaveComma(ofKind, os, [&](int64_t f) { os << name(f); });
    os << '}';
  }
  llvm::SmallVector<int64_t> grouped;
  for (int64_t f : byLetter)
    if (factors[f].kind == FactorKind::Grouped)
      grouped.push_back(f);
  if (grouped.empty())
    return;
  os << " grouped={";
  llvm::interleaveComma(grouped, os, [&](int64_t f) {
    os << name(f) << " by " << name(factors[f].leader);
  });
  os << '}';
}
