// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime=target=cuda | FileCheck %s

// bf16 attention calls the runtime's fused attention (a tensor-core kernel): the
// element type's code, the shapes, and for a query-head shard its global
// head offset (from palmrt_group_index), heads per key/value head and the
// global head count.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[G:.*]] = call @palmrt_group_index(%arg2, %c0_i32{{[_0-9]*}})
  // CHECK: %[[OFF:.*]] = arith.muli %[[G]], %c2_i64{{[_0-9]*}}
  // CHECK: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
  // CHECK: call @palmrt_attention(%arg2, %c1_i32{{[_0-9]*}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c2_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c1_i32{{[_0-9]*}}, %cst{{.*}}, %[[OFF]], %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c0_i64{{[_0-9]*}}, %[[NULL]])
  // CHECK-NOT: palmrt_launch
  func.func @mqa(%q: tensor<2x8x2x4xbf16>, %k: tensor<2x8x1x4xbf16>) -> tensor<2x8x2x4xbf16> {
    %0 = palm.attention %q, %k, %k {causal, heads_shard = #palm.dim_shard<@mesh, [model], 4>} : (tensor<2x8x2x4xbf16>, tensor<2x8x1x4xbf16>, tensor<2x8x1x4xbf16>) -> tensor<2x8x2x4xbf16>
    return %0 : tensor<2x8x2x4xbf16>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %cst = arith.constant 5.000000e-01 : f32
  // CHECK: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
  // CHECK: call @palmrt_attention(%arg2, %c1_i32{{[_0-9]*}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c1_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c6_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %cst, %c0_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c0_i64{{[_0-9]*}}, %[[NULL]])
  func.func @cross(%q: tensor<1x8x4x4xbf16>, %k: tensor<1x6x4x4xbf16>, %v: tensor<1x6x4x2xbf16>) -> tensor<1x8x4x2xbf16> {
    %0 = palm.attention %q, %k, %v {scale = 0.5 : f32} : (tensor<1x8x4x4xbf16>, tensor<1x6x4x4xbf16>, tensor<1x6x4x2xbf16>) -> tensor<1x8x4x2xbf16>
    return %0 : tensor<1x8x4x2xbf16>
  }
}

// -----

// Kept for a backward pass, the log-sum-exp (f32 whatever the element
// type) is palmrt_attention's last argument: result 1's buffer.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[OUTP:.*]] = llvm.getelementptr %arg0[%c3_i64{{[_0-9]*}}]
  // CHECK: %[[OUT:.*]] = llvm.load %[[OUTP]]
  // CHECK: %[[LSEP:.*]] = llvm.getelementptr %arg0[%c4_i64{{[_0-9]*}}]
  // CHECK: %[[LSE:.*]] = llvm.load %[[LSEP]]
  // CHECK-NOT: llvm.mlir.zero
  // CHECK: call @palmrt_attention(%arg2, %c1_i32{{[_0-9]*}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %[[OUT]], %c2_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c1_i32{{[_0-9]*}}, %cst{{.*}}, %c0_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c0_i64{{[_0-9]*}}, %[[LSE]])
  func.func @with_lse(%q: tensor<2x8x2x4xbf16>, %k: tensor<2x8x1x4xbf16>, %v: tensor<2x8x1x4xbf16>) -> (tensor<2x8x2x4xbf16>, tensor<2x8x2xf32>) {
    %0, %1 = palm.attention %q, %k, %v {causal} : (tensor<2x8x2x4xbf16>, tensor<2x8x1x4xbf16>, tensor<2x8x1x4xbf16>) -> (tensor<2x8x2x4xbf16>, tensor<2x8x2xf32>)
    return %0, %1 : tensor<2x8x2x4xbf16>, tensor<2x8x2xf32>
  }
}

// -----

// The backward calls palmrt_attention_grad (the CUDA kernels) with the
// element type's code, the forward's tensors, its lse, the cotangent, the
// three result buffers, then the forward's sizes and head mapping: here
// grouped query attention (4 heads, 2 per key/value head), not causal,
// keys of 6 positions, values of 2 elements.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK-COUNT-6: llvm.load
  // CHECK: %[[DQ:.*]] = llvm.load
  // CHECK: %[[DK:.*]] = llvm.load
  // CHECK: %[[DV:.*]] = llvm.load
  // CHECK: call @palmrt_attention_grad(%arg2, %c0_i32{{[_0-9]*}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %[[DQ]], %[[DK]], %[[DV]], %c1_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c6_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %cst{{.*}}, %c0_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c0_i64{{[_0-9]*}})
  // CHECK-NOT: palmrt_attention_grad_f32
  func.func @grad(%q: tensor<1x8x4x4xf32>, %k: tensor<1x6x2x4xf32>, %v: tensor<1x6x2x2xf32>, %o: tensor<1x8x4x2xf32>, %lse: tensor<1x8x4xf32>, %do: tensor<1x8x4x2xf32>) -> (tensor<1x8x4x4xf32>, tensor<1x6x2x4xf32>, tensor<1x6x2x2xf32>) {
    %dq, %dk, %dv = palm.attention_grad %q, %k, %v, %o, %lse, %do : (tensor<1x8x4x4xf32>, tensor<1x6x2x4xf32>, tensor<1x6x2x2xf32>, tensor<1x8x4x2xf32>, tensor<1x8x4xf32>, tensor<1x8x4x2xf32>) -> (tensor<1x8x4x4xf32>, tensor<1x6x2x4xf32>, tensor<1x6x2x2xf32>)
    return %dq, %dk, %dv : tensor<1x8x4x4xf32>, tensor<1x6x2x4xf32>, tensor<1x6x2x2xf32>
  }
}

// -----

// bf16 tensors (the lse stays f32): element type code 1.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: call @palmrt_attention_grad(%arg2, %c1_i32{{[_0-9]*}},
  func.func @grad_bf16(%q: tensor<1x8x2x4xbf16>, %k: tensor<1x8x1x4xbf16>, %o: tensor<1x8x2x4xbf16>, %lse: tensor<1x8x2xf32>, %do: tensor<1x8x2x4xbf16>) -> (tensor<1x8x2x4xbf16>, tensor<1x8x1x4xbf16>, tensor<1x8x1x4xbf16>) {
    %dq, %dk, %dv = palm.attention_grad %q, %k, %k, %o, %lse, %do : (tensor<1x8x2x4xbf16>, tensor<1x8x1x4xbf16>, tensor<1x8x1x4xbf16>, tensor<1x8x2x4xbf16>, tensor<1x8x2xf32>, tensor<1x8x2x4xbf16>) -> (tensor<1x8x2x4xbf16>, tensor<1x8x1x4xbf16>, tensor<1x8x1x4xbf16>)
    return %dq, %dk, %dv : tensor<1x8x2x4xbf16>, tensor<1x8x1x4xbf16>, tensor<1x8x1x4xbf16>
  }
}
