// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime | FileCheck %s
// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime=target=cuda | FileCheck %s --check-prefix=CUDA

// The program description (docs/runtime-abi.md) is versioned JSON in the
// global @palm_program_info, NUL-terminated: the mesh, the target, and each
// argument and result with its dtype, shapes and sharding.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  // CHECK: llvm.mlir.global external constant @palm_program_info("{\22format\22:\22palm-program\22,\22version\22:2,\22target\22:\22cpu\22,
  // CHECK-SAME: \22mesh\22:{\22axes\22:[{\22name\22:\22model\22,\22size\22:2}]},\22groups\22:[],
  // CHECK-SAME: \22args\22:[{\22index\22:0,\22kind\22:\22input\22,\22name\22:\22arg0\22,\22dtype\22:\22f32\22,\22global_shape\22:[8],\22local_shape\22:[8],\22sharding\22:{{\[\[\]\]}}},
  // CHECK-SAME: {\22index\22:1,\22kind\22:\22input\22,\22name\22:\22arg1\22,\22dtype\22:\22f32\22,\22global_shape\22:[8],\22local_shape\22:[8],\22sharding\22:{{\[\[\]\]}}}],
  // CHECK-SAME: \22results\22:[{\22index\22:0,\22name\22:\22out\22,\22dtype\22:\22f32\22,\22global_shape\22:[8],\22local_shape\22:[8],\22sharding\22:{{\[\[\]\]}}}]}\00")
  // CUDA: @palm_program_info("{\22format\22:\22palm-program\22,\22version\22:2,\22target\22:\22cuda\22,
  func.func @chain(%a: tensor<8xf32>, %b: tensor<8xf32>) -> (tensor<8xf32> {palm.name = "out"}) {
    %0 = palm.add %a, %b : tensor<8xf32>
    return %0 : tensor<8xf32>
  }
}

// -----

// A parameter: its init, its global shape and the axes splitting each
// dimension; the module's forward FLOPs; the groups of the collectives.
module attributes {palm.level = #palm.level<local>, palm.forward_flops = 4096 : i64} {
  palm.mesh @mesh(data = 2, model = 2)
  // CHECK: @palm_program_info("{\22format\22:\22palm-program\22,\22version\22:2,\22target\22:\22cpu\22,\22flops\22:4096,
  // CHECK-SAME: \22mesh\22:{\22axes\22:[{\22name\22:\22data\22,\22size\22:2},{\22name\22:\22model\22,\22size\22:2}]},
  // CHECK-SAME: \22groups\22:{{\[\[}}\22model\22]],
  // CHECK-SAME: \22args\22:[{\22index\22:0,\22kind\22:\22param\22,\22name\22:\22w\22,\22dtype\22:\22bf16\22,
  // CHECK-SAME: \22global_shape\22:[9,4],\22local_shape\22:[5,2],\22sharding\22:{{\[\[}}\22data\22],[\22model\22]],
  // CHECK-SAME: \22init\22:{\22kind\22:\22normal\22,\22stddev\22:0.02}}],
  // CHECK-SAME: \22results\22:[{\22index\22:0,\22name\22:\22result0\22,\22dtype\22:\22bf16\22,\22global_shape\22:[9,4],\22local_shape\22:[5,4],\22sharding\22:{{\[\[}}\22data\22],[]]}]}\00")
  // CUDA: \22target\22:\22cuda\22,\22flops\22:4096,
  func.func @param(%w: tensor<5x2xbf16> {palm.global_type = tensor<9x4xbf16>, palm.init = #palm.init<normal(0.02)>, palm.name = "w", palm.sharding = #palm.sharding<@mesh, [["data"], ["model"]]>}) -> (tensor<5x4xbf16> {palm.global_type = tensor<9x4xbf16>, palm.sharding = #palm.sharding<@mesh, [["data"], []]>}) {
    %0 = palm.all_gather %w on @mesh [model] dim 1 : tensor<5x2xbf16> -> tensor<5x4xbf16>
    return %0 : tensor<5x4xbf16>
  }
}

// -----

// Without a mesh the program runs on one device: one axis of size 1.
module attributes {palm.level = #palm.level<local>} {
  // CHECK: @palm_program_info("{\22format\22:\22palm-program\22,\22version\22:2,\22target\22:\22cpu\22,
  // CHECK-SAME: \22mesh\22:{\22axes\22:[{\22name\22:\22devices\22,\22size\22:1}]},\22groups\22:[],
  // CHECK-SAME: \22args\22:[{\22index\22:0,\22kind\22:\22input\22,\22name\22:\22tokens\22,\22dtype\22:\22i32\22,\22global_shape\22:[2,3],\22local_shape\22:[2,3],\22sharding\22:{{\[\[\],\[\]\]}}},
  // CHECK-SAME: {\22index\22:1,\22kind\22:\22input\22,\22name\22:\22arg1\22,\22dtype\22:\22i64\22,\22global_shape\22:[],\22local_shape\22:[],\22sharding\22:[]}],
  // CHECK-SAME: \22results\22:[{\22index\22:0,\22name\22:\22result0\22,\22dtype\22:\22i64\22,\22global_shape\22:[],\22local_shape\22:[],\22sharding\22:[]}]}\00")
  // CUDA: \22target\22:\22cuda\22,\22mesh\22:{\22axes\22:[{\22name\22:\22devices\22,\22size\22:1}]}
  func.func @single(%t: tensor<2x3xi32> {palm.name = "tokens"}, %n: tensor<i64>) -> tensor<i64> {
    return %n : tensor<i64>
  }
}
