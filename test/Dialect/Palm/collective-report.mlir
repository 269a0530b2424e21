// RUN: palm-opt %s -palm-collective-report -o /dev/null | FileCheck %s
// RUN: palm-opt %s -palm-collective-report=format=json -o /dev/null | FileCheck %s --check-prefix=JSON
// RUN: palm-opt %s -palm-collective-report=per-layer=false -o /dev/null | FileCheck %s --check-prefix=TOTAL

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 4, model = 2)
  func.func @forward(%x: tensor<2x8x16xf32>, %w: tensor<4x16xbf16>) -> tensor<2x8x16xf32> {
    // 2 * 1024 B * (2-1)/2 = 1024 B.
    %0 = palm.all_reduce %x on @mesh [model] sum : tensor<2x8x16xf32> loc("layers.0.residual")
    // Result 16x16 bf16 = 512 B, 3/4 of it received = 384 B.
    %1 = palm.all_gather %w on @mesh [data] dim 0 : tensor<4x16xbf16> -> tensor<16x16xbf16> loc("layers.1.attention.wq")
    %2 = palm.all_reduce %0 on @mesh [model] sum : tensor<2x8x16xf32> loc("layers.1.residual")
    // 1024 B input, half moves.
    %3 = palm.reduce_scatter %2 on @mesh [model] sum dim 1 : tensor<2x8x16xf32> -> tensor<2x4x16xf32> loc("final_ln")
    %4 = palm.all_gather %3 on @mesh [model] dim 1 : tensor<2x4x16xf32> -> tensor<2x8x16xf32> loc("final_ln")
    %5 = palm.all_slice %4 on @mesh [data, model] dim 2 : tensor<2x8x16xf32> -> tensor<2x8x2xf32> loc("final_ln")
    %6 = palm.all_to_all %4 on @mesh [model] split 2 concat 1 : tensor<2x8x16xf32> -> tensor<2x16x8xf32> loc("final_ln")
    %7 = palm.collective_permute %4 on @mesh [model] pairs [0 -> 1, 1 -> 0] : tensor<2x8x16xf32> loc("final_ln")
    return %7 : tensor<2x8x16xf32>
  }
}

// CHECK:      collectives of @forward (bytes per device, ring)
// CHECK-NEXT:   total:
// CHECK-NEXT:     all_gather          [data]             1 x            384 bytes/device
// CHECK-NEXT:     all_gather          [model]            1 x            512 bytes/device
// CHECK-NEXT:     all_reduce          [model]            2 x           2048 bytes/device
// CHECK-NEXT:     all_slice           [data,model]       1 x              0 bytes/device
// CHECK-NEXT:     all_to_all          [model]            1 x            512 bytes/device
// CHECK-NEXT:     collective_permute  [model]            1 x           1024 bytes/device
// CHECK-NEXT:     reduce_scatter      [model]            1 x            512 bytes/device
// CHECK-NEXT:   layer 0:
// CHECK-NEXT:     all_reduce          [model]            1 x           1024 bytes/device
// CHECK-NEXT:   layer 1:
// CHECK-NEXT:     all_gather          [data]             1 x            384 bytes/device
// CHECK-NEXT:     all_reduce          [model]            1 x           1024 bytes/device

// TOTAL:     reduce_scatter
// TOTAL-NOT: layer

// JSON:      "function": "forward"
// JSON:      "layers": [
// JSON:        "layer": 0
// JSON:            "bytes_per_device": 1024,
// JSON-NEXT:       "count": 1,
// JSON-NEXT:       "kind": "all_reduce"
// JSON:      "total": [
// JSON:          "axes": "data",
// JSON-NEXT:     "bytes_per_device": 384,
// JSON-NEXT:     "count": 1,
// JSON-NEXT:     "kind": "all_gather"
