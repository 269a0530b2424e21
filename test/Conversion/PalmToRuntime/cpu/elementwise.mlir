// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime | FileCheck %s

// An elementwise chain is one fusion: one loop (CPU) or one kernel (CUDA);
// the intermediate results are never stored, and the result is computed
// straight into its buffer (result 0, after the 2 arguments): no arena, no
// copy.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-DAG: llvm.mlir.global external constant @palm_arena_bytes(0 : i64)
  // CHECK-LABEL: func.func @palm_forward(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: !llvm.ptr)
  // CHECK: %[[A:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
  // CHECK: %[[B:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
  // CHECK: %[[SLOT:.*]] = llvm.getelementptr %arg0[%c2_i64]
  // CHECK: %[[OUT:.*]] = llvm.load %[[SLOT]] : !llvm.ptr -> !llvm.ptr
  // CHECK: scf.for %[[I:.*]] = %{{.*}} to %c8 step
  // CHECK:   %[[J:.*]] = arith.index_cast %[[I]] : index to i64
  // CHECK:   llvm.getelementptr %[[A]][%[[J]]]
  // CHECK:   llvm.load {{.*}} : !llvm.ptr -> f32
  // CHECK:   llvm.getelementptr %[[B]][%[[J]]]
  // CHECK:   llvm.load {{.*}} : !llvm.ptr -> f32
  // CHECK:   arith.addf
  // exp2 from arithmetic (no libm call, so the loop vectorizes): 2^t =
  // 2^round(t) (built in the exponent bits) times a polynomial in the rest.
  // CHECK-NOT: math.exp2
  // CHECK:   arith.maximumf
  // CHECK:   arith.minimumf
  // CHECK:   math.floor
  // CHECK:   arith.fptosi
  // CHECK:   arith.shli
  // CHECK:   arith.bitcast %{{.*}} : i32 to f32
  // CHECK:   arith.select
  // CHECK:   arith.select
  // CHECK:   arith.divf
  // CHECK:   arith.mulf
  // CHECK:   %[[DST:.*]] = llvm.getelementptr %[[OUT]][%[[J]]]
  // CHECK:   llvm.store %{{.*}}, %[[DST]] : f32, !llvm.ptr
  // CHECK-NOT: scf.for
  // CHECK-NOT: "llvm.intr.memcpy"
  // CHECK: return
  func.func @chain(%a: tensor<8xf32>, %b: tensor<8xf32>) -> (tensor<8xf32> {palm.name = "out"}) {
    %0 = palm.add %a, %b : tensor<8xf32>
    %1 = palm.silu %0 : tensor<8xf32>
    %2 = palm.scale %1 {factor = 2.0 : f32} : tensor<8xf32>
    return %2 : tensor<8xf32>
  }
}

// -----

// bf16 is computed in f32: widened after each load, narrowed before each
// store; a value read twice is stored once and re-read by the next fusion.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[X:.*]] = llvm.getelementptr %arg1[%c0_i64{{[_0-9]*}}] : (!llvm.ptr, i64) -> !llvm.ptr, i8
  // CHECK: scf.for
  // CHECK:   arith.extf %{{.*}} : bf16 to f32
  // CHECK:   arith.extf %{{.*}} : bf16 to f32
  // CHECK:   arith.mulf
  // CHECK:   arith.truncf %{{.*}} : f32 to bf16
  // CHECK:   llvm.store %{{.*}} : bf16, !llvm.ptr
  // CHECK: scf.for
  // CHECK:   llvm.getelementptr %[[X]]
  // CHECK:   %[[V:.*]] = llvm.load %{{.*}} : !llvm.ptr -> bf16
  // CHECK-NOT: llvm.load
  // Each op's result is rounded to its type: silu, then mul, then convert.
  // CHECK:   math.floor
  // CHECK:   arith.divf
  // CHECK:   arith.truncf %{{.*}} : f32 to bf16
  // CHECK:   arith.extf %[[V]] : bf16 to f32
  // CHECK:   arith.mulf
  // CHECK:   arith.truncf %{{.*}} : f32 to bf16
  // CHECK:   arith.extf %{{.*}} : bf16 to f32
  // CHECK:   llvm.store %{{.*}} : f32, !llvm.ptr
  // CHECK-NOT: scf.for
  func.func @bf16(%x: tensor<4x6xbf16>, %y: tensor<4x6xbf16>) -> tensor<4x6xf32> {
    %0 = palm.mul %x, %y : tensor<4x6xbf16>
    %1 = palm.silu %0 : tensor<4x6xbf16>
    %2 = palm.mul %1, %0 : tensor<4x6xbf16>
    %3 = palm.convert %2 : tensor<4x6xbf16> -> tensor<4x6xf32>
    return %3 : tensor<4x6xf32>
  }
}

// -----

// A fusion of 32768 elements or more is outlined: a function of (the
// operands' and the result's pointers, begin, end) that palmrt_parallel_for
// runs in chunks of 16384 elements on the runtime's threads.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[ARGS:.*]] = llvm.alloca %{{.*}} x !llvm.ptr {alignment = 8 : i64} : (i64) -> !llvm.ptr
  // CHECK-COUNT-3: llvm.store %{{.*}}, %{{.*}} : !llvm.ptr, !llvm.ptr
  // CHECK: %[[FN:.*]] = constant @__palm_fusion_0 : (!llvm.ptr, i64, i64) -> ()
  // CHECK: %[[PTR:.*]] = builtin.unrealized_conversion_cast %[[FN]] : (!llvm.ptr, i64, i64) -> () to !llvm.ptr
  // CHECK: call @palmrt_parallel_for(%[[PTR]], %[[ARGS]], %c32768_i64, %c16384_i64)
  // CHECK-NOT: scf.for
  // CHECK: func.func private @__palm_fusion_0(%[[A:.*]]: !llvm.ptr, %[[BEGIN:.*]]: i64, %[[END:.*]]: i64)
  // CHECK: %[[X:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
  // CHECK: %[[Y:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
  // CHECK: %[[OUT:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
  // CHECK: scf.for %[[I:.*]] = %[[BEGIN]] to %[[END]] step %{{.*}} : i64 {
  // CHECK:   llvm.getelementptr %[[X]][%[[I]]]
  // CHECK:   llvm.getelementptr %[[Y]][%[[I]]]
  // CHECK:   arith.addf
  // CHECK:   llvm.getelementptr %[[OUT]][%[[I]]]
  // CHECK:   llvm.store
  // CHECK: return
  func.func @large(%x: tensor<64x512xf32>, %y: tensor<64x512xf32>) -> tensor<64x512xf32> {
    %0 = palm.add %x, %y : tensor<64x512xf32>
    return %0 : tensor<64x512xf32>
  }
}
