//===- PrintShardingRules.cpp - report every op's sharding rule -----------===//

#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"

#include <string>

namespace mlir::palm {
#define GEN_PASS_DEF_PALMPRINTSHARDINGRULES
#include "palm/Dialect/Palm/Transforms/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;

namespace {

/// Emits each op's sharding rule as a remark at the op.
struct PrintShardingRulesPass
    : public palm::impl::PalmPrintShardingRulesBase<PrintShardingRulesPass> {
  void runOnOperation() override {
    getOperation()->walk([](ShardingRuleOpInterface op) {
      std::string text;
      llvm::raw_string_ostream os(text);
      op.getShardingRule().print(os);
      op->emitRemark() << "sharding rule: " << text;
    });
    markAllAnalysesPreserved();
  }
};

} // namespace
