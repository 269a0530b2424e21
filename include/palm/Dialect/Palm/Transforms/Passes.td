//===- Passes.td - palm passes ------------------------------*- tablegen -*-===//

#ifndef PALM_DIALECT_PALM_TRANSFORMS_PASSES_TD
#define PALM_DIALECT_PALM_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def PalmPrintShardingRules : Pass<"palm-print-sharding-rules"> {
  let summary = "Reports the sharding rule of every op as a remark";
  let description = [{
    Emits, at each op that implements `ShardingRuleOpInterface`, a remark with
    its sharding rule in einsum notation: one letter per factor, the factor
    sizes, and the factors that are not parallel grouped by kind. For
    example, a `palm.dot_general` of `[4, 256, 512] x [512, 2048]` reports

    ```
    sharding rule: ([i, j, k], [k, l]) -> ([i, j, l]) {i=4, j=256, k=512, l=2048} reduction={k}
    ```

    Use it to see why propagation treats a dimension as it does. The IR is
    not changed.
  }];
}

#endif // PALM_DIALECT_PALM_TRANSFORMS_PASSES_TD
